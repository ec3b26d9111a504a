"""skanomaly: deep unsupervised image anomaly detection, the scikit-learn way.

Every detector follows PyOD's convention: ``decision_function`` returns
outlier scores where higher means more abnormal, ``predict`` returns 0 for
inliers and 1 for outliers, and labels use 1 for anomalies.

The detectors (``skanomaly.DETECTORS``) are found in the subpackages of
:mod:`skanomaly.detectors` and exported here by name.
"""

from ._config import config_context, get_config, set_config
from ._persistence import load
from .adapters import PyODToSklearn, SklearnToPyOD
from .base import (
    BaseDeepDetector,
    BaseImageDetector,
    register_detector,
    registered_detectors,
)
from .detectors import DETECTORS

#: The version of skanomaly.
__version__ = "0.1.0.dev0"

globals().update({cls.__name__: cls for cls in DETECTORS})

__all__ = [
    "DETECTORS",
    "BaseDeepDetector",
    "BaseImageDetector",
    "PyODToSklearn",
    "SklearnToPyOD",
    "__version__",
    "config_context",
    "get_config",
    "load",
    "register_detector",
    "registered_detectors",
    "set_config",
    *(cls.__name__ for cls in DETECTORS),
]
