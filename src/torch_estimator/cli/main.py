"""``torch-estimator``: the command line (``serve``, ``predict`` and ``tune``).

``serve`` takes TensorFlow Serving's flag names, so a ``tensorflow_model_server`` command line
carries over::

    torch-estimator serve --model_name=housing --model_base_path=/models/housing --rest_api_port=8501
    torch-estimator serve --model_config_file=models.config --port=8501 --host=0.0.0.0
    torch-estimator predict --model_dir=/models/housing --json_instances=rows.jsonl

Differences from ``tensorflow_model_server``: there is no gRPC API, so ``--port`` is the REST
port when ``--rest_api_port`` is not given (default 8501); the server binds 127.0.0.1 unless
``--host`` says otherwise (TensorFlow Serving binds every interface); dynamic batching is on by
default (``--enable_batching=false`` turns it off), since here a lone request never waits for a
batch to fill.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from torch_estimator.cli import tune
from torch_estimator.export.predictor import BACKENDS

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def main(argv: Sequence[str] | None = None) -> int:
    """Runs a subcommand; returns the exit status (1 with a message on stderr for bad input).

    Example:
        >>> main(["serve", "--model_name=m"])  # says on stderr: Pass --model_base_path or --model_config_file
        1
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as error:
        print(f"torch-estimator {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _serve(args: argparse.Namespace) -> int:
    from torch_estimator import serving  # imports nothing heavy before the arguments are known
    from torch_estimator import verbosity
    from torch_estimator.errors import message

    if (args.model_base_path is None) == (args.model_config_file is None):
        raise ValueError(message("Pass --model_base_path or --model_config_file (exactly one)",
                                 model_base_path=args.model_base_path, model_config_file=args.model_config_file))
    if args.model_config_file is not None:
        models = serving.read_model_config_file(args.model_config_file)
    else:
        models = (serving.ModelConfig(args.model_name, args.model_base_path),)
    batching = None
    if args.enable_batching:
        batching = (serving.read_batching_parameters_file(args.batching_parameters_file)
                    if args.batching_parameters_file else serving.BatchingParameters())
        overrides = {name: getattr(args, name) for name in ("max_batch_size", "batch_timeout_micros")
                     if getattr(args, name) is not None}
        batching = batching.replace(**overrides)
    threads = args.tensorflow_intra_op_parallelism or None
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    config = serving.ServingConfig(models, backend=args.backend, batching=batching,
                                   file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
                                   max_request_bytes=args.max_request_bytes, num_threads=threads,
                                   access_log=args.access_log, freeze_heap=True)
    verbosity.ensure_visible()
    serving.serve(config, host=args.host, port=args.rest_api_port or args.port, log_level=args.log_level)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from torch_estimator.cli import predict

    return predict.run(args.model_dir, args.json_instances, args.signature_name, args.backend, sys.stdout, sys.stdin)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torch-estimator", description="torch-estimator command line tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="Serve exports over TensorFlow Serving's REST API and KServe V2.",
                                description="Serve the newest version under a model base path, and every newer "
                                            "one as it appears.")
    serve.set_defaults(run=_serve)
    serve.add_argument("--model_name", default="default", help="Model name in URLs (default: %(default)s).")
    serve.add_argument("--model_base_path", help="Directory of numbered export directories.")
    serve.add_argument("--model_config_file", help="TensorFlow Serving ModelServerConfig (text proto or JSON) "
                                                   "listing several models.")
    serve.add_argument("--port", type=int, default=8501, help="REST port unless --rest_api_port is given "
                                                              "(no gRPC here; default: %(default)s).")
    serve.add_argument("--rest_api_port", type=int, default=0, help="REST port (0: use --port).")
    serve.add_argument("--host", default="127.0.0.1", help="Address to bind (default: %(default)s; 0.0.0.0 for "
                                                           "every interface).")
    serve.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0,
                       help="Seconds between checks for new versions (0: never; default: %(default)s).")
    serve.add_argument("--enable_batching", type=_bool, nargs="?", const=True, default=True,
                       help="Dynamic batching of concurrent requests (default: true).")
    serve.add_argument("--batching_parameters_file", help="TensorFlow Serving BatchingParameters (text proto).")
    serve.add_argument("--max_batch_size", type=int, help="Most rows in one model call (default 64).")
    serve.add_argument("--batch_timeout_micros", type=int, help="Wait for a batch to fill (default 0: none).")
    serve.add_argument("--backend", choices=BACKENDS, default="torch", help="Program to run (default: %(default)s).")
    serve.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0,
                       help="Threads per model call (0: the framework's default).")
    serve.add_argument("--max_request_bytes", type=int, default=10 * 1024 * 1024,
                       help="Larger request bodies get 413 (default: %(default)s).")
    serve.add_argument("--access_log", type=_bool, nargs="?", const=True, default=True,
                       help="One JSON line per request on stderr (default: true).")
    serve.add_argument("--log_level", default="info", choices=("critical", "error", "warning", "info", "debug"))

    predict = commands.add_parser("predict", help="Predict newline-delimited JSON instances with an export.",
                                  description="One JSON instance per input line (TensorFlow Serving's row format); "
                                              "one JSON prediction per output line.")
    predict.set_defaults(run=_predict)
    predict.add_argument("--model_dir", required=True, help="An export directory, or a base path (its newest "
                                                            "version is used).")
    predict.add_argument("--json_instances", required=True, help="File of JSON instances, one per line (- for stdin).")
    predict.add_argument("--signature_name", default="serving_default", help="Signature (default: %(default)s).")
    predict.add_argument("--backend", choices=BACKENDS, default="torch", help="Program to run (default: %(default)s).")
    tune.add_parser(commands)
    return parser


def _bool(text: str) -> bool:
    """TensorFlow's flag spelling of booleans: ``--flag``, ``--flag=true``, ``--flag=false``."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


if __name__ == "__main__":
    sys.exit(main())
