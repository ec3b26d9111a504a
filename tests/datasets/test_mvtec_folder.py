import shutil
import sys

import numpy as np
import pytest

from skanomaly.datasets import load_mvtec_folder

Image = pytest.importorskip("PIL.Image")


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _rgb(rng, size=(12, 16)):
    return rng.randint(0, 256, size=(*size, 3)).astype(np.uint8)


def _make_category(root, size=(12, 16)):
    """A tiny MVTec-style category: 3 train, 2 good + 3 defective test images."""
    rng = np.random.RandomState(0)
    for i in range(3):
        _save(root / "train" / "good" / f"{i:03d}.png", _rgb(rng, size))
    for i in range(2):
        _save(root / "test" / "good" / f"{i:03d}.png", _rgb(rng, size))
    masks = {}
    for defect, n in (("crack", 2), ("scratch", 1)):
        for i in range(n):
            _save(root / "test" / defect / f"{i:03d}.png", _rgb(rng, size))
            mask = np.zeros(size, dtype=np.uint8)
            mask[2 : 4 + i, 3:7] = 255
            masks[f"test/{defect}/{i:03d}.png"] = mask // 255
            _save(root / "ground_truth" / defect / f"{i:03d}_mask.png", mask)
    (root / "train" / "good" / "notes.txt").write_text("not an image")
    return masks


def test_load_category(tmp_path):
    """Check images, labels, masks, defect types and names of a category."""
    masks = _make_category(tmp_path)
    data = load_mvtec_folder(tmp_path)
    assert data.X_train.shape == (3, 12, 16, 3)
    assert data.X_train.dtype == np.uint8
    assert data.X_test.shape == (5, 12, 16, 3)
    np.testing.assert_array_equal(data.y_test, [0, 0, 1, 1, 1])
    assert data.y_test.dtype == np.int64
    assert data.defect_type.tolist() == ["good", "good", "crack", "crack", "scratch"]
    assert data.filenames.tolist() == [
        "test/good/000.png",
        "test/good/001.png",
        "test/crack/000.png",
        "test/crack/001.png",
        "test/scratch/000.png",
    ]
    assert data.filenames_train.tolist() == [
        "train/good/000.png",
        "train/good/001.png",
        "train/good/002.png",
    ]
    assert data.masks_test.shape == (5, 12, 16)
    assert data.masks_test.dtype == np.uint8
    assert not data.masks_test[:2].any()
    for i, name in enumerate(data.filenames[2:], start=2):
        np.testing.assert_array_equal(data.masks_test[i], masks[name])
    on_disk = np.asarray(Image.open(tmp_path / "test" / "crack" / "001.png"))
    np.testing.assert_array_equal(data.X_test[3], on_disk)


def test_grayscale_and_resizing(tmp_path):
    """Check grayscale output and resizing of images and (binary) masks."""
    _make_category(tmp_path)
    data = load_mvtec_folder(tmp_path, image_size=(6, 8), grayscale=True)
    assert data.X_train.shape == (3, 6, 8)
    assert data.X_test.shape == (5, 6, 8)
    assert data.masks_test.shape == (5, 6, 8)
    assert set(np.unique(data.masks_test)) == {0, 1}
    assert data.masks_test[2:].reshape(3, -1).any(axis=1).all()
    square = load_mvtec_folder(tmp_path, image_size=10)
    assert square.X_test.shape == (5, 10, 10, 3)


def test_different_sizes_need_image_size(tmp_path):
    """Check that mixed sizes raise unless image_size is given."""
    _make_category(tmp_path)
    rng = np.random.RandomState(1)
    _save(tmp_path / "test" / "good" / "002.png", _rgb(rng, (20, 20)))
    with pytest.raises(ValueError, match="pass image_size"):
        load_mvtec_folder(tmp_path)
    data = load_mvtec_folder(tmp_path, image_size=8)
    assert data.X_test.shape == (6, 8, 8, 3)


def test_missing_mask_raises_naming_the_file(tmp_path):
    """Check that a defective image without a mask raises a ValueError."""
    _make_category(tmp_path)
    (tmp_path / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(ValueError, match="001_mask.png") as excinfo:
        load_mvtec_folder(tmp_path)
    assert "test/crack/001.png" in str(excinfo.value)


def test_mask_of_wrong_size_raises(tmp_path):
    """Check that a mask whose size differs from its image raises."""
    _make_category(tmp_path)
    _save(
        tmp_path / "ground_truth" / "scratch" / "000_mask.png",
        np.zeros((5, 5), dtype=np.uint8),
    )
    with pytest.raises(ValueError, match="has size"):
        load_mvtec_folder(tmp_path)


@pytest.mark.parametrize(
    "missing, error, match",
    [
        ("", FileNotFoundError, "does not exist"),
        ("train", FileNotFoundError, "train/good"),
        ("test", FileNotFoundError, "test"),
    ],
)
def test_missing_folders_raise(tmp_path, missing, error, match):
    """Check that a missing root, train/good or test folder is reported."""
    root = tmp_path / "category"
    _make_category(root)
    shutil.rmtree(root / missing if missing else root)
    with pytest.raises(error, match=match):
        load_mvtec_folder(root)


def test_empty_training_folder_raises(tmp_path):
    """Check that a train/good folder without images raises a ValueError."""
    (tmp_path / "train" / "good").mkdir(parents=True)
    (tmp_path / "test" / "good").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds no image"):
        load_mvtec_folder(tmp_path)


@pytest.mark.parametrize("image_size", [0, (4,), (4, -1), 2.5, True])
def test_invalid_image_size_raises(tmp_path, image_size):
    """Check that a bad image_size raises a ValueError."""
    _make_category(tmp_path)
    with pytest.raises(ValueError, match="image_size must be"):
        load_mvtec_folder(tmp_path, image_size=image_size)


def test_missing_pillow_raises_helpful_import_error(tmp_path, monkeypatch):
    """Check that a missing Pillow gives an ImportError saying what to do."""
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        load_mvtec_folder(tmp_path)
