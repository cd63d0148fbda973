"""Tests for ``LazyFeatures``: an untouched batch makes no columns, any dict use makes them all,
and only a ``model_fn`` marked ``lazy_features`` is given one."""

from __future__ import annotations

import copy
import json
import pickle
import tempfile

import numpy as np
import pytest
import torch

import torch_estimator as est
from torch_estimator.inputs.columnar import PackedColumns
from torch_estimator.loops.batches import FeatureKeyError, Features, LazyFeatures

ROWS = torch.tensor([2, 0])


def _packed():
    return PackedColumns.pack({"a": torch.tensor([1.0, 2.0, 3.0]), "n": torch.tensor([7, 8, 9]),
                               "b": torch.tensor([4.0, 5.0, 6.0])})


def _pair():
    """The same batch, lazily and eagerly."""
    packed = _packed()
    values = packed.rows(ROWS)
    others = {"n": packed.others["n"][ROWS]}
    return LazyFeatures.from_packed(packed, values, others), Features.from_packed(packed, values, others)


def test_an_untouched_batch_has_made_no_columns():
    lazy, _ = _pair()
    assert type(lazy) is LazyFeatures and isinstance(lazy, Features)
    assert dict.__len__(lazy) == 0  # the storage is empty until something reads it
    assert lazy.column_block.columns == () and lazy.column_block.values.tolist() == [[3.0, 6.0], [1.0, 4.0]]


READS = {
    "len": len, "bool": bool, "list": list, "keys": lambda f: list(f.keys()), "reversed": lambda f: list(reversed(f)),
    "values": lambda f: [v.tolist() for v in f.values()], "items": lambda f: [(k, v.tolist()) for k, v in f.items()],
    "getitem": lambda f: f["b"].tolist(), "get": lambda f: f.get("a").tolist(), "get_default": lambda f: f.get("z", 5),
    "contains": lambda f: ("a" in f, "z" in f), "repr": lambda f: repr(f).replace("LazyFeatures", "Features"),
    "str": str, "dict": lambda f: {k: v.tolist() for k, v in dict(f).items()},
    "unpack": lambda f: sorted({**f}), "kwargs": lambda f: sorted((lambda **kw: kw)(**f)),
    "equal": lambda f: (f == {}, f != {}), "reflected_equal": lambda f: ({} == f, {} != f),
    "copy": lambda f: sorted(f.copy()), "or": lambda f: sorted(f | {"z": 1}), "ror": lambda f: sorted({"z": 1} | f),
    "pickle": lambda f: sorted(pickle.loads(pickle.dumps(f))), "deepcopy": lambda f: sorted(copy.deepcopy(f)),
    "json": lambda f: json.dumps({k: v.tolist() for k, v in f.items()}),
}


@pytest.mark.parametrize("read", READS.values(), ids=READS.keys())
def test_any_read_makes_every_column_and_answers_as_the_eager_batch(read):
    lazy, eager = _pair()
    assert read(lazy) == read(eager)
    assert type(lazy) is Features  # a plain Features from now on
    assert list(lazy) == ["a", "n", "b"]  # the input's order
    assert all(torch.equal(lazy[key], eager[key]) for key in eager)
    block = lazy.column_block
    assert block.columns and block.columns[0] is lazy["a"] and block.columns[1] is lazy["b"]


WRITES = {
    "setitem": lambda f: f.__setitem__("a", torch.zeros(2)), "delitem": lambda f: f.__delitem__("a"),
    "pop": lambda f: f.pop("a"), "popitem": lambda f: f.popitem(), "setdefault": lambda f: f.setdefault("z", 1),
    "update": lambda f: f.update(z=1), "ior": lambda f: f.__ior__({"z": 1}), "clear": lambda f: f.clear(),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_any_change_applies_to_the_made_columns(write):
    lazy, eager = _pair()
    write(lazy)
    write(eager)
    assert type(lazy) is Features
    assert list(lazy) == list(eager)
    assert all(torch.equal(lazy[key], eager[key]) if isinstance(eager[key], torch.Tensor) else lazy[key] == eager[key]
               for key in eager)


def test_a_missing_feature_still_names_the_features_there_are():
    lazy, _ = _pair()
    with pytest.raises(FeatureKeyError, match=r"model_fn read feature 'z', which the input does not have\. "
                                              r"Expected one of the keys input_fn provides: \['a', 'b', 'n'\]"):
        lazy["z"]


def test_lazy_features_made_from_pairs_are_plain_features():
    features = LazyFeatures({"a": 1})
    assert type(features) is Features and features == {"a": 1}


def _recording_estimator(marked: bool, reads: bool, seen: list):
    def model_fn(features, labels, mode):
        seen.append(type(features))
        net = est.get_module("net", lambda: torch.nn.Linear(2, 1))
        inputs = torch.stack([features["a"], features["b"]], 1) if reads else est.feature_column.input_layer(
            features, [est.feature_column.numeric_column("a"), est.feature_column.numeric_column("b")])
        loss = torch.nn.functional.mse_loss(net(inputs), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", 0.1))

    if marked:
        model_fn.lazy_features = True
    return est.Estimator(model_fn, model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False))


@pytest.mark.parametrize("marked, reads, kind", [(False, False, Features), (True, False, LazyFeatures),
                                                 (True, True, LazyFeatures)])
def test_only_a_marked_model_fn_gets_lazy_features_and_reading_them_works(marked, reads, kind):
    x = {"a": np.arange(8.0), "b": np.arange(8.0) * 2}
    y = np.arange(8.0, dtype=np.float32)[:, None]
    seen = []
    estimator = _recording_estimator(marked, reads, seen)
    estimator.train(est.inputs.numpy_input_fn(x, y, batch_size=4, shuffle=False), steps=2)
    assert seen == [kind, kind]


def test_a_marked_model_fn_gets_plain_features_when_nothing_is_packed(monkeypatch):
    seen = []

    def model_fn(features, labels, mode):
        seen.append(type(features))
        loss = torch.nn.functional.mse_loss(est.get_module("net", lambda: torch.nn.Linear(2, 1))(features["x"]), labels)
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", 0.1))

    model_fn.lazy_features = True
    monkeypatch.setattr(LazyFeatures, "__new__", lambda *args: pytest.fail("made through LazyFeatures"))
    estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False))
    x = {"x": np.ones((8, 2), np.float32)}  # one 2-D column: nothing to pack
    estimator.train(est.inputs.numpy_input_fn(x, np.ones((8, 1), np.float32), batch_size=4, shuffle=False), steps=2)
    assert seen == [Features, Features]
