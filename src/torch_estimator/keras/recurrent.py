"""Keras LSTM layers through PyTorch's fused LSTM kernel, where their configuration allows.

On the torch backend Keras runs an LSTM on the CPU as a Python loop over time steps (its fused
``torch._VF.lstm`` path is only taken on CUDA), several times slower than ``nn.LSTM``. The
kernel computes the same cell: Keras's gate order ``[i, f, c, o]`` is torch's, its kernel is
the transposed ``weight_ih``, its one bias is ``bias_ih`` (``bias_hh`` zero). So a layer with
tanh/sigmoid activations, not unrolled and without recurrent dropout runs through the kernel,
with the same weights, gradients and input dropout as Keras's own code; anything else (a
mask, other activations) keeps Keras's loop. Results equal Keras's up to float rounding
(the sums are ordered differently). Only the Estimator's copy of the model is changed.
"""

from __future__ import annotations

import types
from typing import Any

import torch


def fusable(layer: Any) -> bool:
    """Whether a Keras LSTM layer computes exactly what the fused kernel computes."""
    from keras import activations, layers, ops

    if type(layer) is not layers.LSTM:  # subclasses may change the cell
        return False
    cell = layer.cell
    return (cell.activation in (activations.tanh, ops.tanh, torch.tanh)
            and cell.recurrent_activation in (activations.sigmoid, ops.sigmoid, torch.sigmoid)
            and not layer.unroll and not cell.recurrent_dropout and layer.use_cudnn in ("auto", True))


def fuse_lstm_layers(model: Any) -> int:
    """Routes every fusable LSTM layer of ``model`` through the fused kernel; returns how many."""
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if fusable(layer):
            # An instance attribute: only this model's layer changes, not the LSTM class.
            object.__setattr__(layer, "inner_loop", types.MethodType(_fused_inner_loop, layer))
            count += 1
    return count


def _fused_inner_loop(self: Any, sequences: Any, initial_state: Any, mask: Any, training: bool = False) -> Any:
    if mask is not None and not (isinstance(mask, (list, tuple)) and all(m is None for m in mask)):
        return type(self).inner_loop(self, sequences, initial_state, mask, training=training)
    if training and self.dropout:  # Keras's input dropout: one mask per sequence, for every step
        dropout_mask = self.cell.get_dropout_mask(sequences[:, 0, :])
        sequences = sequences * dropout_mask.unsqueeze(1)
    return fused_lstm(sequences, initial_state[0], initial_state[1], self.cell.kernel.value,
                      self.cell.recurrent_kernel.value, self.cell.bias.value if self.cell.use_bias else None,
                      self.return_sequences, self.go_backwards)


def fused_lstm(inputs: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, kernel: torch.Tensor,
               recurrent_kernel: torch.Tensor, bias: torch.Tensor | None, return_sequences: bool,
               go_backwards: bool) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """One Keras LSTM layer (batch first) with ``torch._VF.lstm``; Keras's return convention.

    Returns:
        ``(last_output, outputs, [h, c])`` where ``outputs`` is every step's output when
        ``return_sequences`` else the last output with a time dimension of 1.
    """
    inputs = inputs.to(kernel.dtype)
    if go_backwards:
        inputs = torch.flip(inputs, dims=[1])
    zeros = torch.zeros(kernel.shape[1], dtype=kernel.dtype, device=kernel.device)
    weights = [kernel.t(), recurrent_kernel.t(), bias if bias is not None else zeros, zeros]
    state = (h0.to(kernel.dtype).unsqueeze(0), c0.to(kernel.dtype).unsqueeze(0))
    outputs, h, c = torch._VF.lstm(inputs, state, weights, True, 1, 0.0, torch.is_grad_enabled(), False, True)
    last = outputs[:, -1]
    return last, outputs if return_sequences else last.unsqueeze(1), [h.squeeze(0), c.squeeze(0)]
