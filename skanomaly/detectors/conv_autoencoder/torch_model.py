"""The convolutional autoencoder as a plain PyTorch module."""

from torch import nn

from .._torch_utils import crop_to, pad_to_multiple, padded_size

__all__ = ["ConvAutoEncoderModule"]


def _down(in_channels, out_channels):
    """Strided 3x3 convolution that halves the resolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _up(in_channels, out_channels):
    """Transposed 4x4 convolution that doubles the resolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(
            in_channels, out_channels, 4, stride=2, padding=1, bias=False
        ),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ConvAutoEncoderModule(nn.Module):
    """Convolutional autoencoder with a dense bottleneck.

    Each of the ``depth`` encoder stages is one strided 3x3 convolution that
    halves the resolution (batch norm and ReLU after it); the feature map is
    then flattened into a ``latent_dim`` code and decoded by the mirror image,
    transposed 4x4 convolutions that double the resolution, the last one
    straight to the image's channels with a linear output. Inputs whose sides
    are not multiples of ``2 ** depth`` are padded by edge replication and the
    output is cropped back to the input's size.

    The network is chosen for quality per CPU-second: at 28x28 with the
    defaults it costs about 2M multiply-adds per image (every convolution
    works at a reduced resolution and no 28x28 image is padded), where a
    design with a non-strided convolution before every strided one and
    upsampling followed by two convolutions costs 25 times as much for the
    same ROC AUC (see ``docs/conv_autoencoder.md``). On a GPU, raise
    ``n_filters`` and ``depth``.

    Parameters
    ----------
    in_channels : int
        Channels of the images.
    image_size : tuple of int
        ``(H, W)`` of the images.
    n_filters : int, default=32
        Channels of the first stage, doubled at every further stage.
    depth : int, default=2
        Number of downsampling stages.
    latent_dim : int, default=32
        Size of the code.
    """

    def __init__(self, in_channels, image_size, n_filters=32, depth=2, latent_dim=32):
        super().__init__()
        self.image_size = tuple(image_size)
        self.multiple = 2**depth
        channels = [n_filters * 2**i for i in range(depth)]
        encoder, c_in = [], in_channels
        for c_out in channels:
            encoder.append(_down(c_in, c_out))
            c_in = c_out
        self.encoder = nn.Sequential(*encoder)

        height, width = padded_size(self.image_size, self.multiple)
        self.code_shape = (c_in, height // self.multiple, width // self.multiple)
        n_code = c_in * self.code_shape[1] * self.code_shape[2]
        self.to_latent = nn.Linear(n_code, latent_dim)
        self.from_latent = nn.Sequential(nn.Linear(latent_dim, n_code), nn.ReLU())

        decoder = []
        for c_out in reversed(channels[:-1]):
            decoder.append(_up(c_in, c_out))
            c_in = c_out
        decoder.append(nn.ConvTranspose2d(c_in, in_channels, 4, stride=2, padding=1))
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x):
        """Code of shape ``(batch, latent_dim)``."""
        h = self.encoder(pad_to_multiple(x, self.multiple))
        return self.to_latent(h.flatten(1))

    def decode(self, z):
        """Reconstruction at the input's size from a code."""
        h = self.from_latent(z).view(-1, *self.code_shape)
        return crop_to(self.decoder(h), self.image_size)

    def forward(self, x):
        """Reconstruction of ``x``, same shape as ``x``."""
        return self.decode(self.encode(x))
