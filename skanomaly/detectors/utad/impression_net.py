"""UTAD's first stage, the IE-Net, and its optional training critics (plain PyTorch).

The Impression Extractor (IE-Net) is a low-capacity encoder-decoder built
from inception blocks. It is trained to reconstruct normal images, and its
narrow bottleneck makes the reconstruction *coarse*: an "impression" of the
image that keeps its normal structure and drops what the training images do
not share, anomalies included. The layout follows the released code of Liu,
Zhuang and Lu (arXiv 2103.11671, ``IE-Net/ie_net/model/inceptionCAE.py``),
reduced for CPUs as proposed in ``docs/utad.md``.

The two critics are optional training aids of the released configuration:
:class:`ImageDiscriminator` (a multi-scale least-squares GAN discriminator
on impressions) and :class:`LatentCritic` (a Deep-InfoMax statistics network
that scores matching against mismatched (code, feature) pairs).
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ImageDiscriminator", "ImpressionNet", "InceptionBlock", "LatentCritic"]


def _conv_bn_lrelu(in_channels, out_channels, kernel_size):
    return nn.Sequential(
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            padding=kernel_size // 2,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels, eps=1e-3),
        nn.LeakyReLU(0.1, inplace=True),
    )


class InceptionBlock(nn.Module):
    """Four parallel branches concatenated: 1x1, 3x3, 5x5 and max-pool + 1x1.

    Each branch is a convolution without bias, batch norm (eps 1e-3) and
    LeakyReLU(0.1) with ``filters`` channels, so the block outputs
    ``4 * filters`` channels at the input's resolution.

    Parameters
    ----------
    in_channels : int
    filters : int
        Channels of each branch.
    """

    def __init__(self, in_channels, filters):
        super().__init__()
        self.branch1 = _conv_bn_lrelu(in_channels, filters, 1)
        self.branch3 = _conv_bn_lrelu(in_channels, filters, 3)
        self.branch5 = _conv_bn_lrelu(in_channels, filters, 5)
        self.branch_pool = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1),
            _conv_bn_lrelu(in_channels, filters, 1),
        )

    def forward(self, x):
        """Apply the block to ``x``."""
        return torch.cat(
            [self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)],
            dim=1,
        )


class ImpressionNet(nn.Module):
    """The IE-Net: inception encoder-decoder with a sigmoid output and an info head.

    With ``filters = (F0, F1, ..., FL)`` the encoder is
    ``IB(C, F0) -> pool -> IB(4 F0, F0) -> pool -> IB(4 F0, F1) -> pool -> ...
    -> IB(4 F(L-1), FL) -> Conv1x1(4 FL -> latent_channels)``: ``L + 1``
    max-poolings by 2 (three for the default ``(8, 16, 32)``), so the
    bottleneck holds ``latent_channels * H * W / 4**(L+1)`` values. The
    decoder mirrors it with nearest-neighbour upsampling and ends in a 1x1
    convolution and a sigmoid. The info head maps the bottleneck to the mean
    and log-variance of a ``latent_dim``-dimensional Gaussian (Conv3x3 ->
    ReLU -> Conv3x3 -> global average pool -> two linear layers), which the
    KL prior regularizes and whose mean serves the latent k-NN score. As in
    the released code the decoder reads the bottleneck itself, not a sample.

    Inputs must be in [0, 1] with sides divisible by :attr:`multiple`.

    Parameters
    ----------
    in_channels : int
    filters : tuple of int, default=(8, 16, 32)
        Branch widths of the inception blocks, shallow to deep.
    latent_channels : int, default=16
        Channels of the bottleneck feature map.
    latent_dim : int, default=16
        Size of the Gaussian code of the info head.
    """

    def __init__(
        self, in_channels, filters=(8, 16, 32), latent_channels=16, latent_dim=16
    ):
        super().__init__()
        filters = tuple(filters)
        widths = (filters[0], *filters)
        self.multiple = 2 ** len(filters)
        encoder = [InceptionBlock(in_channels, widths[0])]
        for previous, width in zip(widths[:-1], widths[1:]):
            encoder += [nn.MaxPool2d(2), InceptionBlock(4 * previous, width)]
        self.features = nn.Sequential(*encoder)
        self.to_latent = nn.Conv2d(4 * widths[-1], latent_channels, 1, bias=False)

        decoder, previous = [], latent_channels
        for width in reversed(widths[1:]):
            decoder += [InceptionBlock(previous, width), nn.Upsample(scale_factor=2)]
            previous = 4 * width
        decoder += [
            InceptionBlock(previous, widths[0]),
            nn.Conv2d(4 * widths[0], in_channels, 1, bias=False),
            nn.Sigmoid(),
        ]
        self.decoder = nn.Sequential(*decoder)

        hidden = 4 * widths[-1]
        self.info = nn.Sequential(
            nn.Conv2d(latent_channels, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.mean = nn.Linear(hidden, latent_dim)
        self.log_var = nn.Linear(hidden, latent_dim)
        self.feature_channels = 4 * widths[-1]

    def encode(self, x):
        """Deepest inception features and the bottleneck ``z``."""
        features = self.features(x)
        return features, self.to_latent(features)

    def latent_distribution(self, z):
        """Mean and log-variance of the info head for bottleneck ``z``."""
        info = self.info(z)
        return self.mean(info), self.log_var(info)

    def forward(self, x):
        """Return ``(impression, features, mean, log_var)``."""
        features, z = self.encode(x)
        mean, log_var = self.latent_distribution(z)
        return self.decoder(z), features, mean, log_var


class ImageDiscriminator(nn.Module):
    """Multi-scale least-squares GAN discriminator on images.

    At each of ``n_scales`` scales (the image average-pooled by 2 between
    them): three Conv4x4 stride-2 layers with ``dim`` channels (ReLU, instance
    norm on the second and third) and a 1x1 convolution to one score map. A
    shallower variant of the released ``ImageDiscriminator`` (which stacks
    four such layers at 256x256), sized for 32x32 inputs. Scales at which the
    image is smaller than 16 pixels are skipped (their last instance norm
    would see a single pixel).
    """

    def __init__(self, in_channels, dim=32, n_scales=2):
        super().__init__()
        self.nets = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(in_channels, dim, 4, stride=2, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(dim, dim, 4, stride=2, padding=1),
                nn.InstanceNorm2d(dim),
                nn.ReLU(inplace=True),
                nn.Conv2d(dim, dim, 4, stride=2, padding=1),
                nn.InstanceNorm2d(dim),
                nn.ReLU(inplace=True),
                nn.Conv2d(dim, 1, 1),
            )
            for _ in range(n_scales)
        )

    def forward(self, x):
        """Score maps, one per scale (higher = more like a real image)."""
        outputs = []
        for net in self.nets:
            if min(x.shape[-2:]) < 16:
                break
            outputs.append(net(x))
            x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        return outputs


class LatentCritic(nn.Module):
    """Deep-InfoMax statistics network ``T(code, feature)`` -> logit.

    An MLP with two hidden layers of ``hidden`` units (ReLU) on the
    concatenation of a code and a feature vector, as the released
    ``LatentDiscriminaor`` (128-128-128-1). Feature maps are scored at every
    position (the *local* mutual information); vectors once (*global*).
    """

    def __init__(self, code_dim, feature_dim, hidden=128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(code_dim + feature_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, 1),
        )

    def forward(self, code, features):
        """Logits of shape ``(n, positions)`` for codes ``(n, d)``."""
        if features.dim() == 4:
            features = features.flatten(2).transpose(1, 2)  # (n, positions, c)
        else:
            features = features[:, None]
        code = code[:, None].expand(-1, features.shape[1], -1)
        return self.net(torch.cat([code, features], dim=-1))[..., 0]
