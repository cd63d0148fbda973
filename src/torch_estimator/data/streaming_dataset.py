"""``StreamingDataset``: batches streamed from files, sharded, shuffled, resumable, prefetched.

What ``make_csv_dataset`` and ``make_parquet_dataset`` return. The format-specific part (which
bytes to read, how to parse them) is a :class:`~torch_estimator.data.source.RowSource`; this
module owns what is common: epochs, the shuffle buffer, batching, the input position, and the
background thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from torch_estimator.data.columns import Batcher, Chunk, Position, cut, num_rows
from torch_estimator.data.prefetch import Prefetcher
from torch_estimator.data.sharding import worker_split
from torch_estimator.data.shuffle_buffer import epoch_rng, shuffled
from torch_estimator.data.source import ReadStats, RowSource
from torch_estimator.errors import message

__all__ = ["Batching", "StreamingDataset"]

logger = logging.getLogger("torch_estimator")

PREFETCH_DEPTH = 3  # batches parsed ahead of the consumer
_STATE_VERSION = 1
_BATCH, _EPOCH_END = "batch", "epoch_end"


@dataclasses.dataclass(frozen=True)
class Batching:
    """Batching, epochs and shuffling, validated together (every problem reported at once).

    Example:
        >>> Batching(batch_size=32, num_epochs=None, shuffle=True).shuffle_buffer_size
        10000
    """

    batch_size: int
    num_epochs: int | None = None
    shuffle: bool = True
    shuffle_buffer_size: int = 10000
    shuffle_seed: int | None = None

    def __post_init__(self) -> None:
        problems, type_problems = [], []
        counts = {"batch_size": self.batch_size, "shuffle_buffer_size": self.shuffle_buffer_size}
        if self.num_epochs is not None:
            counts["num_epochs"] = self.num_epochs
        for name, value in counts.items():
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                type_problems.append(message(f"{name} must be an int", expected="an int > 0", **{name: value}))
            elif value <= 0:
                fix = "Use num_epochs=None to repeat forever" if name == "num_epochs" else None
                problems.append(message(f"{name} must be positive", expected="an int > 0", fix=fix, **{name: value}))
        if not isinstance(self.shuffle, bool):
            type_problems.append(message("shuffle must be a bool", shuffle=self.shuffle))
        if self.shuffle_seed is not None and (not isinstance(self.shuffle_seed, numbers.Integral)
                                              or isinstance(self.shuffle_seed, bool)):
            type_problems.append(message("shuffle_seed must be an int or None", shuffle_seed=self.shuffle_seed))
        if problems or type_problems:
            raise (ValueError if problems else TypeError)(" ".join(problems + type_problems))


class StreamingDataset(torch.utils.data.IterableDataset):
    """Batches of rows streamed from files: the result of ``make_csv_dataset``/``make_parquet_dataset``.

    **Iteration.** Each ``iter()`` yields ``(features, labels)`` batches (``features`` alone
    without a label column): ``features`` is a dict of column name -> tensor (numbers; float64
    read as float32) or numpy array of ``str``, ``labels`` one such column. Rows form one stream
    over ``num_epochs`` epochs (None: forever) cut into ``batch_size`` batches, so a batch can
    span two epochs and only the last batch of a finite run is smaller (TensorFlow's
    ``drop_remainder=False``). A new ``iter()`` starts from the beginning, unless
    :meth:`load_state_dict` was called: the next ``iter()`` then continues from that position.

    **Shuffling** (``shuffle=True``): each epoch reads the pieces (files, ranges) in a random
    order through a shuffle buffer of ``shuffle_buffer_size`` rows, both drawn from a random
    stream seeded by ``(seed, epoch)``. ``seed`` is ``shuffle_seed``, or when None one drawn
    from torch's global RNG when the dataset is created (so ``torch.manual_seed`` repeats a
    run). A bigger buffer mixes better and costs ``buffer_size`` rows of memory.

    **Sharding** (``input_context``): pipeline ``input_pipeline_id`` of
    ``num_input_pipelines`` reads a disjoint part (by file, else by byte range or row group);
    together they read every row once per epoch. Inside a ``DataLoader`` worker, the
    pipeline's part is split again between the workers.

    **Resuming**: :meth:`state_dict` is the position just after the last batch handed to the
    consumer (not the ones prefetched), with the seed and a fingerprint of the files and
    options. A new dataset built the same way continues exactly after that batch from
    :meth:`load_state_dict`: the current epoch's order is replayed from the seed and the rows
    already delivered are skipped (they are parsed again, not yielded again).

    **Prefetch**: a background thread parses up to ``PREFETCH_DEPTH`` batches ahead. Memory is
    bounded by the shuffle buffer, the prefetched batches and pyarrow's read-ahead, not by file
    size. The thread stops when the iterator is exhausted, closed or garbage-collected; an
    error in it is raised by ``next()`` unchanged.

    Args:
        source: The format-specific reader.
        batching: Batch size, epochs, shuffling.
        label_name: Column returned as ``labels``, or None to yield features alone.
        input_context: An ``est.InputContext`` (``num_input_pipelines``, ``input_pipeline_id``)
            or None to read everything.

    Raises:
        ValueError: ``input_context`` names an impossible pipeline.

    Example:
        >>> from torch_estimator.data import make_csv_dataset
        >>> _ = open("sales.csv", "w").write("price,units\\n" + "".join(f"{i}.5,{i}\\n" for i in range(5)))
        >>> dataset = make_csv_dataset("sales.csv", batch_size=2, label_name="units", num_epochs=1, shuffle=False)
        >>> [(features["price"].tolist(), labels.tolist()) for features, labels in dataset]
        [([0.5, 1.5], [0, 1]), ([2.5, 3.5], [2, 3]), ([4.5], [4])]
        >>> dataset.state_dict()["epoch"], dataset.state_dict()["rows_in_epoch"]
        (0, 5)
    """

    def __init__(self, source: RowSource, batching: Batching, label_name: str | None = None,
                 input_context: Any = None) -> None:
        super().__init__()
        self._source = source
        self._batching = batching
        self._label_name = label_name
        self._sharding = _sharding(input_context)
        if batching.shuffle_seed is not None:
            self._seed = int(batching.shuffle_seed)
        else:  # drawn only when shuffling, so a shuffle=False dataset leaves torch's RNG alone
            self._seed = int(torch.randint(2**62, ())) if batching.shuffle else 0
        config = {**source.describe(), "batch_size": batching.batch_size, "shuffle": batching.shuffle,
                  "shuffle_buffer_size": batching.shuffle_buffer_size, "shuffle_seed": batching.shuffle_seed,
                  "label_name": label_name, "num_input_pipelines": self._sharding[0],
                  "input_pipeline_id": self._sharding[1]}
        self._config = json.loads(json.dumps(config))  # JSON-native, so a saved copy compares equal
        self._fingerprint = hashlib.sha256(json.dumps(self._config, sort_keys=True).encode()).hexdigest()[:32]
        self._position = Position(0, 0)
        self._resume: Position | None = None
        self._pieces: dict[tuple[int, int], Sequence[Any]] = {}

    def __repr__(self) -> str:
        b = self._batching
        return (f"StreamingDataset({self._config['format']}, files={self._config['files']['count']}, "
                f"batch_size={b.batch_size}, num_epochs={b.num_epochs}, shuffle={b.shuffle}, "
                f"pipeline={self._sharding[1]}/{self._sharding[0]})")

    @property
    def fingerprint(self) -> str:
        """Identifies the files (paths, sizes) and the batching, shuffling and sharding options."""
        return self._fingerprint

    def __iter__(self) -> Iterator[Any]:
        start, self._resume = self._resume or Position(0, 0), None
        self._position = start
        info = torch.utils.data.get_worker_info()
        parts = worker_split(*self._sharding, None if info is None else (info.num_workers, info.id))
        if parts not in self._pieces:
            self._pieces[parts] = self._source.pieces(*parts)
        prefetcher = Prefetcher(self._produce(self._pieces[parts], start, parts), PREFETCH_DEPTH)
        return self._deliver(prefetcher)

    def state_dict(self) -> dict[str, Any]:
        """The position after the last batch yielded, as a JSON-serialisable dict.

        Keys: ``fingerprint`` (files and options), ``seed`` (the shuffle seed in use),
        ``epoch`` and ``rows_in_epoch`` (rows of that epoch's order already delivered), and
        ``config`` (what the fingerprint covers, to explain a mismatch).
        """
        return {"version": _STATE_VERSION, "fingerprint": self._fingerprint, "seed": self._seed,
                "epoch": self._position.epoch, "rows_in_epoch": self._position.rows, "config": self._config}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Makes the next ``iter()`` continue right after the batch ``state`` was saved at.

        Raises:
            ValueError: ``state`` is not a dataset state, or was saved with other files
                (or sizes) or other batching, shuffling or sharding options.
        """
        keys = ("fingerprint", "seed", "epoch", "rows_in_epoch")
        if not isinstance(state, Mapping) or any(key not in state for key in keys):
            raise ValueError(message("This is not an input position saved by state_dict()",
                                     expected=f"a dict with keys {list(keys)}",
                                     state=type(state).__name__ if not isinstance(state, Mapping) else sorted(state)))
        if state["fingerprint"] != self._fingerprint:
            raise ValueError(message(
                "The saved input position belongs to different data or options, so it cannot be resumed",
                expected="the same files (and sizes), columns, batching, shuffling and sharding as when it was saved",
                fix="Rebuild the dataset as it was, or start the input from the beginning (skip load_state_dict)",
                changed=_differences(state.get("config"), self._config)))
        self._seed = int(state["seed"])
        self._position = self._resume = Position(int(state["epoch"]), int(state["rows_in_epoch"]))

    def _deliver(self, prefetcher: Prefetcher) -> Iterator[Any]:
        """Hands batches to the consumer, recording the position of each as it goes out."""
        try:
            for kind, value, detail in prefetcher:
                if kind == _EPOCH_END:
                    if detail:
                        logger.warning("Skipped %d malformed rows in epoch %d (ignore_errors=True).", detail, value)
                    continue
                self._position = detail
                yield value
        finally:
            prefetcher.close()

    def _produce(self, pieces: Sequence[Any], start: Position, parts: tuple[int, int]) -> Iterator[tuple]:
        """Runs in the prefetch thread: epochs of rows, cut into batches tagged with positions."""
        batching = self._batching
        batcher = Batcher(batching.batch_size)
        epoch, skip = start.epoch, start.rows
        while batching.num_epochs is None or epoch < batching.num_epochs:
            stats, rows = ReadStats(), 0
            for chunk in self._epoch(pieces, epoch, stats):
                size = num_rows(chunk)
                if rows + size > skip:  # rows before `skip` were delivered before the resume
                    begin = max(0, skip - rows)
                    rest = cut(chunk, begin, size) if begin else chunk
                    for batch, position in batcher.add(rest, epoch, rows + begin):
                        yield _BATCH, self._split(batch), position
                rows += size
            yield _EPOCH_END, epoch, stats.bad_rows
            if not rows and batching.num_epochs is None:
                raise ValueError(message(
                    "The input has no rows to read, so repeating it forever (num_epochs=None) would never "
                    "produce a batch", expected="at least one row for every input pipeline",
                    fix="Check the files (and, when sharded, use fewer pipelines or more data)",
                    pipeline=f"{parts[1]} of {parts[0]}"))
            epoch, skip = epoch + 1, 0
        last = batcher.flush()
        if last is not None:
            yield _BATCH, self._split(last[0]), last[1]

    def _epoch(self, pieces: Sequence[Any], epoch: int, stats: ReadStats) -> Iterator[Chunk]:
        """One epoch's rows: in file order, or in the ``(seed, epoch)`` shuffled order."""
        if not self._batching.shuffle:
            for piece in pieces:
                yield from self._source.read(piece, stats)
            return
        rng = epoch_rng(self._seed, epoch)
        order = rng.permutation(len(pieces))
        chunks = (chunk for index in order for chunk in self._source.read(pieces[index], stats))
        yield from shuffled(chunks, self._batching.shuffle_buffer_size, rng)

    def _split(self, batch: Chunk) -> Any:
        if self._label_name is None:
            return batch
        features = dict(batch)
        return features, features.pop(self._label_name)


def _sharding(input_context: Any) -> tuple[int, int]:
    if input_context is None:
        return 1, 0
    num = getattr(input_context, "num_input_pipelines", None)
    index = getattr(input_context, "input_pipeline_id", None)
    valid = all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (num, index))
    if not valid or not 0 <= index < num:
        raise ValueError(message("input_context does not describe a valid input pipeline",
                                 expected="an est.InputContext with 0 <= input_pipeline_id < num_input_pipelines",
                                 num_input_pipelines=num, input_pipeline_id=index))
    return int(num), int(index)


def _differences(saved: Any, current: dict[str, Any]) -> list[str]:
    """Human-readable ``key: saved -> now`` lines (``["files or options"]`` when unknown)."""
    if not isinstance(saved, Mapping):
        return ["files or options"]
    keys = sorted(set(saved) | set(current))
    changed = [f"{key}: {saved.get(key)!r} -> {current.get(key)!r}"
               for key in keys if saved.get(key) != current.get(key)]
    return changed or ["files or options"]
