"""``est.feature_column``: TensorFlow's feature columns, on PyTorch.

Columns describe how raw features become model inputs; layers hold the weights::

    from torch_estimator import feature_column as fc

    columns = [fc.numeric_column("sq_footage"),
               fc.indicator_column(fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])),
               fc.embedding_column(fc.categorical_column_with_hash_bucket("city", 1000), dimension=8)]

    def model_fn(features, labels, mode):
        net = est.get_module("net", lambda: torch.nn.Linear(1 + 2 + 8, 1))
        y = net(fc.input_layer(features, columns))   # weights persist via est.get_module
        ...

Names, arguments, defaults and derived names (``<key>_bucketized``, ``<column>_indicator``,
``<column>_embedding``, ``a_X_b``) are TensorFlow's; ``input_layer`` sorts columns by name.

**Inputs.** Numeric features are tensors ``[batch]`` or ``[batch, *shape]``. Categorical
features are numpy arrays of ``str`` (what ``est.data`` and the numpy/pandas input functions
yield for string columns) or integer tensors/arrays: ``[batch]`` for one value per example,
``[batch, n]`` for several, padded with ``''`` / ``-1``. ``''``, ``None`` and ``-1`` are missing
values (TensorFlow's rule for dense inputs): they get no id.

**Two halves.** Every categorical column has a ``transform``: raw values -> int64 ids, in
numpy, vectorised (sorted-vocabulary search, a vectorised hash), described by JSON. The layers
run it on each batch, then do the tensor work (one-hot, embedding lookups, weighted sums). An
export records the transforms of the features it serves in ``preprocessing.json`` and traces
the program on ids; ``est.export.load`` runs the same transforms before the program, so a
client sends ``{"type": ["house"]}`` (see :mod:`torch_estimator.export.preprocessing`).

**Differences from TensorFlow.**

* Hashed ids (``categorical_column_with_hash_bucket``, ``crossed_column``, OOV buckets) use
  this project's stable ``fingerprint64`` (:mod:`torch_estimator.export.fingerprint`), not
  FarmHash: the same in every process and platform, but different from TensorFlow's, so
  weights of hashed columns in a TensorFlow checkpoint do not carry over.
* No ``SparseTensor`` inputs: multi-valued features are padded 2-D arrays.
* ``bucketized_column`` refuses a source with ``normalizer_fn`` (bucketizing is part of the
  exported preprocessing, which cannot run Python functions).
* Embedding ``initializer`` fills a tensor in place, torch.nn.init style; ``ckpt_to_load_from``
  and ``tensor_name_in_ckpt`` are not supported (use ``WarmStartSettings``); lookups are
  always "safe" (invalid ids and ids with weight <= 0 dropped, empty rows zero).
* ``shared_embeddings`` columns share their table within one layer.
* ``categorical_column_with_identity`` without ``default_value`` raises ``ValueError`` for an
  out-of-range id (TensorFlow raised ``InvalidArgumentError`` at run time).
* Vocabulary files are read once, when the column is made, and embedded in exports.
"""

from torch_estimator.feature_column.categorical import (
    HashedCategoricalColumn,
    IdentityCategoricalColumn,
    VocabularyFileCategoricalColumn,
    VocabularyListCategoricalColumn,
    WeightedCategoricalColumn,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_file,
    categorical_column_with_vocabulary_list,
    weighted_categorical_column,
)
from torch_estimator.feature_column.crossed import CrossedColumn, crossed_column
from torch_estimator.feature_column.dense import (
    BucketizedColumn,
    EmbeddingColumn,
    IndicatorColumn,
    NumericColumn,
    SharedEmbeddingColumn,
    bucketized_column,
    embedding_column,
    indicator_column,
    numeric_column,
    shared_embeddings,
)
from torch_estimator.feature_column.layers import DenseFeatures, LinearModel, input_layer, linear_model
from torch_estimator.feature_column.parse_spec import FixedLenFeature, VarLenFeature, make_parse_example_spec
from torch_estimator.feature_column.protocols import CategoricalColumn, DenseColumn, FeatureColumn

#: TensorFlow 1's name for :func:`shared_embeddings`.
shared_embedding_columns = shared_embeddings

__all__ = [
    "BucketizedColumn", "CategoricalColumn", "CrossedColumn", "DenseColumn", "DenseFeatures", "EmbeddingColumn",
    "FeatureColumn", "FixedLenFeature", "HashedCategoricalColumn", "IdentityCategoricalColumn", "IndicatorColumn",
    "LinearModel", "NumericColumn", "SharedEmbeddingColumn", "VarLenFeature", "VocabularyFileCategoricalColumn",
    "VocabularyListCategoricalColumn", "WeightedCategoricalColumn", "bucketized_column",
    "categorical_column_with_hash_bucket", "categorical_column_with_identity",
    "categorical_column_with_vocabulary_file", "categorical_column_with_vocabulary_list", "crossed_column",
    "embedding_column", "indicator_column", "input_layer", "linear_model", "make_parse_example_spec",
    "numeric_column", "shared_embedding_columns", "shared_embeddings", "weighted_categorical_column",
]
