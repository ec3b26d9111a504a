"""Self-supervised autoencoder that repairs corrupted images (arXiv 2206.11723)."""

from .._torch_utils import gaussian_blur
from .corruption import PATTERN_SOURCES, corrupt, random_masks
from .estimator import SelfSupervisedAE
from .torch_model import RepairNetModule

__all__ = [
    "PATTERN_SOURCES",
    "RepairNetModule",
    "SelfSupervisedAE",
    "corrupt",
    "gaussian_blur",
    "random_masks",
]
