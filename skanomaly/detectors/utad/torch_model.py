"""The trained UTAD pipeline as one plain PyTorch module (no scikit-learn, no skorch).

:class:`UTADModule` holds the two stages, the IE-Net
(:class:`~skanomaly.detectors.utad.ImpressionNet`) and the Expert-Net
(:class:`~skanomaly.detectors.utad.ExpertNet`), and turns images into the
intermediate results of Liu, Zhuang and Lu (arXiv 2103.11671):

* the **impression** ``m = IE(x)``, coarse and anomaly-free;
* the **high-fidelity reconstruction** ``x_hat = Dec_i(Enc^c_m(m), Enc^s_i(x))``,
  with content from the impression and only a global detail code from ``x``;
* the **naive impressions** ``m_hat_k = Dec_m(Enc^c_i(x), s_k)``, ``x``'s own
  content rendered in the impression domain with sampled detail codes;
* the **anomaly map**: by default the residual of the high-fidelity
  reconstruction less its variance over sampled detail codes,
  ``max(0, R(x, mean_k x_hat_k) - variance_weight * mean_c Var_k(x_hat_k))``;
  or the combination of the released post-processing (``postprocessing.py``,
  "a brute force combination"), computed in float on [0, 1] images::

      e = max(0, R(x, mean_k x_hat_k) + R(x, mean_k m_hat_k)
                 - variance_weight * mean_c Var_k(x_hat_k) - R(mean_k x_hat_k, m))

  with ``R(a, b)`` the squared difference of the grey versions of ``a`` and
  ``b``, ``x_hat_k`` decoded with the jittered codes
  ``Enc^s_i(x) + detail_jitter * eps_k``, and (optionally, as in the
  released code) every ``x_hat_k`` (``m_hat_k``) min-max renormalized per
  image and channel to the range of ``m`` (``x``).

The random detail codes ``s_k`` and jitters ``eps_k`` are drawn once, when
the module is built, and kept as buffers: an image's map depends neither on
the other images of its batch nor on when it is scored.

Images enter in the caller's value range; they are mapped to [0, 1] with the
training set's minimum and scale (buffers ``data_min`` and ``data_scale``),
padded (edge replication) to a multiple of :attr:`UTADModule.multiple`, and
every output is cropped back to the input's size.
"""

import torch
from torch import nn

from .._torch_utils import crop_to, euclidean_distances, knn_scores, pad_to_multiple

__all__ = ["UTADModule", "grey", "match_range", "squared_residual"]

#: Luma weights of the released code for RGB images.
_RGB_WEIGHTS = (0.2989, 0.5870, 0.1140)


def euclidean(a, b):
    """Euclidean distances between the rows of ``a`` and of ``b``, exactly."""
    return euclidean_distances(a, b, exact=True)


def grey(x):
    """Grey version ``(..., 1, H, W)`` of images ``(..., C, H, W)``.

    RGB uses the released code's luma weights; other channel counts their mean.
    """
    if x.shape[-3] == 3:
        weights = torch.tensor(_RGB_WEIGHTS, device=x.device, dtype=x.dtype)
        return (x * weights.view(3, 1, 1)).sum(dim=-3, keepdim=True)
    return x.mean(dim=-3, keepdim=True)


def squared_residual(a, b):
    """Residual map ``R(a, b) = (grey(a) - grey(b))**2``, shape ``(..., 1, H, W)``."""
    return (grey(a) - grey(b)).pow(2)


def match_range(images, reference, eps=1e-6):
    """Min-max renormalize each image and channel to the reference's range.

    ``images`` has shape ``(n, K, C, H, W)`` and ``reference`` ``(n, C, H, W)``;
    a constant image is mapped to the reference's minimum.
    """
    low = images.amin(dim=(-2, -1), keepdim=True)
    high = images.amax(dim=(-2, -1), keepdim=True)
    ref_low = reference.amin(dim=(-2, -1), keepdim=True)[:, None]
    ref_high = reference.amax(dim=(-2, -1), keepdim=True)[:, None]
    unit = (images - low) / (high - low).clamp_min(eps)
    return ref_low + unit * (ref_high - ref_low)


class UTADModule(nn.Module):
    """Both trained stages of UTAD and the computations of its inference.

    Parameters
    ----------
    impression_net : ImpressionNet
        The trained IE-Net.
    expert_net : ExpertNet or None
        The trained Expert-Net; ``None`` for the first stage alone, where
        only :meth:`impression`, :meth:`latent_mean` and
        ``anomaly_map(x, stages=1)`` are available.
    multiple : int
        Sides are padded to a multiple of it (at least both stages' own).
    data_min, data_scale : float, default=0.0, 1.0
        ``(x - data_min) / data_scale`` maps the training images to [0, 1].
    n_detail_samples : int, default=10
        Number ``K`` of sampled detail codes.
    detail_jitter : float, default=0.1
        Scale of the noise added to ``x``'s detail code for ``x_hat_k``.
    generator : torch.Generator, default=None
        Draws the sampled detail codes and jitters.
    """

    def __init__(
        self,
        impression_net,
        expert_net,
        multiple,
        data_min=0.0,
        data_scale=1.0,
        n_detail_samples=10,
        detail_jitter=0.1,
        generator=None,
    ):
        super().__init__()
        self.impression_net = impression_net
        self.expert_net = expert_net
        self.multiple = int(multiple)
        self.detail_jitter = float(detail_jitter)
        self.register_buffer("data_min", torch.tensor(float(data_min)))
        self.register_buffer("data_scale", torch.tensor(float(data_scale)))
        latent_dim = impression_net.mean.out_features
        self.register_buffer("train_latents", torch.zeros(0, latent_dim))
        detail_dim = 1 if expert_net is None else expert_net.detail_dim
        shape = (n_detail_samples, detail_dim)
        self.register_buffer("detail_samples", torch.randn(shape, generator=generator))
        self.register_buffer("detail_noise", torch.randn(shape, generator=generator))

    # ------------------------------------------------------------ plumbing
    def to_unit(self, x):
        """Images mapped to the [0, 1] scale of the training set."""
        return (x - self.data_min) / self.data_scale

    def from_unit(self, x):
        """Inverse of :meth:`to_unit`."""
        return x * self.data_scale + self.data_min

    def prepare(self, x):
        """Unit-scaled, padded images ``x`` and their impressions ``m``."""
        x = pad_to_multiple(self.to_unit(x), self.multiple)
        return x, self.impression_net(x)[0]

    def _require_expert(self):
        if self.expert_net is None:
            raise ValueError(
                "The Expert-Net was not trained (stages=1): only the first stage "
                "is available. Refit with stages=2 for reconstructions and the "
                "two-stage anomaly map."
            )

    # ------------------------------------------------------ intermediate images
    def impression(self, x):
        """Return the IE-Net's impression of ``x``, in ``x``'s value range."""
        _, m = self.prepare(x)
        return self.from_unit(crop_to(m, x.shape[-2:]))

    def reconstruct(self, x):
        """High-fidelity reconstruction (detail code of ``x`` without jitter)."""
        self._require_expert()
        xp, m = self.prepare(x)
        x_hat = (self.expert_net.reconstruct(2 * xp - 1, 2 * m - 1) + 1) / 2
        return self.from_unit(crop_to(x_hat, x.shape[-2:]))

    def forward(self, x):
        """Return the high-fidelity reconstruction of ``x``."""
        return self.reconstruct(x)

    def latent_mean(self, x):
        """Mean ``mu(x)`` of the IE-Net's latent Gaussian, ``(n, latent_dim)``."""
        xp = pad_to_multiple(self.to_unit(x), self.multiple)
        _, z = self.impression_net.encode(xp)
        return self.impression_net.latent_distribution(z)[0]

    def expert_outputs(self, x, renormalize=False, naive=True):
        """Everything the two-stage map needs, on the [0, 1] scale.

        Returns a dict of ``x`` and ``m`` ``(n, C, H, W)``, and of ``x_hats``
        and ``m_hats``, ``(n, K, C, H, W)``, cropped to the input's size and,
        with ``renormalize``, min-max renormalized to the range of ``m`` and
        ``x`` respectively. ``naive=False`` skips the naive impressions
        (``m_hats`` is then ``None``).
        """
        self._require_expert()
        size = x.shape[-2:]
        xp, m = self.prepare(x)
        expert = self.expert_net
        n, k = xp.shape[0], len(self.detail_samples)
        x_in, m_in = 2 * xp - 1, 2 * m - 1

        content_m = expert.impression.encode_content(m_in)
        detail_x = expert.image.encode_detail(x_in)
        details = detail_x[:, None] + self.detail_jitter * self.detail_noise[None]
        x_hats = expert.image.decode(
            content_m.repeat_interleave(k, dim=0), details.reshape(n * k, -1)
        )

        def unfold(images):
            images = crop_to((images + 1) / 2, size)
            return images.reshape(n, k, *images.shape[1:])

        x, m = crop_to(xp, size), crop_to(m, size)
        x_hats = unfold(x_hats)
        if renormalize:
            x_hats = match_range(x_hats, m)
        m_hats = None
        if naive:
            content_x = expert.image.encode_content(x_in)
            m_hats = unfold(
                expert.impression.decode(
                    content_x.repeat_interleave(k, dim=0),
                    self.detail_samples.repeat(n, 1),
                )
            )
            if renormalize:
                m_hats = match_range(m_hats, x)
        return {"x": x, "m": m, "x_hats": x_hats, "m_hats": m_hats}

    # --------------------------------------------------------------- the map
    def anomaly_maps(self, x, kinds, variance_weight=1.0, renormalize=False):
        """Unsmoothed anomaly maps ``(n, 1, H, W)`` of several kinds, one pass.

        ``kinds`` is a collection of:

        * ``"impression"``: the first stage alone, ``R(x, m)``, the
          impression's residual (the ablation of the two-stage design);
        * ``"reconstruction"``: the residual of the high-fidelity
          reconstruction less its variance over the sampled detail codes,
          ``max(0, R(x, mean_k x_hat_k) - variance_weight * mean_c
          Var_k(x_hat_k))``;
        * ``"released"``: the combination ``e`` of the module docstring
          (without the min-max renormalization if ``renormalize`` is false).

        Returns a dict ``{kind: map}``; higher = more abnormal.
        """
        kinds = set(kinds)
        if kinds - {"impression", "reconstruction", "released"}:
            raise ValueError(f"unknown map kinds {sorted(kinds)}")
        maps = {}
        if kinds == {"impression"}:
            xp, m = self.prepare(x)
            maps["impression"] = crop_to(squared_residual(xp, m), x.shape[-2:])
            return maps
        released = "released" in kinds
        out = self.expert_outputs(x, renormalize=renormalize, naive=released)
        x, m = out["x"], out["m"]
        if "impression" in kinds:
            maps["impression"] = squared_residual(x, m)
        x_hat = out["x_hats"].mean(dim=1)
        variance = out["x_hats"].var(dim=1, unbiased=False).mean(dim=1, keepdim=True)
        combined = squared_residual(x, x_hat) - variance_weight * variance
        if "reconstruction" in kinds:
            maps["reconstruction"] = combined.clamp_min(0)
        if released:
            m_hat = out["m_hats"].mean(dim=1)
            maps["released"] = (
                combined + squared_residual(x, m_hat) - squared_residual(x_hat, m)
            ).clamp_min(0)
        return maps

    def anomaly_map(
        self,
        x,
        stages=2,
        variance_weight=1.0,
        renormalize=False,
        combination="reconstruction",
    ):
        """Unsmoothed anomaly map ``(n, 1, H, W)``, higher = more abnormal.

        ``stages=1``: the ``"impression"`` map of :meth:`anomaly_maps`;
        ``stages=2``: the map of kind ``combination`` (``"reconstruction"`` or
        ``"released"``).
        """
        kind = "impression" if stages == 1 else combination
        return self.anomaly_maps(x, [kind], variance_weight, renormalize)[kind]

    def latent_knn_distance(self, x, n_neighbors=5):
        """Mean distance of ``mu(x)`` to its nearest training latents, ``(n,)``."""
        if len(self.train_latents) == 0:
            raise ValueError("No training latents stored; fit the detector first.")
        return knn_scores(
            self.latent_mean(x), self.train_latents, n_neighbors, euclidean, x.shape[0]
        )
