"""Image data sets and helpers to build anomaly detection tasks from them.

Labels follow PyOD: 1 marks an anomaly, 0 a normal sample.
"""

from ._base import get_data_home
from ._digits import load_digits
from ._fashion_mnist import FASHION_MNIST_CLASSES, fetch_fashion_mnist
from ._mvtec import load_mvtec_folder
from ._one_class import make_one_class_split
from ._textures import DEFECT_TYPES, make_texture_defects

__all__ = [
    "DEFECT_TYPES",
    "FASHION_MNIST_CLASSES",
    "fetch_fashion_mnist",
    "get_data_home",
    "load_digits",
    "load_mvtec_folder",
    "make_one_class_split",
    "make_texture_defects",
]
