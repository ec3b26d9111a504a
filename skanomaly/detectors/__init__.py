"""The detectors, one subpackage each: the estimator and its PyTorch module."""

from .conv_autoencoder import ConvAutoEncoder

__all__ = ["ConvAutoEncoder"]
