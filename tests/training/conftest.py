"""Helpers for train_and_evaluate tests: a stand-in export writer and a recording exporter."""

from __future__ import annotations

import os

import pytest


class FakeExport:
    """Stands in for ``Estimator.export_saved_model``: ``<base>/<10-digit stamp>/checkpoint.txt``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self._stamp = 1_700_000_000

    def __call__(self, export_dir_base, serving_input_receiver_fn, assets_extra=None, checkpoint_path=None):
        self._stamp += 1
        path = os.path.join(export_dir_base, str(self._stamp))
        os.makedirs(path)
        with open(os.path.join(path, "checkpoint.txt"), "w") as f:
            f.write(str(checkpoint_path))
        self.calls.append((export_dir_base, checkpoint_path))
        return path


@pytest.fixture
def fake_export():
    """Attaches a :class:`FakeExport` to an estimator (as the export package will provide)."""

    def attach(estimator):
        export = FakeExport()
        estimator.export_saved_model = export
        return export

    return attach


class RecordingExporter:
    """An exporter that records its calls and exports nothing."""

    def __init__(self, name: str = "recorder") -> None:
        self.name = name
        self.calls: list[dict] = []

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        self.calls.append({"export_path": export_path, "checkpoint_path": checkpoint_path,
                           "step": eval_result["global_step"], "final": is_the_final_export})
        return None


def checkpoint_steps(model_dir) -> list[int]:
    return sorted(int(name.rsplit("-", 1)[1]) for name in os.listdir(model_dir) if name.startswith("model.ckpt-"))
