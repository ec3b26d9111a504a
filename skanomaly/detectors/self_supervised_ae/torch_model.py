"""The repairing autoencoder as a plain PyTorch module (no scikit-learn, no skorch).

An encoder-decoder with gated skip connections (convex combination modules)
and a bottleneck of stacked dilated convolutions, after the description of
Bauer, Nakajima and Müller (arXiv 2206.11723) as summarised in
``docs/self_supervised_ae.md``. Its capacity is deliberately *not*
restricted: the skips carry full-resolution detail, and it is the training
on corrupted inputs, not a narrow code, that keeps it from copying anomalies.
"""

import torch
from torch import nn

from .._torch_utils import crop_to, pad_to_multiple

__all__ = ["ConvexCombination", "RepairNetModule", "StackedDilatedBlock"]


def _conv_bn_relu(in_channels, out_channels, stride=1):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _double_conv(in_channels, out_channels):
    return nn.Sequential(
        _conv_bn_relu(in_channels, out_channels),
        _conv_bn_relu(out_channels, out_channels),
    )


class StackedDilatedBlock(nn.Module):
    """Parallel 3x3 convolutions with growing dilation, fused, plus a residual.

    Each branch sees a wider context at the same resolution; concatenated and
    mixed by a 1x1 convolution, they let the bottleneck fill a corrupted
    region from its surroundings.
    """

    def __init__(self, channels, dilations=(1, 2, 4, 8)):
        super().__init__()
        branch = max(1, channels // len(dilations))
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, branch, 3, padding=d, dilation=d, bias=False)
            for d in dilations
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(branch * len(dilations), channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        """Apply the block to ``x``."""
        return x + self.fuse(torch.cat([b(x) for b in self.branches], dim=1))


class ConvexCombination(nn.Module):
    """Gated skip: ``w * skip + (1 - w) * decoded`` with a learned gate map ``w``.

    ``w = sigmoid(conv1x1([skip; decoded]))`` per channel and pixel, so the
    network can shut the skip path where the input is corrupted.
    """

    def __init__(self, channels):
        super().__init__()
        self.gate = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, skip, decoded):
        """Upsample ``decoded``, join the skip connection and convolve."""
        w = torch.sigmoid(self.gate(torch.cat([skip, decoded], dim=1)))
        return w * skip + (1 - w) * decoded


class RepairNetModule(nn.Module):
    """U-Net-like autoencoder with gated skips and a dilated bottleneck.

    Parameters
    ----------
    in_channels : int
        Channels of the images.
    n_filters : int, default=32
        Channels at full resolution; doubled at each of the ``depth`` stages.
    depth : int, default=2
        Number of stride-2 downsamplings before the bottleneck.
    dilations : tuple of int, default=(1, 2, 4, 8)
        Dilation rates of each stacked dilated block.
    n_bottleneck_blocks : int, default=2
        Stacked dilated blocks in the bottleneck.
    """

    def __init__(
        self,
        in_channels,
        n_filters=32,
        depth=2,
        dilations=(1, 2, 4, 8),
        n_bottleneck_blocks=2,
    ):
        super().__init__()
        self.multiple = 2**depth
        widths = [n_filters * 2**i for i in range(depth + 1)]
        self.stem = _double_conv(in_channels, widths[0])
        self.down = nn.ModuleList()
        self.encoders = nn.ModuleList()
        for i in range(depth):
            self.down.append(_conv_bn_relu(widths[i], widths[i], stride=2))
            self.encoders.append(_double_conv(widths[i], widths[i + 1]))
        self.bottleneck = nn.Sequential(
            *(
                StackedDilatedBlock(widths[-1], dilations)
                for _ in range(n_bottleneck_blocks)
            )
        )
        self.up = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for i in reversed(range(depth)):
            self.up.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    _conv_bn_relu(widths[i + 1], widths[i]),
                )
            )
            self.gates.append(ConvexCombination(widths[i]))
            self.decoders.append(_double_conv(widths[i], widths[i]))
        self.head = nn.Conv2d(widths[0], in_channels, 1)

    def forward(self, x):
        """Repaired image, same shape as ``x``."""
        size = x.shape[-2:]
        h = self.stem(pad_to_multiple(x, self.multiple))
        skips = [h]
        for down, encoder in zip(self.down, self.encoders):
            h = encoder(down(h))
            skips.append(h)
        h = self.bottleneck(skips.pop())
        for up, gate, decoder in zip(self.up, self.gates, self.decoders):
            h = decoder(gate(skips.pop(), up(h)))
        return crop_to(self.head(h), size)
