"""A trainer without a model, for the tuner's tests: it writes evaluation results as Estimator.evaluate does.

``python fake_trainer.py --output_dir DIR --x=0.1 [--y=2] [--kind=a|b|crash] [--steps=3] [--sleep=0.05]
[--metric=loss]`` appends the trial id from ``TF_CONFIG["task"]["trial"]`` to DIR (as the course's
trainers did) and writes ``DIR/<trial>/eval/eval_results.jsonl``, evaluations at global steps
10, 20, ...: at step 10 s, the metric is ``(x - 0.3) ** 2 + y + 1 / s``, plus 0.5 for kind b;
kind crash exits with status 3 before its second evaluation. ``DIR/<trial>/done`` marks the end.
It starts no framework, so a trial takes milliseconds.
"""

import argparse
import json
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--output_dir", required=True)
parser.add_argument("--x", type=float, default=0.0)
parser.add_argument("--y", type=float, default=0.0)
parser.add_argument("--kind", default="a")
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--metric", default="rmse")
args = parser.parse_args()

trial = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("trial", "")
eval_dir = os.path.join(args.output_dir, trial, "eval")
os.makedirs(eval_dir, exist_ok=True)
for step in range(1, args.steps + 1):
    if args.kind == "crash" and step == 2:
        print(f"boom at step {step}", file=sys.stderr)
        sys.exit(3)
    value = (args.x - 0.3) ** 2 + args.y + 1.0 / step + (0.5 if args.kind == "b" else 0.0)
    with open(os.path.join(eval_dir, "eval_results.jsonl"), "a") as f:
        f.write(json.dumps({"results": {args.metric: value, "global_step": step * 10}, "checkpoint_path": None}) + "\n")
    time.sleep(args.sleep)
with open(os.path.join(args.output_dir, trial, "done"), "w") as f:
    f.write("done\n")
