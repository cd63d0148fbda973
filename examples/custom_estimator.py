"""The course's custom-estimator lab, on torch_estimator.

Sequences of 10 values ``sin(t * freq) * ampl`` (freq ~ U(0.1, 0.6), ampl ~ U(0.5, 1.5)); the
first 9 values are the input ``{"rawdata": [B, 9]}``, the 10th is the label. The model_fn is the
lab's: an LSTM with 3 units (forget bias 1.0, as ``BasicLSTMCell``) over the 9 steps, then a
linear layer; SGD with learning rate 0.01, batches of 512, 1000 steps. The lab reported an
evaluation RMSE of 0.136.

Run: ``make demo`` (or ``python examples/custom_estimator.py [--model-dir DIR] [--steps N]``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

import torch_estimator as est

SEQ_LEN = 10
N_INPUTS = SEQ_LEN - 1
LSTM_SIZE = 3


def create_time_series(rng: np.random.Generator) -> np.ndarray:
    freq = rng.random() * 0.5 + 0.1
    ampl = rng.random() + 0.5
    return np.sin(np.arange(SEQ_LEN) * freq) * ampl


def make_data(rows: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    series = np.stack([create_time_series(rng) for _ in range(rows)]).astype(np.float32)
    return {"rawdata": series[:, :N_INPUTS]}, series[:, N_INPUTS:]


class SimpleRNN(nn.Module):
    """LSTM(3) over the sequence, then a linear layer on the last output.

    Initialised as the TensorFlow lab was: LSTM kernels Glorot-uniform, biases zero plus a
    forget bias of 1.0 (``BasicLSTMCell``), output weight and bias ``tf.random_normal``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=LSTM_SIZE, batch_first=True)
        self.linear = nn.Linear(LSTM_SIZE, 1)
        with torch.no_grad():
            # TF's kernel is one [inputs + units, 4 * units] matrix: Glorot bound over all of it.
            bound = (6.0 / ((1 + LSTM_SIZE) + 4 * LSTM_SIZE)) ** 0.5
            nn.init.uniform_(self.lstm.weight_ih_l0, -bound, bound)
            nn.init.uniform_(self.lstm.weight_hh_l0, -bound, bound)
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_hh_l0.zero_()
            self.lstm.bias_hh_l0[LSTM_SIZE:2 * LSTM_SIZE].fill_(1.0)  # forget gate (torch order: i, f, g, o)
            nn.init.normal_(self.linear.weight)
            nn.init.normal_(self.linear.bias)

    def forward(self, rawdata: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(rawdata.unsqueeze(-1))
        return self.linear(outputs[:, -1])


def simple_rnn(features, labels, mode):
    model = est.get_module("rnn", SimpleRNN)
    predictions = model(features["rawdata"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions={"predicted": predictions})
    loss = nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(
        mode,
        predictions={"predicted": predictions},
        loss=loss,
        train_op=est.train.minimize(loss, "SGD", learning_rate=0.01),
        eval_metric_ops={"rmse": est.metrics.root_mean_squared_error(labels, predictions)},
    )


def main(model_dir: str | None = None, steps: int = 1000, seed: int = 42) -> dict:
    train_x, train_y = make_data(1000, seed=seed)
    eval_x, eval_y = make_data(50, seed=seed + 1)
    estimator = est.Estimator(simple_rnn, model_dir=model_dir,
                              config=est.RunConfig(tf_random_seed=seed, save_checkpoints_steps=250))
    estimator.train(est.inputs.numpy_input_fn(train_x, train_y, batch_size=512, num_epochs=None, shuffle=True),
                    max_steps=steps)
    metrics = estimator.evaluate(est.inputs.numpy_input_fn(eval_x, eval_y, batch_size=50, shuffle=False))
    print(f"\nEvaluation after {metrics['global_step']} steps: rmse = {metrics['rmse']:.4f} "
          f"(the TensorFlow lab reported 0.136), loss = {metrics['loss']:.5f}")
    first = {"rawdata": eval_x["rawdata"][:3]}
    for row, prediction in enumerate(estimator.predict(est.inputs.numpy_input_fn(first, shuffle=False))):
        print(f"  sequence {row}: predicted {prediction['predicted'][0]:+.4f}, actual {eval_y[row, 0]:+.4f}")
    print(f"\nCheckpoints: {estimator.latest_checkpoint()}")
    print(f"TensorBoard:  tensorboard --logdir {estimator.model_dir}")
    estimator.close()
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="default: a new temporary directory")
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    main(args.model_dir, args.steps)
