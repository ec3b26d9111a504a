"""Tests specific to EncoderGAN: its networks, training steps, scores and variants."""

import numpy as np
import pytest
import torch
from conftest import fashion_mnist_task, smooth_images
from pyod.models.knn import KNN
from sklearn.metrics import roc_auc_score

from skanomaly import EncoderGAN
from skanomaly.detectors.encoder_gan import (
    SCORES,
    EncoderGANModule,
    gradient_penalty,
    level_widths,
    minibatch_stddev,
    n_levels_for,
    trimmed_gaussian,
)

FAST = dict(EncoderGAN.presets["test"], device="cpu", random_state=0)


def _state(network):
    return {k: v.clone() for k, v in network.state_dict().items()}


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "size, padded, n_levels",
    [((8, 8), (8, 8), 1), ((28, 28), (32, 32), 3), ((32, 32), (32, 32), 3),
     ((64, 64), (64, 64), 4), ((33, 20), (40, 24), 3)],
)  # fmt: skip
def test_module_pads_to_a_power_of_two_friendly_size(size, padded, n_levels):
    """Check that images are padded (28 -> 32 as in the paper) and come back whole."""
    module = EncoderGANModule(3, size, n_filters=4, latent_dim=8)
    assert module.n_levels == n_levels_for(size) == n_levels
    assert module.padded_size == padded
    x = torch.rand(2, 3, *size)
    assert module.to_network(x).shape == (2, 3, *padded)
    assert module.generator(module.sample_latent(2)).shape == (2, 3, *padded)
    assert module(x).shape == x.shape
    assert module.residual_map(x).shape == (2, *size)
    assert module.encode(x).shape == (2, 8)


def test_widths_follow_the_cpu_sized_spec():
    """Check the 32x32 widths (128, 128, 64, 32) and the ~0.85 M-parameter nets."""
    assert level_widths(3, 32) == [128, 128, 64, 32]
    assert level_widths(4, 16) == [64, 64, 64, 32, 16]
    module = EncoderGANModule(1, (28, 28), n_filters=32, latent_dim=128)
    for network in (module.generator, module.critic, module.encoder):
        n_params = sum(p.numel() for p in network.parameters())
        assert 0.8e6 < n_params < 0.9e6


def test_module_rejects_images_below_8x8():
    """Check that the pure module names the smallest size it supports."""
    with pytest.raises(ValueError, match="at least 8x8"):
        EncoderGANModule(1, (6, 12))


def test_generator_ignores_the_length_of_the_latent():
    """Check that G(a z) = G(z): pixel normalization leaves only the direction."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = EncoderGANModule(1, (16, 16), n_filters=4, latent_dim=8)
        z = module.sample_latent(4)
    with torch.no_grad():
        image = module.generator(z)
        for scale in (0.01, 7.5):
            torch.testing.assert_close(
                module.generator(scale * z),
                image,
                rtol=1e-4,
                atol=1e-4 * image.abs().max().item(),
            )
        assert not torch.allclose(module.generator(-z), image)


def test_critic_sees_the_batch_but_the_encoder_does_not():
    """Check that minibatch-stddev is in the critic only."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = EncoderGANModule(1, (16, 16), n_filters=4, latent_dim=8)
        x = torch.rand(4, 1, 16, 16) * 2 - 1
        others = torch.cat([x[:1], torch.rand(3, 1, 16, 16)])
    with torch.no_grad():
        assert not torch.allclose(module.critic(x)[0], module.critic(others)[0])
        torch.testing.assert_close(module.encoder(x)[:1], module.encoder(others)[:1])
    stats = minibatch_stddev(torch.rand(6, 2, 4, 4))
    assert stats.shape == (6, 3, 4, 4)  # groups of 3: the largest divisor <= 4


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic():
    """Check the penalty on a critic whose input gradient has norm exactly 1."""
    rng = torch.Generator().manual_seed(0)
    weight = torch.randn(1, 16, generator=rng)
    weight /= weight.norm()

    def critic(x):
        return x.flatten(1) @ weight.T

    real, fake = torch.rand(5, 1, 4, 4), torch.rand(5, 1, 4, 4)
    penalty = gradient_penalty(critic, real, fake, torch.rand(5))
    assert penalty.item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(
        lambda x: 2 * critic(x), real, fake, torch.rand(5)
    ).item() == (pytest.approx(1.0))


@pytest.mark.parametrize("real_cycle_weight", [0.0, 1.0])
def test_encoder_step_leaves_generator_and_critic_unchanged(real_cycle_weight):
    """Check that the encoder's loss updates the encoder's weights only.

    With ``real_cycle_weight`` > 0 the loss also has a cycle term on the real
    batch; the gradient still reaches the encoder only.
    """
    X = smooth_images(32)
    detector = EncoderGAN(**FAST).fit(X)
    net, module = detector.net_, detector.module_
    module.train()
    generator, critic, encoder = (
        _state(module.generator),
        _state(module.critic),
        _state(module.encoder),
    )
    net.encoder_rng = torch.Generator().manual_seed(0)
    net.real_cycle_weight = real_cycle_weight
    real = module.to_network(torch.from_numpy(X[:, None]))
    loss = net._encoder_step(real, None)
    assert np.isfinite(loss) and loss > 0
    assert _same_weights(_state(module.generator), generator)
    assert _same_weights(_state(module.critic), critic)
    assert not _same_weights(_state(module.encoder), encoder)


def test_real_cycle_weight_changes_the_encoder_only():
    """Check that the real-image cycle changes the encoder, not the GAN.

    The encoder draws its own random numbers and changes no GAN weight, so
    the generator of a fit with ``real_cycle_weight=1`` is the generator of
    the paper's fit with the same seed, bit for bit.
    """
    X = smooth_images(32)
    paper = EncoderGAN(**FAST).fit(X)
    real = EncoderGAN(**FAST, real_cycle_weight=1.0).fit(X)
    generators = _state(paper.module_.generator), _state(real.module_.generator)
    assert _same_weights(*generators)
    assert not _same_weights(
        _state(paper.module_.encoder), _state(real.module_.encoder)
    )


def test_losses_are_finite_and_logged_per_batch_and_epoch():
    """Check that d_loss, g_loss, e_loss and gp are in the history, and finite."""
    X = smooth_images(48)
    detector = EncoderGAN(**{**FAST, "max_epochs": 3, "batch_size": 16}).fit(X)
    history = detector.history_
    assert len(history) == 3
    for name in ("train_loss", "d_loss", "g_loss", "e_loss", "gp"):
        assert np.isfinite(history[:, name]).all()
        assert len(history[-1, "batches", :, name]) == 3  # one value per batch
    # train_loss is the encoder's cycle loss, the one loss with a floor
    np.testing.assert_allclose(history[:, "train_loss"], history[:, "e_loss"])
    assert (np.array(history[:, "e_loss"]) > 0).all()
    assert (np.array(history[:, "gp"]) >= 0).all()
    assert history[:, "phase"] == ["joint"] * 3


def test_post_hoc_encoder_trains_the_same_gan_then_the_encoder():
    """Check that post_hoc gives the simultaneous run's GAN and a new encoder."""
    X = smooth_images(48)
    params = {**FAST, "max_epochs": 3, "batch_size": 16}
    joint = EncoderGAN(**params).fit(X)
    post_hoc = EncoderGAN(**params, encoder_training="post_hoc").fit(X)
    assert _same_weights(
        _state(joint.module_.generator), _state(post_hoc.module_.generator)
    )
    assert _same_weights(_state(joint.module_.critic), _state(post_hoc.module_.critic))
    assert not _same_weights(
        _state(joint.module_.encoder), _state(post_hoc.module_.encoder)
    )
    history = post_hoc.history_
    assert history[:, "phase"] == ["gan"] * 3 + ["encoder"] * 3
    assert history[:, "epoch"] == list(range(1, 7))
    gan, encoder = history[:3], history[3:]
    assert all("e_loss" not in epoch and np.isfinite(epoch["d_loss"]) for epoch in gan)
    assert all(
        "d_loss" not in epoch and np.isfinite(epoch["e_loss"]) for epoch in encoder
    )
    # as many encoder iterations as the simultaneous run
    assert sum(e["train_batch_count"] for e in encoder) == sum(
        e["train_batch_count"] for e in joint.history_
    )
    assert np.isfinite(post_hoc.decision_scores_).all()


def test_each_score_option_is_decision_function_and_all_scores():
    """Check the four scores, their training statistics and all_scores()."""
    X = smooth_images(40)
    X_new = smooth_images(9, seed=3)
    fitted = {s: EncoderGAN(**FAST, score=s).fit(X) for s in SCORES}
    reference = fitted["latent_norm"]
    every = reference.all_scores(X_new)
    assert set(every) == {*SCORES, "latent_norm_raw"}
    for score, detector in fitted.items():
        np.testing.assert_allclose(detector.decision_function(X_new), every[score])
        np.testing.assert_allclose(
            detector.decision_scores_, reference.all_scores(X)[score]
        )
        one_by_one = np.concatenate(
            [detector.decision_function(X_new[i : i + 1]) for i in range(9)]
        )
        np.testing.assert_array_equal(one_by_one, detector.decision_function(X_new))

    # latent_norm: |norm - median| / (1.4826 MAD): its training median is 1/1.4826
    train = reference.all_scores(X)
    assert (train["latent_norm"] >= 0).all()
    assert np.median(train["latent_norm"]) == pytest.approx(1 / 1.4826, rel=1e-4)
    norms = np.linalg.norm(reference.encode(X_new), axis=1)
    np.testing.assert_allclose(every["latent_norm_raw"], norms, rtol=1e-5)
    np.testing.assert_allclose(
        every["latent_norm"],
        np.abs(norms - reference.latent_norm_median_) / reference.latent_norm_scale_,
        rtol=1e-4,
    )
    # residual: the mean of the anomaly map; combined: both standardized
    np.testing.assert_allclose(
        every["residual"], reference.anomaly_map(X_new).mean(axis=(1, 2)), rtol=1e-5
    )
    standardized = (
        every["residual"] - reference.residual_median_
    ) / reference.residual_scale_
    np.testing.assert_allclose(
        every["combined"], every["latent_norm"] + standardized, rtol=1e-5, atol=1e-6
    )
    # latent_gaussian: Mahalanobis distance to the trimmed Gaussian of the
    # training codes, or with latent_fit="ledoit_wolf" to the Ledoit-Wolf
    # Gaussian of all of them
    from sklearn.covariance import LedoitWolf

    codes = reference.encode(X).astype(np.float64)
    codes_new = reference.encode(X_new).astype(np.float64)
    trimmed, kept = trimmed_gaussian(codes)
    assert reference.trimmed_fraction_ == kept.mean()
    np.testing.assert_allclose(
        every["latent_gaussian"], trimmed.mahalanobis(codes_new), rtol=1e-4
    )
    np.testing.assert_allclose(
        reference.rescore(X_new, score="latent_gaussian", latent_fit="ledoit_wolf"),
        LedoitWolf().fit(codes).mahalanobis(codes_new),
        rtol=1e-4,
    )


def test_trimmed_gaussian_leaves_far_codes_out():
    """Check the trimmed fit on Gaussian codes with 10% spread-out others.

    (Anomalies of many kinds, as the other classes of a data set; a tight
    cluster of anomalies would widen the fit along its direction and mask
    itself, which trimming by distance does not undo.)
    """
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(0)
    inliers = rng.normal(size=(900, 8))
    outliers = rng.normal(size=(100, 8)) * 4 + 2
    codes = np.vstack([inliers, outliers])
    gaussian, kept = trimmed_gaussian(codes)
    assert kept[900:].mean() < 0.05  # the other codes are left out
    assert kept[:900].mean() > 0.85  # most of the inliers are kept
    plain = LedoitWolf().fit(codes)
    assert np.abs(gaussian.location_).max() < 0.1 < np.abs(plain.location_).max()
    assert np.diag(gaussian.covariance_).max() < 1.2 < np.diag(plain.covariance_).min()
    # on clean codes it keeps most and stays near the plain fit
    gaussian, kept = trimmed_gaussian(inliers)
    assert kept.mean() > 0.85
    np.testing.assert_allclose(gaussian.location_, inliers.mean(0), atol=0.1)


def test_reconstruction_and_samples():
    """Check G(E(x)), the residual map behind it, and seeded samples."""
    X = smooth_images(32, channels=3)
    detector = EncoderGAN(**FAST).fit(X)
    reconstruction = detector.reconstruct(X[:5])
    assert reconstruction.shape == (5, 3, 16, 16)
    # the map is |x - G(E(x))| in the networks' [-1, 1] range, mean over channels
    low = X.min(axis=(0, 2, 3))[None, :, None, None]
    high = X.max(axis=(0, 2, 3))[None, :, None, None]
    expected = (np.abs(X[:5] - reconstruction) * 2 / (high - low)).mean(axis=1)
    np.testing.assert_allclose(
        detector.anomaly_map(X[:5]), expected, rtol=1e-3, atol=1e-5
    )
    samples = detector.generate(7, random_state=1)
    assert samples.shape == (7, 3, 16, 16) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, detector.generate(7, random_state=1))
    assert not np.array_equal(samples, detector.generate(7, random_state=2))
    with pytest.raises(ValueError, match="n_samples"):
        detector.generate(0)


def test_moving_average_generator_n_critic_and_other_optimizers():
    """Check ema, n_critic > 1 and an optimizer without betas."""
    X = smooth_images(32)
    plain = EncoderGAN(**FAST).fit(X)
    averaged = EncoderGAN(**FAST, ema=0.5).fit(X)
    module = averaged.module_
    assert module.generator_ema is not None and plain.module_.generator_ema is None
    # the encoder and the GAN train the same; only reconstructions use the average
    assert _same_weights(_state(plain.module_.encoder), _state(module.encoder))
    assert not _same_weights(_state(module.generator_ema), _state(module.generator))
    np.testing.assert_array_equal(averaged.decision_scores_, plain.decision_scores_)
    assert not np.allclose(averaged.reconstruct(X[:4]), plain.reconstruct(X[:4]))
    critic = EncoderGAN(**FAST, n_critic=3).fit(X)
    assert np.isfinite(critic.history_[:, "d_loss"]).all()
    sgd = EncoderGAN(**FAST, optimizer=torch.optim.SGD).fit(X)
    assert "betas" not in sgd.net_.optimizer_.defaults


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (64, 64)])
def test_paper_sizes_train(size):
    """Check that 28x28 (padded), 32x32 and 64x64 images train and score."""
    X = np.random.default_rng(0).random((8, *size)).astype(np.float32)
    detector = EncoderGAN(**{**FAST, "max_epochs": 1, "batch_size": 8}).fit(X)
    assert detector.module_.padded_size == (max(32, size[0]),) * 2
    assert detector.anomaly_map(X[:2]).shape == (2, *size)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"betas": (0.0,)}, "betas"),
        ({"betas": (0.0, 1.5)}, "betas"),
        ({"score": "norm"}, "score"),
        ({"latent_fit": "mcd"}, "latent_fit"),
        ({"encoder_training": "later"}, "encoder_training"),
        ({"ema": 1.0}, "ema"),
        ({"n_critic": 0}, "n_critic"),
        ({"gp_weight": -1.0}, "gp_weight"),
    ],
)
def test_parameter_errors_name_the_parameter(params, name):
    """Check that malformed parameters raise at fit with their name."""
    detector = EncoderGAN(**FAST, **params)
    with pytest.raises(ValueError, match=name):
        detector.fit(smooth_images(8))


# Measured with these settings (seed 0, CPU, one thread, 500 training images, 64
# iterations): latent Gaussian 0.921 (class 0, T-shirt) and 0.987 (class 1,
# trouser) where pixel KNN scores 0.911 and 0.985 on the same split; the
# residual 0.734 / 0.612 after training, 0.404 / 0.346 untrained.
@pytest.mark.slow
@pytest.mark.parametrize("normal_class", [0, 1])
def test_quality_against_pixel_knn_and_the_untrained_network(normal_class):
    """Check the default score against pixel KNN, and that training moves the GAN.

    The default score (a Gaussian on the codes) must keep up with PyOD's KNN
    on the same split, on a hard class and an easy one; the residual, which
    only a trained generator can lower on normal images, must beat the same
    networks left untrained by a clear margin.
    """
    X_train, X_test, y_test = fashion_mnist_task(normal_class, n_train=500)
    flat = X_train.reshape(len(X_train), -1)
    knn = KNN().fit(flat).decision_function(X_test.reshape(len(X_test), -1))
    settings = dict(n_filters=8, batch_size=32, device="cpu", random_state=0)
    trained = EncoderGAN(**settings, max_epochs=4).fit(X_train)
    untrained = EncoderGAN(**settings, max_epochs=0).fit(X_train)
    auc = roc_auc_score(y_test, trained.decision_function(X_test))
    assert auc > roc_auc_score(y_test, knn) - 0.02
    residual = roc_auc_score(y_test, trained.all_scores(X_test)["residual"])
    before = roc_auc_score(y_test, untrained.all_scores(X_test)["residual"])
    assert residual > before + 0.1
