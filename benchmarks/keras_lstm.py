"""Keras workload: a Keras 3 sequence classifier trained through ``est.keras.model_to_estimator``.

The issue's model: token ids (vocabulary 10,000, length 100) -> Embedding 64 -> LSTM 64 ->
Dropout 0.2 -> Dense(1, sigmoid), binary cross-entropy, Adam 1e-3, batch 64, one thread,
synthetic ids and labels. Measured in the same run, alternating for ``--repeats`` rounds
(medians):

* ``floor``: a hand-written loop over the same model in ``torch.nn`` (``nn.LSTM``);
* ``keras_fit``: Keras 3's own ``model.fit`` on the torch backend;
* ``estimator``: ``model_to_estimator`` at default settings (its LSTM layers on the fused kernel);
* ``estimator_keras_loop``: the same with the fusion switched off (Keras's per-step Python loop).

Prints one JSON object. Run: ``python benchmarks/keras_lstm.py [--steps N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import torch_estimator as est  # noqa: E402
from torch_estimator.keras import bridge  # noqa: E402

VOCABULARY, LENGTH, EMBEDDING, UNITS, BATCH = 10_000, 100, 64, 64, 64


def make_data(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, VOCABULARY, size=(rows, LENGTH)).astype(np.int64),
            rng.integers(0, 2, size=(rows, 1)).astype(np.float32))


def keras_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((LENGTH,), dtype="int64"), keras.layers.Embedding(VOCABULARY, EMBEDDING,
                                                                                            name="words"),
                              keras.layers.LSTM(UNITS), keras.layers.Dropout(0.2),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(1e-3))
    return model


class TorchClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, EMBEDDING)
        self.lstm = nn.LSTM(EMBEDDING, UNITS, batch_first=True)
        self.dropout = nn.Dropout(0.2)
        self.dense = nn.Linear(UNITS, 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.lstm(self.embedding(ids))
        return torch.sigmoid(self.dense(self.dropout(h[-1])))


def floor_loop(x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    torch.manual_seed(0)
    net = TorchClassifier()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    started = time.perf_counter()
    for step in range(steps):
        start = step * BATCH
        loss = nn.functional.binary_cross_entropy(net(x[start:start + BATCH]), y[start:start + BATCH])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def keras_fit(x: np.ndarray, y: np.ndarray, steps: int) -> float:
    model = keras_model()
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # builds the train function
    started = time.perf_counter()
    model.fit(x[:steps * BATCH], y[:steps * BATCH], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - started


def estimator_run(x: np.ndarray, y: np.ndarray, steps: int, fused: bool = True) -> float:
    original = bridge.fuse_lstm_layers
    if not fused:
        bridge.fuse_lstm_layers = lambda model: 0
    try:
        estimator = est.keras.model_to_estimator(keras_model=keras_model(),
                                                 model_dir=tempfile.mkdtemp(prefix="bench-keras-"),
                                                 config=est.RunConfig(tf_random_seed=0, progress_bar=False))
        input_fn = est.inputs.numpy_input_fn({"words_input": x}, y, batch_size=BATCH, num_epochs=None, shuffle=False)
        started = time.perf_counter()
        estimator.train(input_fn, steps=steps)
        return time.perf_counter() - started
    finally:
        bridge.fuse_lstm_layers = original


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    est.logging.set_verbosity(est.logging.WARN)  # keep stdout pure JSON
    logging.getLogger("torch_estimator").handlers[:] = [logging.NullHandler()]
    x, y = make_data(args.steps * BATCH)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    floor_loop(tx, ty, 5)  # warm-up
    runs: dict[str, list[float]] = {"floor": [], "keras_fit": [], "estimator": [], "estimator_keras_loop": []}
    for _ in range(args.repeats):
        runs["floor"].append(floor_loop(tx, ty, args.steps))
        runs["keras_fit"].append(keras_fit(x, y, args.steps))
        runs["estimator"].append(estimator_run(x, y, args.steps))
        runs["estimator_keras_loop"].append(estimator_run(x, y, args.steps, fused=False))
    medians = {name: statistics.median(times) for name, times in runs.items()}
    examples = args.steps * BATCH
    result = {
        "workload": "keras_lstm",
        "steps": args.steps,
        "batch_size": BATCH,
        "threads": torch.get_num_threads(),
        **{f"{name}_examples_per_sec": round(examples / seconds) for name, seconds in medians.items()},
        "estimator_over_floor_time_ratio": round(medians["estimator"] / medians["floor"], 4),
        "estimator_over_keras_fit_time_ratio": round(medians["estimator"] / medians["keras_fit"], 4),
        **{f"{name}_seconds": [round(t, 3) for t in times] for name, times in runs.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
