"""``serve``: run the model server under uvicorn (what ``torch-estimator serve`` calls).

uvicorn runs with its ``standard`` extras when installed (uvloop, httptools: the fastest
combination measured for this server) and its own access log off, since the app writes one
JSON line per request itself.
"""

from __future__ import annotations

import logging
import sys

from torch_estimator.serving.app import create_app
from torch_estimator.serving.config import ServingConfig

logger = logging.getLogger("torch_estimator.serving")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8501


def serve(config: ServingConfig, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, log_level: str = "info") -> None:
    """Serves ``config`` on ``host:port`` until interrupted (SIGINT or SIGTERM).

    Args:
        config: What to serve.
        host: The address to bind; 127.0.0.1 by default, so that nothing outside this machine
            reaches the server unless asked for (``--host 0.0.0.0``).
        port: TCP port of the REST API (TensorFlow Serving's REST default, 8501).
        log_level: uvicorn's log level.

    Raises:
        ValueError: from :func:`create_app` (bad config, missing base path).
    """
    import uvicorn  # the serving extra; only the server process needs it

    app = create_app(config=config)
    _log_access_to_stderr()
    logger.info("Exporting HTTP/REST API at http://%s:%d (TensorFlow Serving /v1, KServe V2 /v2, /metrics).",
                host, port)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level=log_level,
                                  timeout_graceful_shutdown=10)).run()


def _log_access_to_stderr() -> None:
    """Access lines are already JSON: write them bare, one per line, unless logging is configured."""
    access = logging.getLogger("torch_estimator.serving.access")
    if access.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
