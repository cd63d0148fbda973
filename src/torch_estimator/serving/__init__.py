"""``est.serving``: a model server for exports, speaking TensorFlow Serving's REST API and KServe V2.

Serve the newest version under an ``export_dir_base`` (and every newer one as it appears)::

    torch-estimator serve --model_name=housing --model_base_path=exports/   # http://127.0.0.1:8501

or in Python, as an ASGI app for tests and embedding::

    app = est.serving.create_app("exports/", model_name="housing")

Starlette and uvicorn (the ``serving`` extra) are imported only when the app is made, so
``import torch_estimator`` never needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch_estimator.serving.batching import BatchingParameters
from torch_estimator.serving.config import (
    ModelConfig,
    ServingConfig,
    read_batching_parameters_file,
    read_model_config_file,
)
from torch_estimator.serving.errors import ServingError
from torch_estimator.serving.versions import list_versions

if TYPE_CHECKING:
    from torch_estimator.serving.app import ModelServer, create_app
    from torch_estimator.serving.server import serve

_LAZY = {"create_app": "torch_estimator.serving.app", "ModelServer": "torch_estimator.serving.app",
         "serve": "torch_estimator.serving.server"}

__all__ = ["BatchingParameters", "ModelConfig", "ModelServer", "ServingConfig", "ServingError", "create_app",
           "list_versions", "read_batching_parameters_file", "read_model_config_file", "serve"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:  # these import starlette
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
