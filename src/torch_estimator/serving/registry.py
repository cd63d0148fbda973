"""The loaded models: one :class:`Servable` per model, switched atomically to a new version.

A request looks its servable up once, on arrival, and keeps it to the end: the switch to a
new version is a single reference assignment, made only after the new version has loaded
and run one prediction per signature, so requests in flight finish on the old version and
later ones start on the new, and none fails in between. Names and versions in requests are
only ever looked up in this registry; nothing a request sends reaches the file system.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import numpy as np

from torch_estimator import export
from torch_estimator.export.predictor import Predictor, SignatureDef
from torch_estimator.export.receivers import STRING
from torch_estimator.serving.batching import Arrays, Batcher, DirectRunner
from torch_estimator.serving.config import ModelConfig, ServingConfig
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.metrics import ServingMetrics

logger = logging.getLogger("torch_estimator.serving")
DEFAULT_SIGNATURE = export.DEFAULT_SERVING_SIGNATURE_DEF_KEY


class Runner(Protocol):
    """Runs a validated batch through one signature: :class:`Batcher` or :class:`DirectRunner`."""

    async def submit(self, inputs: Arrays) -> Arrays: ...


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded and warmed version of a model, with a runner per signature.

    Attributes:
        name: The model's name.
        version: The version number (its directory name).
        path: The export directory.
        predictor: The loaded export.
        runners: Signature name -> runner (a dynamic batcher, or direct calls).
    """

    name: str
    version: int
    path: str
    predictor: Predictor
    runners: Mapping[str, Runner]

    def signature(self, name: str | None) -> tuple[str, SignatureDef]:
        """``(name, SignatureDef)``; ``None`` or ``''`` mean ``serving_default``.

        Raises:
            ServingError: 400 when the export has no such signature.
        """
        name = name or DEFAULT_SIGNATURE
        signature = self.predictor.signatures.get(name)
        if signature is None:
            raise ServingError.bad_request(f'Serving signature name: "{name}" not found in signature def',
                                           expected=f"one of {sorted(self.predictor.signatures)}",
                                           fix="Pass signature_name=<one of them>, or omit it for serving_default",
                                           signature_name=name)
        return name, signature

    async def run(self, signature_name: str, inputs: Arrays) -> Arrays:
        """The signature's outputs for a validated batch, off the event loop."""
        return await self.runners[signature_name].submit(inputs)


@dataclasses.dataclass
class _ModelState:
    config: ModelConfig
    current: Servable | None = None
    loading: int | None = None
    failures: dict[int, tuple[Any, str]] = dataclasses.field(default_factory=dict)  # version -> (fingerprint, error)


class ModelRegistry:
    """Every configured model's current servable, plus what loading them has taught us.

    Args:
        config: The server's configuration (models, backend, batching, threads).
        metrics: Where batch sizes and loads are counted.
    """

    def __init__(self, config: ServingConfig, metrics: ServingMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self._states = {model.name: _ModelState(model) for model in config.models}
        self._lock = threading.Lock()  # guards loading/failures, written by the watcher thread
        self._executor = ThreadPoolExecutor(config.num_inference_threads,
                                            thread_name_prefix="torch-estimator-inference")

    @property
    def models(self) -> tuple[ModelConfig, ...]:
        return self.config.models

    def get(self, name: str, version: int | None = None) -> Servable:
        """The servable for a request: the current version, or exactly ``version``.

        Raises:
            ServingError: 404 for an unknown model, or a version that is not being served.
        """
        state = self._states.get(name)
        servable = state.current if state is not None else None
        if servable is None or (version is not None and version != servable.version):
            request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            served = {model: s.current.version for model, s in self._states.items() if s.current is not None}
            raise ServingError.not_found(f"Servable not found for request: {request}",
                                         expected=f"a served model and version, one of {served}",
                                         fix="Check the model name and version (GET /v1/models/<name>)",
                                         model_name=name, version=version)
        return servable

    def current_version(self, name: str) -> int | None:
        servable = self._states[name].current
        return None if servable is None else servable.version

    def served_versions(self) -> dict[str, int | None]:
        """Model name -> version served (None while none is loaded)."""
        return {name: self.current_version(name) for name in self._states}

    def ready(self) -> bool:
        """True once every model serves a version."""
        return all(state.current is not None for state in self._states.values())

    def status(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """TensorFlow Serving's ``model_version_status`` entries, newest first.

        Raises:
            ServingError: 404 for an unknown model, or a version that is unknown to it.
        """
        state = self._states.get(name)
        if state is None:
            raise ServingError.not_found(f"Could not find any versions of model {name}",
                                         expected=f"one of the served models {sorted(self._states)}", model_name=name)
        entries: dict[int, dict[str, Any]] = {}
        with self._lock:
            for failed, (_, error) in state.failures.items():
                entries[failed] = _version_status(failed, "END", "UNKNOWN", error)
            if state.loading is not None:
                entries[state.loading] = _version_status(state.loading, "LOADING")
        if state.current is not None:
            entries[state.current.version] = _version_status(state.current.version, "AVAILABLE")
        if version is not None:
            if version not in entries:
                raise ServingError.not_found(f"Could not find version {version} of model {name}",
                                             expected=f"one of the versions known {sorted(entries)}",
                                             model_name=name, version=version)
            return [entries[version]]
        if not entries:
            raise ServingError.not_found(f"Could not find any versions of model {name}",
                                         expected=f"a numbered version directory under {state.config.base_path!r}",
                                         model_name=name)
        return [entries[v] for v in sorted(entries, reverse=True)]

    def load(self, model: ModelConfig, version: int, path: str) -> Servable:
        """Loads and warms a version (one prediction per signature); does not switch to it."""
        with self._lock:
            self._states[model.name].loading = version
        try:
            predictor = export.load(path, self.config.backend, num_threads=self.config.num_threads)
            for signature_name, signature in predictor.signatures.items():
                predictor(_warm_up_inputs(signature), signature_name)
            runners = {signature_name: self._runner(predictor, signature_name, model.name)
                       for signature_name in predictor.signatures}
            return Servable(model.name, version, path, predictor, runners)
        finally:
            with self._lock:
                self._states[model.name].loading = None

    def install(self, servable: Servable) -> None:
        """Switches the model to ``servable``: one assignment, atomic for readers."""
        state = self._states[servable.name]
        previous = None if state.current is None else state.current.version  # no reference: collectable
        state.current = servable
        with self._lock:
            state.failures.pop(servable.version, None)
        self.metrics.loads.inc(servable.name, "ok")
        if self.config.freeze_heap:
            _freeze_heap()
        logger.info("Serving model %r version %d from %s%s.", servable.name, servable.version, servable.path,
                    "" if previous is None else f" (was version {previous})")

    def failed(self, name: str, version: int) -> Any:
        """The fingerprint recorded when ``version`` failed to load, or None."""
        with self._lock:
            failure = self._states[name].failures.get(version)
        return None if failure is None else failure[0]

    def record_failure(self, name: str, version: int, fingerprint: Any, error: BaseException) -> None:
        with self._lock:
            self._states[name].failures[version] = (fingerprint, f"{type(error).__name__}: {error}")
        self.metrics.loads.inc(name, "error")

    def _runner(self, predictor: Predictor, signature_name: str, model_name: str) -> Runner:
        def predict(inputs: Arrays) -> Arrays:
            return predictor(inputs, signature_name)

        def on_batch(rows: int) -> None:
            self.metrics.batch_size.observe(rows, model_name)

        if self.config.batching is None:
            return DirectRunner(predict, self._executor, on_batch)
        return Batcher(predict, self._executor, self.config.batching, on_batch)


def _freeze_heap() -> None:
    """Collects once, then hides every live object from later collections (see ServingConfig).

    Unfreezing first lets the collection reclaim a replaced version frozen by the last call
    (one still used by requests in flight lingers until the next load).
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _warm_up_inputs(signature: SignatureDef) -> Arrays:
    """One example of zeros per input (zeros are valid ids for embedding inputs too; "" for strings)."""
    return {name: np.full((max(info.shape[0], 1), *info.shape[1:]), "") if info.dtype == STRING
            else np.zeros((max(info.shape[0], 1), *info.shape[1:]), dtype=info.dtype)
            for name, info in signature.inputs.items()}


def _version_status(version: int, state: str, code: str = "OK", error: str = "") -> dict[str, Any]:
    return {"version": str(version), "state": state, "status": {"error_code": code, "error_message": error}}
