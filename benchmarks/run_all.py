"""Runs every benchmark script in this folder and saves its JSON under benchmarks/results/.

Usage: ``python benchmarks/run_all.py [NAME ...]`` (``make bench`` runs them all; names such as
``core_mlp canned_dnn`` run only those). Each script prints one JSON object on stdout; this
runner stores it as ``results/<script>.json`` (written to a temporary name, then renamed) and
prints them all.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SCRIPTS = ["core_mlp.py", "canned_dnn.py", "export_latency.py", "train_and_evaluate.py", "csv_input.py", "serving.py",
           "distributed.py", "keras_lstm.py", "tuning.py"]


def main() -> int:
    results_dir = HERE / "results"
    results_dir.mkdir(exist_ok=True)
    chosen = [f"{name.removesuffix('.py')}.py" for name in sys.argv[1:]] or SCRIPTS
    unknown = sorted(set(chosen) - set(SCRIPTS))
    if unknown:
        sys.stderr.write(f"Unknown benchmarks {unknown}. Expected names from {SCRIPTS}.\n")
        return 2
    for script in chosen:
        completed = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            sys.stderr.write(completed.stderr)
            return completed.returncode
        result = json.loads(completed.stdout)
        target = results_dir / f"{pathlib.Path(script).stem}.json"
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        os.replace(tmp, target)
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
