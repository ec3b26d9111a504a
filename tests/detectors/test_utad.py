"""Tests specific to UTAD: its two stages, their intermediate images and its map."""

import numpy as np
import pytest
import torch
from conftest import brick_localization, make_detector, smooth_images
from sklearn.metrics import roc_auc_score

from skanomaly import UTAD, ConvAutoEncoder
from skanomaly.detectors._torch_utils import crop_to
from skanomaly.detectors.utad import (
    ExpertGenerator,
    ExpertNet,
    ImpressionNet,
    UTADModule,
)
from skanomaly.detectors.utad.torch_model import grey, match_range, squared_residual
from skanomaly.metrics import pixel_roc_auc

TINY = dict(
    impression_filters=(4, 4),
    impression_channels=4,
    expert_dim=4,
    expert_mlp_dim=8,
    n_detail_samples=2,
    device="cpu",
    random_state=0,
)


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (64, 64), (96, 80)])
def test_module_sizes_and_ranges(size):
    """Check that every stage maps padded images back to the input's size."""
    generator = torch.Generator().manual_seed(0)
    impression_net = ImpressionNet(3, filters=(4, 4, 8), latent_channels=4)
    expert_net = ExpertNet(3, dim=4, mlp_dim=8)
    module = UTADModule(
        impression_net, expert_net, multiple=16, n_detail_samples=3, generator=generator
    ).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        impression = module.impression(x)
        assert impression.shape == x.shape
        assert impression.min() >= 0 and impression.max() <= 1  # sigmoid output
        assert module.reconstruct(x).shape == x.shape
        out = module.expert_outputs(x)
        assert out["x_hats"].shape == out["m_hats"].shape == (2, 3, 3, *size)
        assert module.expert_outputs(x, naive=False)["m_hats"] is None
        maps = module.anomaly_map(x)
        assert maps.shape == (2, 1, *size) and (maps >= 0).all()
        assert module.anomaly_map(x, stages=1).shape == (2, 1, *size)
        # every kind of map, from one pass, equals the map of that kind alone
        kinds = ["impression", "reconstruction", "released"]
        every = module.anomaly_maps(x, kinds)
        for kind, stages in [("impression", 1), ("reconstruction", 2)]:
            alone = module.anomaly_map(x, stages=stages, combination=kind)
            torch.testing.assert_close(every[kind], alone)
        released = module.anomaly_map(x, combination="released")
        torch.testing.assert_close(every["released"], released)
        assert module.latent_mean(x).shape == (2, 16)


def test_detail_code_is_a_global_vector():
    """Check that the detail code has no spatial layout, whatever the image size."""
    encoder = ExpertGenerator(1, dim=4, detail_dim=8)
    for size in [(16, 16), (32, 48), (64, 64)]:
        assert encoder.encode_detail(torch.rand(3, 1, *size)).shape == (3, 8)
    # content, in contrast, is a map
    assert encoder.encode_content(torch.rand(3, 1, 32, 32)).shape[-2:] == (16, 16)


def test_residual_helpers():
    """Check grey conversion, squared residuals and min-max renormalization."""
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[:, 1] = 1.0
    assert torch.allclose(grey(rgb), torch.full((1, 1, 2, 2), 0.5870))
    assert torch.allclose(grey(torch.ones(1, 2, 2, 2)), torch.ones(1, 1, 2, 2))
    a, b = torch.rand(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    assert torch.allclose(squared_residual(a, b), (a - b) ** 2)
    images = torch.rand(2, 3, 1, 5, 5) * 4 - 1
    reference = torch.rand(2, 1, 5, 5) * 0.5 + 0.2
    matched = match_range(images, reference)
    for i in range(2):
        for k in range(3):
            assert matched[i, k].min() == pytest.approx(reference[i].min().item())
            assert matched[i, k].max() == pytest.approx(reference[i].max().item())


def _planted_squares_task(size=16):
    """Smooth gradients as normal images; half the test images get a bright square."""
    train = smooth_images(64, size=size, seed=0)
    clean = smooth_images(40, size=size, seed=1)
    test = clean.copy()
    masks = np.zeros(test.shape, dtype=bool)
    rng = np.random.default_rng(0)
    for i in range(20):
        top, left = rng.integers(2, size - 6, size=2)
        test[i, top : top + 5, left : left + 5] = 1.0
        masks[i, top : top + 5, left : left + 5] = True
    y = np.r_[np.ones(20, int), np.zeros(20, int)]
    return train, clean, test, y, masks


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Use one thread: on images this small, a second one only adds waiting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def planted_detector(_one_thread):
    """UTAD trained on smooth gradients, with the task it was trained for."""
    task = _planted_squares_task()
    detector = UTAD(
        impression_filters=(4, 4),
        impression_channels=4,
        expert_dim=4,
        max_epochs=10,
        batch_size=16,
        device="cpu",
        random_state=0,
    ).fit(task[0])
    return detector, task


def test_impression_of_a_defective_image_is_closer_to_the_clean_one(planted_detector):
    """Check that the impression removes a planted defect the input carries."""
    detector, (_, clean, test, _, masks) = planted_detector
    inside = masks[:20]
    impression = detector.impression(test[:20])[:, 0]
    input_error = np.abs(test[:20] - clean[:20])
    impression_error = np.abs(impression - clean[:20])
    # over the whole image, per image: closer to the clean image than the input
    per_image = impression_error.reshape(20, -1)
    assert (
        np.linalg.norm(per_image, axis=1)
        < np.linalg.norm(input_error.reshape(20, -1), axis=1)
    ).all()
    # and inside the defect it is the clean stripes, not the square, that it draws
    assert impression_error[inside].mean() < 0.4 * input_error[inside].mean()
    # while normal images are reproduced (coarsely)
    assert np.abs(detector.impression(clean)[:, 0] - clean).mean() < 0.1


def test_expert_net_cannot_copy_a_local_defect(planted_detector):
    """Check that a defect does not pass through the global detail code."""
    detector, (_, clean, test, _, masks) = planted_detector
    module, inside = detector.module_, masks[:20]
    defective = torch.from_numpy(test[:20, None])
    with torch.no_grad():
        xd, _ = module.prepare(defective)
        xc, mc = module.prepare(torch.from_numpy(clean[:20, None]))
        expert = module.expert_net
        detail = expert.image.encode_detail(2 * xd - 1)
        assert detail.shape == (20, detector.detail_dim)  # a vector per image
        # clean impression + the defective image's detail code
        mixed = (expert.reconstruct(None, 2 * mc - 1, detail=detail) + 1) / 2
        # the within-domain autoencoder, whose content is spatial, for contrast
        copied = (expert.image(2 * xd - 1) + 1) / 2
    mixed = crop_to(mixed, clean.shape[1:])[:, 0].numpy()
    copied = crop_to(copied, clean.shape[1:])[:, 0].numpy()
    defect_size = np.abs(test[:20] - clean[:20])[inside].mean()
    residual = np.abs(mixed - test[:20])[inside].mean()
    assert residual > 0.6 * defect_size  # the defect is not reproduced
    assert residual > np.abs(copied - test[:20])[inside].mean()
    # the full reconstruction of the defective image does not draw it either
    reconstruction = detector.reconstruct(test[:20])[:, 0]
    assert np.abs(reconstruction - test[:20])[inside].mean() > 0.6 * defect_size


def test_planted_defects_rank_first_and_are_localized(planted_detector):
    """Check that defective images score higher and the map marks the defect."""
    detector, (_, _, test, y, masks) = planted_detector
    assert roc_auc_score(y, detector.decision_function(test)) > 0.95
    maps = detector.anomaly_map(test[:20])
    inside = masks[:20]
    assert maps[inside].mean() > 3 * maps[~inside].mean()


def test_histories_of_both_stages(planted_detector):
    """Check that both stages log finite, decreasing losses into their histories."""
    detector, _ = planted_detector
    assert detector.history_ is detector.expert_net_.history
    assert detector.net_ is detector.expert_net_
    assert detector.impression_history_ is detector.impression_net_.history
    for history, names in [
        (detector.impression_history_, ["impression_recon", "impression_kl"]),
        (detector.history_, ["expert_recon", "expert_paired"]),
    ]:
        assert len(history) == 10
        for name in ["train_loss", *names]:
            values = np.array(history[:, name])
            assert np.isfinite(values).all()
        assert history[-1, "train_loss"] < 0.7 * history[0, "train_loss"]
    # latent_recon_weight=0 (the default) skips the translations' term
    assert "expert_latent" not in detector.history_[-1]


def test_epochs_per_stage():
    """Check that impression_epochs and expert_epochs override max_epochs."""
    X = smooth_images(20)
    detector = UTAD(
        max_epochs=3,
        impression_epochs=1,
        expert_epochs=2,
        latent_recon_weight=1.0,
        **TINY,
    ).fit(X)
    assert len(detector.impression_history_) == 1
    assert len(detector.history_) == 2
    assert np.isfinite(detector.history_[:, "expert_latent"]).all()


def test_first_stage_alone_is_the_first_stage_of_two():
    """Check that stages=1 trains the same IE-Net and scores it alone."""
    X = smooth_images(24)
    one = UTAD(stages=1, max_epochs=2, **TINY).fit(X)
    two = UTAD(stages=2, max_epochs=2, **TINY).fit(X)
    assert one.expert_net_ is None and one.net_ is one.impression_net_
    np.testing.assert_array_equal(one.impression(X), two.impression(X))
    np.testing.assert_array_equal(one.decision_function(X), two.rescore(X, stages=1))
    maps = one.anomaly_map(X)
    # the map lives on the [0, 1] scale of the training images
    scale = float(one.module_.data_scale)
    expected = ((X - one.impression(X)[:, 0]) / scale) ** 2
    assert maps.shape == X.shape and np.isfinite(maps).all()
    one_raw = UTAD(
        stages=1, max_epochs=2, smoothing_sigma=0, map_normalization="none", **TINY
    ).fit(X)
    np.testing.assert_allclose(one_raw.anomaly_map(X), expected, rtol=1e-4, atol=1e-6)
    # standardized: by the per-pixel statistics of the training images' maps
    assert one_raw.map_kinds_ == ("impression",)
    assert one_raw.map_mean_.shape == one_raw.map_std_.shape == (1, *X.shape[1:])
    mean, std = expected.mean(axis=0), expected.std(axis=0)
    standardized = one_raw.rescore(X, return_maps=True, map_normalization="standardize")
    np.testing.assert_allclose(
        standardized[1], (expected - mean) / (std + 0.1 * std.mean()), atol=1e-3
    )
    # the training scores, computed from the maps of the statistics pass, are
    # those of decision_function
    for detector in (one, two):
        np.testing.assert_allclose(
            detector.decision_scores_, detector.decision_function(X), rtol=1e-5
        )
    assert two.map_kinds_ == ("impression", "reconstruction", "released")
    with pytest.raises(ValueError, match="stages=1"):
        one.reconstruct(X)
    with pytest.raises(ValueError, match="fitted with stages=1"):
        one.rescore(X, stages=2)
    with pytest.raises(ValueError, match="fitted with"):
        one.set_params(stages=2).decision_function(X)


def test_score_options():
    """Check that "max" is the map's maximum and "latent_knn" a k-NN distance."""
    X = smooth_images(24)
    Y = smooth_images(6, seed=3)
    detector = UTAD(max_epochs=1, n_neighbors=3, **TINY).fit(X)
    maps = detector.anomaly_map(Y)
    np.testing.assert_allclose(
        detector.decision_function(Y), maps.reshape(6, -1).max(axis=1), rtol=1e-6
    )
    train, test = detector.latent_mean(X), detector.latent_mean(Y)
    distances = np.linalg.norm(test[:, None] - train[None], axis=-1)
    expected = np.sort(distances, axis=1)[:, :3].mean(axis=1)
    knn = detector.rescore(Y, score="latent_knn")
    np.testing.assert_allclose(knn, expected, rtol=1e-4)
    fitted = make_detector(UTAD, score="latent_knn", **TINY).fit(X)
    assert np.isfinite(fitted.decision_scores_).all()
    # training scores leave each image out of its own neighbours (PyOD's KNN)
    own = fitted.latent_mean(X)
    distances = np.linalg.norm(own[:, None] - own[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    expected = np.sort(distances, axis=1)[:, : fitted.n_neighbors].mean(axis=1)
    np.testing.assert_allclose(fitted.decision_scores_, expected, rtol=1e-4)
    # the released code's renormalization of the Expert-Net outputs, as an
    # option of the fit (it changes the maps whose statistics fit stores)
    with pytest.raises(ValueError, match="renormalize"):
        detector.rescore(Y, renormalize=True)
    renormalized = make_detector(
        UTAD, max_epochs=1, renormalize=True, combination="released", **TINY
    ).fit(X)
    released = detector.rescore(Y, return_maps=True, combination="released")[1]
    assert np.isfinite(renormalized.anomaly_map(Y)).all()
    assert not np.allclose(renormalized.anomaly_map(Y), released)


def test_adversarial_and_mutual_information_options():
    """Check that the released configuration's optional terms train and log."""
    X = smooth_images(24)
    detector = UTAD(
        max_epochs=2,
        adversarial_weight=0.1,
        mi_local_weight=1.5,
        mi_global_weight=0.5,
        discriminator_lr=1e-4,
        **TINY,
    ).fit(X)
    history = detector.impression_history_
    for name in ["impression_adversarial", "impression_discriminator", "impression_mi"]:
        assert np.isfinite(history[:, name]).all()
    trainer = detector.impression_net_.module_
    assert trainer.discriminator is not None and trainer.local_critic is not None
    lrs = sorted(g["lr"] for g in detector.impression_net_.optimizer_.param_groups)
    assert lrs == [1e-4, detector.lr]
    plain = UTAD(max_epochs=2, **TINY).fit(X)
    assert "impression_adversarial" not in plain.impression_history_[-1]
    assert plain.impression_net_.module_.discriminator is None


def test_input_value_range_does_not_matter():
    """Check that images are mapped to [0, 1] by the training set's range."""
    X = smooth_images(24)
    a = UTAD(max_epochs=2, **TINY).fit(X)
    b = UTAD(max_epochs=2, **TINY).fit(X * 200 - 50)
    # The rescaled inputs differ from X by float32 rounding, which two epochs of
    # training amplify to ~1e-3; a detector that did not rescale would differ
    # by orders of magnitude.
    np.testing.assert_allclose(a.decision_scores_, b.decision_scores_, rtol=1e-2)
    np.testing.assert_allclose(
        a.impression(X) * 200 - 50, b.impression(X * 200 - 50), rtol=1e-3, atol=1e-3
    )


def test_intermediate_images_are_channels_first():
    """Check impression/reconstruct of channels-last RGB come back channels-first."""
    X = smooth_images(16, channels=3)
    detector = UTAD(max_epochs=1, **TINY).fit(np.moveaxis(X, 1, -1))
    for method in (detector.impression, detector.reconstruct):
        out = method(np.moveaxis(X, 1, -1))
        assert out.shape == X.shape and out.dtype == np.float32
        np.testing.assert_allclose(method(X), out)


def test_parameter_errors_name_the_parameter():
    """Check that malformed parameters raise at fit, naming the parameter."""
    X = smooth_images(8)
    for params, name in [
        ({"impression_filters": ()}, "impression_filters"),
        ({"impression_filters": (4, -1)}, "impression_filters"),
        ({"stages": 3}, "stages"),
        ({"score": "mean"}, "score"),
        ({"n_detail_samples": 1}, "n_detail_samples"),
        ({"expert_n_downsample": 4}, "expert_n_downsample"),
        ({"kl_weight": -1.0}, "kl_weight"),
        ({"impression_epochs": 0}, "impression_epochs"),
    ]:
        settings = {**TINY, "max_epochs": 1, **params}
        with pytest.raises(ValueError, match=name):
            UTAD(**settings).fit(X)


def _striped_task(size=32):
    """Sharp stripes (random period, phase, orientation); grey squares as defects."""

    def stripes(n, seed):
        rng = np.random.default_rng(seed)
        x = np.arange(size)
        out = np.empty((n, size, size), np.float32)
        for i in range(n):
            period = rng.choice([6, 8, 10])
            phase = rng.integers(period)
            row = (((x + phase) % period) < period // 2).astype(np.float32) * 0.6
            image = np.tile(row + 0.2, (size, 1))
            out[i] = image if rng.random() < 0.5 else image.T
        return out

    train, test = stripes(256, 0), stripes(80, 1)
    masks = np.zeros(test.shape, dtype=bool)
    rng = np.random.default_rng(2)
    for i in range(40):
        top, left = rng.integers(4, size - 10, size=2)
        test[i, top : top + 6, left : left + 6] = 0.5
        masks[i, top : top + 6, left : left + 6] = True
    return train, test, np.r_[np.ones(40, int), np.zeros(40, int)], masks


def test_second_stage_restores_the_detail_a_coarse_impression_lacks():
    """Check that the two-stage map beats the first stage alone on sharp stripes.

    The case the method is made for: a one-channel bottleneck makes the
    impression coarse (blurred stripe edges, flagged by the first stage's
    residual); the Expert-Net restores the sharp edges from the global
    detail code, without the defect. Same fit, scored both ways. Measured
    (seed 0): pixel ROC AUC 0.992 against 0.888, image ROC AUC 1.000 against
    0.753.
    """
    train, test, y, masks = _striped_task()
    detector = UTAD(
        impression_channels=1,
        max_epochs=10,
        batch_size=16,
        device="cpu",
        random_state=0,
    ).fit(train)
    two_scores, two_maps = detector.rescore(test, return_maps=True)
    one_scores, one_maps = detector.rescore(test, return_maps=True, stages=1)
    assert pixel_roc_auc(masks, two_maps) > pixel_roc_auc(masks, one_maps) + 0.05
    assert roc_auc_score(y, two_scores) > roc_auc_score(y, one_scores) + 0.1


@pytest.mark.slow
def test_texture_localization_beats_plain_autoencoder_and_untrained_network():
    """Check pixel ROC AUC against ConvAutoEncoder and the untrained network.

    Real texture photographs with defects (``make_texture_defects``), the
    baselines trained and scored on the same split in this test. Measured
    (seed 0): UTAD 0.944, ConvAutoEncoder 0.744, untrained network 0.707.
    """
    settings = dict(max_epochs=10, batch_size=16, device="cpu", random_state=0)
    localization = brick_localization(
        {
            "utad": UTAD(**settings),
            "untrained": UTAD(**{**settings, "max_epochs": 0}),
            "plain": ConvAutoEncoder(**settings),
        }
    )
    assert localization["utad"] > localization["plain"] + 0.1, localization
    assert localization["utad"] > localization["untrained"] + 0.1, localization
