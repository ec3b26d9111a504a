"""Benchmark tasks: data sets, one-class splits, sizes."""

import functools
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from ..datasets import (
    fetch_fashion_mnist,
    load_digits,
    load_mvtec_folder,
    make_one_class_split,
    make_texture_defects,
)

#: Data sets :func:`run_benchmark` knows, with their classes.
DATASETS = {
    "fashion-mnist": tuple(range(10)),
    "digits": tuple(range(10)),
    "textures": ("brick", "grass", "gravel"),
    "mvtec": None,  # the categories found under data_path
}

#: Default (training images, test images) per data set; None keeps them all.
_DEFAULT_SIZES = {
    "fashion-mnist": (1000, 2000),
    "digits": (None, None),
    "textures": (400, 200),
    "mvtec": (None, None),
}


# --------------------------------------------------------------------- data
@dataclass
class Task:
    """One train/test split of a benchmark: a normal class and a seed."""

    dataset: str
    normal_class: object
    seed: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    masks_test: np.ndarray = None
    #: Defect type of each test image ("good" for normal ones) where the data
    #: set names them (textures, MVTec AD); None otherwise.
    defect_types_test: np.ndarray = None


def _subsample(n_available, n, rng):
    if n is None or n >= n_available:
        return np.arange(n_available)
    return np.sort(rng.choice(n_available, size=n, replace=False))


@functools.lru_cache(maxsize=2)
def _load(dataset, data_path=None, image_size=None, normal_class=None):
    """Load a data set once per process; the two most recent stay in memory."""
    if dataset == "fashion-mnist":
        train = fetch_fashion_mnist(subset="train")
        test = fetch_fashion_mnist(subset="test")
        return train.images, train.target, test.images, test.target
    if dataset == "digits":
        return load_digits(return_X_y=True)
    return load_mvtec_folder(Path(data_path) / str(normal_class), image_size=image_size)


def _mvtec_categories(data_path):
    root = Path(data_path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data_path {str(data_path)!r} is not a folder; expected a folder "
            "of MVTec AD-style categories (<category>/train/good, "
            "<category>/test/<defect>, <category>/ground_truth/<defect>)"
        )
    categories = sorted(
        p.name for p in root.iterdir() if (p / "train" / "good").is_dir()
    )
    if not categories:
        raise FileNotFoundError(
            f"no category with a train/good folder under {str(data_path)!r}; "
            "expected <category>/train/good, <category>/test/<defect> and "
            "<category>/ground_truth/<defect>"
        )
    return tuple(categories)


def dataset_classes(dataset, data_path=None):
    """Return the classes (or categories) of a benchmark data set."""
    _check_dataset(dataset, data_path)
    if dataset == "mvtec":
        return _mvtec_categories(data_path)
    return DATASETS[dataset]


def _check_dataset(dataset, data_path):
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}"
        )
    if dataset == "mvtec" and data_path is None:
        raise ValueError(
            "dataset='mvtec' needs data_path: a folder of MVTec AD-style "
            "categories, e.g. the extracted mvtec_anomaly_detection folder"
        )


def load_task(
    dataset,
    normal_class,
    seed=0,
    *,
    contamination=0.0,
    n_train=None,
    n_test=None,
    data_path=None,
    image_size=None,
):
    """Build the train/test split of one benchmark job.

    Parameters
    ----------
    dataset : {"fashion-mnist", "digits", "textures", "mvtec"}
        "fashion-mnist" and "digits": one class is normal, the others are
        anomalies (one-class-vs-rest). "textures": defects drawn on crops of a
        real texture photograph (:func:`~skanomaly.datasets.make_texture_defects`),
        with pixel masks. "mvtec": a category folder of an MVTec AD-style data
        set under ``data_path``, with pixel masks.
    normal_class : int or str
        The normal class (a texture or category name for the last two).
    seed : int, default=0
        Seeds the training subsample, the contaminating images, and the
        detector. The test split does not depend on it (digits are split in
        halves with a fixed seed), except for the generated textures.
    contamination : float, default=0.0
        Fraction p of anomalies in the training set: ``floor(p * n / (1 - p))``
        images of the other classes (one-class-vs-rest) or defective crops
        (textures) are added to ``n`` normal ones. Not available for "mvtec",
        whose training folder holds good images only.
    n_train, n_test : int, default=None
        Number of normal training images and of test images (a class-stratified
        subsample drawn with a fixed seed); None keeps the data set's default
        (1000 and 2000 for Fashion-MNIST, 400 and 200 for textures, all
        otherwise).
    data_path : str or path-like, default=None
        For "mvtec": the folder that holds the category folders.
    image_size : int, default=None
        For "textures" (default 64) and "mvtec" (default: as stored): the side
        of the square images.

    Returns
    -------
    task : Task
        ``X_train``, ``y_train`` (1 for contaminating anomalies), ``X_test``,
        ``y_test`` (1 for anomalies), ``masks_test`` (None without masks)
        and ``defect_types_test`` (None where the data set names no defect
        types).
    """
    _check_dataset(dataset, data_path)
    if not isinstance(contamination, numbers.Real) or not 0 <= contamination < 1:
        raise ValueError(
            f"contamination must be a number in [0, 1); got {contamination!r}"
        )
    classes = dataset_classes(dataset, data_path)
    if normal_class not in classes:
        raise ValueError(
            f"{dataset} has no class {normal_class!r}; expected one of {list(classes)}"
        )
    default_train, default_test = _DEFAULT_SIZES[dataset]
    n_train = default_train if n_train is None else n_train
    n_test = default_test if n_test is None else n_test
    rng = check_random_state(seed)
    masks = kinds = None
    if dataset in ("fashion-mnist", "digits"):
        if dataset == "fashion-mnist":
            X, y, X_test, y_test = _load(dataset)
        else:  # digits have no official test split: hold out half of each class
            X, y = _load(dataset)
            X, X_test, y, y_test = train_test_split(
                X, y, test_size=0.5, stratify=y, random_state=0
            )
        normal = np.flatnonzero(y == normal_class)
        normal = normal[_subsample(len(normal), n_train, rng)]
        others = np.flatnonzero(y != normal_class)
        pool = np.concatenate([normal, others])
        test_idx = _subsample(len(X_test), n_test, np.random.RandomState(0))
        X_train, y_train, X_test, y_test = make_one_class_split(
            X[pool],
            y[pool],
            normal_class,
            X_test=X_test[test_idx],
            y_test=y_test[test_idx],
            contamination=contamination,
            random_state=seed,
        )
    elif dataset == "textures":
        size = 64 if image_size is None else image_size
        n_anomalies = math.floor(contamination * n_train / (1 - contamination))
        train = make_texture_defects(
            n_train + n_anomalies,
            image_size=size,
            texture=normal_class,
            anomaly_fraction=n_anomalies / (n_train + n_anomalies),
            subset="train",
            random_state=seed,
        )
        test = make_texture_defects(
            n_test,
            image_size=size,
            texture=normal_class,
            anomaly_fraction=0.5,
            subset="test",
            random_state=seed + 1,
        )
        X_train, y_train = train.images, train.target
        X_test, y_test, masks = test.images, test.target, test.masks
        kinds = test.defect_type
    else:  # mvtec
        if contamination:
            raise ValueError(
                "contamination is not available for dataset='mvtec': its "
                "training folder holds good images only"
            )
        data = _load(dataset, data_path, image_size, normal_class)
        train_idx = _subsample(len(data.X_train), n_train, rng)
        test_idx = _subsample(len(data.X_test), n_test, np.random.RandomState(0))
        X_train = data.X_train[train_idx]
        y_train = np.zeros(len(X_train), dtype=np.int64)
        X_test, y_test = data.X_test[test_idx], data.y_test[test_idx]
        masks = data.masks_test[test_idx]
        kinds = data.defect_type[test_idx]
    return Task(
        dataset, normal_class, seed, X_train, y_train, X_test, y_test, masks, kinds
    )
