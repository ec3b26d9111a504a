"""Tests specific to PatchCore and PaDiM (pretrained patch features)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from skanomaly import ConvAutoEncoder, PaDiM, PatchCore
from skanomaly.datasets import make_texture_defects
from skanomaly.detectors.patch_features import greedy_coreset, nearest_neighbours
from skanomaly.metrics import pixel_roc_auc

missing = PatchCore._missing_dependencies()
pytestmark = pytest.mark.skipif(missing is not None, reason=str(missing))


def _covering_radius(points, centres):
    return torch.cdist(points, centres).min(dim=1).values.max().item()


def test_greedy_coreset_covers_better_than_random():
    """Check that the k-center coreset's covering radius beats random rows'."""
    generator = torch.Generator().manual_seed(0)
    # clustered points: a few far clusters that random rows can miss
    centres = torch.randn(20, 32, generator=generator) * 10
    sizes = torch.randint(5, 200, (20,), generator=generator)
    points = torch.cat(
        [
            c + torch.randn(int(s), 32, generator=generator)
            for c, s in zip(centres, sizes)
        ]
    )
    for n_select in (20, 60):
        selected = greedy_coreset(points, n_select, torch.Generator().manual_seed(1))
        assert len(set(selected.tolist())) == n_select
        greedy = _covering_radius(points, points[selected])
        for seed in range(5):
            rows = torch.randperm(
                len(points), generator=torch.Generator().manual_seed(seed)
            )
            assert greedy <= _covering_radius(points, points[rows[:n_select]])
    # with a projection the radius stays within a small factor of the exact one
    projected = greedy_coreset(points, 60, torch.Generator().manual_seed(1), 8)
    assert _covering_radius(points, points[projected]) < 2.5 * greedy


def test_nearest_neighbours_in_blocks_equals_brute_force():
    """Check blocked search (and owner exclusion) against a full distance matrix."""
    generator = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(300, 7, generator=generator), torch.randn(500, 7)
    distances, indices = nearest_neighbours(
        queries, bank, query_block=64, bank_block=70
    )
    full = torch.cdist(queries, bank)
    torch.testing.assert_close(distances, full.min(dim=1).values)
    assert torch.equal(indices, full.argmin(dim=1))
    query_owner = torch.arange(300) % 10
    bank_owner = torch.arange(500) % 10
    distances, _ = nearest_neighbours(
        queries, bank, query_block=64, bank_block=70, exclude=(query_owner, bank_owner)
    )
    masked = full.masked_fill(query_owner[:, None] == bank_owner[None, :], np.inf)
    torch.testing.assert_close(distances, masked.min(dim=1).values)


def _texture(n, subset, seed, anomaly_fraction=0.5, size=64):
    data = make_texture_defects(
        n,
        image_size=size,
        texture="brick",
        subset=subset,
        anomaly_fraction=anomaly_fraction,
        random_state=seed,
    )
    return data.images, data.masks, data.target


@pytest.fixture(scope="module")
def brick():
    X_train, _, _ = _texture(60, "train", 0, anomaly_fraction=0.0)
    X_test, masks, y = _texture(40, "test", 1)
    return X_train, X_test, masks, y


#: the settings for textures: PatchCore on the stride-4 and stride-8 stages
TEXTURE_SETTINGS = {PatchCore: {"layers": (3, 5)}, PaDiM: {}}


@pytest.mark.parametrize("detector_class", [PatchCore, PaDiM])
def test_beats_conv_autoencoder_on_a_texture(detector_class, brick):
    """Check image and pixel ROC AUC on brick defects against ConvAutoEncoder."""
    X_train, X_test, masks, y = brick
    settings = TEXTURE_SETTINGS[detector_class]
    detector = detector_class(device="cpu", random_state=0, **settings).fit(X_train)
    maps, scores = detector.anomaly_map(X_test, return_scores=True)
    assert maps.shape == X_test.shape
    baseline = ConvAutoEncoder(device="cpu", random_state=0).fit(X_train)
    base_maps, base_scores = baseline.anomaly_map(X_test, return_scores=True)
    auc, pixel = roc_auc_score(y, scores), pixel_roc_auc(masks, maps)
    base_auc, base_pixel = (
        roc_auc_score(y, base_scores),
        pixel_roc_auc(masks, base_maps),
    )
    assert auc > base_auc + 0.05, (auc, base_auc)
    assert pixel > base_pixel + 0.05, (pixel, base_pixel)
    assert pixel > 0.85


@pytest.mark.parametrize("detector_class", [PatchCore, PaDiM])
def test_planted_defect_lands_in_the_map_top_pixels(detector_class):
    """Check that a bright square on a smooth texture is where the map peaks."""
    X_train, _, _ = _texture(40, "train", 2, anomaly_fraction=0.0)
    settings = TEXTURE_SETTINGS[detector_class]
    detector = detector_class(device="cpu", random_state=0, **settings).fit(X_train)
    image = X_train[:1].copy()
    image[0, 20:30, 36:46] = 1.0
    heat = detector.anomaly_map(image)[0]
    top = heat >= np.quantile(heat, 0.95)
    inside = np.zeros_like(top)
    inside[16:34, 32:50] = True  # the square and a margin of the smoothing
    assert top[inside].mean() > 0.5 and (top & inside).sum() > 0.8 * top.sum()


def test_patchcore_coreset_ratio_and_training_scores(brick):
    """Check the bank size, and that training scores leave each image out."""
    X_train = brick[0][:20]
    full = PatchCore(device="cpu", coreset_ratio=1.0, random_state=0).fit(X_train)
    assert len(full.module_.bank) == full.n_patches_
    small = PatchCore(device="cpu", coreset_ratio=0.05, random_state=0).fit(X_train)
    assert len(small.module_.bank) == round(0.05 * small.n_patches_)
    # with its own patches in the bank a training image scores about 0; its
    # training score compares it with the other images only
    own = full.decision_function(X_train)
    assert (full.decision_scores_ > 10 * own + 0.5).all()
    assert np.isfinite(small.decision_scores_).all()


def test_invalid_parameters_name_themselves():
    """Check the errors of layers, coreset_ratio and channels."""
    X = np.random.default_rng(0).random((8, 32, 32)).astype(np.float32)
    for params, name in [
        ({"layers": (11, 5)}, "layers"),
        ({"layers": (40,)}, "layers"),
        ({"coreset_ratio": 0.0}, "coreset_ratio"),
        ({"input_size": 16}, "input_size"),
    ]:
        with pytest.raises(ValueError, match=name):
            PatchCore(device="cpu", **params).fit(X)
    with pytest.raises(ValueError, match="1 or 3 channel"):
        PaDiM(device="cpu").fit(np.zeros((8, 2, 32, 32), dtype=np.float32))


@pytest.mark.parametrize("detector_class", [PatchCore, PaDiM])
def test_verbose_shows_a_progress_bar(detector_class, capsys):
    """Check that verbose fits show the feature extraction's progress; quiet: none."""
    X = np.random.default_rng(0).random((40, 32, 32)).astype(np.float32)
    detector_class(device="cpu", input_size=32).fit(X)
    assert capsys.readouterr().err == ""
    detector_class(device="cpu", input_size=32, verbose=1).fit(X)
    err = capsys.readouterr().err
    assert f"{detector_class.__name__} features" in err and "40/40" in err
