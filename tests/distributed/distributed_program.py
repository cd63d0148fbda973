"""The user program of the distributed tests: an unchanged model_fn and input_fn, run as a
torchrun process or a TF_CONFIG task. Every scenario writes what it saw under --out."""

from __future__ import annotations

import argparse
import json
import os
import signal
from pathlib import Path

import torch

import torch_estimator as est
from torch_estimator.checkpoint import storage

ROW_FEATURES = 3


def rows(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(count, ROW_FEATURES, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3 + 0.1 * torch.randn(count, 1, generator=g)


def model_fn(features, labels, mode, params):
    if "x0" in features:  # a CSV batch
        features = {"x": torch.stack([features["x0"], features["x1"], features["x2"]], 1).float(),
                    "row": features["row"]}
        labels = labels.float().unsqueeze(1)
    hidden = params.get("hidden", 4)
    net = est.get_module("net", lambda: torch.nn.Sequential(torch.nn.Linear(ROW_FEATURES, hidden), torch.nn.Tanh(),
                                                           torch.nn.Linear(hidden, 1)))
    predictions = net(features["x"])
    if mode == est.ModeKeys.PREDICT:
        return est.EstimatorSpec(mode, predictions=predictions)
    if params.get("seen_log") and mode == est.ModeKeys.TRAIN:
        with open(params["seen_log"], "a") as log:  # attempt, step, and the rows this step trained on
            ids = " ".join(str(int(i)) for i in features["row"].tolist())
            log.write(f"{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')} {est.train.get_global_step()} {ids}\n")
    loss = torch.nn.functional.mse_loss(predictions, labels)
    return est.EstimatorSpec(mode, loss=loss, predictions=predictions,
                             train_op=est.train.minimize(loss, "Adam", learning_rate=0.05),
                             eval_metric_ops={"mae": est.metrics.mean_absolute_error(labels, predictions),
                                              "examples": est.metrics.true_positives(torch.ones(len(labels)),
                                                                                     torch.ones(len(labels)))})


def sliced_input_fn(count: int, global_batch: int):
    """Step t's global batch is rows [t*B, (t+1)*B); replica r reads its contiguous part."""

    def input_fn(input_context=None):
        x, y = rows(count)
        per_replica = input_context.get_per_replica_batch_size(global_batch) if input_context else global_batch
        offset = input_context.input_pipeline_id * per_replica if input_context else 0
        for start in range(0, count - global_batch + 1, global_batch):
            part = slice(start + offset, start + offset + per_replica)
            yield {"x": x[part]}, y[part]

    return input_fn


def csv_input_fn(path: str, batch_size: int, epochs: int | None):
    def input_fn(input_context):
        return est.data.make_csv_dataset(path, batch_size=batch_size, label_name="y", num_epochs=epochs,
                                         shuffle=False, input_context=input_context)

    return input_fn


def write_csv(path: str, count: int, first: int = 0) -> None:
    """Rows ``first .. count - 1`` of the data set, with their index in column ``row``."""
    x, y = rows(count)
    lines = [f"{i},{x[i, 0]:.5f},{x[i, 1]:.5f},{x[i, 2]:.5f},{y[i, 0]:.5f}" for i in range(first, count)]
    Path(path).write_text("row,x0,x1,x2,y\n" + "\n".join(lines) + "\n")


def kill_during_save(step: int) -> None:
    """The chief dies after DCP wrote the checkpoint's files, before its manifest and rename."""
    write_manifest = storage._write_manifest

    def dying(directory: str) -> None:
        if f"model.ckpt-{step}" in directory:
            os.kill(os.getpid(), signal.SIGKILL)
        write_manifest(directory)

    storage._write_manifest = dying


class KillAtStep(est.SessionRunHook):
    def __init__(self, step: int) -> None:
        self.step = step

    def after_run(self, run_context, run_values):
        if run_context.session.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def report(out: str, estimator: est.Estimator, **values) -> None:
    from torch.distributed.tensor import DTensor

    rank = int(os.environ.get("RANK", "0"))
    weights = {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().tolist()  # FSDP: gathered
               for k, v in estimator._state.registry.state_dict().items()}
    Path(out).mkdir(parents=True, exist_ok=True)
    Path(out, f"rank{rank}.json").write_text(json.dumps({"weights": weights, **values}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-steps", type=int, default=8)
    parser.add_argument("--save-steps", type=int, default=4)
    parser.add_argument("--kill-step", type=int, default=0)
    parser.add_argument("--kill-rank", type=int, default=1)
    parser.add_argument("--kill-in-save", action="store_true")
    parser.add_argument("--distribute", default=None)
    args = parser.parse_args()
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    rank = int(os.environ.get("RANK", "0"))
    config = est.RunConfig(save_checkpoints_steps=args.save_steps, tf_random_seed=1, progress_bar=False,
                           log_step_count_steps=1000, train_distribute=args.distribute)
    params = {"hidden": 4 + (rank if args.scenario == "mismatch" else 0)}
    if args.scenario in ("train", "mismatch"):
        estimator = est.Estimator(model_fn, args.model_dir, config, params)
        estimator.train(sliced_input_fn(args.rows, args.batch), max_steps=args.max_steps)
        metrics = estimator.evaluate(sliced_input_fn(args.rows, args.batch))
        odd = {}
        for count in (53, 1):  # not divisible by the world size; fewer rows than ranks
            csv = os.path.join(args.out, f"eval{count}.csv")
            odd[count] = estimator.evaluate(csv_input_fn(csv, 4, 1), name=f"rows{count}")
        import numpy as np

        receiver = est.export.build_raw_serving_input_receiver_fn({"x": np.zeros((1, ROW_FEATURES), np.float32)})
        export = estimator.export_saved_model(os.path.join(args.model_dir, "export"), receiver)
        # An older checkpoint, then the latest again: both restore into the existing (sharded) modules.
        at4 = estimator.evaluate(sliced_input_fn(args.rows, args.batch),
                                 checkpoint_path=os.path.join(args.model_dir, "model.ckpt-4"), name="at4")
        estimator.evaluate(sliced_input_fn(args.rows, args.batch), name="latest_again")
        predictions = None
        if rank == int(os.environ.get("WORLD_SIZE", "1")) - 1:  # one rank alone: predict needs no other
            x, _ = rows(8)
            predictions = [p.tolist() for p in estimator.predict(lambda: {"x": x}, yield_single_examples=False)]
        report(args.out, estimator, metrics=metrics, odd=odd, export=export, predictions=predictions, at4=at4)
    elif args.scenario == "tae":  # a TF_CONFIG task: chief, worker, evaluator or ps
        import numpy as np

        from torch_estimator.training import EvalSpec, TrainSpec, train_and_evaluate

        receiver = est.export.build_raw_serving_input_receiver_fn({"x": np.zeros((1, ROW_FEATURES), np.float32)})
        estimator = est.Estimator(model_fn, args.model_dir, config, params)
        metrics, exports = train_and_evaluate(
            estimator, TrainSpec(sliced_input_fn(args.rows, args.batch), max_steps=args.max_steps),
            EvalSpec(sliced_input_fn(args.rows, args.batch), steps=None, start_delay_secs=0, throttle_secs=0,
                     exporters=[est.FinalExporter("final", receiver)]))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        Path(args.out, f"{config.task_type}{config.task_id}.json").write_text(
            json.dumps({"metrics": metrics, "exports": exports}))
    elif args.scenario == "csv":
        csv = os.path.join(args.out, "data*.csv")
        params["seen_log"] = os.path.join(args.out, f"seen{rank}.txt")
        hooks = []
        if first_attempt and rank == args.kill_rank and args.kill_step:
            if args.kill_in_save:
                kill_during_save(args.kill_step)
            else:
                hooks.append(KillAtStep(args.kill_step))
        estimator = est.Estimator(model_fn, args.model_dir, config, params)
        estimator.train(csv_input_fn(csv, args.batch, 1), hooks=hooks, max_steps=args.max_steps)
        metrics = estimator.evaluate(csv_input_fn(csv, args.batch, 1))
        report(args.out, estimator, metrics=metrics)


if __name__ == "__main__":
    main()
