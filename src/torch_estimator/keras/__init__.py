"""``est.keras``: Keras 3 models as Estimators (``model_to_estimator``), and back (``load_weights``).

Keras must run on the torch backend: set ``KERAS_BACKEND=torch`` before the first
``import keras``. Importing ``torch_estimator`` does not import Keras; the functions here do,
when called::

    import os
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    import torch_estimator as est

    model.compile(loss="mean_squared_error", optimizer="adam", metrics=["mae"])
    estimator = est.keras.model_to_estimator(keras_model=model)
    estimator.train(input_fn, steps=1000)
    est.keras.load_weights(model, estimator)   # the trained weights, back in the Keras model

See docs/keras.md.
"""

from torch_estimator.keras.bridge import model_to_estimator
from torch_estimator.keras.receivers import build_serving_input_receiver_fn
from torch_estimator.keras.weights import load_weights

__all__ = ["build_serving_input_receiver_fn", "load_weights", "model_to_estimator"]
