"""A small chainable dataset (a subset of ``tf.data``) for hand-written input pipelines.

Enough of ``tf.data`` to port the course's ``read_dataset`` functions line by line:
``Dataset.list_files``, :class:`TextLineDataset`, ``Dataset.from_tensor_slices``, the methods
``map``, ``flat_map``, ``filter``, ``shuffle``, ``repeat``, ``batch``, ``prefetch``, ``take``,
``skip``, ``shard`` and ``cache``, and :func:`decode_csv`. A dataset is a recipe: every
``iter()`` starts a fresh pass, so one dataset serves many epochs and many ``Estimator`` calls.
Elements are any structure of tuples and dicts; numeric leaves are torch tensors, string
leaves are ``str`` (one element) or numpy object arrays of ``str`` (a batch).

Parsing is pyarrow's: :func:`decode_csv` on a *batch* of lines hands them to ``pyarrow.csv``
in one call. So, as in TensorFlow, batch lines first and decode batches
(``.batch(n).map(decode)``); decoding line by line works but pays pyarrow's ~0.1 ms per call.

Example:
    The course's ``read_dataset``, ported (lines are shuffled before they are decoded, which
    is cheaper than shuffling decoded rows and mixes as well):

    >>> import torch_estimator as est
    >>> _ = open("prices_1.csv", "w").write("1000,house,500\\n2000,apt,1300\\n3000,house,1500\\n")
    >>> CSV_COLUMNS, LABEL = ["sq_footage", "type", "price"], "price"
    >>> DEFAULTS = [[0.0], ["house"], [0.0]]
    >>> def read_dataset(filename, mode, batch_size=512):
    ...     def decode(lines):
    ...         columns = decode_csv(lines, record_defaults=DEFAULTS)
    ...         features = dict(zip(CSV_COLUMNS, columns))
    ...         label = features.pop(LABEL)
    ...         return features, label
    ...     dataset = TextLineDataset(Dataset.list_files(filename))
    ...     if mode == est.ModeKeys.TRAIN:
    ...         dataset = dataset.shuffle(10 * batch_size).repeat(None)
    ...     return dataset.batch(batch_size).map(decode).prefetch(1)
    >>> features, label = next(iter(read_dataset("prices_*.csv", est.ModeKeys.EVAL, batch_size=2)))
    >>> features["sq_footage"], features["type"], label
    (tensor([1000., 2000.]), array(['house', 'apt'], dtype=object), tensor([ 500., 1300.]))
"""

from __future__ import annotations

import io
import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from torch_estimator.data.csv_records import decode_csv  # re-exported: tf.data's names, in one import
from torch_estimator.data.files import glob_patterns, text_opener
from torch_estimator.data.prefetch import Prefetcher
from torch_estimator.data.shuffle_buffer import epoch_rng
from torch_estimator.errors import message
from torch_estimator.inputs.structure import to_tensor

__all__ = ["AUTOTUNE", "Dataset", "TextLineDataset", "decode_csv"]

AUTOTUNE = -1  # tf.data.AUTOTUNE: prefetch keeps _AUTOTUNE_DEPTH elements; map ignores it
_AUTOTUNE_DEPTH = 2  # two batches in flight hide the jitter of parsing behind a training step
_PREFETCH_THREAD = "est.data prefetch"


class Dataset:
    """A re-iterable stream of elements, built by chaining methods as with ``tf.data.Dataset``.

    Every method returns a new dataset and leaves this one unchanged. Nothing is read until the
    dataset is iterated, and each ``iter()`` starts over (``list_files`` and ``shuffle`` draw a
    new order for each pass unless told otherwise). Functions given to ``map``, ``flat_map``
    and ``filter`` receive a tuple element unpacked, as in TensorFlow: ``map(lambda x, y: ...)``.

    Randomness: with ``seed=None``, ``shuffle`` and ``list_files`` draw their seed from torch's
    global RNG when the dataset is created, so ``RunConfig(tf_random_seed=...)`` (or
    ``torch.manual_seed``) makes a pipeline built in an ``input_fn`` repeat exactly.

    Args:
        make_iterator: Called by every ``iter()``; returns a fresh iterator over the elements.
            Datasets are usually made by the constructors below, not with this.

    Example:
        >>> dataset = Dataset.from_tensor_slices({"x": [1.0, 2.0, 3.0, 4.0, 5.0]})
        >>> [batch["x"].tolist() for batch in dataset.map(lambda row: {"x": 10 * row["x"]}).batch(2)]
        [[10.0, 20.0], [30.0, 40.0], [50.0]]
        >>> list(Dataset.from_tensor_slices(["a", "b", "c"]).repeat(2).skip(1).take(4))
        ['b', 'c', 'a', 'b']
    """

    def __init__(self, make_iterator: Callable[[], Iterator[Any]]) -> None:
        self._make_iterator = make_iterator

    def __iter__(self) -> Iterator[Any]:
        return self._make_iterator()

    @staticmethod
    def list_files(file_pattern: str | os.PathLike | Sequence[str | os.PathLike], shuffle: bool | None = None,
                   seed: int | None = None) -> Dataset:
        """The file names matching a glob (or any of a list of globs), as ``str`` elements.

        Matched once, now, so a pattern matching nothing fails here rather than mid-training.
        As in TensorFlow, names are shuffled by default (``shuffle=None`` means True), with a
        new order on every pass; ``shuffle=False`` gives them sorted.

        Raises:
            ValueError: No file matches.

        Example:
            >>> for name in ("part-b.csv", "part-a.csv"):
            ...     _ = open(name, "w").write("1\\n")
            >>> list(Dataset.list_files("part-*.csv", shuffle=False))
            ['part-a.csv', 'part-b.csv']
        """
        # Not files.match_files: TensorFlow's list_files refuses only a file_pattern matching
        # nothing at all, and keeps what the globs match (make_csv_dataset is stricter on purpose).
        patterns = file_pattern if isinstance(file_pattern, (str, os.PathLike)) else list(file_pattern)
        names = sorted(set().union(*glob_patterns(patterns).values()))
        if not names:
            raise ValueError(message("No files matched file_pattern", expected="a glob matching at least one file",
                                     fix=f"Check the path; relative patterns are read from {os.getcwd()!r}",
                                     file_pattern=file_pattern))
        if shuffle is False:
            return Dataset(lambda: iter(names))
        seeds = _Seeds(seed)
        return Dataset(lambda: iter([names[i] for i in seeds.generator().permutation(len(names))]))

    @staticmethod
    def from_tensor_slices(tensors: Any) -> Dataset:
        """One element per row of ``tensors`` (a tensor, array, list, or tuples/dicts of them).

        Numeric rows are tensors (``float64`` becomes float32, as everywhere in the project),
        string rows are ``str``.

        Raises:
            ValueError: The leaves have different numbers of rows, or one is a scalar.

        Example:
            >>> rows = Dataset.from_tensor_slices(({"type": ["house", "apt"]}, [500, 1300]))
            >>> [(features["type"], int(label)) for features, label in rows]
            [('house', 500), ('apt', 1300)]
        """
        columns = _map_structure(_sliceable, tensors)
        sizes = {len(leaf) for leaf in _leaves(columns)}
        if len(sizes) != 1:
            raise ValueError(message("from_tensor_slices needs every component to have the same number of rows",
                                     expected="one leading dimension shared by all tensors",
                                     fix="Pass arrays of equal length", rows=sorted(sizes)))
        rows = sizes.pop()
        return Dataset(lambda: (_map_structure(lambda leaf: leaf[i], columns) for i in range(rows)))

    def map(self, map_func: Callable[..., Any], num_parallel_calls: int | None = None,
            deterministic: bool | None = None) -> Dataset:
        """Applies ``map_func`` to every element.

        ``num_parallel_calls`` and ``deterministic`` are accepted for migrated code and ignored:
        elements are mapped in order, one at a time; put ``prefetch`` after the map to overlap
        it with training, and map batches, not rows, to make it fast.
        """
        return Dataset(lambda: (_call(map_func, element) for element in iter(self)))

    def flat_map(self, map_func: Callable[..., Iterable[Any]]) -> Dataset:
        """Maps every element to a dataset (or any iterable) and chains them all.

        Example:
            >>> _ = open("one.csv", "w").write("1,a\\n2,b\\n")
            >>> list(Dataset.list_files("one.csv").flat_map(TextLineDataset))
            ['1,a', '2,b']
        """

        def chained(source: Iterator[Any]) -> Iterator[Any]:
            for element in source:
                yield from _call(map_func, element)

        return Dataset(lambda: chained(iter(self)))

    def filter(self, predicate: Callable[..., Any]) -> Dataset:
        """Keeps the elements for which ``predicate`` returns True (a bool or 1-element tensor).

        Raises:
            TypeError: ``predicate`` returned something with more than one value.

        Example:
            >>> [int(x) for x in Dataset.from_tensor_slices([1, 2, 3, 4]).filter(lambda x: x % 2 == 0)]
            [2, 4]
        """

        def kept(source: Iterator[Any]) -> Iterator[Any]:
            for element in source:
                if _truth(_call(predicate, element)):
                    yield element

        return Dataset(lambda: kept(iter(self)))

    def shuffle(self, buffer_size: int, seed: int | None = None, reshuffle_each_iteration: bool = True) -> Dataset:
        """Shuffles with a buffer of ``buffer_size`` elements (TensorFlow's algorithm).

        The buffer is filled, then each output is a random buffer entry, replaced by the next
        input. A buffer as large as the dataset gives a uniform shuffle; a smaller one only
        mixes nearby elements, in exchange for bounded memory. Shuffle lines before decoding
        them (cheap) or batches of rows (coarse), not a dataset sorted by label.

        Example:
            >>> sorted(int(x) for x in Dataset.from_tensor_slices(list(range(6))).shuffle(3, seed=1))
            [0, 1, 2, 3, 4, 5]
        """
        _check_count("buffer_size", buffer_size, minimum=1)
        seeds = _Seeds(seed, reshuffle_each_iteration)
        return Dataset(lambda: _shuffled(iter(self), buffer_size, seeds.generator()))

    def repeat(self, count: int | None = None) -> Dataset:
        """Repeats the dataset ``count`` times; ``None`` (or -1) repeats forever.

        Each repetition is a fresh ``iter()``, so shuffles reshuffle. Repeating an empty
        dataset forever ends instead of spinning.
        """
        if count == -1:
            count = None
        if count is not None:
            _check_count("count", count, minimum=0)
        return Dataset(lambda: _repeated(self, count))

    def batch(self, batch_size: int, drop_remainder: bool = False) -> Dataset:
        """Stacks ``batch_size`` consecutive elements into one (the last may be smaller).

        Tensors are stacked with ``torch.stack``; strings become a numpy object array; Python
        and numpy numbers become a tensor. Dicts and tuples are batched leaf by leaf.
        """
        _check_count("batch_size", batch_size, minimum=1)
        return Dataset(lambda: _batched(iter(self), batch_size, drop_remainder))

    def prefetch(self, buffer_size: int) -> Dataset:
        """Produces elements on a background thread, up to ``buffer_size`` ahead of the consumer.

        The thread starts with the first ``next()`` and stops when the pass ends, fails, or is
        abandoned (the iterator is closed or garbage-collected): it never outlives its
        iterator. An error raised while producing an element is raised to the consumer, in
        order, with its original type and traceback. Memory holds at most ``buffer_size``
        finished elements plus the one being made. Most of the work (pyarrow's parsing,
        torch's kernels) releases the GIL, so it overlaps with training. ``AUTOTUNE`` keeps 2;
        0 turns prefetching off.

        Example:
            >>> [int(x) for x in Dataset.from_tensor_slices([1, 2, 3]).map(lambda x: x * 2).prefetch(2)]
            [2, 4, 6]
        """
        if buffer_size == AUTOTUNE:
            buffer_size = _AUTOTUNE_DEPTH
        _check_count("buffer_size", buffer_size, minimum=0)
        if buffer_size == 0:
            return self
        return Dataset(lambda: _prefetched(iter(self), buffer_size))

    def take(self, count: int) -> Dataset:
        """The first ``count`` elements (all of them when ``count`` is -1)."""
        if count == -1:
            return Dataset(lambda: iter(self))
        _check_count("count", count, minimum=0)
        return Dataset(lambda: itertools.islice(iter(self), count))

    def skip(self, count: int) -> Dataset:
        """All but the first ``count`` elements (none when ``count`` is -1)."""
        if count == -1:
            return Dataset(lambda: iter(()))
        _check_count("count", count, minimum=0)
        return Dataset(lambda: itertools.islice(iter(self), count, None))

    def shard(self, num_shards: int, index: int) -> Dataset:
        """Every ``num_shards``-th element starting at ``index``: one worker's part.

        With an ``input_context``: ``dataset.shard(input_context.num_input_pipelines,
        input_context.input_pipeline_id)``; shard file names, before reading, when you can.

        Example:
            >>> [int(x) for x in Dataset.from_tensor_slices(list(range(7))).shard(3, 1)]
            [1, 4]
        """
        _check_count("num_shards", num_shards, minimum=1)
        if not isinstance(index, int) or not 0 <= index < num_shards:
            raise ValueError(message("shard index out of range", expected=f"0 <= index < num_shards={num_shards}",
                                     fix="Pass input_context.input_pipeline_id", index=index))
        return Dataset(lambda: itertools.islice(iter(self), index, None, num_shards))

    def cache(self) -> Dataset:
        """Keeps the elements of the first complete pass in memory and replays them after.

        Put it before ``shuffle`` and ``repeat`` (``.map(decode).cache().shuffle(n).repeat()``)
        so files are read and parsed once. An interrupted first pass caches nothing.
        """
        stored: list[Any] = []
        complete = threading.Event()

        def recording(source: Iterator[Any]) -> Iterator[Any]:
            seen = []
            for element in source:
                seen.append(element)
                yield element
            if not complete.is_set():
                stored.extend(seen)
                complete.set()

        return Dataset(lambda: iter(stored) if complete.is_set() else recording(iter(self)))


class TextLineDataset(Dataset):
    """The lines of text files, as ``str`` without their line ending (TensorFlow's class).

    Files are read one after the other, streaming (memory does not grow with file size), as
    UTF-8. Lines end at ``\\n``; a ``\\r`` before it is dropped too. A last line without a
    newline is still a line; empty lines are kept (``decode_csv`` reports them).

    Args:
        filenames: A file name, a list of them, or a dataset of them (``Dataset.list_files``),
            which is re-iterated, and so reshuffled, on every pass.
        compression_type: None or ``""`` (plain text), ``"GZIP"`` or ``"ZLIB"``.

    Raises:
        FileNotFoundError: A file given by name does not exist (checked now).
        ValueError: Unknown ``compression_type``.

    Example:
        >>> import gzip
        >>> with gzip.open("lines.csv.gz", "wt") as handle:
        ...     _ = handle.write("1,house\\r\\n2,apt")
        >>> list(TextLineDataset(["lines.csv.gz"], compression_type="GZIP"))
        ['1,house', '2,apt']
    """

    def __init__(self, filenames: str | os.PathLike | Iterable[str | os.PathLike],
                 compression_type: str | None = None) -> None:
        opener = text_opener(compression_type)
        if isinstance(filenames, (str, os.PathLike)):
            filenames = [filenames]
        if not isinstance(filenames, Dataset):
            filenames = [os.fspath(name) for name in filenames]
            missing = [name for name in filenames if not os.path.isfile(name)]
            if missing:
                raise FileNotFoundError(message("TextLineDataset was given files that do not exist",
                                                fix="Check the names, or use Dataset.list_files(pattern)",
                                                missing=missing))
        names = filenames
        super().__init__(lambda: _read_lines(iter(names), opener))


# -- iterators behind the Dataset methods ------------------------------------------------------

class _Seeds:
    """A new random generator for each pass: ``seed`` (or a draw from torch) plus a pass count."""

    def __init__(self, seed: int | None, reshuffle_each_iteration: bool = True) -> None:
        # Drawn here, on the thread that builds the pipeline, never on a prefetch thread: the
        # draw then happens at the same point of torch's RNG stream on every seeded run.
        self._seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else int(seed)
        self._passes = itertools.count() if reshuffle_each_iteration else itertools.repeat(0)

    def generator(self) -> np.random.Generator:
        return epoch_rng(self._seed, next(self._passes))


# TensorFlow's element-by-element algorithm (and its exact order for a seed): shuffle_buffer's
# ShuffleBuffer mixes column chunks, and elements here are any structure, often a line of text.
def _shuffled(source: Iterator[Any], buffer_size: int, rng: np.random.Generator) -> Iterator[Any]:
    buffer = list(itertools.islice(source, buffer_size))
    picks: list[int] = []
    for element in source:
        if not picks:  # random indices in blocks: one numpy call per 1024 elements, not one each
            picks = rng.integers(len(buffer), size=1024).tolist()
        index = picks.pop()
        yield buffer[index]
        buffer[index] = element
    for index in rng.permutation(len(buffer)).tolist():
        yield buffer[index]


def _repeated(dataset: Dataset, count: int | None) -> Iterator[Any]:
    passes = itertools.count() if count is None else range(count)
    for _ in passes:
        produced = False
        for element in dataset:
            produced = True
            yield element
        if not produced:
            return


def _batched(source: Iterator[Any], batch_size: int, drop_remainder: bool) -> Iterator[Any]:
    while True:
        elements = list(itertools.islice(source, batch_size))
        if not elements or (drop_remainder and len(elements) < batch_size):
            return
        yield _stack(elements)


def _stack(elements: list[Any]) -> Any:
    first = elements[0]
    if isinstance(first, dict):
        return {key: _stack([element[key] for element in elements]) for key in first}
    if isinstance(first, tuple):
        return tuple(_stack(list(component)) for component in zip(*elements))
    if isinstance(first, torch.Tensor):
        return torch.stack(elements)
    if isinstance(first, (str, bytes)):
        return np.array(elements, dtype=object)
    if isinstance(first, np.ndarray) and first.dtype.kind in "OUS":
        return np.stack(elements).astype(object)
    return to_tensor(np.stack(elements) if isinstance(first, np.ndarray) else np.asarray(elements))


def _prefetched(source: Iterator[Any], depth: int) -> Iterator[Any]:
    """Yields ``source``'s elements, made by a thread (started by the first ``next()``) up to ``depth`` ahead."""
    prefetcher = Prefetcher(source, depth, name=_PREFETCH_THREAD)
    del source  # the prefetch thread owns the upstream iterator now (and closes it)
    try:
        yield from prefetcher
    finally:
        prefetcher.close()  # an abandoned or closed pass stops its thread now


def _read_lines(paths: Iterator[str], opener: Callable[[str], io.TextIOBase]) -> Iterator[str]:
    for path in paths:
        with opener(path) as handle:
            for line in handle:
                if line.endswith("\n"):
                    line = line[:-1]
                    if line.endswith("\r"):
                        line = line[:-1]
                yield line


# -- small helpers ----------------------------------------------------------------------------

def _call(function: Callable[..., Any], element: Any) -> Any:
    return function(*element) if type(element) is tuple else function(element)


def _truth(value: Any) -> bool:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if (value.numel() if isinstance(value, torch.Tensor) else value.size) != 1:
            raise TypeError(message("filter's predicate must return one bool per element",
                                    expected="a bool or a 1-element tensor",
                                    fix="Reduce it, e.g. with .all() or .any()", shape=tuple(value.shape)))
        return bool(value.item())
    return bool(value)


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(message(f"{name} must be an integer >= {minimum}", fix=f"Pass a valid {name}",
                                 **{name: value}))


def _sliceable(value: Any) -> Any:
    if (value.ndim if isinstance(value, torch.Tensor) else np.ndim(value)) == 0:
        raise ValueError(message("from_tensor_slices cannot slice a scalar",
                                 expected="tensors with a leading (row) dimension", fix="Wrap it in a list",
                                 value=value))
    leaf = to_tensor(value)
    return leaf.astype(object) if isinstance(leaf, np.ndarray) else leaf  # rows of a str array: str


def _map_structure(function: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, dict):
        return {key: _map_structure(function, value) for key, value in structure.items()}
    if isinstance(structure, tuple):
        return tuple(_map_structure(function, value) for value in structure)
    return function(structure)


def _leaves(structure: Any) -> Iterator[Any]:
    if isinstance(structure, dict):
        for value in structure.values():
            yield from _leaves(value)
    elif isinstance(structure, tuple):
        for value in structure:
            yield from _leaves(value)
    else:
        yield structure
