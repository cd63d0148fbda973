"""``est.export``: serving receivers, export outputs, ``export_saved_model`` and ``load``.

TensorFlow's ``tf.estimator.export`` names (receivers, ``PredictOutput``,
``ClassificationOutput``, ``RegressionOutput``), plus the export itself and a predictor that
serves it without the training code::

    path = est.export.export_saved_model(estimator, "exports", serving_input_receiver_fn)
    predictor = est.export.load(path)             # or backend="onnx"
    predictor({"x": [[1.0, 2.0, 3.0]]})           # {"y": array(...)}
"""

from torch_estimator.export.outputs import (
    DEFAULT_SERVING_SIGNATURE_DEF_KEY,
    ClassificationOutput,
    ExportOutput,
    PredictOutput,
    RegressionOutput,
)
from torch_estimator.export.predictor import Predictor, SignatureDef, TensorInfo, load
from torch_estimator.export.program import ExportError, ExportVerificationError
from torch_estimator.export.receivers import (
    ServingInputReceiver,
    TensorServingInputReceiver,
    TensorSpec,
    build_raw_serving_input_receiver_fn,
)
from torch_estimator.export.writer import export_saved_model

__all__ = [
    "DEFAULT_SERVING_SIGNATURE_DEF_KEY", "ClassificationOutput", "ExportError", "ExportOutput",
    "ExportVerificationError", "PredictOutput", "Predictor", "RegressionOutput", "ServingInputReceiver",
    "SignatureDef", "TensorInfo", "TensorServingInputReceiver", "TensorSpec", "build_raw_serving_input_receiver_fn",
    "export_saved_model", "load",
]
