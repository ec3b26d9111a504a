"""Information-theoretic detection: max I(X; Z) - beta H(Z), arXiv 2012.04837."""

from .augment import AUGMENTATIONS, N_TRANSFORMS, augment, transform
from .estimator import InfoTheoreticAD
from .loss import (
    compactness_entropy,
    entropy_floor,
    gaussian_entropy,
    infonce_bound,
    reconstruction_bound,
    transformation_bound,
)
from .torch_model import InfoTheoreticModule

__all__ = [
    "AUGMENTATIONS",
    "InfoTheoreticAD",
    "N_TRANSFORMS",
    "InfoTheoreticModule",
    "augment",
    "compactness_entropy",
    "entropy_floor",
    "gaussian_entropy",
    "infonce_bound",
    "reconstruction_bound",
    "transform",
    "transformation_bound",
]
