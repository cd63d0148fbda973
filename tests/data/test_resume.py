"""Resuming: a run stopped after k batches, its ``state_dict`` round-tripped through JSON, and a
new dataset continuing from it yield exactly the batches of an uninterrupted run."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

import torch_estimator as est
from torch_estimator.data import csv_reader, make_csv_dataset, make_parquet_dataset

ROWS = 103


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i / 8}\n" for i in range(ROWS)))
    return str(path)


def batch_ids(batches):
    return [[int(v) for v in features["id"]] for features, _ in batches]


def interrupted(make, k, **kwargs):
    """Batches of a run stopped after ``k`` batches, then of a new dataset resumed from its state."""
    first = make(**kwargs)
    head = batch_ids(itertools.islice(iter(first), k))
    state = json.loads(json.dumps(first.state_dict()))
    second = make(**kwargs)
    second.load_state_dict(state)
    return head, batch_ids(second)


def csv_maker(path, **fixed):
    return lambda **kwargs: make_csv_dataset(path, **{"batch_size": 10, "label_name": "x", **fixed, **kwargs})


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("k", [0, 1, 5, 10, 11])  # 11 batches make one epoch (the last one partial)
def test_one_epoch_resumed_equals_a_clean_epoch(csv_file, shuffle, k):
    make = csv_maker(csv_file, num_epochs=1, shuffle=shuffle, shuffle_seed=7, shuffle_buffer_size=20)
    clean = batch_ids(make())
    head, rest = interrupted(make, k)
    assert head + rest == clean
    assert sorted(v for batch in head + rest for v in batch) == list(range(ROWS))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("k", [9, 10, 11, 15])  # batch 11 spans the epoch boundary
def test_resuming_across_an_epoch_boundary(csv_file, shuffle, k):
    make = csv_maker(csv_file, num_epochs=2, shuffle=shuffle, shuffle_seed=3, shuffle_buffer_size=20)
    clean = batch_ids(make())
    head, rest = interrupted(make, k)
    assert head + rest == clean
    rows = [v for batch in head + rest for v in batch]
    assert sorted(rows[:ROWS]) == list(range(ROWS)) and sorted(rows[ROWS:]) == list(range(ROWS))


def test_the_drawn_seed_is_part_of_the_state(csv_file):
    make = csv_maker(csv_file, num_epochs=1, shuffle=True, shuffle_buffer_size=20)
    torch.manual_seed(1)
    clean = batch_ids(make())
    torch.manual_seed(1)
    first = make()
    head = batch_ids(itertools.islice(iter(first), 4))
    torch.manual_seed(99)  # a restarted process draws another seed; the state's wins
    second = make()
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))
    assert head + batch_ids(second) == clean


@pytest.mark.parametrize("shuffle", [False, True])
def test_each_pipeline_resumes_its_own_shard(csv_file, shuffle, monkeypatch):
    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 128)
    seen = []
    for pipeline in range(3):
        make = csv_maker(csv_file, num_epochs=1, shuffle=shuffle, shuffle_seed=5, shuffle_buffer_size=8,
                         batch_size=4, input_context=est.InputContext(3, pipeline))
        clean = batch_ids(make())
        head, rest = interrupted(make, 3)
        assert head + rest == clean
        seen += [v for batch in head + rest for v in batch]
    assert sorted(seen) == list(range(ROWS))


def test_state_is_the_consumers_position_not_the_prefetchers(csv_file):
    dataset = make_csv_dataset(csv_file, 10, num_epochs=1, shuffle=False)
    assert dataset.state_dict()["rows_in_epoch"] == 0
    iterator = iter(dataset)
    next(iterator)
    next(iterator)
    state = dataset.state_dict()
    assert (state["epoch"], state["rows_in_epoch"]) == (0, 20)
    assert set(state) == {"version", "fingerprint", "seed", "epoch", "rows_in_epoch", "config"}
    list(iterator)
    assert dataset.state_dict()["rows_in_epoch"] == ROWS


def test_an_exhausted_position_resumes_to_nothing_and_iteration_then_starts_over(csv_file):
    first = make_csv_dataset(csv_file, 10, num_epochs=1, shuffle=False)
    list(first)
    second = make_csv_dataset(csv_file, 10, num_epochs=1, shuffle=False)
    second.load_state_dict(first.state_dict())
    assert list(second) == []
    assert len(list(second)) == 11  # the loaded position applies to one iter() only


def test_num_epochs_may_change_on_resume(csv_file):
    first = make_csv_dataset(csv_file, 10, num_epochs=1, shuffle=False)
    list(first)
    second = make_csv_dataset(csv_file, 10, num_epochs=2, shuffle=False)
    second.load_state_dict(first.state_dict())
    assert sorted(v for batch in batch_ids((b, None) for b in second) for v in batch) == list(range(ROWS))


def test_a_different_batch_size_is_refused_with_what_changed(csv_file):
    state = make_csv_dataset(csv_file, 10, num_epochs=1).state_dict()
    with pytest.raises(ValueError) as raised:
        make_csv_dataset(csv_file, 20, num_epochs=1).load_state_dict(state)
    assert str(raised.value) == (
        "The saved input position belongs to different data or options, so it cannot be resumed. Expected the "
        "same files (and sizes), columns, batching, shuffling and sharding as when it was saved. Received: "
        "changed=['batch_size: 10 -> 20']. Rebuild the dataset as it was, or start the input from the beginning "
        "(skip load_state_dict).")


def test_changed_files_or_sharding_are_refused(csv_file, tmp_path):
    state = make_csv_dataset(csv_file, 10, shuffle=False).state_dict()
    with pytest.raises(ValueError, match="input_pipeline_id: 0 -> 1"):
        make_csv_dataset(csv_file, 10, shuffle=False, input_context=est.InputContext(2, 1)).load_state_dict(state)
    with open(csv_file, "a") as file:
        file.write("103,1.0\n")
    with pytest.raises(ValueError, match="changed=\\[\"files: .*'count': 1"):
        make_csv_dataset(csv_file, 10, shuffle=False).load_state_dict(state)


def test_a_state_that_is_not_one_is_refused(csv_file):
    dataset = make_csv_dataset(csv_file, 10)
    with pytest.raises(ValueError, match="This is not an input position saved by state_dict\\(\\). Expected a dict "
                                         "with keys \\['fingerprint', 'seed', 'epoch', 'rows_in_epoch'\\]"):
        dataset.load_state_dict({"position": 3})


def test_parquet_resumes_across_epochs(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": list(range(ROWS)), "x": [0.5] * ROWS}), tmp_path / "d.parquet", row_group_size=17)
    make = lambda **kwargs: make_parquet_dataset(str(tmp_path / "d.parquet"), 10, label_name="x", num_epochs=2,
                                                 shuffle_seed=2, shuffle_buffer_size=15, **kwargs)
    clean = batch_ids(make())
    head, rest = interrupted(make, 13)
    assert head + rest == clean


def test_a_restarted_estimator_continues_the_csv_after_the_checkpointed_batch(csv_file, make_estimator):
    seen: list[int] = []

    def model_fn(features, labels, mode):
        seen.extend(int(v) for v in features["id"])
        net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
        loss = torch.nn.functional.mse_loss(net(features["id"][:, None] / 100.0), labels[:, None])
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.01))

    def input_fn():
        return make_csv_dataset(csv_file, 10, label_name="x", shuffle=True, shuffle_buffer_size=30)

    make_estimator(model_fn=model_fn).train(input_fn, steps=7)
    make_estimator(model_fn=model_fn).train(input_fn, steps=6)  # a new process: same model_dir, new dataset
    assert len(seen) == 130
    assert sorted(seen[:ROWS]) == list(range(ROWS))  # epoch 0 exactly once across the restart
    assert len(set(seen[ROWS:])) == 130 - ROWS
