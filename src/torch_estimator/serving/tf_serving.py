"""TensorFlow Serving's REST API (``/v1/models/...``), same paths and JSON shapes.

    GET  /v1/models/{name}[/versions/{v}]             model status
    GET  /v1/models/{name}[/versions/{v}]/metadata    signatures (GetModelMetadataResponse)
    POST /v1/models/{name}[/versions/{v}]:predict     {"instances": [...]} or {"inputs": ...}
    POST /v1/models/{name}[/versions/{v}]:classify    {"examples": [...], "context": {...}}
    POST /v1/models/{name}[/versions/{v}]:regress     same request; {"results": [...]}

Paths are matched here with TensorFlow Serving's own pattern rather than by Starlette routes,
so that a malformed path gets its "Malformed request" answer. ``/labels/{label}`` is parsed and
answered 404: this server has no version labels.

Differences: classify and regress signatures take the export's raw inputs (an example maps
input names to values), since exports have no ``tf.Example`` parsing; class labels are the
exported class ids as strings, or the score's column index when the export has no classes.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from torch_estimator.export.predictor import SignatureDef
from torch_estimator.serving import codec
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.registry import Servable
from torch_estimator.serving.web import json_response, read_json, require_object, run_model, set_route

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[0-9]{1,18})|/labels/(?P<label>[^/:]+))?"
                   r"(?P<tail>/metadata|:predict|:classify|:regress)?$")
_METHOD_NAMES = {"predict": "tensorflow/serving/predict", "classify": "tensorflow/serving/classify",
                 "regress": "tensorflow/serving/regress"}


def routes(server: Any) -> list[Route]:
    """The ``/v1`` routes of ``server`` (an ``app.ModelServer``)."""

    async def endpoint(request: Request) -> Response:
        return await _dispatch(request, server)

    return [Route("/v1/models/{path:path}", endpoint, methods=["GET", "POST"])]


async def _dispatch(request: Request, server: Any) -> Response:
    path, method = request.scope["path"], request.method
    match = _PATH.match(path)
    if match is None:
        set_route(request, "/v1/models/<malformed>")
        raise ServingError.bad_request(f"Malformed request: {method} {path}",
                                       expected="/v1/models/<name>[/versions/<number>][/metadata|:predict|:classify"
                                                "|:regress]", fix="Check the URL")
    name, tail = match["name"], match["tail"] or ""
    set_route(request, "/v1/models/{name}" + tail)
    if match["label"] is not None:
        raise ServingError.not_found(f"Unrecognized servable version label: {match['label']}",
                                     expected="/versions/<number> (this server has no version labels)",
                                     label=match["label"])
    version = int(match["version"]) if match["version"] is not None else None
    wanted = "POST" if tail.startswith(":") else "GET"
    if method != wanted:
        raise ServingError(405, f"Malformed request: {method} {path}. Expected {wanted} for this path.")
    if tail == "":
        return json_response({"model_version_status": server.registry.status(name, version)})
    servable = server.registry.get(name, version)
    if tail == "/metadata":
        return json_response(_metadata(servable))
    body, raw = await read_json(request, server.config.max_request_bytes)
    return json_response(await answer(servable, tail, body, raw))


def match_predict(path: str) -> re.Match | None:
    """The match of a ``POST /v1/models/<name>[/versions/<v>]:predict`` path, else None.

    Exactly the paths whose ``:predict`` answer is :func:`answer` (no ``/labels/``: those get
    their 404 from the Starlette route).
    """
    match = _PATH.match(path)
    return match if match is not None and match["tail"] == ":predict" and match["label"] is None else None


async def answer(servable: Servable, tail: str, body: Any, raw: bytes) -> dict[str, Any]:
    """The JSON payload answering a parsed ``:predict``/``:classify``/``:regress`` body.

    Shared by the Starlette route and ``predict_route.PredictRoute`` (the same answer both ways).

    Raises:
        ServingError: a bad request (4xx).
    """
    body = require_object(body, '{"instances": [...]} or {"inputs": ...}' if tail == ":predict"
                          else '{"examples": [{...}, ...]}')
    signature_name = body.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise ServingError.bad_request("'signature_name' key must be a string value", signature_name=signature_name)
    if tail == ":predict":
        return await _predict(servable, body, signature_name, codec.may_hold_booleans(raw))
    return await _classify_or_regress(servable, body, signature_name, tail[1:], codec.may_hold_booleans(raw))


async def _predict(servable: Servable, body: dict[str, Any], signature_name: str | None,
                   may_have_bools: bool) -> dict[str, Any]:
    name, signature = servable.signature(signature_name)
    inputs, row_format = codec.decode_predict_inputs(body, signature, name, may_have_bools)
    outputs = await run_model(servable, name, inputs)
    return codec.encode_predict_outputs(outputs, row_format)


async def _classify_or_regress(servable: Servable, body: dict[str, Any], signature_name: str | None, method: str,
                               may_have_bools: bool) -> dict[str, Any]:
    name, signature = servable.signature(signature_name)
    if signature.method != method:
        raise ServingError.bad_request(
            f"Expected {method} signature method_name to be {_METHOD_NAMES[method]}. Was: "
            f"{_METHOD_NAMES.get(signature.method, signature.method)}",
            expected=f"a signature of method {method!r}", fix="Pass signature_name of a "
            f"{method} signature, or use :predict", signature_name=name)
    inputs = _example_inputs(body, signature, may_have_bools)
    outputs = await run_model(servable, name, inputs)
    rows = next(iter(inputs.values())).shape[0]
    if method == "regress":
        values = outputs["outputs"]
        if values.size != rows:
            raise ServingError.bad_request("The regression output does not hold one value per example",
                                           fix="Use :predict for this signature", shape=list(values.shape))
        return {"results": codec.json_value(values.reshape(rows))}
    return {"results": _classifications(outputs, rows)}


def _example_inputs(body: dict[str, Any], signature: SignatureDef, may_have_bools: bool) -> dict[str, np.ndarray]:
    """Inputs from ``examples`` (one object per example) plus the shared ``context`` features."""
    examples, context = body.get("examples"), body.get("context", {})
    if not isinstance(examples, list) or not examples or not all(isinstance(e, dict) for e in examples):
        raise ServingError.bad_request("'examples' must be a non-empty list of objects",
                                       expected='{"examples": [{"<input>": value, ...}, ...]}',
                                       examples=codec.clip(examples))
    if not isinstance(context, dict):
        raise ServingError.bad_request("'context' must be an object", context=codec.clip(context))
    names = list(signature.inputs)
    inputs = {}
    for index, example in enumerate(examples):
        both = sorted(set(example) & set(context))
        if both:
            raise ServingError.bad_request(f"Features appear in both the context and examples[{index}]",
                                           expected="each feature in one of them", features=both)
        given = set(example) | set(context)
        if given != set(names):
            raise ServingError.bad_request(f"examples[{index}] has the wrong features", expected=f"exactly {names}",
                                           missing=sorted(set(names) - given), unexpected=sorted(given - set(names)))
    for name in names:
        info = signature.inputs[name]
        # A feature is a value or a list of values, as in a tf.Example: flattened, then shaped.
        column = [_flat(example[name] if name in example else context[name]) for example in examples]
        array = codec.to_array(column, info, f"feature {name!r}", may_have_bools)
        if array.ndim == 2 and array.shape[1] == int(np.prod(info.shape[1:], dtype=np.int64)):
            array = array.reshape(len(examples), *info.shape[1:])
        codec.check_shape(array, info, f"feature {name!r}")
        inputs[name] = array
    return inputs


def _flat(value: Any) -> list[Any]:
    if not isinstance(value, list):
        return [value]
    flat, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            flat.append(item)
    return flat


def _classifications(outputs: dict[str, np.ndarray], rows: int) -> list[list[list[Any]]]:
    """``[[[label, score], ...] per example]``, TensorFlow Serving's classify results."""
    scores, classes = outputs.get("scores"), outputs.get("classes")
    if scores is not None:
        scores = scores.reshape(rows, -1)
        labels = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        if classes is not None and classes.size == scores.size:
            labels = classes.reshape(scores.shape)  # classes label each score
    else:
        labels = classes.reshape(rows, -1)
        scores = np.zeros(labels.shape, np.float32)
    score_values = codec.json_value(scores)
    return [[[str(label), score] for label, score in zip(row_labels, row_scores)]
            for row_labels, row_scores in zip(labels.tolist(), score_values)]


def _metadata(servable: Servable) -> dict[str, Any]:
    """``GetModelMetadataResponse`` as JSON (the doubled ``signature_def`` is TensorFlow Serving's)."""
    signatures = {name: {"inputs": {key: _tensor_info(info) for key, info in signature.inputs.items()},
                         "outputs": {key: _tensor_info(info) for key, info in signature.outputs.items()},
                         "method_name": _METHOD_NAMES.get(signature.method, signature.method)}
                  for name, signature in servable.predictor.signatures.items()}
    return {"model_spec": {"name": servable.name, "signature_name": "", "version": str(servable.version)},
            "metadata": {"signature_def": {"signature_def": signatures}}}


def _tensor_info(info: Any) -> dict[str, Any]:
    # proto3 JSON writes int64 fields (dim sizes) as strings.
    return {"dtype": codec.TF_DTYPES.get(info.dtype, "DT_INVALID"),
            "tensor_shape": {"dim": [{"size": str(size), "name": ""} for size in info.shape], "unknown_rank": False},
            "name": info.name}
