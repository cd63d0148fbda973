"""The layers that turn features into tensors through columns: ``input_layer`` and ``linear_model``.

:class:`DenseFeatures` and :class:`LinearModel` are ``nn.Module``\\ s holding the weights the
columns need (embedding tables; linear weights and bias). Inside a ``model_fn``, use
:func:`input_layer` and :func:`linear_model`: they get or create their module through
``est.get_module(name, ...)``, so the weights persist across calls, train and are
checkpointed as ``<name>.<parameter>``.

Parameter names are TensorFlow's variable names with a ``.`` after the layer's name (torch
forbids ``.`` inside a parameter name, so a ``.`` in a feature name becomes ``_``):

* ``input_layer.<column>_embedding/embedding_weights``, and
  ``input_layer.<collection name>/embedding_weights`` for a shared table;
* ``linear_model.<column>/weights`` and ``linear_model.bias_weights``.

Columns are sorted by name, as in TensorFlow: the output of ``input_layer`` is their
``dense`` outputs concatenated in that order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from torch_estimator.errors import message
from torch_estimator.feature_column.batch import COMBINERS, ColumnBatch, combine
from torch_estimator.feature_column.dense import NumericColumn
from torch_estimator.feature_column.protocols import CategoricalColumn, DenseColumn, FeatureColumn, Table, check
from torch_estimator.inputs.columnar import holds_views
from torch_estimator.modules import get_module


class DenseFeatures(nn.Module):
    """A module that turns ``features`` into one float32 ``[batch, n]`` tensor through dense columns.

    Use it directly in your own modules, or through :func:`input_layer` inside a ``model_fn``.
    Categorical columns must be wrapped (``indicator_column``, ``embedding_column``).

    Args:
        feature_columns: Dense columns (numeric, bucketized, indicator, embedding, shared
            embedding); sorted by name for the output.
        trainable: False freezes every embedding table.

    Raises:
        ValueError: no columns, a column that is not dense, two columns with one name, or a
            shared table used with two shapes.

    Example:
        >>> import numpy as np, torch
        >>> from torch_estimator import feature_column as fc
        >>> layer = DenseFeatures([fc.numeric_column("sq_footage"), fc.indicator_column(
        ...     fc.categorical_column_with_vocabulary_list("type", ["house", "apt"]))])
        >>> layer({"sq_footage": torch.tensor([1000.0, 2000.0]), "type": np.array(["apt", "house"])}).tolist()
        [[1000.0, 0.0, 1.0], [2000.0, 1.0, 0.0]]
    """

    def __init__(self, feature_columns: Iterable[Any], trainable: bool = True) -> None:
        super().__init__()
        self.feature_columns = _sorted_columns(feature_columns, "DenseFeatures", dense_only=True)
        self._table_keys = _create_tables(self, self.feature_columns, trainable)
        # Follows the module across .to(device): ids and numeric features are moved here.
        self.register_buffer("_anchor", torch.empty(0), persistent=False)
        # All plain scalar float columns (the common numeric-only model): the batch's packed
        # block (inputs/columnar.py) or one stack per batch instead of a column at a time.
        self._stack_keys = tuple(column.key for column in self.feature_columns) if all(
            map(_scalar_float, self.feature_columns)) else None
        self._block = None if self._stack_keys is None else BlockReader(self._stack_keys)

    def forward(self, features: Mapping[str, Any],
                cols_to_output_tensors: dict[Any, torch.Tensor] | None = None) -> torch.Tensor:
        """``[batch, sum of dense sizes]``; ``cols_to_output_tensors`` gets each column's part."""
        if self._stack_keys is not None and cols_to_output_tensors is None and isinstance(features, dict):
            # A copy of a block the dict has views of: in-place writes to the output must not
            # reach the features or the data later epochs read (a lazy batch has no views).
            dense = self._block.read(features, self._anchor.device, copy_views=True)
            if dense is not None:
                return dense
            dense = self._stacked(features)
            if dense is not None:
                return dense
        batch = ColumnBatch(features, self._anchor.device, _parameters(self, self._table_keys))
        outputs = []
        for column in self.feature_columns:
            output = column.dense(batch)
            if cols_to_output_tensors is not None:
                cols_to_output_tensors[column] = output
            outputs.append(output)
        return torch.cat(outputs, dim=1)

    def variables(self, column: Any) -> list[nn.Parameter]:
        """The parameters a column reads (its embedding table), for ``cols_to_vars``."""
        return [getattr(self, self._table_keys[table.name]) for table in column.tables()]

    def _stacked(self, features: dict) -> torch.Tensor | None:
        """The output as one stack of the features' 1-D float32 columns; None when they are not."""
        values = [features.get(key) for key in self._stack_keys]
        for value in values:  # a loop, not all(<generator>): this runs every step
            if type(value) is not torch.Tensor or value.dtype != torch.float32 or value.ndim != 1:
                return None
        try:
            # The per-column path's result: stack(values, dim=1). Stacked as rows and then
            # transposed, the copy is ~40% faster on CPU (contiguous writes), same values.
            stacked = torch.stack(values).t().contiguous()
        except RuntimeError:  # columns on different devices: the per-column path moves them
            return None
        return stacked if stacked.device == self._anchor.device else None


class BlockReader:
    """Reads some scalar float columns from a batch's packed block (``inputs/columnar.py``).

    Args:
        keys: The feature keys to read, in the order of the output's columns.
    """

    def __init__(self, keys: tuple[Any, ...]) -> None:
        self.keys = keys
        self._reads: dict[tuple[Any, ...], Any] = {}  # block keys -> how to read ours (_block_read)

    def read(self, features: Any, device: torch.device, copy_views: bool) -> torch.Tensor | None:
        """``[batch, len(keys)]`` from the block of ``features``: the block itself when the keys
        are all of it in its order (a copy when ``copy_views`` and the dict made views of it),
        else its columns picked; None when there is no block or it cannot stand for the
        features (other keys, a feature replaced or made to require grad, another device)."""
        block = getattr(features, "column_block", None)
        if block is None:
            return None
        read = self._reads.get(block.keys)
        if read is None:
            read = self._reads[block.keys] = _block_read(self.keys, block.keys)
        if read is False or block.values.device != device:
            return None
        if block.columns:  # the dict made views of the block (a lazy batch has made none yet)
            keys, columns = (block.keys, block.columns) if read is True else (
                self.keys, tuple(block.columns[i] for i in read[0]))
            if not holds_views(features, keys, columns) or any(column.requires_grad for column in columns):
                return None  # the columns' own path: a replaced value, or a gradient to the column
            if copy_views and read is True:
                return block.values.clone()
        return block.values if read is True else block.values.index_select(1, read[1])


def _scalar_float(column: Any) -> bool:
    """A column whose dense value is its feature as is: what a packed block holds."""
    return (isinstance(column, NumericColumn) and column.shape == (1,) and column.dtype == torch.float32
            and column.normalizer_fn is None)


class LinearModel(nn.Module):
    """``logits = sum over columns of (column input x its weights) + bias``: ``[batch, units]``.

    Dense columns contribute ``dense @ weights``; categorical columns (bucketized included)
    the ``sparse_combiner`` of their ids' weight rows (an ``EmbeddingBag``-style sum by
    default, weighted by a weighted column's weights). Weights and bias start at zero, as
    TensorFlow's.

    Args:
        feature_columns: Dense or categorical columns.
        units: Outputs per example.
        sparse_combiner: ``'sum'`` (default), ``'mean'`` or ``'sqrtn'``, for examples with
            several ids in one column.
        trainable: False freezes the weights.

    Raises:
        ValueError: listing every invalid argument.

    Example:
        >>> import numpy as np
        >>> from torch_estimator import feature_column as fc
        >>> model = LinearModel([fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])])
        >>> with torch.no_grad():
        ...     _ = model.get_parameter("type/weights").copy_(torch.tensor([[3.0], [1.0]]))
        ...     _ = model.bias_weights.fill_(0.5)
        >>> model({"type": np.array(["apt", "house", "boat"])}).squeeze(1).tolist()
        [1.5, 3.5, 0.5]
    """

    def __init__(self, feature_columns: Iterable[Any], units: int = 1, sparse_combiner: str = "sum",
                 trainable: bool = True) -> None:
        super().__init__()
        problems = [] if isinstance(units, int) and not isinstance(units, bool) and units >= 1 else [
            "units must be an int >= 1"]
        if sparse_combiner not in COMBINERS:
            problems.append(f"sparse_combiner must be one of {COMBINERS}")
        check(problems, "linear_model", "units >= 1 and sparse_combiner 'sum', 'mean' or 'sqrtn'",
              "Fix the listed arguments", units=units, sparse_combiner=sparse_combiner)
        self.feature_columns = _sorted_columns(feature_columns, "linear_model", dense_only=False)
        self.units = units
        self.sparse_combiner = sparse_combiner
        self._weight_keys = _parameter_keys({column.name: f"{column.name}/weights" for column in self.feature_columns})
        for column in self.feature_columns:
            self.register_parameter(self._weight_keys[column.name],
                                    nn.Parameter(torch.zeros(_rows(column), units), requires_grad=trainable))
        self.bias_weights = nn.Parameter(torch.zeros(units), requires_grad=trainable)
        dense = [column for column in self.feature_columns if not isinstance(column, CategoricalColumn)]
        self._table_keys = _create_tables(self, dense, trainable)
        self.register_buffer("_anchor", torch.empty(0), persistent=False)
        # Scalar float columns from a packed block: one [batch, n] @ [n, units] for all of them.
        scalars = [column for column in self.feature_columns if _scalar_float(column)]
        self._block = BlockReader(tuple(column.key for column in scalars)) if scalars else None
        self._block_weight_keys = tuple(self._weight_keys[column.name] for column in scalars)
        self._unblocked_columns = tuple(column for column in self.feature_columns if not _scalar_float(column))

    def forward(self, features: Mapping[str, Any]) -> torch.Tensor:
        logits = self.bias_weights.unsqueeze(0)
        columns = self.feature_columns
        values = None if self._block is None else self._block.read(features, self._anchor.device, copy_views=False)
        if values is not None:  # the same sum, with the block's columns in one product
            weights = torch.cat([getattr(self, key) for key in self._block_weight_keys])
            logits = torch.addmm(logits, values, weights)
            columns = self._unblocked_columns
            if not columns:
                return logits
        batch = ColumnBatch(features, self._anchor.device, _parameters(self, self._table_keys))
        for column in columns:
            weights = getattr(self, self._weight_keys[column.name])
            if isinstance(column, CategoricalColumn):
                ids, id_weights = batch.ids(column)
                logits = logits + combine(weights, ids, id_weights, self.sparse_combiner)
            else:
                logits = logits + column.dense(batch) @ weights
        return logits

    def variables(self, column: Any) -> list[nn.Parameter]:
        """The parameters of a column (its weights, then any embedding table), for ``cols_to_vars``."""
        tables = [] if isinstance(column, CategoricalColumn) else [
            getattr(self, self._table_keys[table.name]) for table in column.tables()]
        return [getattr(self, self._weight_keys[column.name]), *tables]


def input_layer(features: Mapping[str, Any], feature_columns: Iterable[Any], name: str = "input_layer",
                trainable: bool = True, cols_to_vars: dict[Any, list[nn.Parameter]] | None = None,
                cols_to_output_tensors: dict[Any, torch.Tensor] | None = None) -> torch.Tensor:
    """The dense input of a network: ``features`` through ``feature_columns``, ``[batch, n]``.

    Call it inside ``model_fn``: the first call creates a :class:`DenseFeatures` module with
    ``est.get_module(name, ...)``; later calls (every batch, every mode) reuse it, with its
    trained embedding tables. Define the columns once (outside ``model_fn``, or in ``params``).

    Args:
        features: The ``features`` dict: tensors, or numpy arrays of strings.
        feature_columns: Dense columns (see :class:`DenseFeatures`).
        name: The module's name (checkpoint keys ``<name>.<column>_embedding/embedding_weights``);
            use different names for different sets of columns.
        trainable: False freezes the embedding tables.
        cols_to_vars: If a dict, filled with column -> its parameters.
        cols_to_output_tensors: If a dict, filled with column -> its output.

    Returns:
        A float32 tensor ``[batch, sum of the columns' dense sizes]``, columns in name order.

    Raises:
        ValueError: invalid columns, or columns other than those the module was made with.
        RuntimeError: called outside a ``model_fn``.

    Example:
        >>> import tempfile, numpy as np, torch, torch_estimator as est
        >>> from torch_estimator import feature_column as fc
        >>> columns = [fc.numeric_column("sq_footage"),
        ...            fc.embedding_column(fc.categorical_column_with_hash_bucket("city", 100), 3)]
        >>> def model_fn(features, labels, mode):
        ...     net = est.get_module("net", lambda: torch.nn.Linear(4, 1))
        ...     y = net(input_layer(features, columns))
        ...     if mode == est.ModeKeys.PREDICT:
        ...         return est.EstimatorSpec(mode, predictions={"y": y})
        ...     loss = torch.nn.functional.mse_loss(y, labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD"))
        >>> estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False))
        >>> features = {"sq_footage": np.array([1.0, 2.0]), "city": np.array(["Oslo", "Lima"])}
        >>> _ = estimator.train(lambda: (features, np.array([[1.0], [2.0]], np.float32)), steps=2)
        >>> sorted(name for name in estimator.get_variable_names() if name.startswith("input_layer"))
        ['input_layer.city_embedding/embedding_weights']
    """
    layer = get_module(name, lambda: DenseFeatures(_as_list(feature_columns), trainable=trainable))
    _check_same_columns(layer, DenseFeatures, feature_columns, name)
    output = layer(features, cols_to_output_tensors)
    if cols_to_vars is not None:
        cols_to_vars.update((column, layer.variables(column)) for column in layer.feature_columns)
    return output


def linear_model(features: Mapping[str, Any], feature_columns: Iterable[Any], units: int = 1,
                 sparse_combiner: str = "sum", name: str = "linear_model", trainable: bool = True,
                 cols_to_vars: dict[Any, list[nn.Parameter]] | None = None) -> torch.Tensor:
    """Linear logits ``[batch, units]`` of ``features`` through ``feature_columns`` (see :class:`LinearModel`).

    Call it inside ``model_fn``; the module is made once with ``est.get_module(name, ...)``.

    Args:
        features: The ``features`` dict.
        feature_columns: Dense or categorical columns.
        units: Outputs per example.
        sparse_combiner: ``'sum'``, ``'mean'`` or ``'sqrtn'``.
        name: The module's name (checkpoint keys ``<name>.<column>/weights``,
            ``<name>.bias_weights``).
        trainable: False freezes the weights.
        cols_to_vars: If a dict, filled with column -> its parameters, and ``'bias'`` -> [bias].

    Returns:
        The logits.

    Raises:
        ValueError: invalid arguments, or columns other than those the module was made with.
        RuntimeError: called outside a ``model_fn``.

    Example:
        >>> import tempfile, numpy as np, torch, torch_estimator as est
        >>> from torch_estimator import feature_column as fc
        >>> columns = [fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])]
        >>> def model_fn(features, labels, mode):
        ...     y = linear_model(features, columns)
        ...     loss = torch.nn.functional.mse_loss(y, labels)
        ...     return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", 0.5))
        >>> estimator = est.Estimator(model_fn, model_dir=tempfile.mkdtemp(), config=est.RunConfig(progress_bar=False))
        >>> data = ({"type": np.array(["house", "apt"])}, np.array([[3.0], [1.0]], np.float32))
        >>> _ = estimator.train(lambda: data, steps=50)
        >>> weights = estimator.get_variable_value("linear_model.type/weights")
        >>> bias = estimator.get_variable_value("linear_model.bias_weights")
        >>> np.round(weights.ravel() + bias, 2).tolist()
        [3.0, 1.0]
    """
    layer = get_module(name, lambda: LinearModel(_as_list(feature_columns), units, sparse_combiner, trainable))
    _check_same_columns(layer, LinearModel, feature_columns, name)
    output = layer(features)
    if cols_to_vars is not None:
        cols_to_vars.update((column, layer.variables(column)) for column in layer.feature_columns)
        cols_to_vars["bias"] = [layer.bias_weights]
    return output


def _block_read(keys: tuple[Any, ...], block_keys: tuple[Any, ...]) -> bool | tuple[tuple[int, ...], torch.Tensor]:
    """How a layer reading ``keys`` takes them from a block of ``block_keys``: True for the
    whole block, the positions of its columns to pick (as a tuple and an index tensor), or
    False when some key is not there."""
    if keys == block_keys:
        return True
    where = {key: index for index, key in enumerate(block_keys)}
    if not all(key in where for key in keys):
        return False
    positions = tuple(where[key] for key in keys)
    return positions, torch.tensor(positions)


def _as_list(feature_columns: Any) -> list[Any]:
    if isinstance(feature_columns, FeatureColumn):
        return [feature_columns]  # TensorFlow accepts a single column
    if isinstance(feature_columns, (Mapping, str)) or not isinstance(feature_columns, Iterable):
        raise ValueError(message("feature_columns must be a list of feature columns",
                                 expected="an iterable of columns (or one column)", fix="Pass [column, ...]",
                                 feature_columns=type(feature_columns).__name__))
    return list(feature_columns)


def _sorted_columns(feature_columns: Iterable[Any], layer: str, dense_only: bool) -> tuple[Any, ...]:
    columns = _as_list(feature_columns)
    problems = [] if columns else ["feature_columns must not be empty"]
    for column in columns:
        if dense_only and not isinstance(column, DenseColumn):
            problems.append(f"{column!r} is not a dense column (wrap a categorical column with embedding_column "
                            "or indicator_column)")
        elif not isinstance(column, (DenseColumn, CategoricalColumn)):
            problems.append(f"{column!r} is not a feature column")
    names = [column.name if isinstance(column, FeatureColumn) else repr(column) for column in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"duplicate feature column names {duplicates} (the same column passed twice?)")
    check(problems, f"feature_columns for {layer}", "a non-empty list of feature columns with distinct names" +
          (", each dense" if dense_only else ""), "Fix the list of columns", feature_columns=names)
    return tuple(sorted(columns, key=lambda column: column.name))


def _rows(column: Any) -> int:
    return column.num_buckets if isinstance(column, CategoricalColumn) else column.dense_size


def _create_tables(module: nn.Module, columns: Iterable[Any], trainable: bool) -> dict[str, str]:
    """Registers one parameter per table name on ``module`` (columns sharing an embedding
    collection share its table); returns table name -> parameter name."""
    tables: dict[str, Table] = {}
    for column in columns:
        for table in column.tables():
            first = tables.setdefault(table.name, table)
            if (first.num_rows, first.dimension) != (table.num_rows, table.dimension):
                raise ValueError(message(
                    f"Shared embedding table {table.name!r} is used with two shapes",
                    expected="one [num_buckets, dimension] per shared_embedding_collection_name",
                    fix="Give the other columns another shared_embedding_collection_name",
                    shapes=[(first.num_rows, first.dimension), (table.num_rows, table.dimension)]))
    keys = _parameter_keys({name: f"{name}/embedding_weights" for name in tables})
    for name, table in tables.items():
        table = dataclasses.replace(table, trainable=table.trainable and trainable)
        module.register_parameter(keys[name], table.create())
    return keys


def _parameter_keys(names: dict[str, str]) -> dict[str, str]:
    """Name -> parameter name. TensorFlow's ``<column>/weights`` style: a ``/`` can never clash
    with a module attribute (a feature called ``type`` would clash with ``nn.Module.type``);
    ``.`` separates checkpoint key parts, so it becomes ``_``."""
    keys = {name: key.replace(".", "_") for name, key in names.items()}
    if len(set(keys.values())) < len(keys):
        raise ValueError(message("Two feature columns get the same parameter name once '.' becomes '_'",
                                 fix="Rename a feature", names=sorted(keys)))
    return keys


def _parameters(module: nn.Module, keys: dict[str, str]) -> dict[str, torch.Tensor]:
    return {name: getattr(module, key) for name, key in keys.items()}


def _check_same_columns(layer: nn.Module, kind: type, columns: Any, name: str) -> None:
    # model_fn passes the same list object every batch (canned estimators always do): check it
    # once per object. Names, not full equality: comparing large vocabularies would cost time.
    if getattr(layer, "_checked_columns", None) is columns:
        return
    names = sorted(getattr(column, "name", repr(column)) for column in _as_list(columns))
    if not isinstance(layer, kind) or [column.name for column in layer.feature_columns] != names:
        have = [c.name for c in layer.feature_columns] if isinstance(layer, kind) else type(layer).__name__
        raise ValueError(message(
            f"The module {name!r} was made with other feature columns", expected=f"the columns {have}",
            fix="Pass the same columns on every call, or give each set of columns its own name=",
            feature_columns=names))
    if isinstance(columns, (list, tuple)):
        layer._checked_columns = columns  # kept alive by the reference, so its id cannot be reused
