"""Input workload: streaming a large CSV with ``est.data.make_csv_dataset`` against the floor.

A generated CSV of 2,000,000 rows (8 float features and a float label, ~196 MB) is read once
in batches of 1,024, one thread (torch, and pyarrow's CPU and I/O pools). Rows/sec for:

* ``make_csv_dataset`` without and with shuffling (buffer 10,000), iterated to the end;
* the floor: pyarrow's own streaming reader (``pyarrow.csv.open_csv``, default options) turning
  each record batch into tensors (zero-copy, float64), and the same reader told the column
  types (``floor_typed``: float32, the parsing work ``make_csv_dataset`` does);
* pandas ``read_csv(chunksize=65536)``, each chunk's columns turned into tensors.

Every measurement runs in its own process (so peak resident memory is its own), the readers
alternate for ``--repeats`` rounds, and medians are reported. Peak RSS is reported absolute and
above the process's baseline after imports. ``--memory`` also reads a 4x larger file (8,000,000
rows, ~785 MB, generated then) to show that memory does not grow with the file.

Prints one JSON object. Run: ``python benchmarks/csv_input.py [--memory]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

FEATURES, BATCH, PANDAS_CHUNK = 8, 1024, 65536
READERS = ("est_plain", "est_shuffle", "floor", "floor_typed", "pandas")


def generate(path: str, rows: int, seed: int = 0) -> None:
    """Writes ``rows`` rows of 8 standard-normal float32 features and a label, with a header."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    with pa_csv.CSVWriter(path, pa.schema([(f"f{i}", pa.float32()) for i in range(FEATURES)]
                                          + [("label", pa.float32())])) as writer:
        for start in range(0, rows, 1_000_000):
            count = min(1_000_000, rows - start)
            columns = {f"f{i}": rng.normal(size=count).astype(np.float32) for i in range(FEATURES)}
            columns["label"] = rng.normal(size=count).astype(np.float32)
            writer.write_table(pa.table(columns))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(reader: str, path: str) -> dict:
    """Runs in a fresh process: one pass of ``reader`` over ``path``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import torch

    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # the floor's zero-copy
    torch.set_num_threads(1)
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    if reader.startswith("est"):  # imported before the baseline: the package's import is not the reader's
        from torch_estimator.data import make_csv_dataset
    if reader == "pandas":
        import pandas as pd
    torch.from_numpy(np.ones(4)).float()  # warm-up: torch's first op loads kernels
    baseline = peak_rss_mb()
    rows = 0
    started = time.perf_counter()
    if reader.startswith("est"):
        dataset = make_csv_dataset(path, BATCH, label_name="label", num_epochs=1,
                                            shuffle=reader == "est_shuffle", shuffle_seed=0)
        for _, labels in dataset:
            rows += len(labels)
    elif reader.startswith("floor"):
        convert = None
        if reader == "floor_typed":
            names = [f"f{i}" for i in range(FEATURES)] + ["label"]
            convert = pa_csv.ConvertOptions(column_types={name: pa.float32() for name in names})
        for batch in pa_csv.open_csv(path, convert_options=convert):
            tensors = {name: torch.from_numpy(batch.column(i).to_numpy())  # zero-copy, read-only
                       for i, name in enumerate(batch.schema.names)}
            rows += len(tensors["label"])
    else:
        for frame in pd.read_csv(path, chunksize=PANDAS_CHUNK):
            tensors = {name: torch.from_numpy(frame[name].to_numpy()) for name in frame.columns}
            rows += len(tensors["label"])
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "baseline_rss_mb": baseline, "peak_rss_mb": peak_rss_mb()}


def run_measurement(reader: str, path: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [_src(), os.environ.get("PYTHONPATH")])))
    completed = subprocess.run([sys.executable, __file__, "--measure", reader, "--path", path],
                               capture_output=True, text=True, check=False, env=env)
    if completed.returncode != 0:
        raise RuntimeError(f"{reader} failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


def _src() -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def summarize(runs: dict[str, list[dict]]) -> dict:
    rates = {reader: statistics.median(r["rows"] / r["seconds"] for r in results) for reader, results in runs.items()}
    floor = max(rates["floor"], rates["floor_typed"])
    result = {f"{reader}_rows_per_sec": round(rate) for reader, rate in rates.items()}
    result.update({
        "plain_over_floor": round(rates["est_plain"] / rates["floor"], 3),
        "shuffle_over_floor": round(rates["est_shuffle"] / rates["floor"], 3),
        "plain_over_fastest_floor": round(rates["est_plain"] / floor, 3),
        "shuffle_over_fastest_floor": round(rates["est_shuffle"] / floor, 3),
    })
    for reader in ("est_plain", "est_shuffle", "floor"):
        results = runs[reader]
        result[f"{reader}_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in results), 1)
        result[f"{reader}_rss_above_baseline_mb"] = round(max(r["peak_rss_mb"] - r["baseline_rss_mb"]
                                                              for r in results), 1)
    result["seconds"] = {reader: [round(r["seconds"], 3) for r in results] for reader, results in runs.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory", action="store_true", help="also read a 4x larger file (slow)")
    parser.add_argument("--measure", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.path)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as directory:
        path = os.path.join(directory, "train.csv")
        generate(path, args.rows)
        runs: dict[str, list[dict]] = {reader: [] for reader in READERS}
        for _ in range(args.repeats):
            for reader in READERS:
                runs[reader].append(run_measurement(reader, path))
        result = {"workload": "csv_input", "rows": args.rows, "file_mb": round(os.path.getsize(path) / 2**20, 1),
                  "batch_size": BATCH, "threads": 1, "repeats": args.repeats, **summarize(runs)}
        if args.memory:
            os.remove(path)  # keeps the temporary disk use to the larger file
            big = os.path.join(directory, "train_4x.csv")
            generate(big, 4 * args.rows)
            for reader in ("est_plain", "est_shuffle"):
                run = run_measurement(reader, big)
                result[f"{reader}_4x_peak_rss_mb"] = round(run["peak_rss_mb"], 1)
                result[f"{reader}_4x_rows_per_sec"] = round(run["rows"] / run["seconds"])
                result[f"{reader}_4x_rss_growth_mb"] = round(run["peak_rss_mb"] - result[f"{reader}_peak_rss_mb"], 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
