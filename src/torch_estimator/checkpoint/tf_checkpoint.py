"""Reading a TensorFlow checkpoint without TensorFlow: the V2 "tensor bundle" format.

A TF Estimator's ``model_dir`` holds ``model.ckpt-<step>.index`` and
``model.ckpt-<step>.data-00000-of-00001``. The ``.index`` file is a LevelDB-format table (the
format of ``tensorflow/core/lib/io/table*``): sorted keys in prefix-compressed blocks (not
Snappy-compressed: the bundle writer turns that off), an index block and a 48-byte footer.
Under the empty key is a ``BundleHeaderProto`` (number of data shards, endianness); under each
variable name a ``BundleEntryProto`` (dtype, shape, shard, offset, size, masked CRC-32C)
pointing into a data shard, where the tensor's bytes are stored raw (strings: their lengths as
varints, a checksum, then the bytes).

This module decodes those structures directly (the two protos are small enough to read by
hand), so that :class:`~torch_estimator.WarmStartSettings` can warm-start from a model
trained with TensorFlow. Partitioned variables (``slices``) are not supported.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from typing import Any

import google_crc32c
import numpy as np

from torch_estimator.errors import message

__all__ = ["masked_crc32c", "read_tf_checkpoint", "tf_checkpoint_prefix", "tf_variable_name"]

_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48
_NO_COMPRESSION = 0
# TensorFlow's DataType enum -> numpy (tensorflow/core/framework/types.proto).
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 8: np.complex64,
           9: np.int64, 10: np.bool_, 17: np.uint16, 18: np.complex128, 19: np.float16, 22: np.uint32,
           23: np.uint64}
_DT_STRING, _DT_BFLOAT16 = 7, 14


def masked_crc32c(data: bytes) -> int:
    """TensorFlow's masked CRC-32C (as in TFRecord files and tensor bundles).

    Example:
        >>> masked_crc32c(b"")
        2726488792
    """
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tf_checkpoint_prefix(path: str) -> str | None:
    """The checkpoint prefix ``path`` names, or None: a prefix itself (``<dir>/model.ckpt-100``)
    or a TF ``model_dir`` whose ``checkpoint`` file names its latest checkpoint."""
    if os.path.isfile(f"{path}.index"):
        return path
    index = os.path.join(path, "checkpoint")
    if not os.path.isfile(index):
        return None
    with open(index, encoding="utf-8") as file:
        for line in file:
            key, _, value = line.partition(":")
            if key.strip() == "model_checkpoint_path":
                name = value.strip().strip('"')
                # TensorFlow often wrote absolute paths: a model_dir copied or moved since reads
                # its own files first.
                for prefix in (os.path.join(path, os.path.basename(name)), os.path.join(path, name)):
                    if os.path.isfile(f"{prefix}.index"):
                        return prefix
                return None
    return None


# Our parameter names -> the names TensorFlow's canned estimators gave the same variables.
_CANNED_NAMES = [(re.compile(pattern), name) for pattern, name in (
    (r"dnn\.hidden\.(\d+)\.weight", r"dnn/hiddenlayer_\1/kernel"),
    (r"dnn\.hidden\.(\d+)\.bias", r"dnn/hiddenlayer_\1/bias"),
    (r"dnn\.logits\.weight", "dnn/logits/kernel"),
    (r"dnn\.logits\.bias", "dnn/logits/bias"),
    (r"dnn\.norms\.(\d+)\.weight", r"dnn/hiddenlayer_\1/batchnorm_\1/gamma"),
    (r"dnn\.norms\.(\d+)\.bias", r"dnn/hiddenlayer_\1/batchnorm_\1/beta"),
    (r"dnn\.norms\.(\d+)\.running_mean", r"dnn/hiddenlayer_\1/batchnorm_\1/moving_mean"),
    (r"dnn\.norms\.(\d+)\.running_var", r"dnn/hiddenlayer_\1/batchnorm_\1/moving_variance"),
    (r"dnn/input_from_feature_columns\.(.+)", r"dnn/input_from_feature_columns/input_layer/\1"),
    (r"linear/linear_model\.(.+)", r"linear/linear_model/\1"),
    (r"baseline\.bias", "baseline/bias"),
)]


def tf_variable_name(key: str) -> str | None:
    """The TensorFlow name of our parameter or buffer ``key``; None for torch's own bookkeeping.

    The canned estimators' weights get the names TensorFlow's canned estimators used
    (``dnn.hidden.0.weight`` -> ``dnn/hiddenlayer_0/kernel``); in any other key each ``.``
    becomes ``/`` (``net.weight`` -> ``net/weight``): map such names with
    ``var_name_to_prev_var_name``.

    Example:
        >>> tf_variable_name("dnn.norms.1.running_var"), tf_variable_name("linear/linear_model.a/weights")
        ('dnn/hiddenlayer_1/batchnorm_1/moving_variance', 'linear/linear_model/a/weights')
    """
    if key.endswith(".num_batches_tracked"):  # BatchNorm's step counter: TensorFlow has none
        return None
    for pattern, name in _CANNED_NAMES:
        if pattern.fullmatch(key):
            return pattern.sub(name, key)
    return key.replace(".", "/")


def read_tf_checkpoint(path: str) -> dict[str, np.ndarray]:
    """Every variable of a TensorFlow checkpoint, by TensorFlow name, as numpy arrays.

    Args:
        path: A checkpoint prefix (``.../model.ckpt-1000``) or a TensorFlow ``model_dir``.

    Returns:
        ``{variable name: array}``; strings come back as ``bytes`` object arrays.

    Raises:
        ValueError: ``path`` is no TensorFlow checkpoint, a file is damaged (bad magic number,
            checksum mismatch), or it holds partitioned variables or an unsupported dtype.

    Example (a TF Estimator's ``model_dir``; tests/checkpoint/data/ has real ones)::

        variables = read_tf_checkpoint("tf_model_dir")
        variables["dnn/hiddenlayer_0/kernel"].shape  # (inputs, units): TensorFlow's layout
    """
    prefix = tf_checkpoint_prefix(path)
    if prefix is None:
        raise ValueError(message("Not a TensorFlow checkpoint", expected="a checkpoint prefix with a .index file, "
                                 "or a model_dir whose 'checkpoint' file names one",
                                 fix="Pass e.g. 'model_dir/model.ckpt-1000' or the TensorFlow model_dir", path=path))
    with open(f"{prefix}.index", "rb") as file:
        index = file.read()
    entries = dict(_table_entries(index, f"{prefix}.index"))
    header = _fields(entries.pop(b"", b""))
    num_shards = _first(header, 1, 1)
    if _first(header, 2, 0) != 0:
        raise ValueError(message("The checkpoint is big-endian", expected="a little-endian checkpoint",
                                 fix="Re-save it on a little-endian machine", path=prefix))
    shards: dict[int, Any] = {}
    try:
        return {key.decode("utf-8"): _tensor(key.decode("utf-8"), _fields(value), prefix, num_shards, shards)
                for key, value in entries.items()}
    finally:
        for shard in shards.values():
            shard.close()


def _tensor(name: str, entry: dict[int, list[Any]], prefix: str, num_shards: int, shards: dict[int, Any]) -> np.ndarray:
    if 7 in entry:
        raise ValueError(message(f"Variable {name!r} is partitioned", expected="unpartitioned variables",
                                 fix="Re-save the model without a partitioner", path=prefix))
    dtype = _first(entry, 1, 0)
    shape = tuple(_first(_fields(dim), 1, 0) for dim in _fields(_first(entry, 2, b"")).get(2, []))
    shard_id, offset, size = _first(entry, 3, 0), _first(entry, 4, 0), _first(entry, 5, 0)
    if shard_id not in shards:
        shards[shard_id] = open(f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}", "rb")
    shards[shard_id].seek(offset)
    data = shards[shard_id].read(size)
    # A string tensor's checksum covers its lengths as fixed-width integers, not the bytes stored.
    if len(data) != size or (6 in entry and dtype != _DT_STRING and masked_crc32c(data) != entry[6][0]):
        raise ValueError(message(f"Variable {name!r} fails its checksum", expected="an intact data file",
                                 fix="Copy the checkpoint again", path=prefix))
    if dtype == _DT_STRING:
        return _strings(data, shape)
    if dtype == _DT_BFLOAT16:  # no numpy bfloat16: widen to float32 (the upper half of its bits)
        return (np.frombuffer(data, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    if dtype not in _DTYPES:
        raise ValueError(message(f"Variable {name!r} has an unsupported dtype",
                                 expected=f"one of TensorFlow's DataType codes {sorted(_DTYPES)}", dtype=dtype))
    return np.frombuffer(data, np.dtype(_DTYPES[dtype]).newbyteorder("<")).reshape(shape).copy()


def _strings(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    count, position, lengths = int(np.prod(shape, dtype=np.int64)), 0, []
    for _ in range(count):
        length, position = _varint(data, position)
        lengths.append(length)
    position += 4  # the lengths' checksum
    values = np.empty(count, dtype=object)
    for index, length in enumerate(lengths):
        values[index] = data[position:position + length]
        position += length
    return values.reshape(shape)


# -- the LevelDB table of the .index file ---------------------------------------------------------


def _table_entries(table: bytes, path: str) -> Iterator[tuple[bytes, bytes]]:
    if len(table) < _FOOTER or struct.unpack_from("<Q", table, len(table) - 8)[0] != _MAGIC:
        raise ValueError(message("The checkpoint index is not a TensorFlow table", expected="the table magic number",
                                 fix="Check that the file is a TensorFlow .index file", path=path))
    position = len(table) - _FOOTER
    _, position = _varint(table, position)  # the metaindex block's handle: unused
    _, position = _varint(table, position)
    index_offset, position = _varint(table, position)
    index_size, _ = _varint(table, position)
    for _, handle in _block_entries(_block(table, index_offset, index_size, path)):
        offset, at = _varint(handle, 0)
        size, _ = _varint(handle, at)
        yield from _block_entries(_block(table, offset, size, path))


def _block(table: bytes, offset: int, size: int, path: str) -> bytes:
    contents, kind = table[offset:offset + size], table[offset + size]
    if masked_crc32c(table[offset:offset + size + 1]) != struct.unpack_from("<I", table, offset + size + 1)[0]:
        raise ValueError(message("The checkpoint index fails its checksum", expected="an intact .index file",
                                 fix="Copy the checkpoint again", path=path))
    if kind != _NO_COMPRESSION:  # TensorFlow's bundle writer turns the table's compression off
        raise ValueError(message("The checkpoint index is compressed", expected="an uncompressed table, as "
                                 "TensorFlow writes them", compression=kind, path=path))
    return contents


def _block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end, position, key = len(block) - 4 * (restarts + 1), 0, b""
    while position < end:
        shared, position = _varint(block, position)
        unshared, position = _varint(block, position)
        value_size, position = _varint(block, position)
        key = key[:shared] + block[position:position + unshared]
        position += unshared
        yield key, block[position:position + value_size]
        position += value_size


# -- protocol buffers, by hand: only varints, fixed32 and length-delimited fields occur ------------


def _fields(data: bytes) -> dict[int, list[Any]]:
    fields: dict[int, list[Any]] = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position:position + length], position + length
        elif wire == 5:
            value, position = struct.unpack_from("<I", data, position)[0], position + 4
        elif wire == 1:
            value, position = struct.unpack_from("<Q", data, position)[0], position + 8
        else:
            raise ValueError(message("Unexpected protocol buffer wire type in a checkpoint", wire_type=wire))
        fields.setdefault(number, []).append(value)
    return fields


def _first(fields: dict[int, list[Any]], number: int, default: Any) -> Any:
    return fields[number][0] if number in fields else default


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
