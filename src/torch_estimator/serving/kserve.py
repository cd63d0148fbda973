"""KServe V2 / Open Inference Protocol REST (``/v2/...``), so V2 clients work unchanged.

    GET  /v2                                         server metadata
    GET  /v2/health/live, /v2/health/ready           200 + {"live"|"ready": true}, or 503
    GET  /v2/models/{name}[/versions/{v}]            model metadata (serving_default's tensors)
    GET  /v2/models/{name}[/versions/{v}]/ready      200 + {"name", "ready": true}, or 404
    POST /v2/models/{name}[/versions/{v}]/infer      {"inputs": [{"name", "shape", "datatype", "data"}]}

``data`` may be nested or flat (row-major); its datatype must be the input's (``FP32`` for a
float32 input), as Triton requires. The protocol has no signatures: ``serving_default`` runs,
or the one named by the request's ``parameters.signature_name`` (an extension).
"""

from __future__ import annotations

import math
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import torch_estimator
from torch_estimator.export.predictor import SignatureDef
from torch_estimator.serving import codec
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.registry import Servable
from torch_estimator.serving.web import json_response, read_json, require_object, run_model, set_route

#: numpy dtype name -> V2 datatype.
DATATYPES = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
             "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16",
             "float32": "FP32", "float64": "FP64", "string": "BYTES"}
PLATFORMS = {"torch": "pytorch_torchexport", "onnx": "onnx_onnxv1"}
_PATH = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<tail>/ready|/infer)?$")


def routes(server: Any) -> list[Route]:
    """The ``/v2`` routes of ``server`` (an ``app.ModelServer``)."""

    async def metadata(request: Request) -> Response:
        set_route(request, "/v2")
        return json_response({"name": "torch-estimator", "version": torch_estimator.__version__, "extensions": []})

    async def live(request: Request) -> Response:
        set_route(request, "/v2/health/live")
        return json_response({"live": True})

    async def ready(request: Request) -> Response:
        set_route(request, "/v2/health/ready")
        is_ready = server.registry.ready()
        return json_response({"ready": is_ready}, 200 if is_ready else 503)

    async def models(request: Request) -> Response:
        return await _dispatch(request, server)

    return [Route("/v2", metadata, methods=["GET"]), Route("/v2/health/live", live, methods=["GET"]),
            Route("/v2/health/ready", ready, methods=["GET"]),
            Route("/v2/models/{path:path}", models, methods=["GET", "POST"])]


async def _dispatch(request: Request, server: Any) -> Response:
    path, method = request.scope["path"], request.method
    match = _PATH.match(path)
    if match is None:
        set_route(request, "/v2/models/<malformed>")
        raise ServingError.not_found(f"No such endpoint: {method} {path}",
                                     expected="/v2/models/<name>[/versions/<version>][/ready|/infer]")
    tail = match["tail"] or ""
    set_route(request, "/v2/models/{name}" + tail)
    wanted = "POST" if tail == "/infer" else "GET"
    if method != wanted:
        raise ServingError(405, f"Method {method} is not allowed on {path}. Expected {wanted}.")
    version = _version(match["version"])
    servable = server.registry.get(match["name"], version)
    if tail == "/ready":
        return json_response({"name": servable.name, "ready": True})
    if tail == "":
        return json_response(_metadata(servable, server.config.backend))
    body, raw = await read_json(request, server.config.max_request_bytes)
    body = require_object(body, '{"inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]}')
    return await _infer(servable, body, codec.may_hold_booleans(raw))


async def _infer(servable: Servable, body: dict[str, Any], may_have_bools: bool) -> Response:
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ServingError.bad_request("'parameters' must be an object", parameters=codec.clip(parameters))
    signature_name = parameters.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise ServingError.bad_request("parameters.signature_name must be a string", signature_name=signature_name)
    name, signature = servable.signature(signature_name)
    inputs = _decode_inputs(body.get("inputs"), signature, may_have_bools)
    wanted = _requested_outputs(body.get("outputs"), signature)
    outputs = await run_model(servable, name, inputs)
    response: dict[str, Any] = {"model_name": servable.name, "model_version": str(servable.version)}
    if "id" in body:
        if not isinstance(body["id"], str):
            raise ServingError.bad_request("'id' must be a string", id=codec.clip(body["id"]))
        response["id"] = body["id"]
    response["outputs"] = [{"name": key, "datatype": DATATYPES.get(str(outputs[key].dtype), "BYTES"),
                            "shape": list(outputs[key].shape), "data": codec.json_value(outputs[key].ravel())}
                           for key in wanted]
    return json_response(response)


def _decode_inputs(tensors: Any, signature: SignatureDef, may_have_bools: bool) -> dict[str, Any]:
    example = '[{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]'
    if not isinstance(tensors, list) or not tensors:
        raise ServingError.bad_request("'inputs' must be a non-empty list of tensors", expected=example,
                                       inputs=codec.clip(tensors))
    arrays = {}
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise ServingError.bad_request(f"inputs[{index}] must be an object with a string 'name'",
                                           expected=example, received=codec.clip(tensor))
        name = tensor["name"]
        info = signature.inputs.get(name)
        if info is None or name in arrays:
            raise ServingError.bad_request(f"Unexpected input {name!r}" if info is None else
                                           f"Input {name!r} is given twice", expected=f"each of {list(signature.inputs)}"
                                           " once", name=name)
        datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
        if datatype != DATATYPES.get(info.dtype):
            raise ServingError.bad_request(f"Input {name!r} has the wrong datatype",
                                           expected=f"{DATATYPES.get(info.dtype)} (the input is {info.describe()})",
                                           datatype=datatype)
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ServingError.bad_request(f"Input {name!r} needs 'shape', a list of non-negative integers",
                                           expected=f"a list like {[1, *info.shape[1:]]}",
                                           shape=codec.clip(shape))
        if not isinstance(data, list):
            raise ServingError.bad_request(f"Input {name!r} needs 'data', a list (nested or flat)",
                                           data=codec.clip(data))
        where = f"input {name!r}"
        array = codec.to_array(data, info, where, may_have_bools)
        if array.size != math.prod(shape):
            raise ServingError.bad_request(f"Input {name!r} has {array.size} values, which do not fill its shape",
                                           expected=f"{math.prod(shape)} values for shape {shape}", shape=shape)
        array = array.reshape(shape)
        codec.check_shape(array, info, where)
        arrays[name] = array
    missing = [name for name in signature.inputs if name not in arrays]
    if missing:
        raise ServingError.bad_request("Inputs are missing", expected=f"all of {list(signature.inputs)}",
                                       missing=missing)
    codec.check_batch_sizes(arrays)
    return arrays


def _requested_outputs(requested: Any, signature: SignatureDef) -> list[str]:
    if requested is None:
        return list(signature.outputs)
    names = [item.get("name") if isinstance(item, dict) else None for item in requested] \
        if isinstance(requested, list) else None
    if names is None or not names or any(name not in signature.outputs for name in names):
        raise ServingError.bad_request("'outputs' must list outputs of the model by name",
                                       expected=f'[{{"name": one of {list(signature.outputs)}}}, ...]',
                                       outputs=codec.clip(requested))
    return list(dict.fromkeys(names))


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ServingError.not_found("Unknown model version", expected="a version number", version=text)
    return int(text)


def _metadata(servable: Servable, backend: str) -> dict[str, Any]:
    _, signature = servable.signature(None)
    return {"name": servable.name, "versions": [str(servable.version)], "platform": PLATFORMS[backend],
            "inputs": [_tensor_metadata(name, info) for name, info in signature.inputs.items()],
            "outputs": [_tensor_metadata(name, info) for name, info in signature.outputs.items()]}


def _tensor_metadata(name: str, info: Any) -> dict[str, Any]:
    return {"name": name, "datatype": DATATYPES.get(info.dtype, "BYTES"), "shape": list(info.shape)}
