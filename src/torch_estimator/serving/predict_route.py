"""``PredictRoute``: ``POST /v1/models/{name}[/versions/{v}]:predict`` answered straight from ASGI.

The server's hot route. For a single-row request to a small model, Starlette's layers (error
and exception middleware, the access middleware's send wrapper, routing, the Request and
Response objects) are a large share of the request's cost, and dynamic batching can merge
model calls but not these. This route reads the body from ``receive``,
answers with the same :func:`tf_serving.answer` as the Starlette route, sends the two
response events itself, and records metrics and the access-log line like
``app.AccessMiddleware`` does: the same bytes, statuses, metrics and log lines either way
(``tests/serving/test_predict_route.py`` compares them).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from starlette.types import Receive, Scope, Send

from torch_estimator.serving import codec, tf_serving
from torch_estimator.serving.access_log import AccessLog
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.web import JSON, ROUTE_KEY, error_response, internal_error, parse_stream, receive_chunks

logger = logging.getLogger("torch_estimator.serving")
_ROUTE = "/v1/models/{name}:predict"
_CONTENT_TYPE = (b"content-type", JSON.encode())


class PredictRoute:
    """The ``:predict`` route of a model server, as a raw ASGI handler.

    Args:
        server: The ``app.ModelServer`` whose registry and config answer requests.
        access: Where each request is counted, timed and logged.
    """

    def __init__(self, server: Any, access: AccessLog) -> None:
        self.server, self.access = server, access

    @staticmethod
    def match(scope: Scope) -> re.Match | None:
        """The path match when this route answers the HTTP request ``scope``, else None.

        Only ``POST`` to a ``:predict`` path of the app's own (no ``root_path``: a mounted app
        leaves matching to Starlette).
        """
        path = scope["path"]
        if scope["method"] != "POST" or not path.endswith(":predict") or scope.get("root_path"):
            return None
        return tf_serving.match_predict(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, match: re.Match) -> None:
        """Answers the request ``match`` came from (see :meth:`match`)."""
        started = time.perf_counter()
        scope[ROUTE_KEY] = _ROUTE
        status, sent = 500, 0
        try:
            try:
                payload = await self._answer(scope, receive, match)
            except ServingError as error:
                response = error_response(error.status, str(error))
                await response(scope, receive, send)
                status, sent = error.status, len(response.body)
                return
            except Exception as error:
                # As Starlette's ServerErrorMiddleware: log, answer 500, and let the server see it.
                await internal_error(scope["method"], scope["path"], error)(scope, receive, send)
                raise
            body = codec.dumps(payload)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(body)).encode()), _CONTENT_TYPE]})
            await send({"type": "http.response.body", "body": body})
            status, sent = 200, len(body)
        finally:
            self.access.record(scope, status, sent, time.perf_counter() - started)

    async def _answer(self, scope: Scope, receive: Receive, match: re.Match) -> dict[str, Any]:
        version = int(match["version"]) if match["version"] is not None else None
        servable = self.server.registry.get(match["name"], version)
        declared = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = value.decode("latin-1")
                break
        body, raw = await parse_stream(declared, receive_chunks(receive), self.server.config.max_request_bytes)
        return await tf_serving.answer(servable, ":predict", body, raw)
