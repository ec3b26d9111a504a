"""skanomaly: deep unsupervised image anomaly detection, the scikit-learn way.

Every detector follows PyOD's convention: ``decision_function`` returns
outlier scores where higher means more abnormal, ``predict`` returns 0 for
inliers and 1 for outliers, and labels use 1 for anomalies.
"""

from .adapters import PyODToSklearn, SklearnToPyOD
from .base import BaseDeepDetector
from .detectors import (
    UTAD,
    ConvAutoEncoder,
    EncoderGAN,
    InfoTheoreticAD,
    SelfSupervisedAE,
)

__version__ = "0.1.0.dev0"

#: The deep detectors skanomaly exports; the common tests run on each.
DETECTORS = (ConvAutoEncoder, EncoderGAN, InfoTheoreticAD, SelfSupervisedAE, UTAD)

__all__ = [
    "DETECTORS",
    "BaseDeepDetector",
    "ConvAutoEncoder",
    "EncoderGAN",
    "InfoTheoreticAD",
    "PyODToSklearn",
    "SelfSupervisedAE",
    "SklearnToPyOD",
    "UTAD",
    "__version__",
]
