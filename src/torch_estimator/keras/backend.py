"""The Keras import, checked: Keras 3 must be installed and running on the torch backend.

A Keras 3 model is a ``torch.nn.Module`` only on the torch backend, and Keras picks its backend
once, at its first import, from ``KERAS_BACKEND``. So the check cannot fix a wrong backend: it
says which variable to set, and where.
"""

from __future__ import annotations

import importlib
from typing import Any

from torch_estimator.errors import message

_FIX = ("Set the environment variable KERAS_BACKEND=torch before the first Keras import, e.g. "
        "`KERAS_BACKEND=torch python train.py`, or os.environ['KERAS_BACKEND'] = 'torch' at the top of "
        "the program before `import keras`")


def require_keras() -> Any:
    """Imports Keras and checks that it is Keras 3 on the torch backend.

    Returns:
        The ``keras`` module.

    Raises:
        ImportError: if Keras is not installed (or is Keras 2).
        RuntimeError: if Keras was imported with a backend other than torch.
    """
    try:
        keras = importlib.import_module("keras")
    except ImportError as error:
        raise ImportError(message(
            "est.keras needs Keras 3, which is not installed",
            expected="the keras package (version 3.10 or newer) running on the torch backend",
            fix=f"Install it with `pip install 'torch_estimator[keras]'` (or `pip install keras`). {_FIX}",
            error=str(error))) from error
    version = getattr(keras, "__version__", "0")
    if int(version.split(".")[0]) < 3:
        raise ImportError(message(
            "est.keras needs Keras 3; Keras 2 models are TensorFlow objects, not torch modules",
            expected="keras>=3.10", fix=f"Upgrade with `pip install -U keras`. {_FIX}", version=version))
    backend = keras.backend.backend()
    if backend != "torch":
        raise RuntimeError(message(
            "Keras runs on a backend other than torch, so its models are not torch modules",
            expected="keras.backend.backend() == 'torch'", fix=_FIX, backend=backend))
    return keras
