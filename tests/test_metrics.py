import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from skanomaly.metrics import aupro, f1_max, pixel_roc_auc, pro_curve


def _blob_masks(n_images=20, size=16, seed=0):
    """Random masks with a few small rectangular defects, some images clean."""
    rng = np.random.RandomState(seed)
    masks = np.zeros((n_images, size, size), dtype=bool)
    for image in masks[: n_images // 2]:
        for _ in range(rng.randint(1, 4)):
            row, col = rng.randint(0, size - 3, size=2)
            height, width = rng.randint(1, 4, size=2)
            image[row : row + height, col : col + width] = True
    return masks


def _regions(mask):
    """Label the 8-connected regions of a 2-D mask by a plain flood fill."""
    labels = np.zeros(mask.shape, dtype=int)
    n_regions = 0
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        n_regions += 1
        labels[start] = n_regions
        stack = [start]
        while stack:
            row, col = stack.pop()
            for d_row in (-1, 0, 1):
                for d_col in (-1, 0, 1):
                    r, c = row + d_row, col + d_col
                    if (
                        0 <= r < mask.shape[0]
                        and 0 <= c < mask.shape[1]
                        and mask[r, c]
                        and not labels[r, c]
                    ):
                        labels[r, c] = n_regions
                        stack.append((r, c))
    return labels, n_regions


def test_pixel_roc_auc_perfect_random_and_inverted():
    """Check that pixel_roc_auc is 1 for a perfect map, ~0.5 for noise, ~0 inverted."""
    masks = _blob_masks()
    assert pixel_roc_auc(masks, masks.astype(float)) == 1.0
    assert pixel_roc_auc(masks, -masks.astype(float)) == 0.0

    rng = np.random.RandomState(0)
    big_masks = rng.rand(50, 32, 32) < 0.2
    noise = rng.rand(50, 32, 32)
    assert abs(pixel_roc_auc(big_masks, noise) - 0.5) < 0.02
    close_to_zero = pixel_roc_auc(masks, -(masks + 0.1 * rng.rand(*masks.shape)))
    assert close_to_zero < 0.01


def test_pixel_roc_auc_matches_sklearn_and_accepts_single_image():
    """Check that pixel_roc_auc pools pixels like roc_auc_score on raveled input."""
    rng = np.random.RandomState(1)
    masks = _blob_masks(seed=1).astype(int)
    maps = masks + rng.randn(*masks.shape)
    expected = roc_auc_score(masks.ravel(), maps.ravel())
    assert pixel_roc_auc(masks, maps) == pytest.approx(expected)
    assert isinstance(pixel_roc_auc(masks, maps), float)
    single = pixel_roc_auc(masks[0], maps[0])
    assert single == pytest.approx(roc_auc_score(masks[0].ravel(), maps[0].ravel()))
    assert pixel_roc_auc(masks.tolist(), maps.tolist()) == pytest.approx(expected)


def test_metrics_do_not_modify_inputs():
    """Check that the metrics leave the caller's arrays untouched."""
    rng = np.random.RandomState(2)
    masks = _blob_masks(seed=2).astype(np.uint8)
    maps = rng.rand(*masks.shape)
    masks_copy, maps_copy = masks.copy(), maps.copy()
    pixel_roc_auc(masks, maps)
    aupro(masks, maps)
    aupro(masks, maps, n_thresholds=10)
    pro_curve(masks, maps)
    f1_max(masks.ravel(), maps.ravel())
    np.testing.assert_array_equal(masks, masks_copy)
    np.testing.assert_array_equal(maps, maps_copy)


def test_aupro_perfect_detector_scores_one():
    """Check that aupro is 1.0 for a map equal to the mask, whatever the limit."""
    masks = _blob_masks()
    for fpr_limit in (0.01, 0.3, 1.0):
        assert aupro(masks, masks.astype(float), fpr_limit=fpr_limit) == 1.0
        assert aupro(masks, masks, fpr_limit=fpr_limit, n_thresholds=5) == 1.0


def test_aupro_one_region_of_two_found_gives_half():
    """Check that finding one of two regions at FPR 0, the other never, gives 0.5."""
    masks = np.zeros((2, 16, 16), dtype=bool)
    masks[0, 2:5, 2:5] = True  # small region, found at once
    masks[1, 4:12, 4:12] = True  # large region, scored below every normal pixel
    maps = np.full(masks.shape, 0.5)
    maps[0, 2:5, 2:5] = 1.0
    maps[1, 4:12, 4:12] = 0.0
    assert aupro(masks, maps) == pytest.approx(0.5)
    assert aupro(masks, maps, n_thresholds=20) == pytest.approx(0.5)
    # The pixel ROC AUC, dominated by the large region, tells another story.
    assert pixel_roc_auc(masks, maps) < 0.2


def test_aupro_uses_eight_connectivity():
    """Check that diagonal neighbours form one region, separate blobs two."""
    masks = np.zeros((8, 8), dtype=bool)
    masks[1, 1] = masks[2, 2] = True  # one region through a corner
    masks[6, 6] = True  # a second region
    maps = np.zeros((8, 8))
    maps[1, 1] = 1.0  # half of the first region
    fpr, pro, _ = pro_curve(masks, maps)
    assert pro[1] == pytest.approx(0.25)  # (1/2 + 0) / 2 regions


def test_aupro_respects_fpr_limit():
    """Check that regions found only beyond fpr_limit do not count."""
    rng = np.random.RandomState(0)
    masks = np.zeros((10, 20, 20), dtype=bool)
    masks[:, 5:10, 5:10] = True
    maps = rng.rand(*masks.shape)
    # Regions score like the median normal pixel: found only at FPR ~0.5.
    maps[masks] = np.median(maps[~masks])
    assert aupro(masks, maps, fpr_limit=0.3) == 0.0
    assert aupro(masks, maps, fpr_limit=0.45) == 0.0
    assert aupro(masks, maps, fpr_limit=1.0) == pytest.approx(0.5, abs=0.01)
    # Interpolation at the limit: half of a linear ramp gives a quarter.
    simple_masks = np.array([[1, 0, 0]])
    simple_maps = np.array([[0.0, 0.0, 0.0]])
    # One tie group: curve goes straight from (0, 0) to (1, 1).
    assert aupro(simple_masks, simple_maps, fpr_limit=0.5) == pytest.approx(0.25)
    assert aupro(simple_masks, simple_maps, fpr_limit=1.0) == pytest.approx(0.5)


@pytest.mark.parametrize("fpr_limit", [0.05, 0.3, 1.0])
def test_aupro_matches_brute_force_reference(fpr_limit):
    """Check that aupro matches a slow threshold-by-threshold implementation."""
    rng = np.random.RandomState(3)
    masks = _blob_masks(n_images=6, size=10, seed=3)
    # Rounded scores create ties between normal and anomalous pixels.
    maps = np.round(masks * 0.4 + rng.rand(*masks.shape), 1)
    regions_per_image = [
        (i, r) for i, mask in enumerate(masks) for r in _split_regions(mask)
    ]
    expected = _reference(masks, maps, regions_per_image, fpr_limit)
    assert aupro(masks, maps, fpr_limit=fpr_limit) == pytest.approx(expected)
    approx = aupro(masks, maps, fpr_limit=fpr_limit, n_thresholds=50)
    assert approx == pytest.approx(expected, abs=0.05)


def _split_regions(mask):
    """Return one boolean mask per 8-connected region of a 2-D mask."""
    labels, n_regions = _regions(mask)
    return [labels == k for k in range(1, n_regions + 1)]


def _reference(masks, maps, regions, fpr_limit):
    """Slow AUPRO: one pass over all images for every distinct threshold."""
    normal = ~masks
    points = [(0.0, 0.0)]
    for threshold in np.unique(maps)[::-1]:
        flagged = maps >= threshold
        fpr = (flagged & normal).sum() / normal.sum()
        pro = np.mean([(flagged[i] & r).sum() / r.sum() for i, r in regions])
        points.append((fpr, pro))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def test_pro_curve_matches_brute_force_points():
    """Check that pro_curve gives the FPR and PRO of every distinct threshold."""
    rng = np.random.RandomState(4)
    masks = _blob_masks(n_images=4, size=10, seed=4)
    maps = np.round(rng.rand(*masks.shape), 2)
    fpr, pro, thresholds = pro_curve(masks, maps)
    assert thresholds[0] == np.inf and fpr[0] == 0.0 and pro[0] == 0.0
    assert fpr[-1] == 1.0 and pro[-1] == pytest.approx(1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(pro) >= -1e-12)
    np.testing.assert_array_equal(thresholds[1:], np.unique(maps)[::-1])
    regions = [(i, r) for i, mask in enumerate(masks) for r in _split_regions(mask)]
    for k in rng.choice(np.arange(1, thresholds.size), size=10, replace=False):
        flagged = maps >= thresholds[k]
        assert fpr[k] == pytest.approx((flagged & ~masks).sum() / (~masks).sum())
        expected_pro = np.mean([(flagged[i] & r).sum() / r.sum() for i, r in regions])
        assert pro[k] == pytest.approx(expected_pro)


def test_aupro_threshold_grid_converges_to_exact_curve():
    """Check that a grid of n_thresholds gets close to the exact area."""
    rng = np.random.RandomState(7)
    masks = _blob_masks(n_images=40, size=32, seed=7)
    maps = masks * 0.4 + rng.rand(*masks.shape)
    exact = aupro(masks, maps)
    coarse = aupro(masks, maps, n_thresholds=5)
    fine = aupro(masks, maps, n_thresholds=500)
    assert abs(fine - exact) < 1e-3
    assert abs(fine - exact) <= abs(coarse - exact)


def test_aupro_is_invariant_to_monotone_rescaling():
    """Check that aupro depends only on the ranking of the scores."""
    rng = np.random.RandomState(5)
    masks = _blob_masks(seed=5)
    maps = masks * 0.5 + rng.rand(*masks.shape)
    assert aupro(masks, np.exp(3 * maps) - 7) == pytest.approx(aupro(masks, maps))


def test_f1_max_known_values():
    """Check that f1_max returns the best F1 and its threshold."""
    y_true = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.5, 0.9])
    assert f1_max(y_true, scores) == pytest.approx(0.8)
    f1, threshold = f1_max(y_true, scores, return_threshold=True)
    assert f1 == pytest.approx(0.8) and threshold == 0.5
    assert f1 == pytest.approx(f1_score(y_true, scores >= threshold))
    assert f1_max([False, True, True], [0.0, 1.0, 2.0]) == 1.0


def test_f1_max_perfect_and_pixel_level():
    """Check that f1_max is 1.0 for separable scores, also on raveled masks."""
    masks = _blob_masks()
    assert f1_max(masks.ravel(), masks.ravel().astype(float)) == 1.0
    rng = np.random.RandomState(6)
    y_true = rng.rand(500) < 0.1
    scores = rng.rand(500)
    best, threshold = f1_max(y_true, scores, return_threshold=True)
    brute = max(f1_score(y_true, scores >= t) for t in np.unique(scores))
    assert best == pytest.approx(brute)
    assert f1_score(y_true, scores >= threshold) == pytest.approx(best)


@pytest.mark.parametrize("metric", [pixel_roc_auc, aupro, pro_curve])
def test_pixel_metrics_validate_input(metric):
    """Check that the pixel-level metrics reject malformed masks and maps."""
    masks = np.zeros((2, 4, 4), dtype=int)
    masks[0, 1, 1] = 1
    maps = np.random.RandomState(0).rand(2, 4, 4)
    with pytest.raises(ValueError, match="same shape"):
        metric(masks, maps[:, :3])
    with pytest.raises(ValueError, match="2-D array"):
        metric(masks.ravel(), maps.ravel())
    with pytest.raises(ValueError, match="binary"):
        metric(masks * 255, maps)
    with pytest.raises(ValueError, match="NaN"):
        metric(masks, np.where(masks == 1, np.nan, maps))
    with pytest.raises(ValueError, match="numeric"):
        metric(masks, maps.astype(str))
    with pytest.raises(ValueError, match="empty"):
        metric(np.zeros((0, 4, 4)), np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="normal"):
        metric(np.ones_like(masks), maps)
    with pytest.raises(ValueError, match="(?i)no anomalous|normal \\(0\\)"):
        metric(np.zeros_like(masks), maps)


def test_aupro_validates_parameters():
    """Check that aupro rejects out-of-range fpr_limit and n_thresholds."""
    masks = np.array([[0, 1], [0, 0]])
    maps = np.array([[0.0, 1.0], [0.5, 0.2]])
    for fpr_limit in (0, -0.1, 1.5, "0.3", True, None):
        with pytest.raises(ValueError, match="fpr_limit"):
            aupro(masks, maps, fpr_limit=fpr_limit)
    for n_thresholds in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="n_thresholds"):
            aupro(masks, maps, n_thresholds=n_thresholds)


def test_f1_max_validates_input():
    """Check that f1_max rejects malformed labels and scores."""
    with pytest.raises(ValueError, match="1-D"):
        f1_max(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="same length"):
        f1_max([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        f1_max([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="no anomaly"):
        f1_max([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        f1_max([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="empty"):
        f1_max([], [])
