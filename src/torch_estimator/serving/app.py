"""``create_app``: the ASGI app serving exports over TensorFlow Serving's REST API and KServe V2.

The app is an ordinary Starlette application: run it with uvicorn (``torch-estimator serve``
or :func:`torch_estimator.serving.serve`), test it with ``starlette.testclient.TestClient`` or
``httpx.AsyncClient``, or mount it in a larger app. Models are loaded when the app is created;
the version watcher runs while the app's lifespan is active (the server's whole life under
uvicorn; ``with TestClient(app):`` in tests).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from torch_estimator.errors import message
from torch_estimator.serving import kserve, tf_serving
from torch_estimator.serving.access_log import AccessLog
from torch_estimator.serving.config import ModelConfig, ServingConfig
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.metrics import CONTENT_TYPE, ServingMetrics
from torch_estimator.serving.predict_route import PredictRoute
from torch_estimator.serving.registry import ModelRegistry
from torch_estimator.serving.versions import VersionWatcher
from torch_estimator.serving.web import error_response, internal_error, set_route

logger = logging.getLogger("torch_estimator.serving")


class ModelServer:
    """The server's state behind the routes: config, metrics, loaded models, version watcher.

    Creating it loads each model's newest version (a model with none yet is served once one
    appears). :meth:`start` and :meth:`stop` run and end the watcher; the app's lifespan calls them.
    """

    def __init__(self, config: ServingConfig) -> None:
        self.config = config
        self.registry: ModelRegistry
        self.metrics = ServingMetrics(lambda: self.registry.served_versions())
        self.registry = ModelRegistry(config, self.metrics)
        self.watcher = VersionWatcher(self.registry, config.file_system_poll_wait_seconds)
        self.watcher.poll()

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        # Only the watcher: the inference threads are idle once uvicorn has drained requests, and
        # end with the registry; keeping them lets the app start again (a second lifespan).
        self.watcher.stop()


def create_app(model_base_path: str | os.PathLike | None = None, *, model_name: str = "default",
               config: ServingConfig | None = None, **options: Any) -> Starlette:
    """The model server as an ASGI app.

    Args:
        model_base_path: A directory of numbered export directories (``export_dir_base`` of
            ``export_saved_model``); the newest is served and new ones are picked up.
        model_name: The name in URLs (``/v1/models/<model_name>:predict``).
        config: A :class:`ServingConfig` for several models or full control; then leave
            ``model_base_path`` and ``options`` out.
        **options: :class:`ServingConfig` fields: ``backend``, ``batching`` (None turns
            dynamic batching off), ``file_system_poll_wait_seconds``, ``max_request_bytes``,
            ``num_threads``, ``num_inference_threads``, ``access_log``.

    Returns:
        A Starlette app (a :class:`ServingApp`); ``app.state.server`` is its :class:`ModelServer`.

    Raises:
        ValueError: invalid options, both or neither of ``config`` and ``model_base_path``, or
            a base path that is not a directory.

    Example:
        >>> import tempfile
        >>> from starlette.testclient import TestClient
        >>> app = create_app(tempfile.mkdtemp(), model_name="housing")  # no version yet
        >>> with TestClient(app) as client:
        ...     client.get("/v2/health/ready").status_code, client.get("/v2/health/live").json()
        (503, {'live': True})
    """
    if (config is None) == (model_base_path is None) or (config is not None and options):
        raise ValueError(message("Pass either model_base_path (with model_name and options) or config",
                                 expected="exactly one of them", model_base_path=model_base_path,
                                 config=config, options=sorted(options)))
    if config is None:
        config = ServingConfig((ModelConfig(model_name, os.fspath(model_base_path)),), **options)
    _check_base_paths(config)
    server = ModelServer(config)

    async def metrics(request: Request) -> Response:
        set_route(request, "/metrics")
        return Response(server.metrics.render(), media_type=CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.start()
        try:
            yield
        finally:
            server.stop()

    access = AccessLog(server.metrics, config.access_log)
    app = ServingApp(
        PredictRoute(server, access),
        routes=[*tf_serving.routes(server), *kserve.routes(server), Route("/metrics", metrics, methods=["GET"])],
        middleware=[Middleware(AccessMiddleware, access=access)],
        exception_handlers={ServingError: _serving_error, HTTPException: _http_error, Exception: _internal_error},
        lifespan=lifespan)
    app.state.server = server
    return app


def _check_base_paths(config: ServingConfig) -> None:
    missing = {model.name: model.base_path for model in config.models if not os.path.isdir(model.base_path)}
    if missing:
        raise ValueError(message("Model base paths must be existing directories", expected="a directory holding "
                                 "numbered export directories (export_dir_base of export_saved_model)",
                                 fix="Check --model_base_path / the config file's base_path", missing=missing))


class AccessMiddleware:
    """Counts and times every request by route template and logs one JSON line for it."""

    def __init__(self, app: ASGIApp, access: AccessLog) -> None:
        self.app, self.access = app, access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        response = {"status": 500, "bytes": 0}

        async def send_and_record(event: Message) -> None:
            if event["type"] == "http.response.start":
                response["status"] = event["status"]
            elif event["type"] == "http.response.body":
                response["bytes"] += len(event.get("body", b""))
            await send(event)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.access.record(scope, response["status"], response["bytes"], time.perf_counter() - started)


class ServingApp(Starlette):
    """The Starlette app, with ``POST /v1/models/...:predict`` answered by :class:`PredictRoute`.

    The hot route skips Starlette's middleware, routing and Request/Response objects (a large
    share of a single-row request's cost, which batching cannot merge); its answers, metrics
    and access-log lines are those of the Starlette route. Once an embedder adds middleware of their own
    (``app.add_middleware``), every request goes through Starlette, so that theirs sees it.
    """

    def __init__(self, predict_route: PredictRoute, **options: Any) -> None:
        super().__init__(**options)
        self.predict_route = predict_route
        self._own_middleware = len(self.user_middleware)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(self.user_middleware) == self._own_middleware:
            match = self.predict_route.match(scope)
            if match is not None:
                scope["app"] = self
                await self.predict_route(scope, receive, send, match)
                return
        await super().__call__(scope, receive, send)


async def _serving_error(request: Request, error: Exception) -> Response:
    return error_response(error.status, str(error))


async def _http_error(request: Request, error: Exception) -> Response:
    if error.status_code == 404:
        text = message(f"No such endpoint: {request.method} {request.url.path}",
                       expected="/v1/models/<name>[...], /v2[...] or /metrics")
    elif error.status_code == 405:
        text = f"Method {request.method} is not allowed on {request.url.path}."
    else:
        text = str(error.detail)
    return error_response(error.status_code, text)


async def _internal_error(request: Request, error: Exception) -> Response:
    return internal_error(request.method, request.url.path, error)
