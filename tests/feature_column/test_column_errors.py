"""Every column validates its arguments at construction, all problems in one message."""

from __future__ import annotations

import pytest
import torch

from torch_estimator import feature_column as fc

ID = fc.categorical_column_with_identity("id", 3)
ID_REPR = "IdentityCategoricalColumn(key='id', number_buckets=3, default_value=None)"
X_REPR = "NumericColumn(key='x', shape=(1,), default_value=None, dtype=torch.float32, normalizer_fn=None)"
VOCAB_EXPECTED = ("Expected a non-empty vocabulary of unique strings or integers, dtype 'string' or an integer torch "
                  "dtype, num_oov_buckets >= 0, and default_value -1 (no id) or an id when num_oov_buckets is 0.")
EMBEDDING_EXPECTED = ("dimension >= 1, combiner 'mean', 'sqrtn' or 'sum', an in-place initializer such as lambda w: "
                      "torch.nn.init.normal_(w, std=0.01), max_norm > 0 or None.")

CASES = {
    "numeric_column": (
        lambda: fc.numeric_column("", shape=(0,), dtype=torch.bool, normalizer_fn=3),
        "Invalid numeric_column for '': key must be a non-empty string; shape dimensions must be ints greater than 0; "
        "dtype must be convertible to float, not torch.bool; normalizer_fn must be a callable. Expected a positive "
        "shape such as (1,) or (3,), a float or integer torch dtype, a default_value of that shape, and a callable or "
        "None as normalizer_fn. Received: shape=(0,), default_value=None, dtype=torch.bool. Fix the listed arguments."),
    "numeric_column default_value": (
        lambda: fc.numeric_column("x", shape=(2,), default_value=[1.0, 2.0, 3.0]),
        "Invalid numeric_column for 'x': the shape of default_value must equal shape (2,). Expected a positive shape "
        "such as (1,) or (3,), a float or integer torch dtype, a default_value of that shape, and a callable or None "
        "as normalizer_fn. Received: shape=(2,), default_value=[1.0, 2.0, 3.0], dtype=torch.float32. Fix the listed "
        "arguments."),
    "bucketized_column": (
        lambda: fc.bucketized_column(ID, [1, 1]),
        "Invalid bucketized_column: source_column must be a column made by numeric_column(); boundaries must be a "
        "sorted list of numbers without repeats. Expected a one-dimensional numeric_column and a sorted list of "
        f"boundaries. Received: source_column={ID_REPR}, boundaries=[1, 1]. Fix the listed arguments."),
    "bucketized_column shape": (
        lambda: fc.bucketized_column(fc.numeric_column("x", shape=(2, 2)), []),
        "Invalid bucketized_column: source_column must be one-dimensional (shape (n,)); boundaries must be a non-empty "
        "sorted list. Expected a one-dimensional numeric_column and a sorted list of boundaries. Received: "
        "source_column=NumericColumn(key='x', shape=(2, 2), default_value=None, dtype=torch.float32, "
        "normalizer_fn=None), boundaries=[]. Fix the listed arguments."),
    "vocabulary_list": (
        lambda: fc.categorical_column_with_vocabulary_list("t", ["a", "a", "b"], dtype=torch.int64, default_value=1,
                                                           num_oov_buckets=-1),
        "Invalid categorical_column_with_vocabulary_list for 't': the vocabulary has duplicates ['a']; dtype "
        "torch.int64 does not match the vocabulary's strings; num_oov_buckets must be an int >= 0; can't specify both "
        f"num_oov_buckets and default_value. {VOCAB_EXPECTED} Received: vocabulary_list=['a', 'a', 'b'], "
        "dtype=torch.int64, default_value=1, num_oov_buckets=-1. Fix the listed arguments."),
    "vocabulary_list both": (
        lambda: fc.categorical_column_with_vocabulary_list("t", ["a"], default_value=0, num_oov_buckets=2),
        "Invalid categorical_column_with_vocabulary_list for 't': can't specify both num_oov_buckets and "
        f"default_value. {VOCAB_EXPECTED} Received: vocabulary_list=['a'], dtype=None, default_value=0, "
        "num_oov_buckets=2. Fix the listed arguments."),
    "vocabulary_list empty": (
        lambda: fc.categorical_column_with_vocabulary_list("t", []),
        f"Invalid categorical_column_with_vocabulary_list for 't': the vocabulary must not be empty. {VOCAB_EXPECTED} "
        "Received: vocabulary_list=[], dtype=None, default_value=-1, num_oov_buckets=0. Fix the listed arguments."),
    "vocabulary_list mixed": (
        lambda: fc.categorical_column_with_vocabulary_list("t", ["a", 1]),
        "Invalid categorical_column_with_vocabulary_list for 't': the vocabulary must hold only strings or only "
        f"integers. {VOCAB_EXPECTED} Received: vocabulary_list=['a', 1], dtype=None, default_value=-1, "
        "num_oov_buckets=0. Fix the listed arguments."),
    "vocabulary_list default_value": (
        lambda: fc.categorical_column_with_vocabulary_list("t", ["a"], default_value=5),
        "Invalid categorical_column_with_vocabulary_list for 't': default_value must be -1 (no id) or an id in "
        f"[0, vocabulary size). {VOCAB_EXPECTED} Received: vocabulary_list=['a'], dtype=None, default_value=5, "
        "num_oov_buckets=0. Fix the listed arguments."),
    "vocabulary_file missing": (
        lambda: fc.categorical_column_with_vocabulary_file("t", "/no/such/file"),
        "Invalid categorical_column_with_vocabulary_file for 't': vocabulary_file cannot be read (No such file or "
        "directory). Expected an existing file of unique values, one per line, and a non-empty vocabulary of unique "
        "strings or integers, dtype 'string' or an integer torch dtype, num_oov_buckets >= 0, and default_value -1 "
        "(no id) or an id when num_oov_buckets is 0. Received: vocabulary_file='/no/such/file', vocabulary_size=None, "
        "dtype='string', default_value=None, num_oov_buckets=0. Fix the listed arguments."),
    "identity": (
        lambda: fc.categorical_column_with_identity("d", 0, default_value=2),
        "Invalid categorical_column_with_identity for 'd': num_buckets must be an int >= 1; default_value must be None "
        "or an id in [0, num_buckets). Expected num_buckets >= 1 and default_value None or in [0, num_buckets). "
        "Received: num_buckets=0, default_value=2. Fix the listed arguments."),
    "hash_bucket": (
        lambda: fc.categorical_column_with_hash_bucket("c", 0, dtype=torch.float32),
        "Invalid categorical_column_with_hash_bucket for 'c': hash_bucket_size must be an int >= 1; dtype must be "
        "'string' or an integer torch dtype, not torch.float32. Expected hash_bucket_size >= 1 and dtype 'string' or "
        "an integer torch dtype. Received: hash_bucket_size=0, dtype=torch.float32. Fix the listed arguments."),
    "crossed_column": (
        lambda: fc.crossed_column(["a"], 0),
        "Invalid crossed_column: keys must be a list of at least 2 feature names or categorical columns; "
        "hash_bucket_size must be an int >= 1. Expected keys: feature names (strings) or categorical columns other "
        "than categorical_column_with_hash_bucket and weighted columns; hash_bucket_size >= 1. Received: keys=['a'], "
        "hash_bucket_size=0. Fix the listed arguments."),
    "crossed_column keys": (
        lambda: fc.crossed_column([fc.categorical_column_with_hash_bucket("c", 4), 3], 10),
        "Invalid crossed_column: categorical_column_with_hash_bucket 'c' cannot be crossed (hashing before crossing "
        "raises the probability of collisions): use the feature name as a string instead; unsupported key 3: keys must "
        "be strings or categorical columns. Expected keys: feature names (strings) or categorical columns other than "
        "categorical_column_with_hash_bucket and weighted columns; hash_bucket_size >= 1. Received: "
        "keys=[HashedCategoricalColumn(key='c', hash_bucket_size=4, dtype='string'), 3], hash_bucket_size=10. Fix the "
        "listed arguments."),
    "indicator_column": (
        lambda: fc.indicator_column(fc.numeric_column("x")),
        "Invalid indicator_column: categorical_column must be a categorical column. Expected a column made by a "
        f"categorical_column_* function, bucketized_column or crossed_column. Received: categorical_column={X_REPR}. "
        "Pass a categorical column."),
    "embedding_column": (
        lambda: fc.embedding_column(ID, 0, combiner="max", initializer=1, max_norm=-1),
        "Invalid embedding_column: dimension must be an int >= 1; combiner must be one of ('mean', 'sqrtn', 'sum'); "
        "initializer must be callable if specified; max_norm must be None or a positive number. Expected a categorical "
        f"column, {EMBEDDING_EXPECTED} Received: categorical_column={ID_REPR}, dimension=0, combiner='max', "
        "max_norm=-1. Fix the listed arguments."),
    "shared_embeddings": (
        lambda: fc.shared_embeddings([ID, fc.categorical_column_with_identity("e", 4), "x"], 2),
        "Invalid shared_embeddings: every item of categorical_columns must be a categorical column; all "
        "categorical_columns must have the same number of buckets, not {'id': 3, 'e': 4}. Expected categorical columns "
        f"with one num_buckets, {EMBEDDING_EXPECTED} Received: categorical_columns=[{ID_REPR}, "
        "IdentityCategoricalColumn(key='e', number_buckets=4, default_value=None), 'x'], dimension=2, "
        "combiner='mean'. Fix the listed arguments."),
    "weighted_categorical_column": (
        lambda: fc.weighted_categorical_column(fc.numeric_column("x"), "", dtype=torch.bool),
        "Invalid weighted_categorical_column: categorical_column must be a categorical column; weight_feature_key must "
        "be a non-empty string; dtype torch.bool is not convertible to float. Expected a categorical column, the name "
        f"of the weights feature and a float or integer dtype. Received: categorical_column={X_REPR}, "
        "weight_feature_key='', dtype=torch.bool. Fix the listed arguments."),
    "DenseFeatures": (
        lambda: fc.DenseFeatures([ID, fc.numeric_column("x"), fc.numeric_column("x")]),
        f"Invalid feature_columns for DenseFeatures: {ID_REPR} is not a dense column (wrap a categorical column with "
        "embedding_column or indicator_column); duplicate feature column names ['x'] (the same column passed twice?). "
        "Expected a non-empty list of feature columns with distinct names, each dense. Received: "
        "feature_columns=['id', 'x', 'x']. Fix the list of columns."),
    "DenseFeatures empty": (
        lambda: fc.DenseFeatures([]),
        "Invalid feature_columns for DenseFeatures: feature_columns must not be empty. Expected a non-empty list of "
        "feature columns with distinct names, each dense. Received: feature_columns=[]. Fix the list of columns."),
    "DenseFeatures dict": (
        lambda: fc.DenseFeatures({"id": ID}),
        "feature_columns must be a list of feature columns. Expected an iterable of columns (or one column). Received: "
        "feature_columns='dict'. Pass [column, ...]."),
    "LinearModel": (
        lambda: fc.LinearModel([ID], units=0, sparse_combiner="max"),
        "Invalid linear_model: units must be an int >= 1; sparse_combiner must be one of ('mean', 'sqrtn', 'sum'). "
        "Expected units >= 1 and sparse_combiner 'sum', 'mean' or 'sqrtn'. Received: units=0, sparse_combiner='max'. "
        "Fix the listed arguments."),
    "LinearModel columns": (
        lambda: fc.LinearModel([3]),
        "Invalid feature_columns for linear_model: 3 is not a feature column. Expected a non-empty list of feature "
        "columns with distinct names. Received: feature_columns=['3']. Fix the list of columns."),
    "shared table shapes": (
        lambda: fc.DenseFeatures(
            fc.shared_embeddings([ID], 2, shared_embedding_collection_name="s")
            + fc.shared_embeddings([fc.categorical_column_with_identity("e", 4)], 2,
                                   shared_embedding_collection_name="s")),
        "Shared embedding table 's' is used with two shapes. Expected one [num_buckets, dimension] per "
        "shared_embedding_collection_name. Received: shapes=[(4, 2), (3, 2)]. Give the other columns another "
        "shared_embedding_collection_name."),
    "make_parse_example_spec": (
        lambda: fc.make_parse_example_spec([fc.numeric_column("x"), fc.categorical_column_with_hash_bucket("x", 3)]),
        "feature_columns contain different parse_spec for key 'x'. Expected one description per key. Received: "
        "first=FixedLenFeature(shape=(1,), dtype=torch.float32, default_value=None), "
        "second=VarLenFeature(dtype='string'). Give both columns the same dtype and shape."),
    "make_parse_example_spec item": (
        lambda: fc.make_parse_example_spec(["x"]),
        "All feature_columns must be feature columns. Expected columns made by est.feature_column. Received: "
        "column='x'."),
}


@pytest.mark.parametrize("name", CASES)
def test_invalid_arguments_are_reported_together(name):
    build, expected = CASES[name]
    with pytest.raises(ValueError) as error:
        build()
    assert str(error.value) == expected


def test_a_normalizer_fn_cannot_feed_a_bucketized_column():
    with pytest.raises(ValueError, match=r"^Invalid bucketized_column: source_column must not have a normalizer_fn "
                                         r"\(bucketizing happens in the exported preprocessing, which cannot run "
                                         r"Python functions\): normalize the boundaries instead\. "):
        fc.bucketized_column(fc.numeric_column("x", normalizer_fn=lambda v: v / 2), [0.0])


def test_vocabulary_file_size_and_contents(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("a\nb\na\n")
    with pytest.raises(ValueError, match=r"for 't': vocabulary_size 5 exceeds the file's 3 lines\. "):
        fc.categorical_column_with_vocabulary_file("t", path, vocabulary_size=5)
    with pytest.raises(ValueError, match=r"for 't': the vocabulary has duplicates \['a'\]\. "):
        fc.categorical_column_with_vocabulary_file("t", path)
    with pytest.raises(ValueError, match=r"for 't': a line of the file is not an integer, as the integer dtype needs"):
        fc.categorical_column_with_vocabulary_file("t", path, dtype=torch.int64)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match=r"for 't': the vocabulary must not be empty\. "):
        fc.categorical_column_with_vocabulary_file("t", empty)


def test_names_follow_tensorflow():
    x = fc.numeric_column("x")
    cat = fc.categorical_column_with_vocabulary_list("type", ["a"])
    assert [column.name for column in (
        x, fc.bucketized_column(x, [0.0]), fc.indicator_column(cat), fc.embedding_column(cat, 2),
        fc.weighted_categorical_column(cat, "w"), fc.crossed_column(["b", cat], 5),
        *fc.shared_embeddings([cat, fc.categorical_column_with_identity("id", 1)], 2))] == [
        "x", "x_bucketized", "type_indicator", "type_embedding", "type_weighted_by_w", "b_X_type",
        "type_shared_embedding", "id_shared_embedding"]


def test_columns_are_frozen_and_comparable():
    a = fc.categorical_column_with_vocabulary_list("type", ["house", "apt"])
    b = fc.categorical_column_with_vocabulary_list("type", ("house", "apt"), dtype="string")
    assert a == b and hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.key = "other"  # type: ignore[misc]


def test_make_parse_example_spec_collects_raw_features():
    cat = fc.categorical_column_with_vocabulary_list("type", ["a"])
    spec = fc.make_parse_example_spec([
        fc.embedding_column(fc.weighted_categorical_column(cat, "w"), 2),
        fc.indicator_column(fc.crossed_column([fc.bucketized_column(fc.numeric_column("x", default_value=0.0), [1.0]),
                                               "city"], 10)),
        fc.numeric_column("x", default_value=0.0),
    ])
    assert spec == {"type": fc.VarLenFeature("string"), "w": fc.VarLenFeature(torch.float32),
                    "x": fc.FixedLenFeature((1,), torch.float32, (0.0,)), "city": fc.VarLenFeature("string")}
