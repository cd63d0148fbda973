"""Version discovery and switching: newest loadable version wins; failures are skipped and reported."""

from __future__ import annotations

import logging
import shutil

import pytest

from torch_estimator import serving

from .conftest import TestClient, add_version

GOOD = {"instances": [[1.0, 2.0, 3.0]]}


def test_list_versions_ignores_temporary_and_other_names(tmp_path):
    for name in ("1", "0042", "1700000000", "temp-1700000001", "latest", "12a", "9" * 19):
        (tmp_path / name).mkdir()
    (tmp_path / "77").write_text("a file, not a version")
    assert sorted(serving.list_versions(str(tmp_path))) == [1, 42, 1700000000]


@pytest.fixture
def polled(linear_base):
    """``(client, poll)``: a server that never polls by itself; ``poll()`` runs one watcher pass."""
    app = serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app.state.server.watcher.poll


def version_served(client) -> str:
    return client.get("/v2/models/linear").json()["versions"][0]


def test_new_versions_are_picked_up_and_temporary_ones_ignored(polled, linear_base, linear_export):
    client, poll = polled
    shutil.copytree(linear_export, linear_base / "temp-5")  # an export still being written
    poll()
    assert version_served(client) == "1"
    add_version(linear_base, linear_export, 3)
    poll()
    assert version_served(client) == "3"
    assert client.post("/v1/models/linear/versions/3:predict", json=GOOD).status_code == 200
    assert client.post("/v1/models/linear/versions/1:predict", json=GOOD).status_code == 404  # unloaded
    assert client.get("/v1/models/linear").json()["model_version_status"][0]["version"] == "3"


def test_a_broken_version_is_logged_skipped_reported_and_retried_once_changed(polled, linear_base, linear_export,
                                                                               caplog):
    client, poll = polled
    broken = linear_base / "2"
    shutil.copytree(linear_export, broken)
    (broken / "signature.json").write_text("{truncated")
    with caplog.at_level(logging.ERROR, logger="torch_estimator.serving"):
        poll()
        poll()  # unchanged: not retried, not logged again
    assert version_served(client) == "1"
    assert client.post("/v1/models/linear:predict", json=GOOD).status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.name == "torch_estimator.serving"]
    assert len(errors) == 1
    assert errors[0].startswith(f"Failed to load version 2 of model 'linear' from {broken}; still serving version 1. "
                                "ValueError: Not a torch_estimator export directory.")
    statuses = client.get("/v1/models/linear").json()["model_version_status"]
    assert [(s["version"], s["state"], s["status"]["error_code"]) for s in statuses] == [
        ("2", "END", "UNKNOWN"), ("1", "AVAILABLE", "OK")]
    assert statuses[0]["status"]["error_message"].startswith("ValueError: Not a torch_estimator export directory.")
    assert 'torch_estimator_serving_model_loads_total{model="linear",outcome="error"} 1' in client.get("/metrics").text

    shutil.copy(linear_base / "1" / "signature.json", broken / "signature.json")  # repaired in place
    poll()
    assert version_served(client) == "2"
    assert [s["state"] for s in client.get("/v1/models/linear").json()["model_version_status"]] == ["AVAILABLE"]


def test_when_the_newest_version_is_removed_the_next_newest_is_served(polled, linear_base, linear_export):
    client, poll = polled
    add_version(linear_base, linear_export, 2)
    poll()
    assert version_served(client) == "2"
    shutil.rmtree(linear_base / "2")
    poll()
    assert version_served(client) == "1"


def test_a_server_started_before_the_first_export_becomes_ready_when_it_appears(tmp_path, linear_export, caplog):
    base = tmp_path / "empty"
    base.mkdir()
    with caplog.at_level(logging.WARNING, logger="torch_estimator.serving"):
        app = serving.create_app(base, model_name="linear", file_system_poll_wait_seconds=0)
    assert f"No versions of servable 'linear' found under base path {base}." in caplog.messages
    with TestClient(app) as client:
        assert client.get("/v2/health/ready").status_code == 503
        response = client.post("/v1/models/linear:predict", json=GOOD)
        assert (response.status_code, response.json()["error"][:46]) == (
            404, "Servable not found for request: Latest(linear)")
        assert client.get("/v1/models/linear").status_code == 404
        add_version(base, linear_export, 1)
        app.state.server.watcher.poll()
        assert client.get("/v2/health/ready").status_code == 200
        assert client.post("/v1/models/linear:predict", json=GOOD).status_code == 200


def test_the_background_watcher_stops_with_the_app(linear_base):
    app = serving.create_app(linear_base, model_name="linear", file_system_poll_wait_seconds=0.05)
    watcher = app.state.server.watcher
    with TestClient(app):
        assert watcher._thread is not None and watcher._thread.is_alive()
        thread = watcher._thread
    assert not thread.is_alive()
    with TestClient(app) as client:  # the app can start again
        assert watcher._thread.is_alive()
        assert client.post("/v1/models/linear:predict", json=GOOD).status_code == 200
