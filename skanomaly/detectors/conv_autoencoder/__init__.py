"""Convolutional autoencoder scored by reconstruction error (the reference detector)."""

from .estimator import ConvAutoEncoder
from .torch_model import ConvAutoEncoderModule

__all__ = ["ConvAutoEncoder", "ConvAutoEncoderModule"]
