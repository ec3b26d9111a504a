"""UTAD: unsupervised two-stage anomaly detection (arXiv 2103.11671)."""

from .estimator import UTAD
from .expert_net import ExpertGenerator, ExpertNet
from .impression_net import (
    ImageDiscriminator,
    ImpressionNet,
    InceptionBlock,
    LatentCritic,
)
from .losses import expert_loss, impression_loss
from .torch_model import UTADModule

__all__ = [
    "UTAD",
    "ExpertGenerator",
    "ExpertNet",
    "ImageDiscriminator",
    "ImpressionNet",
    "InceptionBlock",
    "LatentCritic",
    "UTADModule",
    "expert_loss",
    "impression_loss",
]
