"""``est.data``: datasets streamed from files larger than memory (TensorFlow's ``tf.data`` readers).

``make_csv_dataset`` and ``make_parquet_dataset`` return a
:class:`~torch_estimator.data.streaming_dataset.StreamingDataset`: batches parsed by pyarrow
in a background thread, sharded by ``InputContext``, shuffled through a buffer, resumable
from ``state_dict()``.

For input pipelines written by hand, :class:`~torch_estimator.data.pipeline.Dataset` is a small
chainable ``tf.data.Dataset`` (``list_files``, ``from_tensor_slices``, ``map``, ``shuffle``,
``batch``, ``prefetch``, ... with ``AUTOTUNE``), :class:`~torch_estimator.data.pipeline.TextLineDataset`
reads text files line by line, and :func:`~torch_estimator.data.csv_records.decode_csv` parses
batches of CSV lines with ``tf.io.decode_csv``'s rules.
"""

from torch_estimator.data.csv_dataset import make_csv_dataset
from torch_estimator.data.csv_records import decode_csv
from torch_estimator.data.parquet_dataset import make_parquet_dataset
from torch_estimator.data.pipeline import AUTOTUNE, Dataset, TextLineDataset
from torch_estimator.data.streaming_dataset import StreamingDataset

__all__ = ["AUTOTUNE", "Dataset", "StreamingDataset", "TextLineDataset", "decode_csv", "make_csv_dataset",
           "make_parquet_dataset"]
