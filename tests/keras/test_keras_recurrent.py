"""Keras LSTM layers on the fused kernel compute what Keras computes (outputs, gradients, dropout)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first Keras import

import keras  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from torch_estimator.keras.recurrent import fusable, fuse_lstm_layers  # noqa: E402


def _pair(**lstm):
    models = []
    for _ in range(2):
        keras.utils.set_random_seed(5)  # same weights in both copies (dropout: the layer seed)
        models.append(keras.Sequential([keras.Input((12,), dtype="int64"), keras.layers.Embedding(50, 8),
                                        keras.layers.LSTM(6, **lstm), keras.layers.Dense(1)]))
    return models


@pytest.mark.parametrize("lstm", [{}, {"return_sequences": True, "go_backwards": True}, {"use_bias": False},
                                  {"dropout": 0.4, "seed": 7}])
def test_fused_layer_equals_keras(lstm):
    reference, fused = _pair(**lstm)
    assert fuse_lstm_layers(fused) == 1
    tokens = torch.randint(0, 50, (5, 12))
    expected, actual = reference(tokens, training=True), fused(tokens, training=True)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)
    expected.sum().backward()
    actual.sum().backward()
    for ours, theirs in zip(fused.trainable_variables, reference.trainable_variables):
        torch.testing.assert_close(ours.value.grad, theirs.value.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(fused(tokens), reference(tokens), rtol=1e-5, atol=1e-6)
    if lstm.get("dropout"):  # the training outputs above really were dropped out
        assert not torch.allclose(actual, fused(tokens))


def test_other_configurations_keep_keras_loop():
    assert not fusable(keras.layers.LSTM(4, recurrent_dropout=0.1))
    assert not fusable(keras.layers.LSTM(4, activation="relu"))
    assert not fusable(keras.layers.LSTM(4, unroll=True))
    assert not fusable(keras.layers.GRU(4))
    # A mask (padding id 0) is handled by Keras's own loop, even on a fused layer.
    reference, fused = _pair()
    for model in (reference, fused):
        model.layers[0].mask_zero = True
        model.layers[0].supports_masking = True
    fuse_lstm_layers(fused)
    tokens = torch.randint(1, 50, (4, 12))
    tokens[:, 8:] = 0
    torch.testing.assert_close(fused(tokens), reference(tokens), rtol=1e-5, atol=1e-6)
