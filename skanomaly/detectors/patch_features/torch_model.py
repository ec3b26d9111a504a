"""PatchCore's and PaDiM's PyTorch parts: patch features of a frozen backbone.

Plain PyTorch (no scikit-learn, no skorch, no base): the backbone's stages are
passed in, already loaded with their pretrained weights.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._torch_utils import euclidean_distances, exporting

__all__ = [
    "PaDiMModule",
    "PatchCoreModule",
    "PatchFeatureExtractor",
    "greedy_coreset",
    "nearest_neighbours",
]


class PatchFeatureExtractor(nn.Module):
    """Feature maps of chosen stages of a frozen backbone, for images in [0, 1].

    Grey images are repeated to three channels, images are resized to
    ``input_size`` (bilinear, antialiased) and normalised as the backbone was
    trained (``normalisation``: ``"efficientnet"`` for ``(255 x - 127) /
    128``, ``"imagenet"`` for ImageNet's mean and standard deviation).

    Parameters
    ----------
    stages : list of nn.Module
        The backbone's stages, in order; those after the last of ``layers``
        are dropped.
    layers : tuple of int
        Indices (non-negative) of the stages whose outputs are returned.
    input_size : int
        Side of the square input of the backbone.
    normalisation : {"efficientnet", "imagenet"}
    """

    def __init__(self, stages, layers, input_size, normalisation):
        super().__init__()
        self.layers = tuple(int(i) for i in layers)
        self.stages = nn.ModuleList(stages[: max(self.layers) + 1])
        self.stages.requires_grad_(False)
        self.input_size = int(input_size)
        self.normalisation = normalisation
        self.register_buffer(
            "mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        )
        self.register_buffer(
            "std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        )

    def forward(self, x):
        """Return the feature maps of ``layers`` for images ``(n, 1 or 3, H, W)``."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        size = (self.input_size, self.input_size)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(
                x, size=size, mode="bilinear", align_corners=False, antialias=True
            )
        if self.normalisation == "efficientnet":
            x = (x * 255.0 - 127.0) / 128.0
        else:
            x = (x - self.mean) / self.std
        outputs = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in self.layers:
                outputs.append(x)
        return outputs


def nearest_neighbours(queries, bank, query_block=2048, bank_block=8192, exclude=None):
    """Distance to and index of each query's nearest row of ``bank``, in blocks.

    Memory stays below ``query_block * bank_block`` distances whatever the
    sizes. ``exclude=(query_owner, bank_owner)`` (int tensors) leaves out the
    bank rows whose owner equals the query's (a training image's own patches).
    """
    if exporting():  # one block of queries: their number is not known then
        return _nearest_in_bank(queries, bank, bank_block)
    distances = torch.empty(len(queries), device=queries.device, dtype=queries.dtype)
    indices = torch.empty(len(queries), device=queries.device, dtype=torch.long)
    for q in range(0, len(queries), query_block):
        owners = None
        if exclude is not None:
            owners = (exclude[0][q : q + query_block], exclude[1])
        best, best_index = _nearest_in_bank(
            queries[q : q + query_block], bank, bank_block, owners
        )
        distances[q : q + query_block] = best
        indices[q : q + query_block] = best_index
    return distances, indices


def _nearest_in_bank(query, bank, bank_block, exclude=None):
    """:func:`nearest_neighbours` of one block of queries."""
    best = torch.full(query.shape[:1], math.inf, device=query.device)
    best_index = torch.zeros(query.shape[:1], device=query.device, dtype=torch.long)
    for b in range(0, len(bank), bank_block):
        d = euclidean_distances(query, bank[b : b + bank_block])
        if exclude is not None:
            query_owner, bank_owner = exclude
            same = query_owner[:, None] == bank_owner[None, b : b + bank_block]
            d = d.masked_fill(same, math.inf)
        value, index = d.min(dim=1)
        better = value < best
        best = torch.where(better, value, best)
        best_index = torch.where(better, index + b, best_index)
    return best, best_index


def greedy_coreset(features, n_select, generator, projection_dim=128):
    """Select a greedy k-center coreset of ``features``; return its row indices.

    As PatchCore selects its memory bank: start from a random row, then add the
    row farthest from those selected, ``n_select`` times in all; distances are
    computed on a random Gaussian projection to ``projection_dim`` dimensions
    (Johnson-Lindenstrauss), as in the paper, when the features are wider.
    Every row ends within the covering radius of a selected row, at most
    twice the smallest radius any ``n_select`` rows achieve.
    """
    n, dim = features.shape
    n_select = min(int(n_select), n)
    z = features
    if projection_dim is not None and dim > projection_dim:
        projection = torch.randn(
            dim, projection_dim, generator=generator, device=features.device
        ) / math.sqrt(projection_dim)
        z = features @ projection
    squared = (z * z).sum(dim=1)
    first = int(torch.randint(n, (1,), generator=generator, device=features.device))
    selected = torch.empty(n_select, dtype=torch.long, device=features.device)
    selected[0] = first
    centre = z[first]
    min_distance = (squared + squared[first] - 2 * (z @ centre)).clamp_min(0)
    for i in range(1, n_select):
        index = torch.argmax(min_distance)
        selected[i] = index
        centre = z[index]
        distance = (squared + squared[index] - 2 * (z @ centre)).clamp_min(0)
        min_distance = torch.minimum(min_distance, distance)
    return selected


def _gaussian_smooth(maps, sigma):
    """Gaussian blur of ``(n, H, W)`` maps with standard deviation ``sigma`` pixels."""
    if sigma <= 0:
        return maps
    radius = max(1, int(math.ceil(4 * sigma)))
    x = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    out = maps[:, None]
    out = F.pad(out, (radius, radius, 0, 0), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1))
    out = F.pad(out, (0, 0, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, -1, 1))
    return out[:, 0]


def _to_image_maps(patch_maps, size, sigma):
    """Patch-grid maps ``(n, h, w)`` -> ``(n, H, W)``: bilinear, then smoothed."""
    maps = F.interpolate(
        patch_maps[:, None], size=size, mode="bilinear", align_corners=False
    )[:, 0]
    return _gaussian_smooth(maps, sigma)


class PatchCoreModule(nn.Module):
    """PatchCore (Roth et al., arXiv 2106.08265) on a frozen feature extractor.

    Locally aware patch features: each tapped feature map is averaged over a
    ``patch_size`` neighbourhood, the deeper maps are upsampled (bilinear) to
    the first one's grid, and the channels are concatenated. The memory bank
    ``bank`` (set after fitting) holds normal patch features; a patch's
    anomaly is its distance to the nearest bank row.

    Parameters
    ----------
    extractor : PatchFeatureExtractor
    patch_size : int
        Side of the neighbourhood averaged around each position.
    n_reweight : int
        Bank neighbours of the nearest bank row used to re-weight the image
        score (the paper's eq. 7); ``0`` scores the maximum patch distance.
    map_sigma : float
        Standard deviation, in pixels of the backbone's input, of the
        Gaussian that smooths the maps.
    feature_dim : int
        Width of the concatenated patch features (for an empty bank).
    """

    def __init__(self, extractor, patch_size, n_reweight, map_sigma, feature_dim):
        super().__init__()
        self.extractor = extractor
        self.patch_size = int(patch_size)
        self.n_reweight = int(n_reweight)
        self.map_sigma = float(map_sigma)
        # the bank is stored centred on ``bank_centre``: distances computed
        # through dot products lose far less precision near the origin
        self.register_buffer("bank", torch.zeros(0, int(feature_dim)))
        self.register_buffer("bank_centre", torch.zeros(int(feature_dim)))
        self.register_buffer("bank_owner", torch.zeros(0, dtype=torch.long))

    def set_bank(self, features, owners):
        """Store ``features`` (rows of normal patch features) as the memory bank."""
        self.bank_centre = features.mean(dim=0)
        self.bank = features - self.bank_centre
        self.bank_owner = owners

    def patch_features(self, x):
        """Patch features ``(n, h, w, D)`` of images ``(n, C, H, W)``."""
        maps = self.extractor(x)
        pad = self.patch_size // 2
        grid = maps[0].shape[-2:]
        out = []
        for feature in maps:
            if self.patch_size > 1:
                feature = F.avg_pool2d(
                    F.pad(feature, (pad,) * 4, mode="replicate"), self.patch_size, 1
                )
            if feature.shape[-2:] != grid:
                feature = F.interpolate(
                    feature, size=grid, mode="bilinear", align_corners=False
                )
            out.append(feature)
        return torch.cat(out, dim=1).permute(0, 2, 3, 1)

    def score_and_map(
        self, x, with_map=True, owners=None, n_reweight=None, map_sigma=None
    ):
        """Image scores ``(n,)`` and maps ``(n, H, W)`` (or ``None``) of ``x``.

        ``owners`` (training image indices) leaves each image's own patches
        out of its nearest-neighbour search; ``n_reweight`` and ``map_sigma``
        override the module's.
        """
        n_reweight = self.n_reweight if n_reweight is None else int(n_reweight)
        map_sigma = self.map_sigma if map_sigma is None else float(map_sigma)
        features = self.patch_features(x)
        n, h, w, dim = features.shape
        flat = features.reshape(-1, dim) - self.bank_centre
        exclude = None
        if owners is not None:
            exclude = (owners.repeat_interleave(h * w), self.bank_owner)
        distances, nearest = nearest_neighbours(flat, self.bank, exclude=exclude)
        distances = distances.reshape(n, h * w)
        worst = distances.argmax(dim=1)
        rows = torch.arange(n, device=x.device)
        scores = distances[rows, worst]
        if n_reweight > 0 and len(self.bank) > 1:
            # eq. 7: down-weight a test patch whose nearest bank row m* lies in
            # a dense part of the bank (close to its own neighbours)
            m_star = self.bank[nearest.reshape(n, h * w)[rows, worst]]
            k = min(n_reweight, len(self.bank))
            distances_to_bank = euclidean_distances(m_star, self.bank)
            support = distances_to_bank.topk(k, largest=False).indices
            test_patch = flat.reshape(n, h * w, dim)[rows, worst]
            to_support = (test_patch[:, None] - self.bank[support]).norm(dim=-1)
            weight = 1 - torch.softmax(to_support, dim=1)[:, 0]
            scores = weight * scores
        maps = None
        if with_map:
            sigma = map_sigma * x.shape[-1] / self.extractor.input_size
            maps = _to_image_maps(distances.reshape(n, h, w), x.shape[-2:], sigma)
        return scores, maps


class PaDiMModule(nn.Module):
    """PaDiM (Defard et al., arXiv 2011.08785) on a frozen feature extractor.

    The tapped maps are upsampled (nearest) to the first one's grid and
    concatenated; ``channels`` keeps a random subset of the channels. Each
    grid position has a Gaussian (``mean``, ``precision``, set after
    fitting); a patch's anomaly is its Mahalanobis distance.

    Parameters
    ----------
    extractor : PatchFeatureExtractor
    channels : int
        Number of channels kept.
    grid : tuple of int
        ``(h, w)`` of the first tapped map.
    map_sigma : float
        Standard deviation, in pixels of the backbone's input, of the
        Gaussian that smooths the maps.
    """

    def __init__(self, extractor, channels, grid, map_sigma):
        super().__init__()
        self.extractor = extractor
        self.map_sigma = float(map_sigma)
        h, w = grid
        self.register_buffer("channel_index", torch.zeros(channels, dtype=torch.long))
        self.register_buffer("mean", torch.zeros(h * w, channels))
        self.register_buffer("precision", torch.zeros(h * w, channels, channels))

    def patch_features(self, x):
        """Kept channels at each grid position: ``(n, h * w, channels)``."""
        return self._features_and_grid(x)[0]

    def _features_and_grid(self, x):
        maps = self.extractor(x)
        grid = maps[0].shape[-2:]
        out = [
            m if m.shape[-2:] == grid else F.interpolate(m, size=grid, mode="nearest")
            for m in maps
        ]
        features = torch.cat(out, dim=1)[:, self.channel_index]
        return features.flatten(2).transpose(1, 2), grid

    def score_and_map(self, x, with_map=True, map_sigma=None):
        """Image scores (max of the map) ``(n,)`` and maps ``(n, H, W)`` or ``None``."""
        map_sigma = self.map_sigma if map_sigma is None else float(map_sigma)
        features, (h, w) = self._features_and_grid(x)
        centred = features - self.mean
        squared = torch.einsum("npi,pij,npj->np", centred, self.precision, centred)
        distances = squared.clamp_min(0).sqrt().reshape(x.shape[0], h, w)
        sigma = map_sigma * x.shape[-1] / self.extractor.input_size
        maps = _to_image_maps(distances, x.shape[-2:], sigma)
        scores = maps.flatten(1).amax(dim=1)
        return scores, maps if with_map else None
