import sys

import numpy as np
import pytest

from skanomaly.datasets import make_texture_defects
from skanomaly.datasets._textures import DEFECT_TYPES

skimage_data = pytest.importorskip("skimage.data")


def _clean_crops(data, texture, size):
    photo = getattr(skimage_data, texture)().astype(np.float64) / 255.0
    return np.stack(
        [photo[r : r + size, c : c + size] for r, c in data.crop_origin]
    ).astype(np.float32)


def test_shapes_dtypes_and_labels():
    """Check the arrays returned and that masks are zero iff the image is good."""
    data = make_texture_defects(
        40, image_size=32, anomaly_fraction=0.25, random_state=0
    )
    assert data.images.shape == (40, 32, 32)
    assert data.images.dtype == np.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert data.masks.shape == (40, 32, 32)
    assert data.masks.dtype == np.uint8
    assert set(np.unique(data.masks)) <= {0, 1}
    assert data.target.dtype == np.int64
    assert data.target.sum() == 10
    has_defect = data.masks.reshape(40, -1).any(axis=1)
    np.testing.assert_array_equal(has_defect, data.target == 1)
    np.testing.assert_array_equal(data.defect_type == "good", data.target == 0)
    assert set(data.defect_type[data.target == 1]) <= set(DEFECT_TYPES)
    assert data.crop_origin.shape == (40, 2)
    assert "MVTec" in data.DESCR


@pytest.mark.parametrize("texture", ["brick", "grass", "gravel"])
def test_masks_mark_changed_pixels(texture):
    """Check that mask pixels differ from the clean crop, others barely."""
    size = 48
    data = make_texture_defects(24, image_size=size, texture=texture, random_state=1)
    clean = _clean_crops(data, texture, size)
    diff = np.abs(data.images - clean)
    for i in range(len(data.images)):
        mask = data.masks[i].astype(bool)
        if data.target[i] == 0:
            np.testing.assert_array_equal(data.images[i], clean[i])
            continue
        inside = diff[i][mask]
        assert inside.mean() > 0.04, data.defect_type[i]
        assert np.mean(inside > 1 / 255) > 0.9, data.defect_type[i]
        assert diff[i][~mask].mean() < inside.mean() / 3, data.defect_type[i]


def test_every_defect_type_and_stains_keep_the_mean():
    """Check each defect type alone; stains do not shift the image mean."""
    assert DEFECT_TYPES[:4] == ("scratch", "blob", "patch", "stain")
    assert set(DEFECT_TYPES[4:]) == {"crack", "spots", "hole", "misprint"}
    for kind in DEFECT_TYPES:
        for size in (32, 128):
            data = make_texture_defects(
                6,
                image_size=size,
                defect_types=[kind],
                anomaly_fraction=1.0,
                random_state=2,
            )
            assert (data.defect_type == kind).all()
            assert data.masks.reshape(6, -1).any(axis=1).all()
    stains = make_texture_defects(
        10, image_size=64, defect_types="stain", anomaly_fraction=1.0, random_state=3
    )
    clean = _clean_crops(stains, "brick", 64)
    shift = np.abs(stains.images.mean(axis=(1, 2)) - clean.mean(axis=(1, 2)))
    assert shift.max() < 0.005


def test_deterministic_with_random_state():
    """Check that an int random_state reproduces the data, another does not."""
    first = make_texture_defects(12, image_size=32, random_state=5)
    second = make_texture_defects(12, image_size=32, random_state=5)
    other = make_texture_defects(12, image_size=32, random_state=6)
    for key in ("images", "masks", "target", "defect_type", "crop_origin"):
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first.images, other.images)


def test_train_and_test_subsets_never_share_pixels():
    """Check that train crops come from the top half, test from the bottom."""
    size = 64
    train = make_texture_defects(
        50, image_size=size, subset="train", anomaly_fraction=0.0, random_state=0
    )
    test = make_texture_defects(
        50, image_size=size, subset="test", anomaly_fraction=0.0, random_state=0
    )
    assert (train.crop_origin[:, 0] + size <= 256).all()
    assert (test.crop_origin[:, 0] >= 256).all()
    assert (test.crop_origin[:, 0] + size <= 512).all()
    assert not np.array_equal(train.images, test.images)


def test_anomaly_fraction_extremes_and_return_X_y():
    """Check all-normal and all-defective sets, and the (X, y) tuple."""
    X, y = make_texture_defects(
        5, image_size=16, anomaly_fraction=0.0, random_state=0, return_X_y=True
    )
    assert X.shape == (5, 16, 16) and not y.any()
    data = make_texture_defects(
        5, image_size=16, anomaly_fraction=1.0, texture="gravel", random_state=0
    )
    assert data.target.all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=2.5), "n_samples"),
        (dict(image_size=300), "image_size"),
        (dict(image_size=4), "image_size"),
        (dict(texture="wood"), "texture must be one of"),
        (dict(anomaly_fraction=1.5), "anomaly_fraction"),
        (dict(subset="all"), "subset must be"),
        (dict(defect_types=()), "defect_types"),
        (dict(defect_types=("scratch", "pit")), "defect_types"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    """Check that bad arguments raise a ValueError naming the parameter."""
    with pytest.raises(ValueError, match=match):
        make_texture_defects(**kwargs)


def test_missing_scikit_image_raises_helpful_import_error(monkeypatch):
    """Check that a missing scikit-image gives an ImportError saying what to do."""
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ImportError, match="pip install scikit-image"):
        make_texture_defects(2, random_state=0)
