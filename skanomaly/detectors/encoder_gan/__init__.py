"""GAN with a simultaneously trained encoder, scored by latent norm (1905.11034)."""

from .estimator import SCORES, EncoderGAN, trimmed_gaussian
from .loss import critic_loss, encoder_cycle_loss, generator_loss, gradient_penalty
from .torch_model import (
    Critic,
    Encoder,
    EncoderGANModule,
    Generator,
    level_widths,
    minibatch_stddev,
    n_levels_for,
    pixel_norm,
)

__all__ = [
    "SCORES",
    "Critic",
    "Encoder",
    "EncoderGAN",
    "EncoderGANModule",
    "Generator",
    "critic_loss",
    "encoder_cycle_loss",
    "generator_loss",
    "gradient_penalty",
    "level_widths",
    "minibatch_stddev",
    "n_levels_for",
    "pixel_norm",
    "trimmed_gaussian",
]
