"""What the server serves and how: :class:`ModelConfig`, :class:`ServingConfig`, and readers
for TensorFlow Serving's ``--model_config_file`` and ``--batching_parameters_file``.

Both files are protobuf text format, as TensorFlow Serving reads them; the reader here
understands the part of the format those files use (fields, nested messages, strings,
numbers, comments). A ``--model_config_file`` may also be the same message as JSON::

    model_config_list {
      config { name: 'housing' base_path: '/models/housing' model_platform: 'tensorflow' }
      config { name: 'taxi' base_path: '/models/taxi' }
    }
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from typing import Any

from torch_estimator.errors import message
from torch_estimator.export.predictor import BACKENDS
from torch_estimator.serving.batching import BatchingParameters

logger = logging.getLogger("torch_estimator.serving")

#: Model names: what fits a URL path segment unescaped, so a name never needs decoding.
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
_TOKEN = re.compile(r"""\s+|\#[^\n]*|(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
                        |(?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)[fF]?)
                        |(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<symbol>[{}:<>\[\],;])""", re.VERBOSE)
_BATCHING_FIELDS = ("max_batch_size", "batch_timeout_micros", "max_enqueued_batches")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: its name in URLs and the directory of its numbered versions.

    Raises:
        ValueError: the name is not URL-safe or ``base_path`` is empty.

    Example:
        >>> ModelConfig("housing", "/models/housing").name
        'housing'
        >>> ModelConfig("../etc", "")
        Traceback (most recent call last):
        ...
        ValueError: Invalid ModelConfig: name must match ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$; base_path must be a \
non-empty path. Received: name='../etc', base_path=''.
    """

    name: str
    base_path: str

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.name, str) or not MODEL_NAME.match(self.name):
            problems.append(f"name must match {MODEL_NAME.pattern}")
        if not isinstance(self.base_path, (str, os.PathLike)) or not os.fspath(self.base_path):
            problems.append("base_path must be a non-empty path")
        if problems:
            raise ValueError(message("Invalid ModelConfig: " + "; ".join(problems), name=self.name,
                                     base_path=self.base_path))
        object.__setattr__(self, "base_path", os.fspath(self.base_path))


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """Everything :func:`torch_estimator.serving.create_app` needs.

    Args:
        models: The models to serve (names unique).
        backend: ``'torch'`` (the ``torch.export`` program) or ``'onnx'`` (onnxruntime).
        batching: Dynamic batching parameters, or None to run every request as its own call.
        file_system_poll_wait_seconds: How often each ``base_path`` is checked for new
            versions (TensorFlow Serving's flag, default 1 s); 0 loads once and never polls.
        max_request_bytes: Larger request bodies are refused with 413.
        num_threads: onnxruntime's intra-op threads per model (None: its default). The torch
            backend follows ``torch.set_num_threads``, which the CLI sets from the same flag.
        num_inference_threads: Worker threads that run model calls (the event loop never does).
        access_log: Log one JSON line per request on the ``torch_estimator.serving.access`` logger.
        freeze_heap: After each model load, collect garbage once and move every object then
            alive out of the collector's sight (``gc.freeze``). Python's full collections walk
            the model's many objects; under load they paused the server for up to 160 ms each
            and cost a quarter of its throughput. Costs one collection pause per load. Meant for
            a process that is only a server (``torch-estimator serve`` sets it): it freezes the
            whole process's heap.

    Raises:
        ValueError: listing every invalid field.

    Example:
        >>> config = ServingConfig((ModelConfig("m", "/models/m"),), backend="onnx")
        >>> config.replace(batching=None).batching is None
        True
        >>> ServingConfig((), backend="tf")
        Traceback (most recent call last):
        ...
        ValueError: Invalid ServingConfig: models must hold at least one ModelConfig; backend must be one of \
('torch', 'onnx'). Received: models=(), backend='tf'. Fix the listed fields.
    """

    models: tuple[ModelConfig, ...]
    backend: str = "torch"
    batching: BatchingParameters | None = BatchingParameters()
    file_system_poll_wait_seconds: float = 1.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    num_threads: int | None = None
    num_inference_threads: int = 1
    access_log: bool = True
    freeze_heap: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))
        problems, received = [], {}
        names = [model.name for model in self.models if isinstance(model, ModelConfig)]
        if not self.models or len(names) != len(self.models):
            problems.append("models must hold at least one ModelConfig")
            received["models"] = self.models
        elif len(set(names)) != len(names):
            problems.append("model names must be unique")
            received["models"] = names
        checks = {"backend": (self.backend in BACKENDS, f"must be one of {BACKENDS}"),
                  "batching": (self.batching is None or isinstance(self.batching, BatchingParameters),
                               "must be BatchingParameters or None"),
                  "file_system_poll_wait_seconds": (_number_at_least(self.file_system_poll_wait_seconds, 0), ">= 0"),
                  "max_request_bytes": (_int_at_least(self.max_request_bytes, 1), "must be an int >= 1"),
                  "num_threads": (self.num_threads is None or _int_at_least(self.num_threads, 1),
                                  "must be None or an int >= 1"),
                  "num_inference_threads": (_int_at_least(self.num_inference_threads, 1), "must be an int >= 1")}
        for name, (ok, rule) in checks.items():
            if not ok:
                problems.append(f"{name} {rule}")
                received[name] = getattr(self, name)
        if problems:
            raise ValueError(message("Invalid ServingConfig: " + "; ".join(problems), fix="Fix the listed fields",
                                     **received))

    def replace(self, **changes: Any) -> ServingConfig:
        return dataclasses.replace(self, **changes)


def read_model_config_file(path: str | os.PathLike) -> tuple[ModelConfig, ...]:
    """The models of a TensorFlow Serving ``ModelServerConfig`` file (text format or JSON).

    Only ``name`` and ``base_path`` are used; ``model_platform`` is accepted and ignored. A
    version policy other than the latest version, and version labels, are refused rather
    than silently serving something else.

    Raises:
        ValueError: the file is unreadable, malformed, or asks for what is not supported.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", suffix=".config", delete=False) as f:
        ...     _ = f.write("model_config_list { config { name: 'a' base_path: '/m/a' } }  # one model")
        >>> read_model_config_file(f.name)
        (ModelConfig(name='a', base_path='/m/a'),)
    """
    document = _read_document(path, "--model_config_file")
    model_list = _single(document, "model_config_list", path) or {}
    models = []
    for entry in model_list.get("config", []):
        entry = _message_fields(entry)
        unsupported = sorted(set(entry) - {"name", "base_path", "model_platform", "model_version_policy"})
        if not _serves_latest_only(_single(entry, "model_version_policy", path)):
            unsupported.append("model_version_policy (only the latest version is served)")
        if unsupported:
            raise ValueError(message("The model config file asks for what this server does not support",
                                     expected="config entries with name, base_path, model_platform",
                                     fix="Remove the listed fields", path=os.fspath(path), unsupported=unsupported))
        models.append(ModelConfig(_single(entry, "name", path) or "", _single(entry, "base_path", path) or ""))
    if not models:
        raise ValueError(message("The model config file lists no models",
                                 expected="model_config_list { config { name: ... base_path: ... } }",
                                 path=os.fspath(path)))
    return tuple(models)


def read_batching_parameters_file(path: str | os.PathLike) -> BatchingParameters:
    """A TensorFlow Serving ``--batching_parameters_file`` as :class:`BatchingParameters`.

    ``max_batch_size``, ``batch_timeout_micros`` and ``max_enqueued_batches`` are used (as
    ``{ value: N }`` wrappers or plain numbers); other fields are logged and ignored.

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("w", delete=False) as f:
        ...     _ = f.write("max_batch_size { value: 16 }\\nbatch_timeout_micros { value: 500 }")
        >>> read_batching_parameters_file(f.name)
        BatchingParameters(max_batch_size=16, batch_timeout_micros=500, max_enqueued_batches=100)
    """
    document = _read_document(path, "--batching_parameters_file")
    ignored = sorted(set(document) - set(_BATCHING_FIELDS))
    if ignored:
        logger.warning("Ignoring batching parameters this server does not use: %s", ", ".join(ignored))
    values = {}
    for name in _BATCHING_FIELDS:
        value = _single(document, name, path)
        if isinstance(value, dict):
            value = _single(value, "value", path)
        if value is not None:
            values[name] = value
    return BatchingParameters(**values)


def parse_text_proto(text: str) -> dict[str, list[Any]]:
    """Protobuf text format as ``{field: [values]}``; nested messages become dicts.

    Example:
        >>> parse_text_proto("a: 1 b { c: 'x' } b { c: \\"y\\" } d: [2, 3.5] e: true")
        {'a': [1], 'b': [{'c': ['x']}, {'c': ['y']}], 'd': [2, 3.5], 'e': [True]}
    """
    fields, _ = _parse_message(_tokens(text), 0, closing=None)
    return fields


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(message("Invalid protobuf text", expected="fields like name: 'value' or name { ... }",
                                     position=position, text=text[position:position + 20]))
        position = match.end()
        kind = match.lastgroup
        if kind == "string":
            tokens.append(("value", _unquote(match.group(kind))))
        elif kind == "number":
            number = match.group(kind).rstrip("fF")
            tokens.append(("value", float(number) if any(c in number for c in ".eE") else int(number)))
        elif kind == "name":
            tokens.append(("name", match.group(kind)))
        elif kind == "symbol":
            tokens.append(("symbol", match.group(kind)))
    return tokens


def _parse_message(tokens: list[tuple[str, Any]], position: int, closing: str | None) -> tuple[dict, int]:
    fields: dict[str, list[Any]] = {}
    while position < len(tokens):
        kind, value = tokens[position]
        if kind == "symbol" and value == closing:
            return fields, position + 1
        if kind == "symbol" and value in ",;":
            position += 1
            continue
        if kind != "name":
            raise ValueError(message("Invalid protobuf text: expected a field name", received=value))
        name, position = value, position + 1
        if position < len(tokens) and tokens[position] == ("symbol", ":"):
            position += 1
        if position >= len(tokens):
            raise ValueError(message("Invalid protobuf text: a field has no value", field=name))
        kind, value = tokens[position]
        if kind == "symbol" and value in "{<":
            child, position = _parse_message(tokens, position + 1, "}" if value == "{" else ">")
            fields.setdefault(name, []).append(child)
        elif kind == "symbol" and value == "[":
            position += 1
            while position < len(tokens) and tokens[position] != ("symbol", "]"):
                if tokens[position][0] != "symbol":
                    fields.setdefault(name, []).append(_scalar(tokens[position]))
                position += 1
            position += 1
        else:
            fields.setdefault(name, []).append(_scalar(tokens[position]))
            position += 1
    if closing is not None:
        raise ValueError(message("Invalid protobuf text: a message is not closed", expected=f"a closing {closing!r}"))
    return fields, position


def _scalar(token: tuple[str, Any]) -> Any:
    kind, value = token
    if kind == "name":
        return {"true": True, "false": False}.get(value.lower(), value)  # enum values stay names
    if kind == "symbol":
        raise ValueError(message("Invalid protobuf text: expected a value", received=value))
    return value


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _read_document(path: str | os.PathLike, flag: str) -> dict[str, list[Any]]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.lstrip().startswith("{"):
            return _message_fields(json.loads(text))
        return parse_text_proto(text)
    except (OSError, ValueError) as error:
        raise ValueError(message(f"Cannot read {flag}", expected="a readable protobuf text (or JSON) file",
                                 path=os.fspath(path), error=f"{type(error).__name__}: {error}")) from error


def _message_fields(value: Any) -> dict[str, list[Any]]:
    """A parsed message with every field as a list, whichever format it came from."""
    if not isinstance(value, dict):
        raise ValueError(message("Invalid config: expected a message", received=value))
    return {key: (item if isinstance(item, list) else [item]) for key, item in value.items()}


def _single(fields: dict[str, list[Any]], name: str, path: Any) -> Any:
    values = fields.get(name, [])
    if len(values) > 1:
        raise ValueError(message(f"Field {name!r} is given more than once", expected="at most one value",
                                 path=os.fspath(path), values=values))
    value = values[0] if values else None
    return _message_fields(value) if isinstance(value, dict) else value


def _serves_latest_only(policy: dict[str, list[Any]] | None) -> bool:
    """True for no policy, ``latest {}`` and ``latest { num_versions: 1 }``."""
    if not policy:
        return True
    latest = policy.get("latest")
    if set(policy) != {"latest"} or len(latest) != 1 or not isinstance(latest[0], dict):
        return False
    count = latest[0].get("num_versions", 1)
    return count in (1, [1])


def _number_at_least(value: Any, low: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low


def _int_at_least(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low
