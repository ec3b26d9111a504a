"""PyTorch helpers shared by the detectors (no scikit-learn, no skorch, no base).

Torch modules and estimators may both import this module; it imports torch
only.
"""

import math

import torch
import torch.nn.functional as F

__all__ = [
    "crop_to",
    "euclidean_distances",
    "exporting",
    "gaussian_blur",
    "init_parameters_",
    "knn_scores",
    "pad_to_multiple",
    "padded_size",
    "squared_error_map",
    "standardize_map",
]

#: Floor of the per-pixel standard deviation of :func:`standardize_map`, as a
#: fraction of its mean over the image: pixels that every training image
#: reconstructs perfectly do not blow up.
STD_FLOOR = 0.1
#: Smallest standard deviation :func:`standardize_map` divides by.
ABSOLUTE_STD_FLOOR = 1e-12


def pad_to_multiple(x, multiple, mode="replicate"):
    """Pad the last two dimensions of ``x`` up to a multiple of ``multiple``.

    The padding is split between both sides (one more pixel at the bottom and
    right when odd), so that :func:`crop_to` with the original size undoes it.
    """
    height, width = x.shape[-2:]
    pad_h = math.ceil(height / multiple) * multiple - height
    pad_w = math.ceil(width / multiple) * multiple - width
    if pad_h == 0 and pad_w == 0:
        return x
    top, left = pad_h // 2, pad_w // 2
    return F.pad(x, (left, pad_w - left, top, pad_h - top), mode=mode)


def crop_to(x, size):
    """Undo :func:`pad_to_multiple`: crop the centre ``size=(H, W)`` of ``x``."""
    height, width = size
    top = (x.shape[-2] - height) // 2
    left = (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


def padded_size(size, multiple):
    """Size ``(H, W)`` after :func:`pad_to_multiple`."""
    return tuple(math.ceil(s / multiple) * multiple for s in size)


def exporting():
    """Whether the module is being traced for export (:func:`torch.onnx.export`).

    Scoring code takes export-friendly paths then: no loops over a batch of
    unknown size, no operator the exporter lacks.
    """
    return torch.onnx.is_in_onnx_export()


def euclidean_distances(a, b, exact=False):
    """Euclidean distances ``(n, m)`` between the rows of ``a`` and of ``b``.

    :func:`torch.cdist`; with ``exact``, without its matrix-product shortcut
    (exact differences, more memory). While exporting, the same computations
    in operators ONNX has (``cdist`` itself has none): the matrix-product
    form ``|a|^2 - 2 a.b + |b|^2`` that ``cdist`` uses for more than 25 rows,
    or the exact differences.
    """
    if not exporting():
        mode = "donot_use_mm_for_euclid_dist" if exact else None
        if mode is None:
            return torch.cdist(a, b)
        return torch.cdist(a, b, compute_mode=mode)
    if exact:
        return (a[:, None, :] - b[None, :, :]).pow(2).sum(dim=-1).sqrt()
    squared = (
        a.pow(2).sum(dim=-1, keepdim=True)
        - 2 * a @ b.transpose(-2, -1)
        + b.pow(2).sum(dim=-1)[None, :]
    )
    return squared.clamp_min(1e-30).sqrt()


def squared_error_map(x, reconstruction):
    """Per-pixel squared error averaged over channels: ``(batch, H, W)``."""
    return (x - reconstruction).pow(2).mean(dim=1)


def standardize_map(maps, mean, std):
    """Standardize maps ``(n, 1, H, W)`` per pixel by training statistics.

    ``mean`` and ``std`` are arrays or tensors of shape ``(H, W)``: the mean
    and standard deviation of the training images' maps at each position.
    The standard deviation is floored at :data:`STD_FLOOR` times its mean
    over the image, and at :data:`ABSOLUTE_STD_FLOOR`: training images whose
    maps are all equal (identical or constant images) standardize to finite
    values instead of 0 / 0.
    """
    mean = torch.as_tensor(mean, device=maps.device, dtype=maps.dtype)
    std = torch.as_tensor(std, device=maps.device, dtype=maps.dtype)
    scale = (std + STD_FLOOR * std.mean()).clamp_min(ABSOLUTE_STD_FLOOR)
    return (maps - mean) / scale


def _gaussian_kernel1d(sigma, device, dtype):
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    return kernel / kernel.sum()


def gaussian_blur(x, sigma):
    """Separable Gaussian blur of ``(n, C, H, W)`` with reflect padding.

    ``sigma`` is a float (same for the whole batch); ``sigma <= 0`` returns
    ``x`` unchanged.
    """
    if sigma <= 0:
        return x
    kernel = _gaussian_kernel1d(sigma, x.device, x.dtype)
    radius = len(kernel) // 2
    channels = x.shape[1]
    # reflect padding needs pad < size: fall back to replicate for tiny maps
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    weight_h = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    weight_w = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    x = F.pad(x, (0, 0, radius, radius), mode=mode)
    x = F.conv2d(x, weight_h, groups=channels)
    x = F.pad(x, (radius, radius, 0, 0), mode=mode)
    return F.conv2d(x, weight_w, groups=channels)


def knn_scores(
    queries, reference, n_neighbors, distance, batch_size, leave_out_self=False
):
    """Mean distance of each query to its ``n_neighbors`` nearest reference rows.

    Parameters
    ----------
    queries, reference : torch.Tensor of shape (n, d) and (m, d)
    n_neighbors : int
    distance : callable
        ``distance(block, reference)`` returns the ``(len(block), m)`` distances.
    batch_size : int
        Queries per block, so that at most ``batch_size * m`` distances are held.
    leave_out_self : bool, default=False
        The queries are the reference itself (training scores): each row is
        left out of its own neighbours, as PyOD's KNN does for
        ``decision_scores_``, so that ``threshold_`` is not set by zero
        self-distances.

    Returns
    -------
    scores : torch.Tensor of shape (n,)
    """
    k = min(n_neighbors, len(reference) - int(leave_out_self))
    if k < 1:
        raise ValueError(
            f"k-NN scores need at least {1 + int(leave_out_self)} reference "
            f"sample(s); got {len(reference)}."
        )
    # while exporting, one block: the number of queries is not known then
    starts = [0] if exporting() else range(0, len(queries), batch_size)
    scores = []
    for start in starts:
        block = queries if exporting() else queries[start : start + batch_size]
        distances = distance(block, reference)
        if leave_out_self:
            rows = torch.arange(len(block), device=distances.device)
            distances[rows, start + rows] = float("inf")
        scores.append(distances.topk(k, dim=1, largest=False).values.mean(dim=1))
    return torch.cat(scores)


def _reset_default_(module, generator):
    """Initialise ``module``'s own parameters as torch does, from ``generator``.

    Returns False when ``module`` is of no kind known here.
    """
    if isinstance(module, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
        # as torch's reset_parameters: kaiming_uniform(a=sqrt(5)), then a
        # uniform bias in +-1/sqrt(fan_in)
        torch.nn.init.kaiming_uniform_(
            module.weight, a=math.sqrt(5), generator=generator
        )
        if module.bias is not None:
            fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            torch.nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        return True
    if isinstance(
        module,
        (
            torch.nn.modules.batchnorm._NormBase,
            torch.nn.GroupNorm,
            torch.nn.LayerNorm,
        ),
    ):
        module.reset_parameters()  # constants: ones, zeros, running statistics
        return True
    return False


def init_parameters_(module, generator):
    """Initialise every parameter and buffer of ``module`` from ``generator``.

    For networks built on the ``"meta"`` device and moved with
    ``to_empty``: the weights of a fit come from the fit's own
    :class:`torch.Generator`, never from torch's global random state, so that
    fits in parallel threads draw what a serial fit draws. Submodules are
    initialised first (post-order): linear and convolution layers as torch
    does by default, normalisation layers to their constants; then a module
    that defines ``_init_parameters_(generator)`` initialises what it owns
    and may re-draw its submodules' weights (a custom initialisation); the
    children it names in ``_initialises_children`` are left to it. A
    module with parameters or buffers of its own and neither rule raises
    ``TypeError``, so that no weight is left uninitialised.

    Parameters
    ----------
    module : torch.nn.Module
    generator : torch.Generator
        On the module's device.

    Returns
    -------
    module : torch.nn.Module
        ``module``, initialised in place.
    """
    with torch.no_grad():
        _init_recursive(module, generator)
    return module


def _init_recursive(module, generator):
    own = getattr(module, "_initialises_children", ())
    for name, child in module.named_children():
        if name not in own:
            _init_recursive(child, generator)
    custom = getattr(module, "_init_parameters_", None)
    if custom is not None:
        custom(generator)
    elif not _reset_default_(module, generator):
        owned = list(module.named_parameters(recurse=False)) + list(
            module.named_buffers(recurse=False)
        )
        if owned:
            raise TypeError(
                f"{type(module).__name__} has parameters or buffers of its own "
                f"({', '.join(name for name, _ in owned)}) and no rule to "
                "initialise them from a generator; give it a method "
                "_init_parameters_(generator)."
            )
