"""A new version appears while clients keep sending requests: none fails, and the new one takes over."""

from __future__ import annotations

import asyncio

import httpx

from torch_estimator import serving

from .conftest import add_version

TF_BODY = {"instances": [[1.0, 2.0, 3.0]]}
V2_BODY = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1.0, 2.0, 3.0]}]}


def test_hot_swap_under_load_fails_no_request(linear_base, linear_export):
    app = serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0.05)
    results: list[tuple[str, int, str | None]] = []  # (api, status, version) in completion order

    async def client_loop(client: httpx.AsyncClient, api: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if api == "v2":
                response = await client.post("/v2/models/linear/infer", json=V2_BODY)
                version = response.json().get("model_version")
            else:
                response = await client.post("/v1/models/linear:predict", json=TF_BODY)
                version = None
            results.append((api, response.status_code, version))

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
                stop = asyncio.Event()
                loops = [asyncio.create_task(client_loop(client, "v2" if i % 2 else "v1", stop)) for i in range(8)]
                await asyncio.sleep(0.3)
                await asyncio.to_thread(add_version, linear_base, linear_export, 2)
                deadline = asyncio.get_running_loop().time() + 60
                while not any(version == "2" for _, _, version in results[-4:]):
                    assert asyncio.get_running_loop().time() < deadline, "version 2 was never served"
                    await asyncio.sleep(0.05)
                switched = len(results)
                while len(results) < switched + 50:  # keep the load on after the switch
                    await asyncio.sleep(0.02)
                stop.set()
                await asyncio.gather(*loops)

    asyncio.run(asyncio.wait_for(main(), timeout=120))
    assert [r for r in results if r[1] != 200] == []
    versions = [version for api, _, version in results if api == "v2"]
    assert versions[0] == "1" and versions[-1] == "2"
    assert set(versions[-10:]) == {"2"}
    assert len(results) > 60
