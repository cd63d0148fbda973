"""Background prefetch: bounded read-ahead, errors passed through unchanged, and no thread left
behind when an iterator is exhausted, closed, abandoned or fails."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from torch_estimator.data import make_csv_dataset
from torch_estimator.data.prefetch import Prefetcher


def wait_for_threads(count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while threading.active_count() > count and time.monotonic() < deadline:
        time.sleep(0.01)
    return threading.active_count()


@pytest.fixture
def no_thread_leak():
    before = threading.active_count()
    yield
    gc.collect()
    assert wait_for_threads(before) == before, [t.name for t in threading.enumerate()]


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i / 2}\n" for i in range(500)))
    return str(path)


def test_items_arrive_in_order(no_thread_leak):
    assert list(Prefetcher(iter(range(100)), depth=3)) == list(range(100))


def test_read_ahead_is_bounded_by_the_depth(no_thread_leak):
    produced = []

    def source():
        for i in range(100):
            produced.append(i)
            yield i

    prefetcher = Prefetcher(source(), depth=2)
    assert next(prefetcher) == 0
    time.sleep(0.3)  # let the thread run as far ahead as it can
    # 1 consumed + 2 queued + 1 held by the blocked put
    assert len(produced) <= 4
    prefetcher.close()


def test_an_error_reaches_the_consumer_unchanged(no_thread_leak):
    class Custom(ValueError):
        pass

    def source():
        yield 1
        raise Custom("bad row at line 7")

    prefetcher = Prefetcher(source(), depth=2)
    assert next(prefetcher) == 1
    with pytest.raises(Custom, match="^bad row at line 7$"):
        next(prefetcher)
    with pytest.raises(StopIteration):
        next(prefetcher)


def test_close_stops_the_thread_and_closes_the_source(no_thread_leak):
    closed = threading.Event()

    def source():
        try:
            yield from range(10**9)
        finally:
            closed.set()

    prefetcher = Prefetcher(source(), depth=2)
    next(prefetcher)
    prefetcher.close()
    assert closed.wait(5)
    with pytest.raises(StopIteration):
        next(prefetcher)


def test_garbage_collecting_the_iterator_stops_the_thread(no_thread_leak):
    prefetcher = Prefetcher(iter(range(10**9)), depth=2)
    next(prefetcher)
    del prefetcher


def test_dataset_iterators_leave_no_thread(csv_file, no_thread_leak):
    dataset = make_csv_dataset(csv_file, 8, label_name="x", shuffle=True, shuffle_seed=0)  # endless
    for _ in range(5):
        iterator = iter(dataset)
        next(iterator)
        del iterator  # abandoned mid-stream
    for step, _ in enumerate(dataset):  # a `break` out of a for loop
        if step == 3:
            break
    iterator = iter(dataset)
    next(iterator)
    iterator.close()
    finite = make_csv_dataset(csv_file, 8, num_epochs=1)
    assert sum(len(batch["id"]) for batch in finite) == 500
    never_started = iter(dataset)
    del never_started


def test_a_reading_error_surfaces_in_the_consumer_and_the_thread_ends(tmp_path, no_thread_leak, monkeypatch):
    from torch_estimator.data import csv_reader

    monkeypatch.setattr(csv_reader, "BLOCK_SIZE", 64)
    monkeypatch.setattr(csv_reader, "PROBE_BLOCK_SIZE", 64)
    path = tmp_path / "bad.csv"
    path.write_text("id,x\n" + "".join(f"{i},{i}\n" for i in range(100)) + "100,oops\n")
    iterator = iter(make_csv_dataset(str(path), 8, column_defaults=[0, 0.0], num_epochs=1, shuffle=False))
    with pytest.raises(ValueError, match="line 102, column 'x' \\(field 2\\): the value is not a valid float32"):
        list(iterator)


def test_parsing_runs_on_the_prefetch_thread(csv_file, no_thread_leak):
    dataset = make_csv_dataset(csv_file, 8, num_epochs=1, shuffle=False)
    iterator = iter(dataset)
    names = {thread.name for thread in threading.enumerate()}
    assert "torch_estimator-prefetch" in names
    list(iterator)
