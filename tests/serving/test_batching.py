"""Dynamic batching: merging, splitting, limits, failure isolation, and the app with batching on and off."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from torch_estimator import export, serving
from torch_estimator.serving.batching import Batcher, BatchingParameters, DirectRunner
from torch_estimator.serving.errors import ServingError


class RecordingModel:
    """Doubles ``x``; records each call's rows; the first call can be held until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, inputs):
        self.threads.add(threading.current_thread().name)
        if not self.calls:
            self.release.wait(10)
        self.calls.append(len(inputs["x"]))
        if (inputs["x"] < 0).any():
            raise ValueError("negative input")
        return {"y": inputs["x"] * 2, "rows": np.full(len(inputs["x"]), len(inputs["x"]))}


def run(coroutine_fn):
    return asyncio.run(asyncio.wait_for(coroutine_fn(), timeout=30))


def rows(*values):
    return {"x": np.array(values, np.float32).reshape(-1, 1)}


def test_requests_queued_while_the_model_is_busy_run_together_and_are_split_back():
    model = RecordingModel(hold_first=True)

    async def main():
        with ThreadPoolExecutor(1, thread_name_prefix="inference") as pool:
            batcher = Batcher(model, pool, BatchingParameters(max_batch_size=4))
            first = asyncio.create_task(batcher.submit(rows(0)))
            await asyncio.sleep(0.05)  # the first call is running (held)
            others = [asyncio.create_task(batcher.submit(rows(*range(i, i + size))))
                      for i, size in ((1, 1), (2, 2), (4, 1), (5, 3), (8, 1))]
            await asyncio.sleep(0.05)
            model.release.set()
            return await first, await asyncio.gather(*others)

    first, others = run(main)
    assert model.calls == [1, 4, 4]  # 1+2+1 rows, then 3+1 (max 4 rows per call)
    assert model.threads == {"inference_0"}  # never the event loop's thread
    np.testing.assert_array_equal(first["y"], [[0.0]])
    for output, start, size in zip(others, (1, 2, 4, 5, 8), (1, 2, 1, 3, 1)):
        np.testing.assert_array_equal(output["y"][:, 0], 2 * np.arange(start, start + size))
        assert output["rows"].tolist() == [output["rows"][0]] * size


def test_a_lone_request_does_not_wait_and_a_timeout_gathers_a_batch():
    model = RecordingModel()

    async def main():
        with ThreadPoolExecutor(1) as pool:
            started = time.perf_counter()
            await Batcher(model, pool, BatchingParameters()).submit(rows(1))
            lone = time.perf_counter() - started
            waiting = Batcher(model, pool, BatchingParameters(batch_timeout_micros=50_000))
            outputs = await asyncio.gather(*[waiting.submit(rows(i)) for i in range(3)])
            return lone, outputs

    lone, outputs = run(main)
    assert lone < 0.05
    assert model.calls == [1, 3]
    assert [o["y"][0, 0] for o in outputs] == [0.0, 2.0, 4.0]


def test_a_failing_request_fails_alone():
    model = RecordingModel(hold_first=True)

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, pool, BatchingParameters())
            first = asyncio.create_task(batcher.submit(rows(0)))
            await asyncio.sleep(0.05)
            queued = [asyncio.create_task(batcher.submit(rows(value))) for value in (1, -1, 2)]
            await asyncio.sleep(0.01)
            model.release.set()
            await first
            return await asyncio.gather(*queued, return_exceptions=True)

    good, bad, also_good = run(main)
    assert str(bad) == "negative input"
    assert good["y"][0, 0] == 2.0 and also_good["y"][0, 0] == 4.0
    assert model.calls == [1, 3, 1, 1, 1]  # the merged call failed; each request re-ran alone


def test_a_full_queue_is_refused_with_503():
    model = RecordingModel(hold_first=True)

    async def main():
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher(model, pool, BatchingParameters(max_batch_size=2, max_enqueued_batches=1))
            running = asyncio.create_task(batcher.submit(rows(0)))
            await asyncio.sleep(0.05)
            queued = asyncio.create_task(batcher.submit(rows(1, 2)))
            await asyncio.sleep(0)
            with pytest.raises(ServingError) as error:
                await batcher.submit(rows(3))
            model.release.set()
            await asyncio.gather(running, queued)
            return error.value

    error = run(main)
    assert error.status == 503
    assert str(error) == ("The batch queue is full; the server is overloaded. Expected at most 2 queued rows. "
                          "Received: queued_rows=2. Retry later, or raise max_enqueued_batches.")


def test_direct_runner_runs_each_request_alone():
    model = RecordingModel()

    async def main():
        with ThreadPoolExecutor(1) as pool:
            runner = DirectRunner(model, pool)
            return await asyncio.gather(*[runner.submit(rows(i, i)) for i in range(3)])

    assert [o["y"][:, 0].tolist() for o in run(main)] == [[0, 0], [2, 2], [4, 4]]
    assert model.calls == [2, 2, 2]


@pytest.mark.parametrize("batching", [BatchingParameters(max_batch_size=64), None], ids=["batching", "no-batching"])
def test_concurrent_requests_through_the_app(linear_base, linear_export, batching):
    app = serving.create_app(linear_base, model_name="linear", batching=batching, file_system_poll_wait_seconds=0)
    inputs = np.random.default_rng(0).normal(size=(48, 3)).astype(np.float32)
    expected = export.load(linear_export)({"x": inputs})["y"]

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(*[
                client.post("/v1/models/linear:predict", json={"instances": [row.tolist()]}) for row in inputs])
            return [r.json()["predictions"][0] for r in responses], (await client.get("/metrics")).text

    predictions, metrics = run(main)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-6)
    calls = app.state.server.metrics.batch_size.count("linear")
    assert 'torch_estimator_serving_batch_size_sum{model="linear"} 48' in metrics
    if batching is None:
        assert calls == 48
    else:
        assert calls < 48  # requests merged
