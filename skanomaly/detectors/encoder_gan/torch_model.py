"""EncoderGAN's generator, critic and encoder in plain PyTorch (no sklearn, skorch).

A small, fixed-resolution version of the Progressive-GAN networks that Berg,
Ahlberg and Felsberg (arXiv 1905.11034) train, as summarised in
``docs/encoder_gan.md``:

* the generator pixel-normalizes its latent input, so ``G(z) = G(a z)`` for
  every ``a > 0``: only the direction of a code reaches the image, and nothing
  constrains the length of the encoder's codes;
* the critic has a minibatch-standard-deviation layer before its last
  convolution (it only ever sees training batches);
* the encoder has the critic's trunk *without* that layer, so that a code
  depends on its own image only, and outputs ``LeakyReLU(Linear(.))``.

Images of any size from 8x8 are padded to a multiple of ``2 ** n_levels``
(28x28 to 32x32, as in the official pipeline) with -1, the darkest value of
the networks' [-1, 1] range, and cropped back.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import crop_to, padded_size

__all__ = [
    "Critic",
    "Encoder",
    "EncoderGANModule",
    "Generator",
    "PixelNorm",
    "he_init_",
    "level_widths",
    "minibatch_stddev",
    "n_levels_for",
    "pixel_norm",
]

_SLOPE = 0.2


def pixel_norm(x, eps=1e-8):
    """Divide each feature vector by its root mean square over channels (dim 1)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class PixelNorm(nn.Module):
    """:func:`pixel_norm` as a layer."""

    def forward(self, x):
        """Pixel-normalize ``x`` over its channels."""
        return pixel_norm(x)


def minibatch_stddev(x, group_size=4):
    """Append the mean standard deviation within groups of the batch as a channel.

    As in Progressive GAN: the batch is split into groups of ``group_size``
    images (the largest divisor of the batch size not above it), the standard
    deviation of every feature over each group is averaged into one number,
    and that number is appended as a constant feature map to the group's
    images. The output therefore depends on the other images of the batch.
    """
    n, _, height, width = x.shape
    group = max(d for d in range(1, min(group_size, n) + 1) if n % d == 0)
    y = x.reshape(group, n // group, *x.shape[1:])
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()
    y = y.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)
    y = y.repeat(group, 1, height, width)
    return torch.cat([x, y], dim=1)


def n_levels_for(size):
    """Return the number of 2x resolution levels for images of size ``(H, W)``.

    The smallest ``L >= 1`` with ``min(H, W) / 2**L <= 4``: 8x8 -> 1, 16x16 ->
    2, 28x28 and 32x32 -> 3 (28 padded to 32), 64x64 -> 4.
    """
    return max(1, math.ceil(math.log2(min(size) / 4)))


def level_widths(n_levels, n_filters):
    """Channels at each level, from the lowest resolution (index 0) to the image.

    ``n_filters`` at full resolution, doubled at each level down, at most
    ``4 * n_filters``: for 32x32 and ``n_filters=32``, ``[128, 128, 64, 32]``.
    """
    return [
        min(4 * n_filters, n_filters * 2 ** (n_levels - level))
        for level in range(n_levels + 1)
    ]


_HE_GAIN = math.sqrt(2)


def he_init_(layer, gain=_HE_GAIN, generator=None):
    """Progressive GAN's initialisation: weights ``N(0, gain^2 / fan_in)``, zero bias.

    The official code draws ``N(0, 1)`` weights and multiplies them by
    ``gain / sqrt(fan_in)`` at run time (equalized learning rate); here the
    factor is applied once, at initialisation, so the networks start from the
    same functions with ordinary parameters.
    """
    fan_in = layer.weight[0].numel()
    with torch.no_grad():
        layer.weight.normal_(0.0, gain / math.sqrt(fan_in), generator=generator)
        if layer.bias is not None:
            layer.bias.zero_()
    return layer


def _init_all_(network, generator=None):
    for layer in network.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            he_init_(layer, generator=generator)
    return network


def _conv3(in_channels, out_channels):
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


def _lrelu():
    return nn.LeakyReLU(_SLOPE)


class Generator(nn.Module):
    """Pixel-normalized latent -> image, doubling the resolution at each level.

    ``PN(z) -> Linear -> LReLU -> PN -> Conv3 -> LReLU -> PN`` at the base
    resolution, then per level ``Upsample x2 -> [Conv3 -> LReLU -> PN] x 2``,
    and a linear ``Conv1x1`` to the image channels.
    """

    def __init__(self, latent_dim, out_channels, widths, base_size):
        super().__init__()
        self.base_shape = (widths[0], *base_size)
        self.dense = nn.Linear(latent_dim, widths[0] * base_size[0] * base_size[1])
        self.base = nn.Sequential(
            _lrelu(), PixelNorm(), _conv3(widths[0], widths[0]), _lrelu(), PixelNorm()
        )
        self.levels = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                _conv3(w_in, w_out),
                _lrelu(),
                PixelNorm(),
                _conv3(w_out, w_out),
                _lrelu(),
                PixelNorm(),
            )
            for w_in, w_out in zip(widths[:-1], widths[1:])
        )
        self.to_image = nn.Conv2d(widths[-1], out_channels, 1)
        self._init_parameters_()

    def _init_parameters_(self, generator=None):
        _init_all_(self, generator)
        he_init_(self.dense, gain=math.sqrt(2) / 4, generator=generator)
        he_init_(self.to_image, gain=1.0, generator=generator)

    def forward(self, z):
        """Map latent codes ``(n, latent_dim)`` to images ``(n, C, H, W)``."""
        h = self.dense(pixel_norm(z)).reshape(-1, *self.base_shape)
        h = self.base(h)
        for level in self.levels:
            h = level(h)
        return self.to_image(h)


class _Trunk(nn.Module):
    """Shared trunk of the critic and the encoder: image -> base-resolution features.

    ``Conv1x1 -> LReLU``, then per level ``Conv3 -> LReLU -> Conv3 -> LReLU ->
    AvgPool2``, then (optionally minibatch-stddev) ``Conv3 -> LReLU -> flatten``.
    """

    def __init__(self, in_channels, widths, base_size, stddev_group):
        super().__init__()
        self.stddev_group = stddev_group
        self.from_image = nn.Sequential(nn.Conv2d(in_channels, widths[-1], 1), _lrelu())
        self.levels = nn.ModuleList(
            nn.Sequential(
                _conv3(w_in, w_in),
                _lrelu(),
                _conv3(w_in, w_out),
                _lrelu(),
                nn.AvgPool2d(2),
            )
            for w_in, w_out in zip(widths[:0:-1], widths[-2::-1])
        )
        extra = 1 if stddev_group else 0
        self.base = nn.Sequential(_conv3(widths[0] + extra, widths[0]), _lrelu())
        self.n_features = widths[0] * base_size[0] * base_size[1]

    def forward(self, x):
        h = self.from_image(x)
        for level in self.levels:
            h = level(h)
        if self.stddev_group:
            h = minibatch_stddev(h, self.stddev_group)
        return self.base(h).flatten(1)


class Critic(nn.Module):
    """WGAN critic (the paper's discriminator): image -> one real number.

    The trunk ends with a minibatch-stddev layer (group of 4), then
    ``Linear -> LReLU -> Linear(1)``.
    """

    def __init__(self, in_channels, widths, base_size, stddev_group=4):
        super().__init__()
        self.trunk = _Trunk(in_channels, widths, base_size, stddev_group)
        self.head = nn.Sequential(
            nn.Linear(self.trunk.n_features, widths[0]),
            _lrelu(),
            nn.Linear(widths[0], 1),
        )
        self._init_parameters_()

    def _init_parameters_(self, generator=None):
        _init_all_(self, generator)
        he_init_(self.head[-1], gain=1.0, generator=generator)

    def forward(self, x):
        """Score images: one real number per image."""
        return self.head(self.trunk(x)).squeeze(1)


class Encoder(nn.Module):
    """Image -> latent code ``LeakyReLU(Linear(trunk(x)))``.

    The critic's architecture without its minibatch-stddev layer and without
    the last linear layer, as in the official code except that layer: each
    code depends on its own image only. The output has no linear head, so its
    components are mostly non-negative and its norm is unconstrained.
    """

    def __init__(self, in_channels, widths, base_size, latent_dim):
        super().__init__()
        self.trunk = _Trunk(in_channels, widths, base_size, stddev_group=0)
        self.head = nn.Sequential(
            nn.Linear(self.trunk.n_features, latent_dim), _lrelu()
        )
        self._init_parameters_()

    def _init_parameters_(self, generator=None):
        _init_all_(self, generator)

    def forward(self, x):
        """Encode images into latent codes ``(n, latent_dim)``."""
        return self.head(self.trunk(x))


class EncoderGANModule(nn.Module):
    """Generator, critic, encoder (and the generator's moving average) in one module.

    Parameters
    ----------
    in_channels : int
        Channels of the images.
    image_size : tuple of int
        ``(H, W)`` of the images, at least 8x8.
    n_filters : int, default=32
        Channels at full resolution, doubled at each level down to at most
        ``4 * n_filters``.
    latent_dim : int, default=128
        Size of the latent codes.
    ema : float or None, default=None
        Decay of an exponential moving average of the generator
        (``generator_ema``), used for reconstructions and samples; ``None``
        keeps no average.

    Notes
    -----
    The networks work on images mapped to [-1, 1] with the per-channel range
    ``(input_low, input_high)`` (buffers set from the training images) and
    padded with -1. :meth:`forward` maps an image to its reconstruction
    ``G(E(x))`` in the input's range and size.
    """

    def __init__(self, in_channels, image_size, n_filters=32, latent_dim=128, ema=None):
        super().__init__()
        self.image_size = tuple(image_size)
        if min(self.image_size) < 8:
            raise ValueError(
                f"EncoderGANModule needs images of at least 8x8 pixels; got "
                f"{self.image_size[0]}x{self.image_size[1]}."
            )
        self.latent_dim = latent_dim
        self.n_levels = n_levels_for(self.image_size)
        self.padded_size = padded_size(self.image_size, 2**self.n_levels)
        base_size = tuple(s // 2**self.n_levels for s in self.padded_size)
        widths = level_widths(self.n_levels, n_filters)
        self.generator = Generator(latent_dim, in_channels, widths, base_size)
        self.critic = Critic(in_channels, widths, base_size)
        self.encoder = Encoder(in_channels, widths, base_size, latent_dim)
        self.generator_ema = None
        if ema is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.ema = ema
        self.register_buffer("input_low", torch.zeros(in_channels))
        self.register_buffer("input_high", torch.ones(in_channels))

    #: the moving average starts as a copy of the generator: no draw of its own
    _initialises_children = ("generator_ema",)

    def _init_parameters_(self, generator=None):
        self.input_low.zero_()
        self.input_high.fill_(1.0)
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(self.generator.state_dict())

    # ------------------------------------------------------------- value range
    def set_input_range(self, low, high):
        """Set the per-channel range mapped to [-1, 1] (constant channels map to 0)."""
        self.input_low.copy_(torch.as_tensor(low, dtype=torch.float32))
        self.input_high.copy_(torch.as_tensor(high, dtype=torch.float32))

    def _range(self):
        low = self.input_low.reshape(1, -1, 1, 1)
        half = ((self.input_high - self.input_low) / 2).reshape(1, -1, 1, 1)
        return low + half, torch.where(half > 0, half, torch.ones_like(half))

    def to_network(self, x):
        """Input images -> the networks' [-1, 1] range, padded with -1."""
        centre, half = self._range()
        x = (x - centre) / half
        pad_h = self.padded_size[0] - x.shape[-2]
        pad_w = self.padded_size[1] - x.shape[-1]
        top, left = pad_h // 2, pad_w // 2
        return F.pad(x, (left, pad_w - left, top, pad_h - top), value=-1.0)

    def from_network(self, x):
        """Inverse of :meth:`to_network`: crop and map back to the input range."""
        centre, half = self._range()
        return crop_to(x, self.image_size) * half + centre

    # ---------------------------------------------------------------- networks
    def sample_latent(self, n, generator=None):
        """Draw from the prior of the official code: ``z = 0.1 * N(0, I)``."""
        device = self.input_low.device
        return 0.1 * torch.randn(n, self.latent_dim, generator=generator, device=device)

    def test_generator(self):
        """The generator used at test time: the moving average when kept."""
        return self.generator if self.generator_ema is None else self.generator_ema

    @torch.no_grad()
    def update_ema(self):
        """Move ``generator_ema`` towards ``generator`` by ``1 - ema``."""
        if self.generator_ema is None:
            return
        for avg, param in zip(
            self.generator_ema.parameters(), self.generator.parameters()
        ):
            avg.lerp_(param, 1.0 - self.ema)

    def encode(self, x):
        """Latent codes ``E(x)`` of images in the input range."""
        return self.encoder(self.to_network(x))

    def generate(self, z):
        """Images ``G(z)`` in the input range and size (test-time generator)."""
        return self.from_network(self.test_generator()(z))

    def residual_map(self, x):
        """``|x - G(E(x))|`` in the [-1, 1] range, averaged over channels: (n, H, W)."""
        x_net = self.to_network(x)
        recon = self.test_generator()(self.encoder(x_net))
        error = (x_net - recon).abs().mean(dim=1)
        return crop_to(error, self.image_size)

    def forward(self, x):
        """Reconstruction ``G(E(x))`` in the input range and size."""
        return self.generate(self.encode(x))
