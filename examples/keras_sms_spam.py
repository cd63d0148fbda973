"""The lecture's sequence classifier, a Keras model trained as an Estimator, on real SMS spam.

``Embedding -> LSTM -> Dropout -> Dense(sigmoid)`` written in Keras, converted with
``est.keras.model_to_estimator`` and trained through ``train_and_evaluate`` with a
``LatestExporter``; the export is reloaded with ``est.export.load`` (no Keras needed) and its
predictions compared with ``Estimator.predict``.

Data: ``data/sms_spam_collection.tsv`` (the SMS Spam Collection: ``ham``/``spam`` TAB text,
5,574 messages, 86.6% ham). Split deterministically by a hash of the text (about 80/20);
lower-cased word tokens, a vocabulary of the training split's most frequent words (id 0 pads,
id 1 is out-of-vocabulary), sequences cut or padded to a fixed length.

Run: ``python examples/keras_sms_spam.py [--model-dir DIR] [--steps N]``.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import keras  # noqa: E402
import numpy as np  # noqa: E402

import torch_estimator as est  # noqa: E402
from torch_estimator.export.exporters import LatestExporter  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sms_spam_collection.tsv")
VOCABULARY = 5000
LENGTH = 50
PAD, OOV = 0, 1
_WORD = re.compile(r"[a-z0-9']+|[^a-z0-9'\s]")


def read_messages(path: str = DATA) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, text = line.rstrip("\n").split("\t", 1)
            texts.append(text)
            labels.append(1.0 if label == "spam" else 0.0)
    return texts, np.asarray(labels, np.float32)[:, None]


def is_eval(text: str) -> bool:
    """About 20% of messages, chosen by a hash of the text: the same split on every run."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % 5 == 0


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def build_vocabulary(texts: list[str], size: int = VOCABULARY) -> dict[str, int]:
    counts = collections.Counter(word for text in texts for word in tokens(text))
    return {word: index for index, (word, _) in enumerate(counts.most_common(size - 2), start=2)}


def encode(texts: list[str], vocabulary: dict[str, int], length: int = LENGTH) -> np.ndarray:
    ids = np.full((len(texts), length), PAD, np.int64)
    for row, text in enumerate(texts):
        words = [vocabulary.get(word, OOV) for word in tokens(text)][:length]
        ids[row, :len(words)] = words
    return ids


def load_splits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    texts, labels = read_messages()
    evaluation = np.array([is_eval(text) for text in texts])
    train_texts = [text for text, held_out in zip(texts, evaluation) if not held_out]
    vocabulary = build_vocabulary(train_texts)
    ids = encode(texts, vocabulary)
    eval_texts = [text for text, held_out in zip(texts, evaluation) if held_out]
    return ids[~evaluation], labels[~evaluation], ids[evaluation], labels[evaluation], eval_texts


def classifier(units: int = 64) -> keras.Model:
    """The lecture's model; the first layer is called ``words``, so the feature is ``words_input``."""
    model = keras.Sequential([
        keras.Input((LENGTH,), dtype="int64"),
        keras.layers.Embedding(VOCABULARY, 64, name="words"),
        keras.layers.LSTM(units),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(1, activation="sigmoid", name="spam"),
    ])
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.005), metrics=["acc"])
    return model


def main(model_dir: str | None = None, steps: int = 600, seed: int = 42) -> dict:
    keras.utils.set_random_seed(seed)
    train_ids, train_labels, eval_ids, eval_labels, eval_texts = load_splits()
    model = classifier()
    estimator = est.keras.model_to_estimator(keras_model=model, model_dir=model_dir,
                                             config=est.RunConfig(tf_random_seed=seed))
    receiver = est.keras.build_serving_input_receiver_fn(model)  # serving input 'words_input', int64[batch, 50]
    train_spec = est.TrainSpec(est.inputs.numpy_input_fn({"words_input": train_ids}, train_labels, batch_size=64,
                                                         num_epochs=None, shuffle=True), max_steps=steps)
    eval_spec = est.EvalSpec(est.inputs.numpy_input_fn({"words_input": eval_ids}, eval_labels, batch_size=256,
                                                       shuffle=False), steps=None,
                             exporters=LatestExporter("exporter", receiver))
    metrics, (export_dir,) = est.train_and_evaluate(estimator, train_spec, eval_spec)
    majority = 1.0 - float(eval_labels.mean())
    print(f"\nEvaluation after {metrics['global_step']} steps on {len(eval_ids)} held-out messages: "
          f"accuracy = {metrics['accuracy']:.4f} (majority baseline {majority:.4f}), loss = {metrics['loss']:.4f}")

    served = est.export.load(export_dir)({"words_input": eval_ids})["spam"]
    predicted = np.concatenate([batch["spam"] for batch in estimator.predict(
        est.inputs.numpy_input_fn({"words_input": eval_ids}, batch_size=256, shuffle=False),
        yield_single_examples=False)])
    print(f"Export: {export_dir}; largest served-vs-predict difference {np.abs(served - predicted).max():.2e}")
    for row in np.argsort(-served[:, 0])[:2].tolist() + [0]:
        print(f"  p(spam) = {served[row, 0]:.3f}  {eval_texts[row][:70]!r}")
    estimator.close()
    return {"metrics": metrics, "majority": majority, "export_dir": export_dir, "served": served,
            "predicted": predicted}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
