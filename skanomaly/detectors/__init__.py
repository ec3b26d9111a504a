"""The detectors, one subpackage each: the estimator and its PyTorch module."""

from .conv_autoencoder import ConvAutoEncoder
from .encoder_gan import EncoderGAN
from .info_theoretic import InfoTheoreticAD
from .self_supervised_ae import SelfSupervisedAE
from .utad import UTAD

__all__ = [
    "ConvAutoEncoder",
    "EncoderGAN",
    "InfoTheoreticAD",
    "SelfSupervisedAE",
    "UTAD",
]
