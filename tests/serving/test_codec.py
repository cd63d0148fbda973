"""The JSON codec against TensorFlow Serving's encodings (util/json_tensor.cc), table-driven."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from torch_estimator.export.predictor import SignatureDef, TensorInfo
from torch_estimator.serving import codec
from torch_estimator.serving.errors import ServingError

FLOAT = TensorInfo("x", "float32", (-1, 2))
INT = TensorInfo("ids", "int64", (-1,))
SMALL_INT = TensorInfo("b", "int8", (-1,))
BOOL = TensorInfo("flag", "bool", (-1,))
DOUBLE = TensorInfo("d", "float64", (-1,))


@pytest.mark.parametrize("value, info, expected", [
    ([[1, 2.5]], FLOAT, np.array([[1.0, 2.5]], np.float32)),
    ([[float("nan"), float("inf")]], FLOAT, np.array([[np.nan, np.inf]], np.float32)),
    ([[16777215, -16777215]], FLOAT, np.array([[16777215, -16777215]], np.float32)),  # 2**24 - 1: exact
    ([1, -2, 3], INT, np.array([1, -2, 3])),
    ([127, -128], SMALL_INT, np.array([127, -128], np.int8)),
    ([True, False], BOOL, np.array([True, False])),
    ([9007199254740991], DOUBLE, np.array([9007199254740991.0])),  # 2**53 - 1
])
def test_accepted_values(value, info, expected):
    array = codec.to_array(value, info, "input 'v'")
    assert array.dtype == expected.dtype
    np.testing.assert_array_equal(array, expected)


@pytest.mark.parametrize("value, info, fragment", [
    ([["a", 1.0]], FLOAT, "Input 'v' holds a string where float32 numbers are expected. Expected float32[batch, 2]. "
                          "Received: value='a'. Send JSON numbers, not strings."),
    ([[1.0, None]], FLOAT, "Input 'v' holds null where float32 numbers are expected"),
    ([[1.0, True]], FLOAT, "Input 'v' holds a boolean where float32 numbers are expected"),
    ([[{"b64": "AAAA"}, 1.0]], FLOAT, "holds an object where float32 numbers are expected"),
    ([1.5, 2], INT, "Input 'v' holds a float where int64 numbers are expected. Expected int64[batch]. "
                    "Received: value=1.5. Send whole numbers for integer inputs."),
    ([1, True], INT, "holds a boolean where int64 numbers are expected"),
    ([128], SMALL_INT, "Input 'v' holds an integer out of the range of int8. Expected int8[batch] with values in "
                       "[-128, 127]. Received: value=128."),
    ([2 ** 64], INT, "holds an integer out of the range of int64"),
    ([10 ** 40], INT, "Received: value='10000000000000000000... (41 digits)'"),
    ([1, 0], BOOL, "Input 'v' holds an integer where booleans (true/false) are expected"),
    ([[16777217, 0]], FLOAT, "Cannot convert JSON value: 16777217 to float32 without loss of precision"),
    ([[1e39, 0.0]], FLOAT, "Cannot convert JSON value: 1e+39 to float32 without loss of precision"),
    ([[1.0, 2.0], [3.0]], FLOAT, "Input 'v' is not a rectangular array (setting an array element with a sequence)"),
    ("abc", FLOAT, "Input 'v' holds a string where float32 numbers are expected"),
])
def test_refused_values_name_the_problem(value, info, fragment):
    with pytest.raises(ServingError) as error:
        codec.to_array(value, info, "input 'v'")
    assert error.value.status == 400
    assert fragment in str(error.value)


def test_booleans_are_found_even_when_the_byte_search_is_skipped_only_if_absent():
    assert codec.may_hold_booleans(b'{"instances": [[1, true]]}')
    assert not codec.may_hold_booleans(b'{"instances": [[1, 2]]}')
    # Without the hint the walk is skipped: numpy's silent 1.0 for true would pass, so the
    # server only skips it when the bytes prove there is no boolean.
    assert codec.to_array([[1.0, 2.0]], FLOAT, "input 'v'", may_have_bools=False).dtype == np.float32


@pytest.mark.parametrize("value, text", [
    (np.array([0.1, 0.2, 1 / 3], np.float32), "[0.1,0.2,0.333333343]"),
    (np.array([1.0, 100.0, -0.0], np.float32), "[1.0,100.0,-0.0]"),
    (np.array([np.nan, np.inf, -np.inf], np.float32), "[NaN,Infinity,-Infinity]"),
    (np.array([0.1], np.float64), "[0.1]"),
    (np.array([[1, 2]], np.int64), "[[1,2]]"),
    (np.array([True, False]), "[true,false]"),
    (np.array([1.5e-7], np.float32), "[1.5e-07]"),
])
def test_outputs_are_written_as_tf_serving_writes_them(value, text):
    assert codec.dumps(codec.json_value(value)).decode() == text


def test_float32_text_round_trips_exactly():
    values = np.random.default_rng(0).normal(size=1000).astype(np.float32) * 10.0 ** np.arange(-20, 30, 0.05)[:1000]
    decoded = np.array(json.loads(codec.dumps(codec.json_value(values.astype(np.float32)))), np.float32)
    np.testing.assert_array_equal(decoded, values.astype(np.float32))



def test_small_float32_outputs_are_written_as_the_vectorized_path_writes_them():
    # Small arrays (a response of a few rows) take a per-value path; it must write what the
    # vectorized path writes, for ordinary values, the extremes, subnormals, NaN and infinities.
    rng = np.random.default_rng(0)
    finfo = np.finfo(np.float32)
    specials = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, finfo.max, -finfo.max, finfo.tiny, 1e-45, 0.1, 1 / 3,
                         3.40282e38, 123456.7, 16777217.0, 1e-40], np.float32)
    bits = rng.integers(0, 2**32, size=20000, dtype=np.uint64).astype(np.uint32).view(np.float32)  # any float32
    scaled = (rng.normal(size=20000) * 10.0 ** rng.integers(-40, 39, size=20000)).astype(np.float32)
    values = np.concatenate([specials, bits, scaled])
    for start in range(0, len(values), 61):
        chunk = values[start:start + 61].reshape(-1, 1)
        assert chunk.size <= codec._SMALL
        assert codec.dumps(codec.json_value(chunk)) == codec.dumps(codec._short_float_array(chunk))
    assert codec.json_value(np.float32(0.1).reshape(())) == 0.1  # a 0-d output stays a number

SIGNATURE = SignatureDef("predict", {"a": TensorInfo("a", "float32", (-1, 2)), "b": TensorInfo("b", "int64", (-1,))},
                         {})
SINGLE = SignatureDef("predict", {"x": FLOAT}, {})


@pytest.mark.parametrize("body, expected_rows", [
    ({"instances": [{"a": [1, 2], "b": 3}, {"a": [4, 5], "b": 6}]}, True),
    ({"inputs": {"a": [[1, 2], [4, 5]], "b": [3, 6]}}, False),
])
def test_row_and_columnar_formats_decode_alike(body, expected_rows):
    inputs, rows = codec.decode_predict_inputs(body, SIGNATURE, "serving_default")
    assert rows is expected_rows
    np.testing.assert_array_equal(inputs["a"], [[1, 2], [4, 5]])
    np.testing.assert_array_equal(inputs["b"], [3, 6])


def test_single_input_rows_may_be_values_or_named_objects():
    for body in ({"instances": [[1, 2]]}, {"instances": [{"x": [1, 2]}]}, {"inputs": [[1, 2]]},
                 {"inputs": {"x": [[1, 2]]}}):
        inputs, _ = codec.decode_predict_inputs(body, SINGLE, "serving_default")
        np.testing.assert_array_equal(inputs["x"], [[1, 2]])


@pytest.mark.parametrize("body, text", [
    ({}, "Missing 'inputs' or 'instances' key. Expected exactly one of 'instances' (row format) or 'inputs' "
         "(columnar format). Received: keys=[]."),
    ({"instances": [], "inputs": []}, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys "
                                      "exclusively"),
    ({"instances": []}, "'instances' must be a non-empty list"),
    ({"instances": [{"a": [1, 2]}]}, "instances[0] has the wrong input names for signature 'serving_default'. "
                                     "Expected exactly the inputs ['a', 'b']. Received: missing=['b'], unexpected=[]."),
    ({"instances": [[1, 2]]}, "Signature 'serving_default' has several inputs, so each instance must be an object"),
    ({"inputs": {"a": [[1, 2]], "b": [1, 2]}}, "Inputs have different batch sizes. Expected the same number of "
                                              "examples for every input. Received: batch_sizes={'a': 1, 'b': 2}."),
    ({"inputs": {"a": [1, 2], "b": [1]}}, "Input 'a' has the wrong shape. Expected float32[batch, 2], i.e. each "
                                          "example of shape [2]. Received: shape=[2]."),
])
def test_request_shape_errors(body, text):
    with pytest.raises(ServingError) as error:
        codec.decode_predict_inputs(body, SIGNATURE, "serving_default")
    assert text in str(error.value)


def test_rows_with_outputs_of_different_batch_sizes_must_use_columnar():
    with pytest.raises(ServingError, match="cannot be written as rows.*columnar format"):
        codec.encode_predict_outputs({"y": np.zeros((2, 1)), "total": np.zeros(())}, row_format=True)
    assert codec.encode_predict_outputs({"y": np.zeros((2, 1)), "total": np.zeros(())},
                                        row_format=False) == {"outputs": {"y": [[0.0], [0.0]], "total": 0.0}}


def test_parse_body_errors():
    with pytest.raises(ServingError, match="nested too deeply"):
        codec.parse_body(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ServingError, match="Malformed JSON in the request body"):
        codec.parse_body(b"\xff\xfe")
    with pytest.raises(ServingError, match="Exceeds the limit"):
        codec.parse_body(b"1" * 5000)
    assert math.isnan(codec.parse_body(b"[NaN]")[0])


SCALARS = SignatureDef("predict", {"a": TensorInfo("a", "float32", (-1,)), "b": TensorInfo("b", "float32", (-1,)),
                                   "c": TensorInfo("c", "float32", (-1,)), "n": TensorInfo("n", "int64", (-1,))}, {})


def test_scalar_inputs_decoded_as_one_table_match_one_by_one():
    body = {"instances": [{"a": 1.5, "b": 2, "c": -1.0, "n": 7}, {"a": 0.0, "b": 1e-3, "c": 4.0, "n": 8}]}
    inputs, _ = codec.decode_predict_inputs(body, SCALARS, "serving_default")
    assert {name: value.tolist() for name, value in inputs.items()} == {
        "a": [1.5, 0.0], "b": [2.0, 0.0010000000474974513], "c": [-1.0, 4.0], "n": [7, 8]}
    assert all(value.flags.c_contiguous and value.dtype == np.dtype(SCALARS.inputs[name].dtype)
               for name, value in inputs.items())


@pytest.mark.parametrize("b, text", [
    ("2", "Input 'b' holds a string where float32 numbers are expected"),
    (True, "Input 'b' holds a boolean where float32 numbers are expected"),
    ([2.0], "Input 'b' has the wrong shape. Expected float32[batch], i.e. each example of shape []. "
            "Received: shape=[2, 1]."),
])
def test_scalar_table_errors_name_the_input(b, text):
    body = {"instances": [{"a": 1.0, "b": b, "c": 0.0, "n": 1}, {"a": 1.0, "b": b, "c": 0.0, "n": 1}]}
    with pytest.raises(ServingError) as error:
        codec.decode_predict_inputs(body, SCALARS, "serving_default", codec.may_hold_booleans(json.dumps(body).encode()))
    assert str(error.value).startswith(text)


WORDS = TensorInfo("words", "string", (-1, 2))


def test_string_inputs_take_strings_and_b64_bytes():
    array = codec.to_array([["a", "bc"], ["", "d"]], WORDS, "input 'words'")
    assert array.dtype.kind == "U" and array.tolist() == [["a", "bc"], ["", "d"]]
    mixed = codec.to_array([["a", {"b64": "aGk="}]], WORDS, "input 'words'")
    assert mixed.dtype == object and mixed.tolist() == [["a", b"hi"]]


@pytest.mark.parametrize("value, text", [
    ([["a", 1]], "Input 'words' holds an integer where strings are expected. Expected string[batch, 2]. "
                 "Received: value=1. Send JSON strings, or {\"b64\": \"<base64>\"} for bytes."),
    ([["a", {"b64": "%%%"}]], "Input 'words' holds a {\"b64\": ...} value that is not valid base64"),
    ([["a", "b"], ["c"]], "Input 'words' is not a rectangular array"),
])
def test_string_input_errors(value, text):
    with pytest.raises(ServingError) as error:
        codec.to_array(value, WORDS, "input 'words'")
    assert str(error.value).startswith(text)


@pytest.mark.parametrize("info", [INT, BOOL, FLOAT])
def test_empty_batches_are_refused_by_the_shape_check(info):
    array = codec.to_array([], info, "input 'v'")
    with pytest.raises(ServingError, match=r"Input 'v' has the wrong shape.*Received: shape=\[0\]"):
        codec.check_shape(array, info, "input 'v'")
