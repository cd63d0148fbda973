"""The per-request record: request count and latency metrics, and one JSON access-log line.

Kept apart from the middleware so that the Starlette routes (through ``app.AccessMiddleware``)
and the raw ``:predict`` route (``predict_route.PredictRoute``) count and log requests the same way.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import Scope

from torch_estimator.serving.metrics import ServingMetrics
from torch_estimator.serving.web import ROUTE_KEY

access_logger = logging.getLogger("torch_estimator.serving.access")


class AccessLog:
    """Counts, times and logs answered requests.

    Args:
        metrics: Where requests and latencies are counted.
        enabled: Whether to write the access-log line (metrics are always kept).
    """

    def __init__(self, metrics: ServingMetrics, enabled: bool) -> None:
        self.metrics, self.enabled = metrics, enabled

    def record(self, scope: Scope, status: int, sent_bytes: int, seconds: float) -> None:
        """Records one answered request, labelled with the route template its handler left in ``scope``."""
        route = scope.get(ROUTE_KEY, "<unmatched>")
        self.metrics.requests.inc(route, scope["method"], str(status))
        self.metrics.latency.observe(seconds, route)
        if self.enabled and access_logger.isEnabledFor(logging.INFO):
            client = scope.get("client")
            line = json.dumps({
                "time": round(time.time(), 3), "client": f"{client[0]}:{client[1]}" if client else None,
                "method": scope["method"], "path": scope["path"], "route": route,
                "status": status, "bytes": sent_bytes, "ms": round(seconds * 1e3, 3)})
            # logger.info(line) less its search of the call stack for the caller's file and line
            # (a tenth of a small request's cost), which the access line has no use for.
            access_logger.handle(access_logger.makeRecord(access_logger.name, logging.INFO, __file__, 0, line,
                                                          None, None, "record"))
