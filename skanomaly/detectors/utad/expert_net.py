"""UTAD's second stage, the Expert-Net (plain PyTorch).

Two AdaIN autoencoders in the pattern of MUNIT (Huang et al., 2018), one per
domain: ``image`` for images and ``impression`` for impressions. Each splits
its input into a spatial *content* code and a small, global *detail* code,
and decodes a content code with a detail code through adaptive instance
normalization. The high-fidelity reconstruction of UTAD takes the content of
the (anomaly-free) impression and only the global detail code of the input
image, so nothing spatial of the input, and hence no local anomaly, can reach
the output. Written after the architecture of the released code of Liu,
Zhuang and Lu (arXiv 2103.11671, ``Expert-Net/networks.py``), not copied from
it; sizes are parameters.

Images enter and leave in [-1, 1] (tanh output), as in the released code.
"""

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ExpertGenerator", "ExpertNet"]


def _conv(in_channels, out_channels, kernel_size, stride=1, norm=None, act="relu"):
    """Reflection-padded convolution, optional norm, optional activation."""
    pad = (kernel_size - 1) // 2 if stride == 1 else 1
    layers = [
        nn.ReflectionPad2d(pad),
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride),
    ]
    if norm == "instance":
        layers.append(nn.InstanceNorm2d(out_channels))
    elif norm == "layer":  # MUNIT's layer norm: over (C, H, W), per-channel affine
        layers.append(nn.GroupNorm(1, out_channels))
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def adaptive_instance_norm(x, scale, shift, eps=1e-5):
    """Normalize each channel of each image, then apply ``scale`` and ``shift``.

    ``scale`` and ``shift`` have shape ``(n, C)``: one affine map per image,
    computed from its detail code.
    """
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    normalized = (x - mean) / torch.sqrt(var + eps)
    return normalized * scale[:, :, None, None] + shift[:, :, None, None]


class _ResBlock(nn.Module):
    """Two 3x3 convolutions with instance norm, plus the input."""

    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 3, norm="instance"),
            _conv(channels, channels, 3, norm="instance", act=None),
        )

    def forward(self, x):
        return x + self.body(x)


class _AdaINResBlock(nn.Module):
    """Two 3x3 convolutions with adaptive instance norm, plus the input."""

    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.conv1 = _conv(channels, channels, 3, act=None)
        self.conv2 = _conv(channels, channels, 3, act=None)

    def n_params(self):
        """AdaIN parameters this block takes: scale and shift of two norms."""
        return 4 * self.channels

    def forward(self, x, params):
        c = self.channels
        h = adaptive_instance_norm(self.conv1(x), params[:, :c], params[:, c : 2 * c])
        h = F.relu(h)
        h = adaptive_instance_norm(
            self.conv2(h), params[:, 2 * c : 3 * c], params[:, 3 * c :]
        )
        return x + h


class ExpertGenerator(nn.Module):
    """AdaIN autoencoder: content encoder, detail encoder, decoder, AdaIN MLP.

    ========================  ==================================================
    content encoder           Conv7(dim) -> IN -> ReLU; ``n_downsample`` x
                              [Conv4 stride 2 (channels doubled) -> IN -> ReLU];
                              ``n_res`` residual blocks (IN)
    detail encoder            Conv7(dim) -> ReLU; four Conv4 stride 2 -> ReLU
                              (channels doubled twice, then kept); global
                              average pool; Conv1x1 -> ``detail_dim`` (no norm)
    decoder                   ``n_res`` residual blocks with AdaIN;
                              ``n_downsample`` x [Upsample x2 -> Conv5 (channels
                              halved) -> LayerNorm -> ReLU]; Conv7 -> tanh
    AdaIN MLP                 ``detail_dim -> mlp_dim -> mlp_dim -> params``
    ========================  ==================================================

    All convolutions use reflection padding; weights start from Kaiming
    normal initialisation. Sides must be divisible by :attr:`multiple`.

    Parameters
    ----------
    channels : int
        Image channels.
    dim : int, default=16
        Channels of the first convolution.
    n_downsample : int, default=1
        Stride-2 stages of the content encoder (and upsamplings of the decoder).
    n_res : int, default=1
        Residual blocks in the content encoder and in the decoder.
    detail_dim : int, default=8
        Size of the global detail code.
    mlp_dim : int, default=64
        Hidden units of the AdaIN MLP.
    """

    #: Stride-2 stages of the detail encoder (fixed, as in the released code).
    detail_downsample = 4

    def __init__(
        self, channels, dim=16, n_downsample=1, n_res=1, detail_dim=8, mlp_dim=64
    ):
        super().__init__()
        self.multiple = 2 ** max(n_downsample, self.detail_downsample)
        self.detail_dim = detail_dim

        content = [_conv(channels, dim, 7, norm="instance")]
        width = dim
        for _ in range(n_downsample):
            content.append(_conv(width, 2 * width, 4, stride=2, norm="instance"))
            width *= 2
        content += [_ResBlock(width) for _ in range(n_res)]
        self.content_encoder = nn.Sequential(*content)
        self.content_channels = width

        detail = [_conv(channels, dim, 7)]
        d_width = dim
        for i in range(self.detail_downsample):
            out = 2 * d_width if i < 2 else d_width
            detail.append(_conv(d_width, out, 4, stride=2))
            d_width = out
        detail += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(d_width, detail_dim, 1)]
        self.detail_encoder = nn.Sequential(*detail)

        self.res_blocks = nn.ModuleList(_AdaINResBlock(width) for _ in range(n_res))
        upsampling = []
        for _ in range(n_downsample):
            upsampling += [
                nn.Upsample(scale_factor=2),
                _conv(width, width // 2, 5, norm="layer"),
            ]
            width //= 2
        upsampling.append(_conv(width, channels, 7, act="tanh"))
        self.upsampling = nn.Sequential(*upsampling)

        n_params = sum(block.n_params() for block in self.res_blocks)
        self.mlp = nn.Sequential(
            nn.Linear(detail_dim, mlp_dim),
            nn.ReLU(inplace=True),
            nn.Linear(mlp_dim, mlp_dim),
            nn.ReLU(inplace=True),
            nn.Linear(mlp_dim, max(n_params, 1)),
        )
        self._init_parameters_()

    def _init_parameters_(self, generator=None):
        """He-normal weights and zero biases, as in the released code."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)

    def encode_content(self, x):
        """Spatial content code, ``(n, content_channels, H / 2**n_downsample, ...)``."""
        return self.content_encoder(x)

    def encode_detail(self, x):
        """Global detail code, ``(n, detail_dim)``: no spatial layout survives."""
        return self.detail_encoder(x).flatten(1)

    def decode(self, content, detail):
        """Image in [-1, 1] from a content code and a detail code."""
        params = self.mlp(detail)
        h = content
        start = 0
        for block in self.res_blocks:
            h = block(h, params[:, start : start + block.n_params()])
            start += block.n_params()
        return self.upsampling(h)

    def forward(self, x):
        """Within-domain reconstruction of ``x``."""
        return self.decode(self.encode_content(x), self.encode_detail(x))


class ExpertNet(nn.Module):
    """The Expert-Net: one :class:`ExpertGenerator` per domain.

    ``image`` models images, ``impression`` models impressions. The
    high-fidelity reconstruction of an image ``x`` with impression ``m`` is
    ``image.decode(impression.encode_content(m), image.encode_detail(x))``;
    the naive impression of ``x`` with detail code ``s`` is
    ``impression.decode(image.encode_content(x), s)``.

    Parameters are those of :class:`ExpertGenerator`.
    """

    def __init__(
        self, channels, dim=16, n_downsample=1, n_res=1, detail_dim=8, mlp_dim=64
    ):
        super().__init__()
        settings = dict(
            dim=dim,
            n_downsample=n_downsample,
            n_res=n_res,
            detail_dim=detail_dim,
            mlp_dim=mlp_dim,
        )
        self.image = ExpertGenerator(channels, **settings)
        self.impression = ExpertGenerator(channels, **settings)
        self.multiple = self.image.multiple
        self.detail_dim = detail_dim

    def reconstruct(self, x, m, detail=None):
        """High-fidelity reconstruction from ``m``'s content and ``x``'s details.

        ``detail`` overrides the detail code (default: encoded from ``x``).
        """
        if detail is None:
            detail = self.image.encode_detail(x)
        return self.image.decode(self.impression.encode_content(m), detail)

    def naive_impression(self, x, detail):
        """Impression-domain rendering of ``x``'s own content (keeps anomalies)."""
        return self.impression.decode(self.image.encode_content(x), detail)
