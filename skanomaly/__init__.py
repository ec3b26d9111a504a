"""skanomaly: deep unsupervised image anomaly detection, the scikit-learn way.

Every detector follows PyOD's convention: ``decision_function`` returns
outlier scores where higher means more abnormal, ``predict`` returns 0 for
inliers and 1 for outliers, and labels use 1 for anomalies.
"""

from .base import BaseDeepDetector
from .detectors import ConvAutoEncoder

__version__ = "0.1.0.dev0"

#: The deep detectors skanomaly exports; the common tests run on each.
DETECTORS = (ConvAutoEncoder,)

__all__ = ["BaseDeepDetector", "ConvAutoEncoder", "DETECTORS", "__version__"]
