"""Structured synthetic corruptions for self-supervised autoencoder training.

Plain PyTorch (no scikit-learn, no skorch). The corruption model follows the
description of Bauer, Nakajima and Müller (arXiv 2206.11723): a denoising
autoencoder with *structured, non-i.i.d.* noise. A normal image ``x`` is
partially overwritten,

    x_tilde = (1 - a * m) * x + a * m * P,

with ``m`` a soft, spatially coherent mask (random ellipses, deformed
elastically, with soft edges and bounded area), ``P`` a pattern (another
training image, a synthetic texture, noise, or a smooth intensity change of
``x`` itself) and ``a`` an opacity. The network is trained to return the clean
``x``. The concrete recipe (shapes, sizes, probabilities) is the library's own
choice, since the paper's generator was not available; see
``docs/self_supervised_ae.md``.
"""

import math

import torch
import torch.nn.functional as F

from .._torch_utils import gaussian_blur

__all__ = ["PATTERN_SOURCES", "corrupt", "random_masks"]

#: Where the content pasted into the mask comes from.
PATTERN_SOURCES = ("image", "texture", "noise", "intensity")


def _uniform(shape, low, high, generator, device):
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def _elastic_grid(n, size, amplitude, smoothness, generator, device):
    """Return the sampling grid of a smooth random displacement (``grid_sample``)."""
    height, width = size
    noise = _uniform((n, 2, height, width), -1, 1, generator, device)
    field = gaussian_blur(noise, smoothness * max(height, width))
    field = field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    ys = torch.linspace(-1, 1, height, device=device)
    xs = torch.linspace(-1, 1, width, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([grid_x, grid_y], dim=-1).expand(n, height, width, 2)
    # amplitude is a fraction of the side; grid units span 2 per side
    return grid + 2 * amplitude * field.permute(0, 2, 3, 1)


def random_masks(
    n,
    size,
    *,
    generator,
    device="cpu",
    max_blobs=3,
    blob_size=(0.06, 0.25),
    area=(0.01, 0.35),
    deformation=0.15,
    edge_softness=0.5,
    max_tries=10,
):
    """Draw ``n`` soft, spatially coherent masks of shape ``(n, 1, H, W)``.

    Each mask is the union of 1 to ``max_blobs`` ellipses with random centre,
    orientation and semi-axes ``blob_size * side``, deformed by a smooth
    random displacement of amplitude ``deformation * side``, thresholded and
    softened at the edges by a Gaussian of ``edge_softness`` pixels. Masks
    whose area falls outside ``area`` (fractions of the image) are drawn again
    up to ``max_tries`` times, then clipped: too large masks are eroded to the
    largest allowed area by keeping the pixels with the highest mask value,
    too small ones are kept (they are rare and harmless).

    Parameters
    ----------
    n : int
        Number of masks.
    size : tuple of int
        ``(H, W)``.
    generator : torch.Generator
        Source of randomness (seeded by the caller).
    device : str or torch.device, default="cpu"
    max_blobs : int, default=3
    blob_size : tuple of float, default=(0.06, 0.25)
    area : tuple of float, default=(0.01, 0.35)
    deformation : float, default=0.15
    edge_softness : float, default=0.5

    Returns
    -------
    masks : torch.Tensor of shape (n, 1, H, W), values in [0, 1]
    """
    height, width = size
    side = max(height, width)
    ys = torch.arange(height, device=device, dtype=torch.float32).view(1, -1, 1)
    xs = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, -1)
    masks = torch.zeros(n, 1, height, width, device=device)
    todo = torch.arange(n, device=device)
    for attempt in range(max_tries):
        k = len(todo)
        hard = torch.zeros(k, height, width, device=device)
        n_blobs = torch.randint(
            1, max_blobs + 1, (k,), generator=generator, device=device
        )
        for b in range(max_blobs):
            cy = _uniform((k, 1, 1), 0, height - 1, generator, device)
            cx = _uniform((k, 1, 1), 0, width - 1, generator, device)
            ry = _uniform((k, 1, 1), *blob_size, generator, device) * side
            rx = _uniform((k, 1, 1), *blob_size, generator, device) * side
            angle = _uniform((k, 1, 1), 0, math.pi, generator, device)
            cos, sin = torch.cos(angle), torch.sin(angle)
            dy, dx = ys - cy, xs - cx
            u = (dx * cos + dy * sin) / rx.clamp_min(0.5)
            v = (-dx * sin + dy * cos) / ry.clamp_min(0.5)
            inside = ((u**2 + v**2) <= 1).float()
            active = (b < n_blobs).float().view(k, 1, 1)
            hard = torch.maximum(hard, inside * active)
        grid = _elastic_grid(k, size, deformation, 0.08, generator, device)
        warped = F.grid_sample(
            hard[:, None],
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=True,
        )
        soft = gaussian_blur((warped > 0.5).float(), edge_softness).clamp(0, 1)
        masks[todo] = soft
        fraction = soft.mean(dim=(1, 2, 3))
        bad = (fraction < area[0]) | (fraction > area[1])
        if not bad.any() or attempt == max_tries - 1:
            break
        todo = todo[bad]
    # clip masks still too large to the largest allowed area
    fraction = masks.mean(dim=(1, 2, 3))
    for i in torch.nonzero(fraction > area[1]).flatten().tolist():
        flat = masks[i].flatten()
        keep = int(area[1] * flat.numel())
        cutoff = flat.topk(keep).values[-1]
        masks[i] = masks[i] * (masks[i] >= cutoff)
    return masks


def _textures(n, channels, size, generator, device):
    """Synthetic textures in [0, 1]: stripes, checkerboards, smooth noise, colour."""
    height, width = size
    ys = torch.arange(height, device=device, dtype=torch.float32).view(1, 1, -1, 1)
    xs = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, 1, -1)
    kind = torch.randint(0, 4, (n, 1, 1, 1), generator=generator, device=device)
    period = _uniform((n, 1, 1, 1), 2, 8, generator, device)
    angle = _uniform((n, 1, 1, 1), 0, math.pi, generator, device)
    phase = _uniform((n, 1, 1, 1), 0, 2 * math.pi, generator, device)
    proj = xs * torch.cos(angle) + ys * torch.sin(angle)
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * proj / period + phase)
    cell = period.round().clamp_min(1)
    checker = (
        (
            torch.div(ys, cell, rounding_mode="floor")
            + torch.div(xs, cell, rounding_mode="floor")
        )
        % 2
    ).float()
    noise = torch.rand((n, channels, height, width), generator=generator, device=device)
    sigma = float(_uniform((1,), 0.5, 2.0, generator, device))
    smooth = gaussian_blur(noise, sigma)
    lo = smooth.amin(dim=(2, 3), keepdim=True)
    hi = smooth.amax(dim=(2, 3), keepdim=True)
    smooth = (smooth - lo) / (hi - lo).clamp_min(1e-6)
    colour = torch.rand((n, channels, 1, 1), generator=generator, device=device)
    low = torch.rand((n, channels, 1, 1), generator=generator, device=device)
    high = torch.rand((n, channels, 1, 1), generator=generator, device=device)
    stripes = low + (high - low) * stripes
    checker = low + (high - low) * checker
    out = torch.where(kind == 0, stripes, checker)
    out = torch.where(kind == 2, smooth, out)
    out = torch.where(kind == 3, colour.expand_as(out), out)
    return out


def _other_images(x, generator):
    """Other images of the batch, shifted, flipped and jittered in brightness."""
    n = len(x)
    shift = torch.randint(1, max(n, 2), (1,), generator=generator, device=x.device)
    other = torch.roll(x, shifts=int(shift), dims=0)
    dy, dx = (
        int(v)
        for v in torch.randint(
            -x.shape[-2] // 4,
            x.shape[-2] // 4 + 1,
            (2,),
            generator=generator,
            device=x.device,
        )
    )
    other = torch.roll(other, shifts=(dy, dx), dims=(-2, -1))
    if torch.rand(1, generator=generator, device=x.device) < 0.5:
        other = other.flip(-1)
    contrast = _uniform((n, 1, 1, 1), 0.8, 1.2, generator, x.device)
    brightness = _uniform((n, 1, 1, 1), -0.2, 0.2, generator, x.device)
    mean = other.mean(dim=(1, 2, 3), keepdim=True)
    return (other - mean) * contrast + mean + brightness


def corrupt(
    x,
    *,
    generator,
    corruption_prob=0.9,
    max_blobs=3,
    blob_size=(0.06, 0.25),
    max_area=0.35,
    opacity=(0.3, 1.0),
    pattern_sources=PATTERN_SOURCES,
    noise_std=0.0,
):
    """Corrupt a batch of clean images; return ``(corrupted, target, masks)``.

    Parameters
    ----------
    x : torch.Tensor of shape (n, C, H, W)
        Clean images. Not modified.
    generator : torch.Generator
        Source of randomness, on ``x``'s device.
    corruption_prob : float, default=0.9
        Probability that an image is corrupted at all; the others are left
        clean (the network must also learn to leave normal images alone).
    max_blobs : int, default=3
        Most ellipses per mask.
    blob_size : tuple of float, default=(0.06, 0.25)
        Range of the ellipses' semi-axes, as fractions of the image side.
    max_area : float, default=0.35
        Largest fraction of the image a mask may cover (at least 1%).
    opacity : tuple of float, default=(0.3, 1.0)
        With probability 1/2 the pattern is opaque (a = 1); otherwise
        ``a ~ U(opacity)``.
    pattern_sources : tuple of str, default=PATTERN_SOURCES
        Where pasted content comes from, chosen uniformly per image:
        ``"image"`` another image of the batch (shifted, flipped, jittered),
        ``"texture"`` a synthetic texture (stripes, checkerboard, smooth
        noise, flat colour), ``"noise"`` Gaussian noise around the image,
        ``"intensity"`` the image itself brightened or darkened.
    noise_std : float, default=0.0
        Standard deviation of the upper bound of Gaussian noise added to both
        the corrupted image and the target (identity anchoring of the
        authors' follow-up, arXiv 2511.07233); each image draws its own
        ``std ~ U(0, noise_std)``. 0 disables it.

    Returns
    -------
    corrupted : torch.Tensor of shape (n, C, H, W)
        Input for the network, clipped to the value range of ``x``.
    target : torch.Tensor of shape (n, C, H, W)
        ``x``, plus the same noise as ``corrupted`` when ``noise_std > 0``.
    masks : torch.Tensor of shape (n, 1, H, W)
        Effective masks ``a * m`` (zero for images left clean).
    """
    n, channels, height, width = x.shape
    device = x.device
    if corruption_prob == 0 and noise_std == 0:  # nothing to draw: the ablation
        return x, x, torch.zeros((n, 1, height, width), device=device)
    masks = random_masks(
        n,
        (height, width),
        generator=generator,
        device=device,
        max_blobs=max_blobs,
        blob_size=blob_size,
        area=(0.01, max_area),
    )
    opaque = torch.rand((n, 1, 1, 1), generator=generator, device=device) < 0.5
    alpha = torch.where(
        opaque,
        torch.ones((n, 1, 1, 1), device=device),
        _uniform((n, 1, 1, 1), *opacity, generator, device),
    )
    keep = (
        torch.rand((n, 1, 1, 1), generator=generator, device=device) < corruption_prob
    )
    masks = masks * alpha * keep.float()

    candidates = []
    for source in pattern_sources:
        if source == "image":
            candidates.append(_other_images(x, generator))
        elif source == "texture":
            candidates.append(
                _textures(n, channels, (height, width), generator, device)
            )
        elif source == "noise":
            std = _uniform((n, 1, 1, 1), 0.05, 0.3, generator, device)
            candidates.append(
                x + std * torch.randn(x.shape, generator=generator, device=device)
            )
        elif source == "intensity":
            delta = _uniform((n, 1, 1, 1), 0.15, 0.5, generator, device)
            sign = torch.where(
                torch.rand((n, 1, 1, 1), generator=generator, device=device) < 0.5,
                -1.0,
                1.0,
            )
            candidates.append(x + sign * delta)
        else:
            raise ValueError(
                f"Unknown pattern source {source!r}; expected some of "
                f"{PATTERN_SOURCES}."
            )
    choice = torch.randint(
        0, len(candidates), (n, 1, 1, 1), generator=generator, device=device
    )
    pattern = candidates[0]
    for i, candidate in enumerate(candidates[1:], start=1):
        pattern = torch.where(choice == i, candidate, pattern)

    low = x.amin(dim=(1, 2, 3), keepdim=True).clamp_max(0.0)
    high = x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
    corrupted = ((1 - masks) * x + masks * pattern).clamp(low, high)
    target = x
    if noise_std > 0:
        std = _uniform((n, 1, 1, 1), 0, noise_std, generator, device)
        noise = std * torch.randn(x.shape, generator=generator, device=device)
        corrupted = corrupted + noise
        target = x + noise
    return corrupted, target, masks
