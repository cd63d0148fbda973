"""DenseFeatures and LinearModel: output order, shapes and values computed by hand."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from torch_estimator import feature_column as fc

TYPE = fc.categorical_column_with_vocabulary_list("type", ["house", "apt", "flat"])


def set_table(layer, name, rows):
    with torch.no_grad():
        layer.get_parameter(name).copy_(torch.tensor(rows, dtype=torch.float32))


def test_output_is_the_columns_sorted_by_name_concatenated():
    layer = fc.DenseFeatures([
        fc.numeric_column("z_price"),                                          # 1 value
        fc.indicator_column(TYPE),                                             # type_indicator: 3
        fc.bucketized_column(fc.numeric_column("age"), [18.0, 65.0]),          # age_bucketized: 3
        fc.numeric_column("a_xy", shape=(2,)),                                 # 2 values
    ])
    assert [column.name for column in layer.feature_columns] == ["a_xy", "age_bucketized", "type_indicator", "z_price"]
    out = layer({"z_price": torch.tensor([5.0, 6.0]), "type": np.array(["apt", "boat"]),
                 "age": torch.tensor([70.0, 18.0]), "a_xy": torch.tensor([[1.0, 2.0], [3.0, 4.0]])})
    assert out.dtype == torch.float32 and out.shape == (2, 9)
    assert out.tolist() == [[1, 2, 0, 0, 1, 0, 1, 0, 5],
                            [3, 4, 0, 1, 0, 0, 0, 0, 6]]  # 'boat' is out of vocabulary: all zeros


def test_numeric_columns_reshape_cast_and_normalize():
    column = fc.numeric_column("m", shape=(2, 2), dtype=torch.int64, normalizer_fn=lambda v: v * 10)
    out = fc.DenseFeatures([column])({"m": np.array([[[1, 2], [3, 4]]])})
    assert out.tolist() == [[10.0, 20.0, 30.0, 40.0]] and out.dtype == torch.float32
    with pytest.raises(ValueError, match=r"numeric_column 'm' got the wrong shape\. Expected \[batch, 2, 2\] .* "
                                         r"Received: shape=\(1, 3\)"):
        fc.DenseFeatures([column])({"m": torch.ones(1, 3)})


def test_indicator_counts_repeated_ids_of_multi_valued_inputs():
    out = fc.DenseFeatures([fc.indicator_column(TYPE)])({"type": np.array([["apt", "apt", "flat"], ["", "", ""]])})
    assert out.tolist() == [[0, 2, 1], [0, 0, 0]]


def test_embedding_combiners_by_hand():
    ids = fc.categorical_column_with_identity("id", 3)
    table = [[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]]
    features = {"id": np.array([[0, 1, -1], [2, 2, -1], [-1, -1, -1]])}
    expected = {
        "sum": [[1.0, 2.0], [6.0, 8.0], [0.0, 0.0]],
        "mean": [[0.5, 1.0], [3.0, 4.0], [0.0, 0.0]],            # sum / number of ids; no ids: zeros
        "sqrtn": [[1 / math.sqrt(2), 2 / math.sqrt(2)], [6 / math.sqrt(2), 8 / math.sqrt(2)], [0.0, 0.0]],
    }
    for combiner, rows in expected.items():
        layer = fc.DenseFeatures([fc.embedding_column(ids, 2, combiner=combiner)])
        set_table(layer, "id_embedding/embedding_weights", table)
        torch.testing.assert_close(layer(features).detach(), torch.tensor(rows), msg=combiner)


def test_weighted_categorical_column_in_embeddings_indicators_and_linear_models():
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("word", 3), "count")
    features = {"word": np.array([[0, 2], [1, -1]]), "count": torch.tensor([[2.0, 1.0], [0.0, 5.0]])}
    layer = fc.DenseFeatures([fc.embedding_column(weighted, 1, combiner="mean"), fc.indicator_column(weighted)])
    set_table(layer, "word_weighted_by_count_embedding/embedding_weights", [[1.0], [10.0], [100.0]])
    out = layer(features)
    # mean: (2*1 + 1*100) / (2 + 1) = 34; row 2: word 1 has weight 0, dropped (TF's safe lookup) -> zeros
    assert out[:, 0].tolist() == pytest.approx([34.0, 0.0])
    # indicator: weights summed per id (the -1 id's weight 5 is ignored)
    assert out[:, 1:].tolist() == [[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match=r"weighted_categorical_column 'word_weighted_by_count' needs one weight per "
                                         r"id\. Expected weights \[batch, 2\], like the ids of 'word'"):
        layer({"word": features["word"], "count": torch.ones(2, 3)})


def test_shared_embeddings_read_one_table():
    query = fc.categorical_column_with_vocabulary_list("query", ["a", "b"])
    doc = fc.categorical_column_with_vocabulary_list("doc", ["b", "a"])
    layer = fc.DenseFeatures(fc.shared_embeddings([query, doc], 2, combiner="sum"))
    names = [name for name, _ in layer.named_parameters()]
    assert names == ["doc_query_shared_embedding/embedding_weights"]
    set_table(layer, names[0], [[1.0, 2.0], [3.0, 4.0]])
    out = layer({"query": np.array(["a"]), "doc": np.array(["a"])})
    # doc_shared_embedding first (sorted); 'a' is id 1 for doc, id 0 for query, in the same table
    assert out.tolist() == [[3.0, 4.0, 1.0, 2.0]]


def test_max_norm_scales_long_rows_down():
    layer = fc.DenseFeatures([fc.embedding_column(fc.categorical_column_with_identity("id", 2), 2, max_norm=1.0)])
    set_table(layer, "id_embedding/embedding_weights", [[3.0, 4.0], [0.3, 0.4]])
    torch.testing.assert_close(layer({"id": np.array([0, 1])}).detach(), torch.tensor([[0.6, 0.8], [0.3, 0.4]]))


def test_default_initializer_is_tensorflows_truncated_normal():
    torch.manual_seed(0)
    layer = fc.DenseFeatures([fc.embedding_column(fc.categorical_column_with_hash_bucket("c", 5000), 4)])
    table = layer.get_parameter("c_embedding/embedding_weights")
    stddev = 1 / math.sqrt(4)
    assert table.shape == (5000, 4) and table.abs().max() <= 2 * stddev
    custom = fc.DenseFeatures([fc.embedding_column(fc.categorical_column_with_identity("i", 3), 2,
                                                   initializer=torch.nn.init.ones_, trainable=False)])
    table = custom.get_parameter("i_embedding/embedding_weights")
    assert table.tolist() == [[1.0, 1.0]] * 3 and not table.requires_grad


def test_linear_model_by_hand():
    model = fc.LinearModel([fc.numeric_column("x"), TYPE, fc.bucketized_column(fc.numeric_column("age"), [30.0])],
                           units=2)
    set_table(model, "x/weights", [[1.0, 2.0]])
    set_table(model, "type/weights", [[10.0, 0.0], [20.0, 0.0], [30.0, 0.0]])
    set_table(model, "age_bucketized/weights", [[0.0, 100.0], [0.0, 200.0]])
    set_table(model, "bias_weights", [0.5, 0.5])
    out = model({"x": torch.tensor([1.0, 2.0]), "type": np.array([["apt", "flat"], ["tent", ""]]),
                 "age": torch.tensor([20.0, 40.0])})
    # row 1: x*[1,2] + (apt + flat) [50, 0] + bucket 0 [0, 100] + bias
    assert out.tolist() == [[51.5, 102.5], [2.5, 204.5]]
    mean = fc.LinearModel([TYPE], sparse_combiner="mean")
    set_table(mean, "type/weights", [[10.0], [20.0], [30.0]])
    assert mean({"type": np.array([["apt", "flat"]])}).tolist() == [[25.0]]


def test_parameters_are_named_like_tensorflows_variables():
    model = fc.LinearModel([TYPE, fc.embedding_column(fc.categorical_column_with_identity("i", 3), 2)])
    assert [name for name, _ in model.named_parameters()] == [
        "i_embedding/weights", "type/weights", "bias_weights", "i_embedding/embedding_weights"]
    dotted = fc.DenseFeatures([fc.embedding_column(fc.categorical_column_with_identity("sq.ft", 3), 2)])
    assert [name for name, _ in dotted.named_parameters()] == ["sq_ft_embedding/embedding_weights"]


def test_output_tensors_and_variables_per_column():
    embedding = fc.embedding_column(TYPE, 2)
    layer = fc.DenseFeatures([embedding, fc.numeric_column("x")])
    outputs = {}
    layer({"type": np.array(["apt"]), "x": torch.tensor([1.0])}, cols_to_output_tensors=outputs)
    assert {column.name: tuple(t.shape) for column, t in outputs.items()} == {"type_embedding": (1, 2), "x": (1, 1)}
    assert layer.variables(embedding)[0] is layer.get_parameter("type_embedding/embedding_weights")


def test_the_layer_follows_its_device_and_survives_deepcopy():
    layer = fc.DenseFeatures([fc.embedding_column(TYPE, 2)])
    copied = copy.deepcopy(layer)
    features = {"type": np.array(["flat", "apt"])}
    assert torch.equal(copied(features), layer(features))
    assert layer(features).device == layer.get_parameter("type_embedding/embedding_weights").device


def test_feature_errors():
    layer = fc.DenseFeatures([fc.numeric_column("x"), fc.indicator_column(TYPE)])
    with pytest.raises(ValueError, match=r"Feature 'x' is not in the features dictionary\. Expected one of \['type'\]"):
        layer({"type": np.array(["apt"])})
    with pytest.raises(TypeError, match=r"Column 'x' needs numbers in feature 'x'\. .* Received: key='x', "
                                        r"dtype='<U3'"):
        layer({"x": np.array(["one"]), "type": np.array(["apt"])})
    with pytest.raises(TypeError, match=r"Feature columns need features as a dict\. .* Received: features='Tensor'"):
        layer(torch.ones(2))


def test_feature_names_that_collide_once_dots_become_underscores():
    with pytest.raises(ValueError) as error:
        fc.LinearModel([fc.numeric_column("a.b"), fc.numeric_column("a_b")])
    assert str(error.value) == ("Two feature columns get the same parameter name once '.' becomes '_'. Received: "
                                "names=['a.b', 'a_b']. Rename a feature.")


def test_scalar_float_columns_take_the_one_stack_path_with_the_same_result():
    from torch_estimator.feature_column.layers import DenseFeatures

    columns = [fc.numeric_column(name) for name in ("b", "a", "c")]
    layer = DenseFeatures(columns)
    assert layer._stack_keys == ("a", "b", "c")  # name order, as the per-column path
    tensors = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([3.0, 4.0]), "c": torch.tensor([5.0, 6.0])}
    outputs = {}
    per_column = layer(tensors, cols_to_output_tensors=outputs)  # this argument takes the per-column path
    assert len(outputs) == 3
    assert torch.equal(layer(tensors), per_column)
    assert per_column.tolist() == [[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]
    # Anything else (numpy, float64, [batch, 1]) goes the per-column way, with its conversions.
    mixed = {"a": np.array([1.0, 2.0]), "b": torch.tensor([[3.0], [4.0]]), "c": torch.tensor([5.0, 6.0], dtype=torch.float64)}
    assert torch.equal(layer(mixed), per_column)
    with pytest.raises(Exception, match="Feature 'c' is not in the features dictionary"):
        layer({"a": tensors["a"], "b": tensors["b"]})
    assert DenseFeatures([fc.numeric_column("a", normalizer_fn=lambda x: x)])._stack_keys is None


def test_the_one_stack_path_takes_the_estimators_features_dict(monkeypatch):
    from torch_estimator.feature_column import layers
    from torch_estimator.loops.batches import Features

    layer = layers.DenseFeatures([fc.numeric_column("a"), fc.numeric_column("b")])
    features = Features(a=torch.tensor([1.0, 2.0]), b=torch.tensor([3.0, 4.0]))  # what model_fn receives

    def per_column_path(*args):
        raise AssertionError("took the per-column path")

    monkeypatch.setattr(layers, "ColumnBatch", per_column_path)
    assert layer(features).tolist() == [[1.0, 3.0], [2.0, 4.0]]


def _block_batch(lazy=False, keys=("a", "b", "c")):
    """A loops-style batch of packed columns, as numpy input makes them."""
    from torch_estimator.inputs.columnar import PackedColumns
    from torch_estimator.loops.batches import Features, LazyFeatures

    packed = PackedColumns.pack({key: torch.arange(4.0) + 10 * index for index, key in enumerate(keys)})
    return (LazyFeatures if lazy else Features).from_packed(packed, packed.rows(slice(1, 3)), {})


@pytest.mark.parametrize("lazy", [False, True])
def test_a_packed_batch_is_the_layers_output_without_a_copy(lazy, monkeypatch):
    from torch_estimator.feature_column import layers

    layer = layers.DenseFeatures([fc.numeric_column(name) for name in ("c", "a", "b")])
    features = _block_batch(lazy)
    monkeypatch.setattr(layers, "ColumnBatch", lambda *args: pytest.fail("took the per-column path"))
    monkeypatch.setattr(layer, "_stacked", lambda features: pytest.fail("stacked the columns"))
    output = layer(features)
    # Lazy: the block itself; an ordinary dict's columns are views of it: one copy of it.
    assert (output is features.column_block.values) is lazy
    assert output.tolist() == [[1.0, 11.0, 21.0], [2.0, 12.0, 22.0]]
    assert (type(features).__name__ == "LazyFeatures") is lazy  # the layer made no columns


@pytest.mark.parametrize("lazy", [False, True])
def test_a_replaced_feature_is_read_instead_of_the_block(lazy):
    layer = fc.DenseFeatures([fc.numeric_column(name) for name in ("a", "b", "c")])
    features = _block_batch(lazy)
    features["b"] = features["b"] * 2  # what a model_fn may do before calling input_layer
    assert layer(features).tolist() == [[1.0, 22.0, 21.0], [2.0, 24.0, 22.0]]
    features["a"].add_(100.0)  # in place: the block itself changes, and is still used
    assert layer(features).tolist() == [[101.0, 22.0, 21.0], [102.0, 24.0, 22.0]]
    del features["c"]
    with pytest.raises(ValueError, match="Feature 'c' is not in the features dictionary"):
        layer(features)


@pytest.mark.parametrize("lazy", [False, True])
def test_a_layer_over_some_of_the_packed_columns_picks_them_in_name_order(lazy):
    features = _block_batch(lazy, keys=("d", "b", "a", "c"))
    layer = fc.DenseFeatures([fc.numeric_column("c"), fc.numeric_column("a")])
    assert layer(features).tolist() == [[21.0, 31.0], [22.0, 32.0]]
    other = fc.DenseFeatures([fc.numeric_column("a"), fc.numeric_column("z")])  # z is not packed: per column
    features["z"] = torch.tensor([5.0, 6.0])
    assert other(features).tolist() == [[21.0, 5.0], [22.0, 6.0]]


def test_a_layer_on_another_device_reads_the_columns_and_moves_them():
    layer = fc.DenseFeatures([fc.numeric_column("a"), fc.numeric_column("b"), fc.numeric_column("c")]).to("meta")
    output = layer(_block_batch(lazy=True))
    assert output.device.type == "meta" and tuple(output.shape) == (2, 3)


def test_writing_the_layers_output_in_place_changes_neither_the_features_nor_the_data():
    # A model_fn's own input_layer call (an ordinary Features dict): the output must be a new
    # tensor, as the per-column path's, not the block, which is the dict's columns and, for an
    # in-order batch, a view of the input's table that later epochs read again.
    features = _block_batch()
    output = fc.DenseFeatures([fc.numeric_column(name) for name in ("a", "b", "c")])(features)
    output.mul_(-1.0)
    assert features["a"].tolist() == [1.0, 2.0]
    assert features.column_block.values.tolist() == [[1.0, 11.0, 21.0], [2.0, 12.0, 22.0]]


def test_a_model_fn_scaling_its_input_layer_in_place_reads_the_same_data_every_epoch(tmp_path):
    import torch_estimator as est

    seen = []

    def model_fn(features, labels, mode):
        net = fc.input_layer(features, [fc.numeric_column("a"), fc.numeric_column("b")])
        seen.append(net.tolist())
        net.mul_(0.5)  # an in-place rescale of the network's input
        loss = (est.get_module("net", lambda: torch.nn.Linear(2, 1))(net) - labels).pow(2).mean()
        return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.01))

    x = {"a": np.arange(4, dtype=np.float32), "b": np.arange(4, dtype=np.float32) + 10}
    estimator = est.Estimator(model_fn, model_dir=str(tmp_path), config=est.RunConfig(progress_bar=False))
    estimator.train(est.inputs.numpy_input_fn(x, np.zeros((4, 1), np.float32), batch_size=2, num_epochs=2,
                                              shuffle=False))
    assert seen == [[[0.0, 10.0], [1.0, 11.0]], [[2.0, 12.0], [3.0, 13.0]]] * 2


@pytest.mark.parametrize("keys", [("a", "b", "c"), ("d", "b", "a", "c")], ids=["whole", "picked"])
def test_a_feature_made_to_require_grad_gets_its_gradient_through_the_layer(keys):
    # Input gradients (saliency, adversarial examples): the output must depend on the column.
    features = _block_batch(keys=keys)
    features["a"].requires_grad_()
    output = fc.DenseFeatures([fc.numeric_column(name) for name in ("a", "b", "c")])(features)
    (gradient,) = torch.autograd.grad((output * torch.tensor([1.0, 2.0, 3.0])).sum(), features["a"])
    assert gradient.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("lazy", [False, True])
def test_a_linear_model_sums_the_packed_columns_in_one_product(lazy, monkeypatch):
    from torch_estimator.feature_column import layers

    model = layers.LinearModel([fc.numeric_column(name) for name in ("c", "a", "b")], units=2)
    with torch.no_grad():
        for index, name in enumerate(("a", "b", "c")):
            model.get_parameter(f"{name}/weights").copy_(torch.tensor([[index + 1.0, -1.0]]))
        model.bias_weights.copy_(torch.tensor([0.5, 0.0]))
    plain = {key: value.clone() for key, value in _block_batch().items()}  # no block: column by column
    expected = model(plain)
    features = _block_batch(lazy)
    monkeypatch.setattr(layers, "ColumnBatch", lambda *args: pytest.fail("took the per-column path"))
    output = model(features)
    assert torch.allclose(output, expected)
    assert output.tolist() == [[1.0 + 22.0 + 63.0 + 0.5, -33.0], [2.0 + 24.0 + 66.0 + 0.5, -36.0]]
    output.sum().backward()
    assert model.get_parameter("a/weights").grad.tolist() == [[3.0, 3.0]]  # rows 1 and 2 of column a
    assert (type(features).__name__ == "LazyFeatures") is lazy


def test_a_linear_model_reads_other_columns_beside_the_packed_ones():
    model = fc.LinearModel([fc.numeric_column("a"), fc.categorical_column_with_vocabulary_list("kind", ["u", "v"]),
                            fc.numeric_column("b", shape=(1,), normalizer_fn=lambda x: x * 10)])
    with torch.no_grad():
        model.get_parameter("a/weights").fill_(1.0)
        model.get_parameter("kind/weights").copy_(torch.tensor([[100.0], [200.0]]))
        model.get_parameter("b/weights").fill_(1.0)
    features = _block_batch(keys=("a", "b", "c"))
    features["kind"] = np.array(["v", "u"])
    # a from the block; b normalised (not read from the block); kind by its ids
    assert model(features).squeeze(1).tolist() == [1.0 + 200.0 + 110.0, 2.0 + 100.0 + 120.0]
    features["a"] = torch.tensor([7.0, 8.0])  # replaced: read as given
    assert model(features).squeeze(1).tolist() == [7.0 + 200.0 + 110.0, 8.0 + 100.0 + 120.0]
