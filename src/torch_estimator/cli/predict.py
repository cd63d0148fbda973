"""``torch-estimator predict``: local batch prediction from newline-delimited JSON.

The equivalent of ``gcloud ai-platform local predict --json-instances``: each input line is one
instance in TensorFlow Serving's row format (the single input's value, or an object of input
name -> value), each output line the prediction for it, as ``:predict`` would return it in
``predictions``. Lines are run in chunks, so files larger than memory stream through.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from typing import IO, Any

from torch_estimator import export
from torch_estimator.errors import message
from torch_estimator.export.predictor import SIGNATURE_FILE, Predictor
from torch_estimator.serving import codec
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.versions import list_versions


def resolve_export_dir(model_dir: str) -> str:
    """``model_dir`` itself if it is an export, else its newest numbered version directory.

    Raises:
        ValueError: neither.
    """
    if os.path.isfile(os.path.join(model_dir, SIGNATURE_FILE)):
        return model_dir
    try:
        versions = list_versions(model_dir)
    except OSError as error:
        versions, problem = {}, f"{type(error).__name__}: {error.strerror}"
    else:
        problem = "no numbered version directories"
    if not versions:
        raise ValueError(message("--model_dir is not an export", expected=f"a directory holding {SIGNATURE_FILE}, "
                                 "or an export_dir_base of numbered exports", model_dir=model_dir, problem=problem))
    return versions[max(versions)]


def predict_lines(predictor: Predictor, lines: Iterable[str], signature_name: str = "serving_default",
                  chunk_size: int = 256) -> Iterator[str]:
    """Yields one JSON prediction per non-blank instance line.

    Raises:
        ValueError: naming the line of a malformed or invalid instance.

    Example:
        >>> import numpy as np
        >>> from torch_estimator.export.predictor import SignatureDef, TensorInfo
        >>> class Doubler:  # stands in for est.export.load(...)
        ...     signatures = {"serving_default": SignatureDef("predict", {"x": TensorInfo("x", "float32", (-1, 2))},
        ...                                                   {"y": TensorInfo("y", "float32", (-1, 2))})}
        ...     def __call__(self, inputs, signature):
        ...         return {"y": inputs["x"] * 2}
        >>> list(predict_lines(Doubler(), ['[1.0, 2.5]', '', '{"x": [0.1, 0]}']))
        ['[2.0, 5.0]', '[0.2, 0.0]']
    """
    signature = predictor.signatures.get(signature_name)
    if signature is None:
        raise ValueError(message(f"The export has no signature {signature_name!r}",
                                 expected=f"one of {sorted(predictor.signatures)}", fix="Pass --signature_name",
                                 signature_name=signature_name))
    chunk: list[tuple[int, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        chunk.append((number, _unwrap(_parse(line, number), signature)))
        if len(chunk) == chunk_size:
            yield from _predict_chunk(predictor, signature, signature_name, chunk)
            chunk = []
    if chunk:
        yield from _predict_chunk(predictor, signature, signature_name, chunk)


def run(model_dir: str, json_instances: str, signature_name: str, backend: str, out: IO[str],
        stdin: IO[str] | None = None) -> int:
    """Loads the export and writes predictions for every line of ``json_instances`` (``-``: stdin)."""
    predictor = export.load(resolve_export_dir(model_dir), backend)
    try:
        source = contextlib.nullcontext(stdin) if json_instances == "-" else open(json_instances, encoding="utf-8")
    except OSError as error:
        raise ValueError(message("Cannot read --json_instances", expected="a readable file of JSON lines, or -",
                                 json_instances=json_instances, error=error.strerror)) from error
    with source as lines:
        for prediction in predict_lines(predictor, lines, signature_name):
            out.write(prediction + "\n")
    return 0


def _parse(line: str, number: int) -> Any:
    try:
        return codec.parse_body(line.encode())
    except ServingError as error:
        raise ValueError(f"Line {number}: {error}") from None


def _unwrap(instance: Any, signature: Any) -> Any:
    """``{"x": value}`` as ``value`` for a single-input signature: lines may use either form."""
    if isinstance(instance, dict) and len(signature.inputs) == 1 and instance.keys() == signature.inputs.keys():
        return next(iter(instance.values()))
    return instance


def _predict_chunk(predictor: Predictor, signature: Any, signature_name: str,
                   chunk: list[tuple[int, Any]]) -> Iterator[str]:
    try:
        inputs, _ = codec.decode_predict_inputs({"instances": [instance for _, instance in chunk]}, signature,
                                                signature_name)
    except ServingError as error:
        for number, instance in chunk:  # find the line to blame
            try:
                codec.decode_predict_inputs({"instances": [instance]}, signature, signature_name)
            except ServingError as line_error:
                raise ValueError(f"Line {number}: {line_error}") from None
        raise ValueError(f"Lines {chunk[0][0]}-{chunk[-1][0]}: {error}") from None
    outputs = predictor(inputs, signature_name)
    for prediction in codec.encode_predict_outputs(outputs, row_format=True)["predictions"]:
        yield json.dumps(prediction, allow_nan=True)
