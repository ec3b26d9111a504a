"""PatchCore and PaDiM: training-free detectors on a frozen ImageNet backbone."""

from .estimator import PaDiM, PatchCore
from .torch_model import (
    PaDiMModule,
    PatchCoreModule,
    PatchFeatureExtractor,
    greedy_coreset,
    nearest_neighbours,
)

__all__ = [
    "PaDiM",
    "PaDiMModule",
    "PatchCore",
    "PatchCoreModule",
    "PatchFeatureExtractor",
    "greedy_coreset",
    "nearest_neighbours",
]
