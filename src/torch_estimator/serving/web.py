"""Starlette glue shared by both APIs: bounded body reading, JSON responses, the route label.

Bodies are read in chunks and refused with 413 as soon as they pass the limit (before a
large body is held in memory); a ``Content-Length`` over the limit is refused unread.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive

from torch_estimator.errors import message
from torch_estimator.serving import codec
from torch_estimator.serving.errors import ServingError

logger = logging.getLogger("torch_estimator.serving")

#: Scope key where a handler leaves its route template, for metrics and access logs.
ROUTE_KEY = "torch_estimator.route"
JSON = "application/json"


def set_route(request: Request, template: str) -> None:
    """Labels the request with its route template (never the raw path: bounded label values)."""
    request.scope[ROUTE_KEY] = template


async def read_json(request: Request, limit: int) -> tuple[Any, bytes]:
    """The body as JSON, and its bytes.

    Raises:
        ServingError: 413 over ``limit`` bytes; 400 when empty or not JSON.
    """
    return await parse_stream(request.headers.get("content-length"), request.stream(), limit)


async def receive_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks straight from ASGI ``receive`` (what ``Request.stream`` yields).

    Raises:
        ClientDisconnect: the client went away before the body was complete.
    """
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = event.get("body", b"")
        if chunk:
            yield chunk
        if not event.get("more_body", False):
            return


async def parse_stream(declared: str | None, chunks: AsyncIterator[bytes], limit: int) -> tuple[Any, bytes]:
    """The JSON body read from ``chunks`` under the size limit, and its bytes (see :func:`read_json`).

    Args:
        declared: The ``Content-Length`` header, if any: over ``limit``, the body is refused unread.
        chunks: The body's chunks.
        limit: Most bytes accepted.
    """
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, content_length=int(declared))
    chunks_read, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, received_at_least=size)
        chunks_read.append(chunk)
    body = chunks_read[0] if len(chunks_read) == 1 else b"".join(chunks_read)
    if not body.strip():
        raise ServingError.bad_request("The request body is empty", expected='a JSON object, e.g. {"instances": [...]}')
    return codec.parse_body(body), body


def require_object(body: Any, example: str) -> dict[str, Any]:
    """``body`` if it is a JSON object, else a 400."""
    if not isinstance(body, dict):
        raise ServingError.bad_request("The request body must be a JSON object", expected=example,
                                       received=type(body).__name__)
    return body


async def run_model(servable: Any, signature_name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Runs a validated batch on a ``registry.Servable``; the predictor's input errors become 400s."""
    try:
        return await servable.run(signature_name, inputs)
    except ServingError:
        raise
    except (ValueError, TypeError) as error:  # inputs the codec let through but the program refuses
        raise ServingError(400, str(error)) from error


def json_response(payload: Any, status: int = 200) -> Response:
    """``payload`` as compact JSON (``NaN``/``Infinity`` tokens allowed, as TF Serving writes them)."""
    return Response(codec.dumps(payload), status_code=status, media_type=JSON)


def error_response(status: int, text: str) -> Response:
    """TensorFlow Serving's and KServe's error body: ``{"error": "<message>"}``."""
    return Response(codec.dumps({"error": text}), status_code=status, media_type=JSON)


def internal_error(method: str, path: str, error: Exception) -> Response:
    """Logs an unexpected error with its traceback; the 500 answering it."""
    logger.error("Internal error answering %s %s", method, path, exc_info=error)
    return error_response(500, f"Internal error: {type(error).__name__}: {error}")


def _too_large(limit: int, **received: Any) -> ServingError:
    return ServingError(413, message("Request body too large", expected=f"at most {limit} bytes",
                                     fix="Send fewer instances per request, or start the server with a larger "
                                         "--max_request_bytes", **received))
