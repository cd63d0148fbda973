"""RunConfig: TensorFlow's fields, defaults and exclusivity rules; every problem reported at once."""

from __future__ import annotations

import pytest

import torch_estimator as est


def test_tensorflow_defaults():
    config = est.RunConfig()
    assert config.save_summary_steps == 100
    assert (config.save_checkpoints_steps, config.save_checkpoints_secs) == (None, 600)
    assert config.keep_checkpoint_max == 5
    assert config.keep_checkpoint_every_n_hours == 10000
    assert config.log_step_count_steps == 100
    assert config.tf_random_seed is None and config.model_dir is None
    assert (config.train_distribute, config.eval_distribute) == (None, None)
    assert (config.precision, config.compile, config.progress_bar) == ("32", False, None)


def test_checkpoint_steps_and_secs_are_exclusive():
    assert est.RunConfig(save_checkpoints_steps=10).save_checkpoints_secs is None
    assert est.RunConfig(save_checkpoints_secs=10).save_checkpoints_steps is None
    disabled = est.RunConfig(save_checkpoints_steps=None, save_checkpoints_secs=None)
    assert (disabled.save_checkpoints_steps, disabled.save_checkpoints_secs) == (None, None)
    with pytest.raises(ValueError, match="save_checkpoints_steps and save_checkpoints_secs cannot both be set"):
        est.RunConfig(save_checkpoints_steps=1, save_checkpoints_secs=1)


def test_replace_applies_the_same_exclusivity_and_is_frozen():
    config = est.RunConfig(save_checkpoints_steps=10)
    replaced = config.replace(save_checkpoints_secs=30)
    assert (replaced.save_checkpoints_steps, replaced.save_checkpoints_secs) == (None, 30)
    assert config.replace(save_checkpoints_steps=5).save_checkpoints_secs is None
    assert config.replace(tf_random_seed=3).save_checkpoints_steps == 10
    with pytest.raises(AttributeError):
        config.tf_random_seed = 1  # frozen
    with pytest.raises(ValueError, match=r"RunConfig.replace got unknown fields.*\['session_config'\]"):
        config.replace(session_config=None)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValueError) as info:
        est.RunConfig(save_summary_steps=-1, log_step_count_steps=0, keep_checkpoint_max=-2, tf_random_seed="7",
                      precision="fp8", train_distribute="mirrored")
    text = str(info.value)
    for fragment in ("save_summary_steps must be an int >= 0. Received: save_summary_steps=-1",
                     "log_step_count_steps must be a positive int. Received: log_step_count_steps=0",
                     "keep_checkpoint_max must be an int >= 0 or None",
                     "tf_random_seed must be an int or None. Received: tf_random_seed='7'",
                     "precision must be one of", "train_distribute must be None, 'ddp' or 'fsdp'"):
        assert fragment in text


def test_empty_model_dir_is_refused():
    with pytest.raises(ValueError, match="model_dir must not be an empty string"):
        est.RunConfig(model_dir="")


def test_cluster_properties_default_to_a_single_local_worker(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    config = est.RunConfig()
    assert (config.task_type, config.task_id, config.is_chief) == ("worker", 0, True)
    assert (config.num_worker_replicas, config.num_ps_replicas, config.master) == (1, 0, "")
    assert dict(config.cluster_spec) == {}
