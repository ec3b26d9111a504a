"""Encoder, projection head and optional decoder as a plain PyTorch module.

No scikit-learn, no skorch. The module maps an image ``x`` to its
representation ``z = h / ||h||``, where ``h`` is the globally average-pooled
output of a small convolutional encoder, of size
``n_filters * 2 ** (depth - 1)``. ``z`` is what the detector's objective is
about (its entropy is penalized) and what it scores.

The lower bounds on ``I(X; Z)`` need a critic, which the module also holds:
a linear classifier that predicts which of ``n_transforms`` transformations
was applied to the image (the transformation-prediction bound), a two-layer
projection head ``g`` whose unit-norm output compares two views for InfoNCE
(as in SimCLR, the head belongs to the critic, so the bound is on the
information in ``z``), or, with ``decoder=True``, a decoder from ``z`` back
to the image, the mean of the Gaussian ``q(x | z)`` of the Barber-Agakov
bound.
"""

import math

from torch import nn
from torch.nn import functional as F

from .._torch_utils import crop_to, padded_size

__all__ = ["InfoTheoreticModule"]


def _conv_bn_relu(in_channels, out_channels):
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class InfoTheoreticModule(nn.Module):
    """Convolutional encoder with a projection head and an optional decoder.

    Each of the ``depth`` encoder stages is two [Conv3x3 -> BatchNorm -> ReLU]
    blocks; stages are separated by 2x2 max pooling (``ceil_mode``, so any
    size from 8x8 up works) and the last one is followed by global average
    pooling and L2 normalization. The projection head is Linear -> ReLU ->
    Linear, normalized to unit length. In eval mode batch norm uses its
    running statistics, so the output for an image does not depend on the
    other images of the batch.

    Parameters
    ----------
    in_channels : int
        Channels of the images.
    image_size : tuple of int
        ``(H, W)`` of the images (used by the decoder only).
    n_filters : int, default=32
        Channels of the first stage, doubled at every further stage.
    depth : int, default=3
        Number of encoder stages.
    projection_dim : int, default=32
        Output dimension of the projection head.
    decoder : bool, default=False
        Build a decoder from ``z`` to the image (for the reconstruction bound).
    n_transforms : int, default=4
        Classes of the transformation classifier (:meth:`classify`).
    """

    def __init__(
        self,
        in_channels,
        image_size,
        n_filters=32,
        depth=3,
        projection_dim=32,
        decoder=False,
        n_transforms=4,
    ):
        super().__init__()
        self.image_size = tuple(image_size)
        widths = [n_filters * 2**i for i in range(depth)]
        stages, c_in = [], in_channels
        for i, c_out in enumerate(widths):
            if i > 0:
                stages.append(nn.MaxPool2d(2, ceil_mode=True))
            stages += [_conv_bn_relu(c_in, c_out), _conv_bn_relu(c_out, c_out)]
            c_in = c_out
        self.encoder = nn.Sequential(*stages)
        self.code_dim = widths[-1]
        self.projection = nn.Sequential(
            nn.Linear(self.code_dim, self.code_dim),
            nn.ReLU(inplace=True),
            nn.Linear(self.code_dim, projection_dim),
        )
        self.classifier = nn.Linear(self.code_dim, n_transforms)
        self.decoder = None
        if decoder:
            multiple = 2 ** (depth - 1)
            height, width = padded_size(self.image_size, multiple)
            self.map_shape = (widths[-1], height // multiple, width // multiple)
            self.from_code = nn.Sequential(
                nn.Linear(self.code_dim, math.prod(self.map_shape)),
                nn.ReLU(inplace=True),
            )
            layers, c_in = [], widths[-1]
            for c_out in reversed(widths[:-1]):
                layers += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    _conv_bn_relu(c_in, c_out),
                    _conv_bn_relu(c_out, c_out),
                ]
                c_in = c_out
            layers.append(nn.Conv2d(c_in, in_channels, 3, padding=1))
            self.decoder = nn.Sequential(*layers)

    def forward(self, x):
        """Unit-norm representation ``z``, ``(batch, n_filters * 2 ** (depth - 1))``."""
        return F.normalize(self.encoder(x).mean(dim=(2, 3)), dim=1)

    def project(self, z):
        """Unit-norm output of the projection head, InfoNCE's critic."""
        return F.normalize(self.projection(z), dim=1)

    def classify(self, z):
        """Logits of the transformation applied to each image, from ``z``."""
        return self.classifier(z)

    def decode(self, z):
        """Mean of ``q(x | z)``, at the images' size."""
        if self.decoder is None:
            raise RuntimeError("This module was built without a decoder.")
        maps = self.from_code(z).view(-1, *self.map_shape)
        return crop_to(self.decoder(maps), self.image_size)
