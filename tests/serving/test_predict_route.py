"""The raw ASGI ``:predict`` route answers exactly as the Starlette route it bypasses.

Each request is sent twice to one server: once through ``ServingApp`` (the fast route takes
``POST ...:predict``) and once through plain ``Starlette.__call__`` (the Starlette route), and
the two answers, metrics and access-log lines must be the same.
"""

from __future__ import annotations

import json
import logging

import pytest
from starlette.applications import Starlette

from torch_estimator import serving

from .conftest import TestClient

LINEAR = "/v1/models/linear:predict"
HEADS = "/v1/models/heads:predict"
ROWS = json.dumps({"instances": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}).encode()
# (path, body, extra headers): good requests of every shape, then each kind of bad input.
REQUESTS = [
    (LINEAR, ROWS, {}),
    (LINEAR, b'{"inputs": {"x": [[0.1, 0.2, 0.3]]}}', {}),
    (LINEAR, b'{"inputs": [[1e30, -0.0, NaN]]}', {}),
    ("/v1/models/linear/versions/1:predict", ROWS, {}),
    (HEADS, b'{"signature_name": "predict", "instances": [{"dense": [1, 2, 3], "cat": 4}]}', {}),
    (HEADS, b'{"instances": [{"dense": [1, 2, 3], "cat": 4}, {"dense": [0, 0, 0], "cat": 0}]}', {}),
    ("/v1/models/linear/versions/2:predict", ROWS, {}),
    ("/v1/models/nope:predict", ROWS, {}),
    (LINEAR, b"{not json", {}),
    (LINEAR, b"", {}),
    (LINEAR, b"   ", {}),
    (LINEAR, b"[1, 2]", {}),
    (LINEAR, b'{"instances": [[1.0, 2.0]]}', {}),
    (LINEAR, b'{"instances": [["1", 2.0, 3.0]]}', {}),
    (LINEAR, b'{"instances": [[true, 2.0, 3.0]]}', {}),
    (LINEAR, b'{"instances": [[1.0, 2.0, 3.0]], "inputs": [[1.0, 2.0, 3.0]]}', {}),
    (LINEAR, b'{"instances": [[1.0, 2.0, 3.0]], "signature_name": 3}', {}),
    (LINEAR, b'{"instances": [[1.0, 2.0, 3.0]], "signature_name": "nope"}', {}),
    (LINEAR, b'{"instances": [[1.0, 2.0, 3.0]]}' + b" " * 2048, {}),  # over max_request_bytes
    (HEADS, b'{"instances": [{"dense": [1, 2, 3]}]}', {}),
    (HEADS, b'{"instances": [{"dense": [1, 2, 3], "cat": 1.5}]}', {}),
    ("/v1/models/linear/labels/stable:predict", ROWS, {}),  # not the fast route's: Starlette answers both
]


def _make_app(linear_base, heads_base) -> Starlette:
    config = serving.ServingConfig((serving.ModelConfig("linear", str(linear_base)),
                                    serving.ModelConfig("heads", str(heads_base))),
                                   file_system_poll_wait_seconds=0, max_request_bytes=1024)
    return serving.create_app(config=config)


class _Counting:
    """Wraps the app's PredictRoute, counting the requests it answers."""

    def __init__(self, route) -> None:
        self.route, self.calls = route, 0
        self.match = route.match

    async def __call__(self, *args) -> None:
        self.calls += 1
        await self.route(*args)


def _answers(client, caplog) -> tuple[list, str, list]:
    caplog.clear()
    answers = []
    for path, body, headers in REQUESTS:
        response = client.post(path, content=body, headers={"content-type": "application/json", **headers})
        answers.append((path, response.status_code, response.content, response.headers["content-type"],
                        response.headers["content-length"]))
    chunked = client.post(LINEAR, content=iter([b'{"instances": ', b"[[1.0, 2.0, 3.0]]", b" " * 2000, b"}"]))
    answers.append(("chunked", chunked.status_code, chunked.content))
    lines = [json.loads(record.getMessage()) for record in caplog.records
             if record.name == "torch_estimator.serving.access"]
    for line in lines:  # what differs between any two requests
        del line["time"], line["ms"], line["client"]
    metrics = [line for line in client.get("/metrics").text.splitlines()
               if "request_duration_seconds" not in line or "_count" in line]  # latencies differ
    return answers, "\n".join(metrics), lines


def test_fast_route_answers_like_the_starlette_route(linear_base, heads_base, caplog):
    fast_app = _make_app(linear_base, heads_base)
    fast_app.predict_route = counting = _Counting(fast_app.predict_route)
    slow_app = _make_app(linear_base, heads_base)

    async def through_starlette(scope, receive, send):
        await Starlette.__call__(slow_app, scope, receive, send)

    with caplog.at_level(logging.INFO, logger="torch_estimator.serving.access"):
        with TestClient(fast_app) as client:
            fast = _answers(client, caplog)
        with TestClient(through_starlette) as client:
            slow = _answers(client, caplog)
    assert counting.calls == len(REQUESTS)  # every request but the /labels/ one, plus the chunked one
    for fast_answer, slow_answer in zip(fast[0], slow[0]):
        assert fast_answer == slow_answer
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]
    statuses = [answer[1] for answer in fast[0]]
    assert statuses[:6] == [200] * 6 and all(400 <= status < 500 for status in statuses[6:])
    assert b"Request body too large" in fast[0][-1][2] and b"received_at_least" in fast[0][-1][2]


def test_fast_route_internal_error_is_a_logged_500_like_starlettes(linear_base, heads_base, caplog):
    def broken(inputs, signature_name="serving_default"):
        raise RuntimeError("kaput")

    answers = []
    for fast in (True, False):
        app = _make_app(linear_base, heads_base)

        async def through_starlette(scope, receive, send, app=app):
            await Starlette.__call__(app, scope, receive, send)

        with TestClient(app if fast else through_starlette, raise_server_exceptions=False) as client:
            servable = app.state.server.registry.get("linear")
            for runner in servable.runners.values():
                runner._predict = broken
            caplog.clear()
            with caplog.at_level(logging.ERROR, logger="torch_estimator.serving"):
                response = client.post(LINEAR, content=ROWS)
            logged = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
            counted = 'torch_estimator_serving_requests_total{route="/v1/models/{name}:predict",method="POST",status="500"} 1'
            answers.append((response.status_code, response.json(), logged[:1],
                            counted in client.get("/metrics").text.splitlines()))
    assert answers[0] == answers[1]
    assert answers[0][:3] == (500, {"error": "Internal error: RuntimeError: kaput"},
                              ["Internal error answering POST /v1/models/linear:predict"])
    assert answers[0][3]


def test_fast_route_raises_to_the_server_like_starlette(linear_base, heads_base):
    app = _make_app(linear_base, heads_base)
    with TestClient(app) as client:
        for runner in app.state.server.registry.get("linear").runners.values():
            runner._predict = lambda inputs: 1 / 0
        with pytest.raises(ZeroDivisionError):
            client.post(LINEAR, content=ROWS)


def test_added_middleware_sees_predict_requests(linear_base, heads_base):
    app = _make_app(linear_base, heads_base)
    seen = []

    class Recording:
        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            seen.append(scope.get("path"))
            await self.inner(scope, receive, send)

    app.add_middleware(Recording)
    with TestClient(app) as client:
        response = client.post(LINEAR, content=ROWS)
    assert response.status_code == 200 and response.json() == {"predictions": response.json()["predictions"]}
    assert LINEAR in seen


def test_mounted_app_leaves_predict_to_starlette(linear_base, heads_base):
    from starlette.routing import Mount

    app = _make_app(linear_base, heads_base)
    app.predict_route = counting = _Counting(app.predict_route)
    outer = Starlette(routes=[Mount("/serving", app=app)])
    with TestClient(outer) as client:
        client.post("/serving" + LINEAR, content=ROWS)
    assert counting.calls == 0
