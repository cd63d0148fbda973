"""JSON <-> numpy with TensorFlow Serving's encodings (``util/json_tensor.cc``).

Inputs: JSON numbers for float inputs (``NaN``/``Infinity`` tokens included), integers only
for integer inputs, ``true``/``false`` only for bool inputs; an integer a float cannot hold
exactly is refused ("without loss of precision"), as TensorFlow Serving refuses it. Requests
come in the row format (``instances``) or the columnar one (``inputs``); see
:func:`decode_predict_inputs`.

Outputs: float32 values are written as TensorFlow Serving writes them (the 6-digit ``%g``
form when it reads back as the same float32, else 9 significant digits), so ``0.1`` comes
back as ``0.1``, not ``0.10000000149011612``; whole numbers keep a trailing ``.0``.

Every refusal is a :class:`ServingError` (400) whose message names the input and the value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from torch_estimator.export.predictor import SignatureDef, TensorInfo
from torch_estimator.export.receivers import STRING
from torch_estimator.serving.errors import ServingError

#: numpy dtype name -> TensorFlow's DataType enum name (metadata's ``dtype``).
TF_DTYPES = {"float16": "DT_HALF", "bfloat16": "DT_BFLOAT16", "float32": "DT_FLOAT", "float64": "DT_DOUBLE",
             "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64", "uint8": "DT_UINT8",
             "uint16": "DT_UINT16", "uint32": "DT_UINT32", "uint64": "DT_UINT64", "bool": "DT_BOOL",
             "string": "DT_STRING"}
#: json.dumps(payload, separators=(",", ":"), allow_nan=True), without building an encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=True)
_FLOAT32 = struct.Struct("<f")
_SMALL = 64  # elements; a response of a few rows. Larger arrays amortize numpy's per-call cost.
_JSON_TYPES = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", dict: "an object",
               list: "a list", type(None): "null"}


def parse_body(body: bytes) -> Any:
    """The request body as JSON; malformed, non-UTF-8 or too deeply nested bodies are a 400.

    Example:
        >>> parse_body(b'{"instances": [[1.0, NaN]]}')
        {'instances': [[1.0, nan]]}
        >>> parse_body(b'{not json')
        Traceback (most recent call last):
        ...
        torch_estimator.serving.errors.ServingError: Malformed JSON in the request body: Expecting property name \
enclosed in double quotes: line 1 column 2 (char 1). Expected a JSON object, e.g. {"instances": [...]}. Received: \
body='{not json'.
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise ServingError.bad_request("The request body is nested too deeply to parse",
                                       expected="JSON nested at most a few hundred levels") from None
    except ValueError as error:  # JSONDecodeError, bad UTF-8, integers of over 4300 digits
        raise ServingError.bad_request(f"Malformed JSON in the request body: {error}",
                                       expected='a JSON object, e.g. {"instances": [...]}',
                                       body=clip(body.decode("utf-8", "replace"))) from None


def may_hold_booleans(body: bytes) -> bool:
    """False when the body cannot contain a JSON ``true``/``false``.

    numpy turns ``[1.5, true]`` into ``[1.5, 1.0]`` without a trace, so a request that may
    hold booleans gets its numeric inputs walked value by value; the usual request has no
    ``true``/``false`` anywhere, and this byte search lets it skip that walk.
    """
    return b"true" in body or b"false" in body


def to_array(value: Any, info: TensorInfo, where: str, may_have_bools: bool = True) -> np.ndarray:
    """A JSON value (nested lists) as an array of ``info.dtype``, checked by TF Serving's rules.

    Args:
        value: The decoded JSON value.
        info: The input it is for (its dtype is the target; its shape is not checked here).
        where: How to name the value in an error, e.g. ``"input 'x'"``.
        may_have_bools: False when the request is known to hold no JSON booleans.

    Raises:
        ServingError: a string, null, object, boolean or ragged list where numbers are
            expected, a float for an integer input, or a value the dtype cannot hold.

    Example:
        >>> info = TensorInfo("x", "float32", (-1, 2))
        >>> to_array([[1, 2.5]], info, "input 'x'")
        array([[1. , 2.5]], dtype=float32)
        >>> to_array([["1", 2.5]], info, "input 'x'")
        Traceback (most recent call last):
        ...
        torch_estimator.serving.errors.ServingError: Input 'x' holds a string where float32 numbers are expected. \
Expected float32[batch, 2]. Received: value='1'. Send JSON numbers, not strings.
    """
    if info.dtype == STRING:
        return _to_strings(value, info, where)
    dtype = _dtype(info.dtype)
    try:
        array = np.asarray(value)
    except (ValueError, RecursionError, OverflowError) as error:
        raise ServingError.bad_request(f"{where.capitalize()} is not a rectangular array ({_first_line(error)})",
                                       expected=info.describe(), fix="Give every row the same length") from None
    kind = array.dtype.kind
    if array.size == 0 and kind == "f":  # no values to check ([] parses as float64): the shape check speaks
        return array.astype(dtype)
    if kind not in "biuf":
        raise _culprit(value, info, where, dtype)
    if dtype.kind == "b":
        if kind != "b":
            raise _culprit(value, info, where, dtype)
        return array
    if kind == "b" or (may_have_bools and any(_leaves_of_type(value, bool))):
        raise _culprit(value, info, where, dtype, bool)
    if dtype.kind in "iu":
        if kind == "f":
            raise _culprit(value, info, where, dtype, float)
        _check_integer_range(array, info, where, dtype)
    else:
        _check_float_range(array, info, where, dtype, exact_integers=kind in "iu")
    return array.astype(dtype, copy=False)


def _to_strings(value: Any, info: TensorInfo, where: str) -> np.ndarray:
    """JSON strings as a ``str`` array; ``{"b64": ...}`` values become ``bytes`` (an object array)."""
    has_bytes = False

    def leaf(item: Any) -> Any:
        nonlocal has_bytes
        if type(item) is str:
            return item
        if type(item) is dict and item.keys() == {"b64"} and type(item["b64"]) is str:
            try:
                has_bytes = True
                return base64.b64decode(item["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise ServingError.bad_request(f"{where.capitalize()} holds a {{\"b64\": ...}} value that is not "
                                               "valid base64", expected=info.describe(), value=clip(item)) from None
        raise ServingError.bad_request(f"{where.capitalize()} holds {_JSON_TYPES.get(type(item), 'a value')} where "
                                       "strings are expected", expected=info.describe(),
                                       fix='Send JSON strings, or {"b64": "<base64>"} for bytes', value=clip(item))

    def convert(item: Any) -> Any:
        return [convert(child) for child in item] if type(item) is list else leaf(item)

    try:
        converted = convert(value)
    except RecursionError:
        raise ServingError.bad_request(f"{where.capitalize()} is nested too deeply", expected=info.describe()) from None
    try:
        array = np.array(converted, dtype=object) if has_bytes else np.array(converted, dtype=str)
    except ValueError as error:
        raise ServingError.bad_request(f"{where.capitalize()} is not a rectangular array ({_first_line(error)})",
                                       expected=info.describe(), fix="Give every row the same length") from None
    return array


def check_shape(array: np.ndarray, info: TensorInfo, where: str) -> None:
    """Raises unless ``array`` is a non-empty batch of ``info``'s per-example shape.

    Example:
        >>> check_shape(np.zeros((2, 4), np.float32), TensorInfo("x", "float32", (-1, 3)), "input 'x'")
        Traceback (most recent call last):
        ...
        torch_estimator.serving.errors.ServingError: Input 'x' has the wrong shape. Expected float32[batch, 3], \
i.e. each example of shape [3]. Received: shape=[2, 4]. Send a batch of examples, one per instance.
    """
    trailing = tuple(info.shape[1:])
    if array.ndim != len(info.shape) or array.shape[1:] != trailing or array.shape[0] == 0:
        raise ServingError.bad_request(f"{where.capitalize()} has the wrong shape",
                                       expected=f"{info.describe()}, i.e. each example of shape {list(trailing)}",
                                       fix="Send a batch of examples, one per instance", shape=list(array.shape))


def decode_predict_inputs(body: Mapping[str, Any], signature: SignatureDef, signature_name: str,
                          may_have_bools: bool = True) -> tuple[dict[str, np.ndarray], bool]:
    """The inputs of a ``:predict`` body, and whether it used the row format.

    Row format: ``{"instances": [instance, ...]}``, each instance the value of the single
    input, or an object ``{input name: value}``. Columnar format: ``{"inputs": value}`` for a
    single input or ``{"inputs": {input name: batch}}``. Exactly one of the two keys.

    Raises:
        ServingError: neither or both keys, wrong input names, or a bad value.

    Example:
        >>> signature = SignatureDef("predict", {"x": TensorInfo("x", "float32", (-1, 2))}, {})
        >>> decode_predict_inputs({"instances": [[1.0, 2.0], [3.0, 4.0]]}, signature, "serving_default")
        ({'x': array([[1., 2.],
               [3., 4.]], dtype=float32)}, True)
        >>> decode_predict_inputs({"inputs": {"x": [[1.0, 2.0]]}}, signature, "serving_default")[1]
        False
    """
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows == has_columns:
        raise ServingError.bad_request(
            "Missing 'inputs' or 'instances' key" if not has_rows else
            "Not formatted correctly expecting only one of 'inputs' or 'instances' keys exclusively",
            expected="exactly one of 'instances' (row format) or 'inputs' (columnar format)",
            keys=sorted(map(str, body)))
    names = list(signature.inputs)
    if has_rows:
        columns = _row_columns(body["instances"], names, signature_name)
    else:
        columns = _named_columns(body["inputs"], names, signature_name, "inputs")
    arrays = _scalar_rows(columns, signature, may_have_bools) if has_rows else {}
    for name in (name for name in names if name not in arrays):
        where = f"input {name!r}"
        array = to_array(columns[name], signature.inputs[name], where, may_have_bools)
        check_shape(array, signature.inputs[name], where)
        arrays[name] = array
    check_batch_sizes(arrays)
    return arrays, has_rows


def _scalar_rows(columns: dict[str, Any], signature: SignatureDef, may_have_bools: bool) -> dict[str, np.ndarray]:
    """Row-format inputs that are one number per example, decoded as one table.

    Models of feature columns take many such inputs (eight for California housing); one
    array conversion for all of them costs a fraction of one per input. Anything unusual
    returns nothing, and the inputs are then decoded one by one, with precise errors.
    """
    names = [name for name, info in signature.inputs.items() if len(info.shape) == 1]
    dtypes = {signature.inputs[name].dtype for name in names}
    if len(names) < 2 or len(dtypes) != 1:
        return {}
    info = TensorInfo("", dtypes.pop(), (-1, len(names)))
    try:
        table = to_array(list(zip(*(columns[name] for name in names))), info, "", may_have_bools)
    except ServingError:
        return {}
    if table.ndim != 2 or table.shape[0] == 0:
        return {}
    return {name: np.ascontiguousarray(table[:, i]) for i, name in enumerate(names)}


def check_batch_sizes(arrays: Mapping[str, np.ndarray]) -> None:
    """Raises unless every input has the same number of examples (the programs need one batch)."""
    sizes = {name: int(array.shape[0]) for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise ServingError.bad_request("Inputs have different batch sizes",
                                       expected="the same number of examples for every input", batch_sizes=sizes)


def _row_columns(instances: Any, names: list[str], signature_name: str) -> dict[str, Any]:
    if not isinstance(instances, list) or not instances:
        raise ServingError.bad_request("'instances' must be a non-empty list", expected="a list of instances",
                                       instances=clip(instances))
    if isinstance(instances[0], dict):  # named instances, even for a single input
        for index, instance in enumerate(instances):
            _check_names(instance, names, signature_name, f"instances[{index}]")
        return {name: [instance[name] for instance in instances] for name in names}
    if len(names) > 1:
        raise ServingError.bad_request(
            f"Signature {signature_name!r} has several inputs, so each instance must be an object",
            expected="instances like {" + ", ".join(f'"{n}": ...' for n in names) + "}",
            instance=clip(instances[0]))
    return {names[0]: instances}


def _named_columns(value: Any, names: list[str], signature_name: str, where: str) -> dict[str, Any]:
    if isinstance(value, dict):
        _check_names(value, names, signature_name, where)
        return dict(value)
    if len(names) > 1:
        raise ServingError.bad_request(
            f"Signature {signature_name!r} has several inputs, so '{where}' must be an object",
            expected="{" + ", ".join(f'"{n}": batch' for n in names) + "}", inputs=clip(value))
    return {names[0]: value}


def _check_names(value: Any, names: list[str], signature_name: str, where: str) -> None:
    if not isinstance(value, dict):
        raise ServingError.bad_request(f"{where} must be an object of inputs",
                                       expected="{" + ", ".join(f'"{n}": ...' for n in names) + "}",
                                       **{where: clip(value)})
    if value.keys() != set(names):
        raise ServingError.bad_request(f"{where} has the wrong input names for signature {signature_name!r}",
                                       expected=f"exactly the inputs {names}",
                                       missing=sorted(set(names) - value.keys()),
                                       unexpected=sorted(value.keys() - set(names)))


def encode_predict_outputs(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """A ``:predict`` response: ``{"predictions": ...}`` (row) or ``{"outputs": ...}`` (columnar).

    A single output is written without its name, as TensorFlow Serving does; several give a
    list of ``{name: value}`` objects (row) or one ``{name: batch}`` object (columnar).

    Example:
        >>> y = np.array([[0.1], [2.0]], np.float32)
        >>> encode_predict_outputs({"y": y}, row_format=True)
        {'predictions': [[0.1], [2.0]]}
        >>> encode_predict_outputs({"y": y, "id": np.array([3, 4])}, row_format=True)
        {'predictions': [{'y': [0.1], 'id': 3}, {'y': [2.0], 'id': 4}]}
        >>> encode_predict_outputs({"y": y}, row_format=False)
        {'outputs': [[0.1], [2.0]]}
    """
    values = {key: json_value(array) for key, array in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    sizes = {key: (array.shape[0] if array.ndim else None) for key, array in outputs.items()}
    if len(set(sizes.values())) != 1 or None in sizes.values():
        raise ServingError.bad_request("The outputs do not share a batch dimension, so they cannot be written "
                                       "as rows", fix="Send the request in the columnar format ('inputs')",
                                       batch_sizes=sizes)
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = next(iter(sizes.values()))
    return {"predictions": [{key: value[i] for key, value in values.items()} for i in range(rows)]}


def json_value(array: np.ndarray) -> Any:
    """An array as nested lists, floats written as TensorFlow Serving writes them.

    Example:
        >>> json_value(np.array([0.1, 1 / 3, np.nan], np.float32))
        [0.1, 0.333333343, nan]
        >>> json_value(np.array([[True, False]]))
        [[True, False]]
    """
    if array.dtype.kind != "f" or array.dtype.itemsize > 4:
        return array.tolist()  # float64's repr is already the shortest round trip
    if array.dtype == np.float32 and array.size <= _SMALL:
        return _short_floats(array.tolist())
    return _short_float_array(array)


def _short_float_array(array: np.ndarray) -> Any:
    """:func:`json_value` of a float16/float32 array, vectorized."""
    flat = array.ravel()
    short = np.array([float("%g" % v) for v in flat.tolist()], dtype=np.float64)
    lossy = (short.astype(array.dtype) != flat) & ~np.isnan(flat)
    if lossy.any():
        digits = 9 if array.dtype.itemsize == 4 else 5  # max_digits10 of float32 / float16
        for i in np.flatnonzero(lossy).tolist():
            short[i] = float("%.*g" % (digits, flat[i]))
    return short.reshape(array.shape).tolist()


def _short_floats(value: Any) -> Any:
    """:func:`json_value` of a small float32 array's ``tolist()``, without numpy's per-call cost.

    The same rule value by value: ``%g`` when it reads back as the same float32 (``struct``
    packing rounds to float32 as numpy's cast does, and refuses values out of its range), else
    9 significant digits; NaN stays NaN.
    """
    if type(value) is list:
        return [_short_floats(item) for item in value]
    short = float("%g" % value)
    if value != value:  # NaN
        return short
    try:
        if _FLOAT32.pack(short) == _FLOAT32.pack(value):
            return short
    except OverflowError:  # %g rounded past float32's largest value
        pass
    return float("%.9g" % value)


def dumps(payload: Any) -> bytes:
    """Compact JSON with ``NaN``/``Infinity`` tokens, as TensorFlow Serving writes them."""
    return _ENCODER.encode(payload).encode()


def _check_integer_range(array: np.ndarray, info: TensorInfo, where: str, dtype: np.dtype) -> None:
    if array.size == 0:
        return
    limits = np.iinfo(dtype)
    low, high = array.min(), array.max()
    if low < limits.min or high > limits.max:
        raise ServingError.bad_request(f"{where.capitalize()} holds an integer out of the range of {dtype}",
                                       expected=f"{info.describe()} with values in [{limits.min}, {limits.max}]",
                                       value=int(low if low < limits.min else high))


def _check_float_range(array: np.ndarray, info: TensorInfo, where: str, dtype: np.dtype,
                       exact_integers: bool) -> None:
    """TF Serving's ``IsLosslessDecimal``: integers up to 2**digits - 1, floats within range."""
    if array.size == 0:
        return
    largest = _largest(dtype, exact_integers)
    peak = float(np.abs(array).max())  # one pass for the usual request; NaN sends it to the full check
    if peak <= largest:
        return
    with np.errstate(invalid="ignore"):
        bad = (np.abs(array) > largest) & np.isfinite(array)
    if bad.any():
        value = array.flat[int(np.flatnonzero(bad.ravel())[0])].item()
        raise ServingError.bad_request(
            f"Cannot convert JSON value: {value} to {dtype} without loss of precision ({where})",
            expected=f"{info.describe()}; integers of magnitude at most {int(largest)}" if exact_integers
            else f"{info.describe()} within +-{largest:g}", value=value)


@functools.lru_cache(maxsize=None)
def _largest(dtype: np.dtype, exact_integers: bool) -> float:
    finfo = np.finfo(dtype)
    return float(2 ** (finfo.nmant + 1) - 1) if exact_integers else float(finfo.max)


@functools.lru_cache(maxsize=None)
def _dtype(name: str) -> np.dtype:
    return np.dtype(name)


def _leaves_of_type(value: Any, kind: type) -> Any:
    """Yields the leaves of nested lists whose type is exactly ``kind`` (bool is not int here)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is list:
            stack.extend(item)
        elif type(item) is kind:
            yield item


def _culprit(value: Any, info: TensorInfo, where: str, dtype: np.dtype, kind: type | None = None) -> ServingError:
    """The error naming the first leaf that cannot be a ``dtype`` value."""
    wanted = "booleans (true/false)" if dtype.kind == "b" else f"{dtype} numbers"
    missing = object()
    stack, leaf = [value], missing
    while stack:  # depth first, in order: the message names the first bad value
        item = stack.pop()
        if type(item) is list:
            stack.extend(reversed(item))
            continue
        if (type(item) is kind) if kind is not None else _unacceptable(item, dtype):
            leaf = item
            break
    if leaf is missing:  # every leaf is fine on its own: lists nested unevenly
        return ServingError.bad_request(f"{where.capitalize()} is not a rectangular array of {wanted}",
                                        expected=info.describe(), value=clip(value))
    if type(leaf) is int and dtype.kind != "b":
        return ServingError.bad_request(f"{where.capitalize()} holds an integer out of the range of {dtype}",
                                        expected=info.describe(), value=clip(leaf))
    fixes = {str: "Send JSON numbers, not strings", dict: "Binary ({\"b64\": ...}) and object values are not "
             "supported by this model's inputs", type(None): "Replace null with a number",
             float: "Send whole numbers for integer inputs", bool: "Send numbers, not true/false"}
    fix = fixes.get(type(leaf), "Send values of the input's dtype")
    if dtype.kind == "b":
        fix = "Send true or false"
    return ServingError.bad_request(f"{where.capitalize()} holds {_JSON_TYPES.get(type(leaf), 'a value')} "
                                    f"where {wanted} are expected", expected=info.describe(), fix=fix,
                                    value=clip(leaf))


def _unacceptable(item: Any, dtype: np.dtype) -> bool:
    if dtype.kind == "b":
        return type(item) is not bool
    if type(item) is int:
        return not -2**63 <= item < 2**64  # numpy holds such integers only as Python objects
    return type(item) is not float or dtype.kind in "iu"


def clip(value: Any, limit: int = 80) -> Any:
    """The value itself when short, else its text cut to ``limit`` characters (for messages)."""
    if type(value) is int and not -2**64 < value < 2**64:
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[:20]}... ({len(digits)} digits)"
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    try:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__} nested too deeply to print>"
    return text if len(text) <= limit else text[:limit] + "..."


def _first_line(error: BaseException) -> str:
    return str(error).split(".")[0]
