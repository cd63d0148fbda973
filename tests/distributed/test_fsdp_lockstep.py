"""Evaluation under FSDP: a rank keeps stepping on stand-in batches until every rank's input ended.

The collectives are scripted here (what the other rank answers); the two-process runs are in
test_fsdp_training.py.
"""

from __future__ import annotations

from torch_estimator.loops.evaluate import _Lockstep


class ScriptedRanks:
    """This rank's view of the collectives: the answers the other ranks would give."""

    def __init__(self, rank: int, have_first: list[bool], any_have: list[bool], lent=None) -> None:
        self.rank, self.have_first, self.any_have, self.lent = rank, have_first, list(any_have), lent
        self.calls: list[str] = []

    def gather(self, value):
        self.calls.append("gather")
        return self.have_first

    def broadcast(self, value, source):
        self.calls.append(f"broadcast from {source}")
        return value if self.rank == source else self.lent

    def any(self, value):
        self.calls.append("any")
        return value or self.any_have.pop(0)


def test_a_rank_whose_input_ends_first_repeats_its_last_batch_until_the_others_end():
    ranks = ScriptedRanks(1, [True, True], any_have=[True, True, False])
    steps = list(_Lockstep(iter([("a", 1), ("b", 2)]), ranks, steps=None))
    assert steps == [("a", 1, True), ("b", 2, True), ("b", 2, False), ("b", 2, False)]
    assert ranks.calls == ["gather", "any", "any", "any", "any"]


def test_a_rank_without_any_batch_steps_on_one_lent_by_the_first_rank_that_has_one():
    ranks = ScriptedRanks(1, [True, False], any_have=[True, False], lent=("x", 0))
    assert list(_Lockstep(iter([]), ranks, steps=None)) == [("x", 0, False), ("x", 0, False)]
    assert ranks.calls == ["gather", "broadcast from 0", "any", "any"]
    lender = ScriptedRanks(0, [True, False], any_have=[False])
    assert list(_Lockstep(iter([("x", 0)]), lender, steps=None)) == [("x", 0, True)]
    assert lender.calls == ["gather", "broadcast from 0", "any"]


def test_no_rank_with_a_batch_ends_at_once_and_steps_limit_each_rank():
    assert list(_Lockstep(iter([]), ScriptedRanks(0, [False, False], any_have=[]), steps=None)) == []
    ranks = ScriptedRanks(0, [True, True], any_have=[True, False])
    assert list(_Lockstep(iter([("a", 1), ("b", 2), ("c", 3)]), ranks, steps=1)) == [("a", 1, True), ("a", 1, False)]


def test_a_stopped_rank_takes_no_more_real_batches_but_keeps_stepping():
    ranks = ScriptedRanks(0, [True, True], any_have=[True, False])
    lockstep = _Lockstep(iter([("a", 1), ("b", 2)]), ranks, steps=None)
    seen = []
    for step in lockstep:
        seen.append(step)
        lockstep.stop()
    assert seen == [("a", 1, True), ("a", 1, False)]
