"""The one exception a request handler raises: an HTTP status and a message for the client.

Every error leaves the server as ``{"error": "<message>"}`` with a 4xx status (TensorFlow
Serving's and KServe V2's shared error shape); the message follows the project's template
(``errors.message``), led by TensorFlow Serving's own wording where a migrated client may
match on it (``Servable not found for request: ...``).
"""

from __future__ import annotations

from typing import Any

from torch_estimator.errors import message


class ServingError(ValueError):
    """A request the server refuses, with the HTTP status to answer it with.

    A ``ValueError`` so that the codec's checks read like any other input check when the codec
    is used outside a server (``torch-estimator predict``).

    Example:
        >>> error = ServingError.bad_request("Malformed JSON", expected="a JSON object", body="{x")
        >>> error.status, str(error)
        (400, "Malformed JSON. Expected a JSON object. Received: body='{x'.")
    """

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status

    @classmethod
    def bad_request(cls, what: str, expected: str | None = None, fix: str | None = None,
                    **received: Any) -> ServingError:
        """A 400 with a templated message."""
        return cls(400, message(what, expected=expected, fix=fix, **received))

    @classmethod
    def not_found(cls, what: str, expected: str | None = None, fix: str | None = None,
                  **received: Any) -> ServingError:
        """A 404 with a templated message."""
        return cls(404, message(what, expected=expected, fix=fix, **received))
