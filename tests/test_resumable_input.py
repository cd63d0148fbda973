"""A resumable training input (state_dict / load_state_dict) continues where training stopped."""

from __future__ import annotations

import torch

import torch_estimator as est


class CountingBatches:
    """Batch i is (i, i): a resumable iterable that records what was read."""

    def __init__(self, total: int, seen: list[int], fingerprint: str = "v1") -> None:
        self.total, self.seen, self.fingerprint = total, seen, fingerprint
        self.position = 0

    def __iter__(self):
        while self.position < self.total:
            value = self.position
            self.position += 1
            self.seen.append(value)
            yield torch.full((2, 1), float(value)), torch.zeros(2, 1)

    def state_dict(self) -> dict:
        return {"fingerprint": self.fingerprint, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.position = state["position"]


def model_fn(features, labels, mode):
    net = est.get_module("net", lambda: torch.nn.Linear(1, 1))
    loss = torch.nn.functional.mse_loss(net(features), labels)
    return est.EstimatorSpec(mode, loss=loss, train_op=est.train.minimize(loss, "SGD", learning_rate=0.01))


def test_a_new_estimator_continues_the_input_after_the_checkpointed_batch(make_estimator):
    seen: list[int] = []
    make_estimator(model_fn=model_fn).train(lambda: CountingBatches(20, seen), steps=7)
    assert seen == list(range(7))
    make_estimator(model_fn=model_fn).train(lambda: CountingBatches(20, seen), steps=5)  # a "restarted process"
    assert seen == list(range(12))


def test_the_input_position_is_kept_by_periodic_checkpoints(make_estimator):
    seen: list[int] = []
    make_estimator(model_fn=model_fn, save_checkpoints_steps=4).train(lambda: CountingBatches(20, seen), steps=6)
    # A crash after step 6 would restart from model.ckpt-4 (reads batches 4, 5 again: they were
    # not in that checkpoint); the final checkpoint (step 6) resumes at batch 6.
    estimator = make_estimator(model_fn=model_fn)
    assert estimator._state.input_position is None
    estimator.evaluate(lambda: (torch.ones(2, 1), torch.zeros(2, 1)), checkpoint_path=estimator.model_dir + "/model.ckpt-4")
    assert estimator._state.input_position["position"] == 4


def test_train_calls_in_one_process_continue_the_input(make_estimator):
    seen: list[int] = []
    estimator = make_estimator(model_fn=model_fn, save_checkpoints_steps=None, save_checkpoints_secs=None)
    estimator.train(lambda: CountingBatches(20, seen), steps=3)
    estimator.train(lambda: CountingBatches(20, seen), steps=3)
    assert seen == list(range(6))


def test_an_exhausted_input_starts_over_on_the_next_train(make_estimator):
    seen: list[int] = []
    estimator = make_estimator(model_fn=model_fn)
    estimator.train(lambda: CountingBatches(4, seen))
    estimator.train(lambda: CountingBatches(4, seen))  # TF's epoch-loop idiom keeps working
    assert seen == [0, 1, 2, 3, 0, 1, 2, 3]
    assert "input" not in estimator.get_variable_names()


def test_a_changed_input_is_read_from_the_start(make_estimator, caplog):
    seen: list[int] = []
    make_estimator(model_fn=model_fn).train(lambda: CountingBatches(20, seen), steps=3)
    caplog.set_level("INFO", logger="torch_estimator")
    make_estimator(model_fn=model_fn).train(lambda: CountingBatches(20, seen, fingerprint="v2"), steps=2)
    assert seen == [0, 1, 2, 0, 1]
    assert "The training input changed since the last checkpoint" in caplog.text
