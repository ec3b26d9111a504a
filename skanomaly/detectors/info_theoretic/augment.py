"""Random views of a batch of images, for the InfoNCE bound.

Plain PyTorch; every random draw comes from the ``generator`` passed in, so
views are reproducible from ``random_state``. Geometric augmentations are
combined into one affine warp per image (bilinear ``grid_sample``, edge
pixels repeated outside the image).
"""

import math

import torch
from torch.nn import functional as F

__all__ = ["AUGMENTATIONS", "N_TRANSFORMS", "augment", "transform"]

#: Names accepted in ``augmentations``.
AUGMENTATIONS = ("crop", "affine", "flip", "jitter", "noise")


#: Number of transformations :func:`transform` applies.
N_TRANSFORMS = 4


def transform(x, index):
    """Apply transformation ``index`` (0 to 3) to every image of ``x``.

    Square images are rotated by ``index * 90`` degrees (counter-clockwise);
    images that are not square, which a quarter turn would reshape, get the
    other shape-preserving members of the same group: 0 identity, 1
    horizontal flip, 2 rotation by 180 degrees, 3 vertical flip. Transformation
    0 is always the identity.

    Parameters
    ----------
    x : torch.Tensor of shape (n, C, H, W)
    index : int
        In ``range(N_TRANSFORMS)``.

    Returns
    -------
    transformed : torch.Tensor of shape (n, C, H, W)
    """
    if not 0 <= index < N_TRANSFORMS:
        raise ValueError(f"index must be in [0, {N_TRANSFORMS}); got {index!r}")
    if x.shape[-2] == x.shape[-1]:
        return torch.rot90(x, index, dims=(-2, -1))
    flips = {0: (), 1: (-1,), 2: (-2, -1), 3: (-2,)}[index]
    return torch.flip(x, flips) if flips else x


def _uniform(shape, low, high, generator, device):
    return low + (high - low) * torch.rand(shape, generator=generator, device=device)


def augment(
    x,
    *,
    generator,
    augmentations=("crop", "affine", "noise"),
    crop_scale=(0.7, 1.0),
    max_rotation=10.0,
    max_translation=0.1,
    noise_std=0.05,
):
    """Return one random view of each image of ``x`` (not modified).

    Parameters
    ----------
    x : torch.Tensor of shape (n, C, H, W)
    generator : torch.Generator
        Source of randomness, on ``x``'s device.
    augmentations : tuple of str, default=("crop", "affine", "noise")
        Any of :data:`AUGMENTATIONS`:

        ``"crop"``
            random resized crop: a square window covering a fraction of the
            image area drawn from ``crop_scale``, anywhere inside the image,
            resized back to ``(H, W)``;
        ``"affine"``
            rotation by up to ``max_rotation`` degrees and translation by up to
            ``max_translation`` of the side, each direction;
        ``"flip"``
            horizontal flip with probability 1/2 (not for digits or clothes,
            whose orientation matters);
        ``"jitter"``
            contrast in [0.8, 1.2] and brightness in [-0.1, 0.1] per image;
        ``"noise"``
            additive Gaussian noise of standard deviation ``noise_std``.
    crop_scale : tuple of float, default=(0.7, 1.0)
    max_rotation : float, default=10.0
    max_translation : float, default=0.1
    noise_std : float, default=0.05

    Returns
    -------
    view : torch.Tensor of shape (n, C, H, W)
    """
    n = len(x)
    device = x.device
    augmentations = set(augmentations)
    unknown = augmentations - set(AUGMENTATIONS)
    if unknown:
        raise ValueError(
            f"Unknown augmentations {sorted(unknown)}; expected some of "
            f"{AUGMENTATIONS}."
        )
    scale = torch.ones(n, device=device)
    angle = torch.zeros(n, device=device)
    shift = torch.zeros(n, 2, device=device)
    mirror = torch.ones(n, device=device)
    if "crop" in augmentations:
        area = _uniform(n, crop_scale[0], crop_scale[1], generator, device)
        scale = area.sqrt()
        # window centre anywhere that keeps the window inside the image
        shift = (
            shift + _uniform((n, 2), -1, 1, generator, device) * (1 - scale)[:, None]
        )
    if "affine" in augmentations:
        angle = _uniform(n, -1, 1, generator, device) * math.radians(max_rotation)
        # grid units: the image spans [-1, 1], so a fraction t of the side is 2t
        shift = shift + _uniform((n, 2), -1, 1, generator, device) * (
            2 * max_translation
        )
    if "flip" in augmentations:
        flip = torch.rand(n, generator=generator, device=device) < 0.5
        mirror = torch.where(flip, -mirror, mirror)
    geometric = augmentations & {"crop", "affine", "flip"}
    view = x
    if geometric:
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack(
            [
                torch.stack([cos * mirror, -sin, shift[:, 0]], dim=1),
                torch.stack([sin * mirror, cos, shift[:, 1]], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        view = F.grid_sample(
            x, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
    if "jitter" in augmentations:
        contrast = _uniform((n, 1, 1, 1), 0.8, 1.2, generator, device)
        brightness = _uniform((n, 1, 1, 1), -0.1, 0.1, generator, device)
        mean = view.mean(dim=(1, 2, 3), keepdim=True)
        view = (view - mean) * contrast + mean + brightness
    if "noise" in augmentations and noise_std > 0:
        view = view + noise_std * torch.randn(
            x.shape, generator=generator, device=device
        )
    return view
