"""Synthetic defects on crops of real texture photographs."""

import numbers

import numpy as np
from scipy import ndimage
from sklearn.utils import Bunch, check_random_state

TEXTURES = ("brick", "grass", "gravel")
#: The kinds of defect :func:`make_texture_defects` draws (its default
#: ``defect_types``: all of them).
DEFECT_TYPES = (
    "scratch",
    "blob",
    "patch",
    "stain",
    "crack",
    "spots",
    "hole",
    "misprint",
)
SUBSETS = ("train", "test")

# A pixel is in the ground-truth mask where the weight of a defect (the
# fraction of its full strength it applies there: 1 at its core, falling off
# along its soft edges) is at least this value.
MASK_WEIGHT = 0.25

TEXTURES_DESCR = """\
.. _texture_defects_dataset:

Texture defects
---------------

**Data Set Characteristics:**

:Images: random square crops of a 512 x 512 grey photograph of bricks,
    grass or gravel shipped with scikit-image (``skimage.data``)
:Pixel values: float32 in [0, 1]
:Target: 0 for a clean crop ("good"), 1 for a crop with synthetic defects
:Masks: uint8, 1 on the defective pixels, 0 elsewhere (all 0 for clean crops)

A small, download-free stand-in for industrial inspection benchmarks such as
MVTec AD, with pixel-level ground truth. Training crops are taken from the
top half of the photograph and test crops from its bottom half, so the two
subsets share no pixel. Each defective crop receives one or two defects of
one type:

- ``scratch``: thin bright or dark curved lines;
- ``blob``: an ellipse of shifted intensity and blurred texture with soft
  edges;
- ``patch``: a rectangle pasted from a different texture photograph
  (standardised to the contrast of the host photograph), shifted to the
  crop's mean;
- ``stain``: an irregular, smooth and low-contrast darkening or
  brightening, surrounded by a faint wide halo of the opposite sign so that
  the mean of the crop does not change.

Defects do not overlap. The mask marks the pixels where a defect applies at
least a quarter of its full strength, leaving out the faint fringe of soft
edges (and of the stains' halos).
"""


def _load_photos(names):
    try:
        import skimage.data
    except ImportError as exc:
        raise ImportError(
            "make_texture_defects needs scikit-image for its texture "
            "photographs: pip install scikit-image (or pip install "
            "'skanomaly[textures]')"
        ) from exc
    photos = {}
    for name in names:
        photo = np.asarray(getattr(skimage.data, name)())
        if photo.ndim == 3:
            photo = photo[..., :3].mean(axis=-1)
        photos[name] = photo.astype(np.float64) / 255.0
    return photos


def _grid(size):
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    return rows, cols


def _scratch(image, rng, sources):
    """Thin bright or dark curve (a quadratic Bezier curve)."""
    size = image.shape[0]
    length = size * rng.uniform(0.3, 0.8)
    angle = rng.uniform(0, np.pi)
    direction = np.array([np.sin(angle), np.cos(angle)])
    normal = np.array([direction[1], -direction[0]])
    center = rng.uniform(0.15, 0.85, size=2) * size
    start = center - direction * length / 2
    end = center + direction * length / 2
    control = center + normal * rng.uniform(-0.3, 0.3) * length
    t = np.linspace(0.0, 1.0, max(50, int(4 * length)))[:, None]
    points = (1 - t) ** 2 * start + 2 * (1 - t) * t * control + t**2 * end
    points = np.round(points).astype(int)
    inside = np.all((points >= 0) & (points < size), axis=1)
    line = np.zeros(image.shape, dtype=bool)
    line[points[inside, 0], points[inside, 1]] = True
    if not line.any():
        return np.zeros(image.shape), image
    distance = ndimage.distance_transform_edt(~line)
    half_width = rng.uniform(0.5, 1.25) * max(1.0, size / 128)
    weight = np.clip(half_width + 0.5 - distance, 0.0, 1.0)
    target = 1.0 if rng.uniform() < 0.5 else 0.0
    strength = rng.uniform(0.6, 0.9)
    return weight, image + weight * strength * (target - image)


def _ellipse_coordinates(size, rng, margin):
    rows, cols = _grid(size)
    center = rng.uniform(margin, 1 - margin, size=2) * size
    angle = rng.uniform(0, np.pi)
    dr, dc = rows - center[0], cols - center[1]
    u = dr * np.cos(angle) + dc * np.sin(angle)
    v = -dr * np.sin(angle) + dc * np.cos(angle)
    return u, v


def _blob(image, rng, sources):
    """Ellipse of shifted intensity and smoothed texture, with soft edges."""
    size = image.shape[0]
    a, b = rng.uniform(0.06, 0.18, size=2) * size
    u, v = _ellipse_coordinates(size, rng, margin=0.15)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    radius = np.sqrt(a * b)
    edge = max(0.5, rng.uniform(0.1, 0.25) * radius)
    weight = 1.0 / (1.0 + np.exp(-(1.0 - rho) * radius / edge))
    weight[weight < 1e-3] = 0.0
    shift = rng.choice([-1.0, 1.0]) * rng.uniform(0.12, 0.3)
    smoothing = rng.uniform(0.0, 0.6)
    blurred = ndimage.gaussian_filter(image, 1.5)
    return weight, image + weight * (shift + smoothing * (blurred - image))


def _patch(image, rng, sources):
    """Rectangle pasted from another texture, shifted to the crop's mean."""
    size = image.shape[0]
    height, width = np.maximum((rng.uniform(0.15, 0.35, size=2) * size).astype(int), 3)
    top = rng.randint(0, size - height + 1)
    left = rng.randint(0, size - width + 1)
    source = sources[rng.randint(len(sources))]
    src_top = rng.randint(0, source.shape[0] - height + 1)
    src_left = rng.randint(0, source.shape[1] - width + 1)
    piece = source[src_top : src_top + height, src_left : src_left + width]
    pasted = image.copy()
    pasted[top : top + height, left : left + width] = (
        piece - piece.mean() + image.mean()
    )
    weight = np.zeros(image.shape)
    weight[top : top + height, left : left + width] = 1.0
    return weight, pasted


def _stain(image, rng, sources):
    """Irregular, smooth, low-contrast darkening or brightening.

    The profile is an irregular bump minus a wide, faint halo whose sum
    cancels the bump's, so the stain leaves the image mean unchanged.
    """
    size = image.shape[0]
    sigma_u, sigma_v = rng.uniform(0.07, 0.16, size=2) * size
    u, v = _ellipse_coordinates(size, rng, margin=0.2)
    distance = (u / sigma_u) ** 2 + (v / sigma_v) ** 2
    noise = ndimage.gaussian_filter(rng.standard_normal(image.shape), size / 12)
    noise /= noise.std() + 1e-12
    bump = np.exp(-0.5 * distance + 0.4 * noise)
    halo = np.exp(-0.125 * distance)
    profile = bump - halo * (bump.sum() / halo.sum())
    profile /= profile.max()
    delta = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.18)
    return np.minimum(np.abs(profile), 1.0), image + delta * profile


def _crack(image, rng, sources):
    """Thin dark crack: a persistent random walk, sometimes with a branch."""
    size = image.shape[0]
    line = np.zeros(image.shape, dtype=bool)
    step = 0.5
    n_steps = int(size * rng.uniform(0.3, 0.7) / step)
    start = rng.uniform(0.2, 0.8, size=2) * size
    walks = [(start, rng.uniform(0, 2 * np.pi), n_steps)]
    if rng.uniform() < 0.5:  # a branch from somewhere along the main walk
        walks.append((None, None, n_steps // 2))
    visited = []
    for origin, heading, steps in walks:
        if origin is None:
            origin = visited[rng.randint(len(visited))]
            heading = rng.uniform(0, 2 * np.pi)
        position = np.array(origin, dtype=np.float64)
        for _ in range(steps):
            heading += rng.normal(0.0, 0.2)
            position = position + step * np.array([np.sin(heading), np.cos(heading)])
            row, col = np.round(position).astype(int)
            if not (0 <= row < size and 0 <= col < size):
                break
            line[row, col] = True
            visited.append(position.copy())
    if not line.any():
        return np.zeros(image.shape), image
    distance = ndimage.distance_transform_edt(~line)
    half_width = rng.uniform(0.3, 0.9) * max(1.0, size / 128)
    weight = np.clip(half_width + 0.5 - distance, 0.0, 1.0)
    darkness = rng.uniform(0.5, 0.85)
    return weight, image * (1.0 - darkness * weight)


def _spots(image, rng, sources):
    """Draw a cluster of small sharp-edged contamination spots of another grey."""
    size = image.shape[0]
    rows, cols = _grid(size)
    center = rng.uniform(0.2, 0.8, size=2) * size
    hard = np.zeros(image.shape, dtype=bool)
    for _ in range(rng.randint(3, 9)):
        spot = center + rng.normal(0.0, 0.08 * size, size=2)
        radius = rng.uniform(0.015, 0.045) * size + 0.5
        hard |= (rows - spot[0]) ** 2 + (cols - spot[1]) ** 2 <= radius**2
    weight = np.clip(ndimage.gaussian_filter(hard.astype(float), 0.4), 0.0, 1.0)
    # the contaminant: a flat grey far from the local mean, keeping a
    # fraction of the texture underneath
    local = image.mean()
    shade = local + rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.45)
    shade = float(np.clip(shade, 0.0, 1.0))
    cover = rng.uniform(0.6, 0.9)
    return weight, image + weight * cover * (shade - image)


def _hole(image, rng, sources):
    """Missing material: an irregular dark pit with a lit rim on one side."""
    size = image.shape[0]
    rows, cols = _grid(size)
    center = rng.uniform(0.2, 0.8, size=2) * size
    radius = rng.uniform(0.05, 0.12) * size
    dr, dc = rows - center[0], cols - center[1]
    angle = np.arctan2(dr, dc)
    wobble = sum(
        rng.uniform(0.0, 0.15) * np.cos(k * angle + rng.uniform(0, 2 * np.pi))
        for k in (2, 3, 5)
    )
    rho = np.sqrt(dr**2 + dc**2) / (radius * (1.0 + wobble))
    inside = np.clip((1.0 - rho) * radius / 0.75 + 0.5, 0.0, 1.0)
    floor = rng.uniform(0.02, 0.12) + 0.08 * (1.0 - np.clip(rho, 0.0, 1.0))
    light = rng.uniform(0, 2 * np.pi)
    facing = np.cos(angle - light)  # the rim facing the light is lit
    rim = np.exp(-(((rho - 1.0) * radius / 1.0) ** 2)) * np.clip(facing, 0.0, 1.0)
    defective = image + inside * (floor - image) + 0.35 * rim * (1.0 - inside)
    return np.maximum(inside, rim), defective


def _misprint(image, rng, sources):
    """Draw a band of regular stripes across the crop, as from a faulty print."""
    size = image.shape[0]
    rows, cols = _grid(size)
    angle = rng.uniform(0, np.pi)
    across = (rows - size / 2) * np.cos(angle) - (cols - size / 2) * np.sin(angle)
    along = (rows - size / 2) * np.sin(angle) + (cols - size / 2) * np.cos(angle)
    offset = rng.uniform(-0.25, 0.25) * size
    half_width = rng.uniform(0.05, 0.12) * size
    length = rng.uniform(0.4, 1.0) * size
    band = np.clip(half_width + 0.5 - np.abs(across - offset), 0.0, 1.0)
    band *= np.clip(
        length / 2 + 0.5 - np.abs(along - rng.uniform(-0.2, 0.2) * size), 0.0, 1.0
    )
    period = rng.uniform(3.0, 6.0) * max(1.0, size / 128)
    stripes = np.sin(2 * np.pi * along / period + rng.uniform(0, 2 * np.pi))
    amplitude = rng.uniform(0.15, 0.3)
    return band, image + band * amplitude * stripes


_DEFECT_FUNCTIONS = {
    "scratch": _scratch,
    "blob": _blob,
    "patch": _patch,
    "stain": _stain,
    "crack": _crack,
    "spots": _spots,
    "hole": _hole,
    "misprint": _misprint,
}


def _add_defects(clean, defect_type, rng, sources, max_tries=100):
    """Return a defective copy of ``clean`` and its boolean mask."""
    size = clean.shape[0]
    min_pixels = max(3, int(0.001 * size * size))
    image = clean.copy()
    mask = np.zeros(clean.shape, dtype=bool)
    n_defects = 2 if rng.uniform() < 0.35 else 1
    for _ in range(n_defects):
        for _ in range(max_tries):
            weight, defective = _DEFECT_FUNCTIONS[defect_type](image, rng, sources)
            core = weight >= MASK_WEIGHT
            # defects do not overlap, so that none undoes another
            if core.sum() >= min_pixels and not np.any(core & mask):
                image = np.clip(defective, 0.0, 1.0)
                mask |= core
                break
    if not mask.any():  # pragma: no cover - every defect succeeds in practice
        raise RuntimeError(f"could not place a {defect_type} defect")
    return image, mask


def _check_params(
    n_samples, image_size, texture, anomaly_fraction, subset, defect_types, max_size
):
    if not isinstance(n_samples, numbers.Integral) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}")
    if not isinstance(image_size, numbers.Integral) or not 8 <= image_size <= max_size:
        raise ValueError(
            f"image_size must be an integer in [8, {max_size}] (crops come from "
            f"one half of a 512 x 512 photograph); got {image_size!r}"
        )
    if texture not in TEXTURES:
        raise ValueError(f"texture must be one of {TEXTURES}; got {texture!r}")
    if not isinstance(anomaly_fraction, numbers.Real) or not 0 <= anomaly_fraction <= 1:
        raise ValueError(
            f"anomaly_fraction must be a float in [0, 1]; got {anomaly_fraction!r}"
        )
    if subset not in SUBSETS:
        raise ValueError(f"subset must be 'train' or 'test'; got {subset!r}")
    if isinstance(defect_types, str):
        defect_types = (defect_types,)
    defect_types = tuple(defect_types)
    unknown = [d for d in defect_types if d not in DEFECT_TYPES]
    if not defect_types or unknown:
        raise ValueError(
            f"defect_types must be a non-empty sequence of names among "
            f"{DEFECT_TYPES}; got {defect_types!r}"
        )
    return defect_types


def make_texture_defects(
    n_samples=100,
    *,
    image_size=64,
    texture="brick",
    anomaly_fraction=0.5,
    subset="train",
    defect_types=DEFECT_TYPES,
    random_state=None,
    return_X_y=False,
):
    """Generate texture crops, some of them with synthetic defects and masks.

    Crops of a real grey photograph (bricks, grass or gravel, from
    scikit-image) serve as normal images; a fraction of them receive one or
    two synthetic defects of a single type, with a pixel-level mask. It is a
    small, download-free stand-in for industrial inspection benchmarks such
    as MVTec AD.

    Parameters
    ----------
    n_samples : int, default=100
        The number of images.
    image_size : int, default=64
        The side of the square crops, between 8 and 256.
    texture : {"brick", "grass", "gravel"}, default="brick"
        The photograph to crop.
    anomaly_fraction : float, default=0.5
        The fraction of defective images, in [0, 1]; their number is
        ``round(anomaly_fraction * n_samples)``.
    subset : {"train", "test"}, default="train"
        Crop from the top ("train") or the bottom ("test") half of the
        photograph, so that the two subsets never share a pixel.
    defect_types : sequence of str, default=all eight types
        The defect types to draw from, uniformly: some of "scratch", "blob",
        "patch", "stain", "crack", "spots", "hole" and "misprint"; see Notes.
    random_state : int, RandomState instance or None, default=None
        Controls the crops and the defects. Pass an int for reproducible
        output.
    return_X_y : bool, default=False
        If True, return ``(images, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        images : ndarray of shape (n_samples, image_size, image_size)
            The images, float32 in [0, 1].
        masks : ndarray of shape (n_samples, image_size, image_size)
            The uint8 defect masks: 1 on defective pixels, else 0. The masks
            of normal images are all zero.
        target : ndarray of shape (n_samples,), dtype int64
            1 for defective images, 0 for normal ones.
        defect_type : ndarray of shape (n_samples,), dtype str
            The defect type of each image, "good" for normal ones.
        crop_origin : ndarray of shape (n_samples, 2), dtype int64
            The (row, column) in the photograph of each crop's top-left pixel.
        DESCR : str
            A description of the data set.

    (images, target) : tuple if ``return_X_y`` is True
        The two arrays described above.

    Notes
    -----
    The defect types are "scratch" (thin bright or dark curves), "blob" (an
    ellipse of shifted intensity and blurred texture, soft edges), "patch"
    (a rectangle pasted from another texture photograph, rescaled to the
    contrast of the host photograph and shifted to the crop's mean) and
    "stain" (a smooth, irregular, low-contrast shift with a faint
    compensating halo, which keeps the crop's mean), "crack" (a thin dark
    random walk, sometimes branched), "spots" (a cluster of small sharp
    spots of a flat grey), "hole" (an irregular dark pit with a lit rim) and
    "misprint" (a band of regular stripes). The defects of an image
    do not overlap. A mask marks the pixels where a
    defect applies at least a quarter of its full strength, i.e. without the
    faint fringe of its soft edges.

    Requires scikit-image (``pip install scikit-image``).

    Examples
    --------
    >>> from skanomaly.datasets import make_texture_defects
    >>> data = make_texture_defects(4, image_size=32, random_state=0)
    >>> data.images.shape, data.masks.dtype, int(data.target.sum())
    ((4, 32, 32), dtype('uint8'), 2)
    """
    defect_types = _check_params(
        n_samples,
        image_size,
        texture,
        anomaly_fraction,
        subset,
        defect_types,
        max_size=256,
    )
    rng = check_random_state(random_state)
    names = [texture]
    if "patch" in defect_types:
        names += [name for name in TEXTURES if name != texture]
    photos = _load_photos(names)
    half = photos[texture].shape[0] // 2
    band = slice(0, half) if subset == "train" else slice(half, None)
    row_offset = 0 if subset == "train" else half
    host = photos[texture][band]
    # other photographs for the patches, with the host's mean and contrast
    sources = [
        (photos[name][band] - photos[name][band].mean())
        / photos[name][band].std()
        * host.std()
        + host.mean()
        for name in names[1:]
    ]
    if image_size > min(host.shape):
        raise ValueError(
            f"image_size={image_size} exceeds the {host.shape} half photograph"
        )

    n_defective = int(round(anomaly_fraction * n_samples))
    target = np.zeros(n_samples, dtype=np.int64)
    target[rng.choice(n_samples, size=n_defective, replace=False)] = 1

    images = np.empty((n_samples, image_size, image_size), dtype=np.float32)
    masks = np.zeros((n_samples, image_size, image_size), dtype=np.uint8)
    kinds = np.full(n_samples, "good", dtype=f"<U{max(map(len, DEFECT_TYPES))}")
    origins = np.empty((n_samples, 2), dtype=np.int64)
    for i in range(n_samples):
        top = rng.randint(0, host.shape[0] - image_size + 1)
        left = rng.randint(0, host.shape[1] - image_size + 1)
        origins[i] = top + row_offset, left
        crop = host[top : top + image_size, left : left + image_size]
        if target[i]:
            kinds[i] = defect_types[rng.randint(len(defect_types))]
            crop, mask = _add_defects(crop, kinds[i], rng, sources)
            masks[i] = mask
        images[i] = crop

    if return_X_y:
        return images, target
    return Bunch(
        images=images,
        masks=masks,
        target=target,
        defect_type=kinds,
        crop_origin=origins,
        DESCR=TEXTURES_DESCR,
    )
