"""``torch-estimator predict``: newline-delimited JSON instances in, one JSON prediction per line out."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from torch_estimator import export
from torch_estimator.cli.main import main

ROWS = [[1.0, 2.0, 3.0], [0.0, -1.5, 2.0], [4.0, 4.0, 4.0]]


@pytest.fixture
def instances(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(f"{json.dumps(ROWS[0])}\n\n{json.dumps({'x': ROWS[1]})}\n{json.dumps(ROWS[2])}\n")
    return path


@pytest.mark.parametrize("backend", ["torch", "onnx"])
@pytest.mark.parametrize("use_base", [False, True], ids=["export-dir", "base-path"])
def test_predicts_one_line_per_instance(export_base, instances, capsys, backend, use_base):
    base, export_dir = export_base
    model_dir = base if use_base else export_dir
    assert main(["predict", f"--model_dir={model_dir}", f"--json_instances={instances}", f"--backend={backend}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = export.load(export_dir)({"x": np.array(ROWS, np.float32)})["y"]
    np.testing.assert_allclose([json.loads(line) for line in lines], expected, rtol=1e-5)


def test_reads_stdin(export_base, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(ROWS[0]) + "\n"))
    assert main(["predict", "--model_dir", str(export_base[1]), "--json_instances", "-"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize("lines, error", [
    (f"{json.dumps(ROWS[0])}\n[1.0, \"a\", 3.0]\n", "Line 2: Input 'x' holds a string where float32 numbers are "
                                                    "expected. Expected float32[batch, 3]. Received: value='a'."),
    (f"{json.dumps(ROWS[0])}\n{{oops\n", "Line 2: Malformed JSON in the request body"),
    ("[1.0, 2.0]\n", "Line 1: Input 'x' has the wrong shape"),
])
def test_bad_lines_are_named(export_base, tmp_path, capsys, lines, error):
    path = tmp_path / "bad.jsonl"
    path.write_text(lines)
    assert main(["predict", "--model_dir", str(export_base[1]), "--json_instances", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"torch-estimator predict: error: {error}")


def test_bad_arguments(export_base, tmp_path, capsys):
    assert main(["predict", "--model_dir", str(tmp_path), "--json_instances", "x"]) == 1
    assert "--model_dir is not an export. Expected a directory holding signature.json" in capsys.readouterr().err
    assert main(["predict", "--model_dir", str(export_base[1]), "--json_instances", str(tmp_path / "none")]) == 1
    assert "Cannot read --json_instances" in capsys.readouterr().err
    assert main(["predict", "--model_dir", str(export_base[1]), "--json_instances", "-",
                 "--signature_name", "nope"]) == 1
    assert "The export has no signature 'nope'. Expected one of ['serving_default']" in capsys.readouterr().err
