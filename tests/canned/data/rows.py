"""The 16 rows TF Estimator's canned estimators were trained on (make_tf_estimator_models.py)
and ours are compared on (tests/canned/test_tensorflow_fidelity.py)."""

import numpy as np


def data() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Numbers a, b, a category kind, an id, two tags and a weight w; regression, binary, 3-class (as ids and as
    names), multi-label, count and 2-d regression labels."""
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=16).round(3), "b": rng.normal(size=16).round(3),
         "kind": np.array(["u", "v", "w", "u"] * 4)}
    score = x["a"] - x["b"] + (x["kind"] == "u")
    labels = {"regression": score.astype(np.float32), "binary": (score > 0.5).astype(np.int64),
              "multiclass": np.digitize(score, [-0.5, 1.0]).astype(np.int64)}
    x["w"] = rng.uniform(0.5, 2.0, size=16).round(3)
    labels["names"] = np.array(["lo", "mid", "hi"])[labels["multiclass"]]
    labels["multilabel"] = np.stack([score > 0, x["a"] > 0, x["kind"] == "v"], axis=1).astype(np.int64)
    labels["counts"] = np.abs(score).round().astype(np.float32)
    x["id"] = np.array([0, 1, 2, 3, 7, 1, 2, 0] * 2)  # 7: out of range, the identity column's default
    # Two tags per row, "" where a row has fewer (TensorFlow drops "" from dense string input).
    x["tags"] = np.array([["u", "v"], ["w", ""], ["", ""], ["v", "v"],
                          ["z", "u"], ["u", ""], ["w", "v"], ["", "w"]] * 2)
    labels["pair"] = np.stack([score, x["a"] * 2], axis=1).astype(np.float32)
    return x, labels
