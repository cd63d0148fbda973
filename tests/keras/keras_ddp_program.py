"""A Keras model trained by two torchrun processes through model_to_estimator; each rank writes
its final weights and evaluation under --out. Each rank reads different rows: only all-reduced
gradients keep the ranks' weights identical (Keras's own train_step would bypass DDP)."""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import torch  # noqa: E402

import torch_estimator as est  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh", name="hidden"),
                              keras.layers.Dropout(0.2), keras.layers.Dense(1, name="out")])
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(0.05), metrics=["mae"])
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=args.model_dir,
                                             config=est.RunConfig(progress_bar=False))
    rank = estimator.config.cluster.rank
    generator = torch.Generator().manual_seed(100 + rank)  # different rows on every rank
    x = torch.randn(16, 4, generator=generator)
    estimator.train(lambda: ({"hidden_input": x}, x.sum(1, keepdim=True)), steps=4)
    metrics = estimator.evaluate(lambda: ({"hidden_input": x}, x.sum(1, keepdim=True)), steps=1)
    weights = est.keras.load_weights(model, estimator).get_weights()
    with open(os.path.join(args.out, f"rank{rank}.json"), "w") as f:
        json.dump({"weights": [w.tolist() for w in weights], "global_step": metrics["global_step"]}, f)


if __name__ == "__main__":
    main()
