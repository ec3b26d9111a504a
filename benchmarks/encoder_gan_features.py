"""EncoderGAN: does any part of the trained GAN beat the same networks untrained?

The standard protocol (Fashion-MNIST, one class vs rest, all 6,000 training
images of the class, the whole 10,000-image test split) with ``EncoderGAN()``
at its defaults and the same networks at their initial weights
(``max_epochs=0``). Each fitted pair is scored, without refitting, in every way
the GAN offers (``run_benchmark``'s ``rescore``):

* the detector's scores: the latent Gaussian (trimmed fit, the default; and
  one Ledoit-Wolf fit on all codes), the paper's latent norm, the residual;
* Gaussians (Ledoit-Wolf, fitted on the training images) on other features:
  the encoder's trunk before its last linear layer, the critic's trunk (the
  discriminator's features, before its minibatch-stddev layer), and the
  critic's per-level feature means;
* the critic's value ``-D(x)`` (a realistic image gets a high ``D``), with
  the minibatch-stddev group of each image completed by three fixed training
  images, so that an image's score does not depend on its batch;
* scores that read the reconstruction ``G(E(x))`` beyond its pixels: the
  residual in the critic's features (f-AnoGAN's feature residual, the mean
  squared difference of the critic trunk's features of ``x`` and
  ``G(E(x))``), and the latent cycle ``E(x) - E(G(E(x)))`` (how far
  re-encoding the reconstruction moves the code), scored by a Gaussian
  fitted on the training images' cycles, and by the squared Mahalanobis
  norm under the codes' trimmed Gaussian, uncentred.

Training that helps shows as a trained row above its untrained row.

    python benchmarks/encoder_gan_features.py                # writes the report
    python benchmarks/encoder_gan_features.py --quick        # smoke run, prints

Finished jobs are cached under ``benchmarks/_out/encoder_gan_features``.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
from sklearn.covariance import LedoitWolf

from skanomaly import EncoderGAN
from skanomaly.benchmark import run_benchmark

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "encoder_gan_features.md")
CACHE = os.path.join(HERE, "_out", "encoder_gan_features")


def _trunk_levels(trunk, x):
    """The trunk's per-level features, up to (not through) minibatch-stddev."""
    h = trunk.from_image(x)
    features = [h]
    for level in trunk.levels:
        h = level(h)
        features.append(h)
    return features


def _features(detector, X, kind, reference=None):
    """``(n, d)`` float64 features of images ``X`` from the fitted networks.

    ``reference``: the images completing each image's minibatch-stddev group
    (for the critic's value).
    """
    module = detector.module_.eval()
    X = detector._check_images(X)
    out = []
    with torch.inference_mode():
        if reference is not None:
            reference = detector._check_images(reference)
            reference = module.to_network(torch.as_tensor(reference))
        for start in range(0, len(X), 256):
            x = module.to_network(torch.as_tensor(X[start : start + 256]))
            if kind == "encoder trunk":
                f = module.encoder.trunk(x)
            elif kind == "critic trunk":
                f = _trunk_levels(module.critic.trunk, x)[-1].flatten(1)
            elif kind == "critic levels":
                f = torch.cat(
                    [h.mean(dim=(2, 3)) for h in _trunk_levels(module.critic.trunk, x)],
                    dim=1,
                )
            elif kind in ("feature residual", "latent cycle"):
                code = module.encoder(x)
                reconstruction = module.test_generator()(code)
                if kind == "latent cycle":
                    f = code - module.encoder(reconstruction)
                else:
                    a = _trunk_levels(module.critic.trunk, x)[-1].flatten(1)
                    b = _trunk_levels(module.critic.trunk, reconstruction)[-1]
                    f = (a - b.flatten(1)).square().mean(dim=1, keepdim=True)
            else:  # the critic's value, -D(x), stddev group = x + 3 references
                f = -_critic_with_references(module.critic, x, reference)[:, None]
            out.append(f.double().cpu().numpy())
    return np.concatenate(out)


def _critic_with_references(critic, x, reference):
    trunk = critic.trunk
    h = _trunk_levels(trunk, x)[-1]
    r = _trunk_levels(trunk, reference)[-1]
    group = torch.cat([h[:, None], r[None].expand(len(h), *r.shape)], dim=1)
    stddev = (group.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))
    channel = stddev[:, None, None, None].expand(len(h), 1, *h.shape[2:])
    return critic.head(trunk.base(torch.cat([h, channel], dim=1)).flatten(1))[:, 0]


def _gaussian_on(kind):
    def score(detector, task):
        train = _features(detector, task.X_train, kind)
        test = _features(detector, task.X_test, kind)
        return LedoitWolf().fit(train).mahalanobis(test)

    score.__qualname__ = f"gaussian_on_{kind.replace(' ', '_')}"
    return score


def critic_value(detector, task):
    """``-D(x)``: higher = less like the training images to the critic."""
    reference = task.X_train[:3]
    return _features(detector, task.X_test, "critic value", reference)[:, 0]


def feature_residual(detector, task):
    """Mean squared residual of ``x`` and ``G(E(x))`` in the critic's features."""
    return _features(detector, task.X_test, "feature residual")[:, 0]


def cycle_in_code_metric(detector, task):
    """``c^T P c`` of the latent cycle ``c``; ``P``: the codes' trimmed precision."""
    cycle = _features(detector, task.X_test, "latent cycle")
    return ((cycle @ detector.trimmed_precision_) * cycle).sum(axis=1)


RESCORE = {
    "latent Gaussian, Ledoit-Wolf fit": {"latent_fit": "ledoit_wolf"},
    "latent norm": {"score": "latent_norm"},
    "residual": {"score": "residual"},
    "Gaussian on the encoder trunk": _gaussian_on("encoder trunk"),
    "Gaussian on the critic trunk": _gaussian_on("critic trunk"),
    "Gaussian on the critic's level means": _gaussian_on("critic levels"),
    "critic value -D(x)": critic_value,
    "critic feature residual (f-AnoGAN)": feature_residual,
    "Gaussian on the latent cycle": _gaussian_on("latent cycle"),
    "latent cycle in the codes' metric, uncentred": cycle_in_code_metric,
}
ROWS = ("latent Gaussian (default, trimmed fit)", *RESCORE)


def run(classes, quick, report_only):
    params = dict(EncoderGAN.presets["quick"]) if quick else {}
    models = {
        "trained": EncoderGAN(**params, device="cpu"),
        "untrained": EncoderGAN(**{**params, "max_epochs": 0}, device="cpu"),
    }
    return run_benchmark(
        models,
        "fashion-mnist",
        classes=classes,
        seeds=[0],
        n_train=300 if quick else 6000,
        n_test=500 if quick else 10000,
        n_jobs=2,
        cache_dir=None if quick else CACHE,
        cached_only=report_only,
        rescore={name: RESCORE for name in models},
    )


def report(results, classes, wall, command):
    def auc(model, row, c):
        name = model if row == ROWS[0] else f"{model} [{row}]"
        values = [
            r["roc_auc"]
            for r in results.records
            if r["detector"] == name and r["normal_class"] == c
        ]
        return values[0] if values else None

    header = ["score", "networks", *map(str, classes), "mean", "trained - untrained"]
    rows = []
    for row in ROWS:
        means = {}
        for model in ("trained", "untrained"):
            values = [auc(model, row, c) for c in classes]
            done = [v for v in values if v is not None]
            means[model] = np.mean(done) if len(done) == len(classes) else None
            rows.append(
                [
                    row if model == "trained" else "",
                    model,
                    *("–" if v is None else f"{v:.3f}" for v in values),
                    "–" if means[model] is None else f"{means[model]:.3f}",
                    (
                        f"{means['trained'] - means['untrained']:+.3f}"
                        if model == "untrained" and None not in means.values()
                        else ""
                    ),
                ]
            )
    fits = [r for r in results.records if r["detector"] == "trained"]
    lines = [
        "# EncoderGAN: what training changes, score by score",
        "",
        *environment_lines(command, wall),
        "- Seed 0; jobs ran 2 at a time with one torch thread each.",
        f"- Trained fits took {np.mean([r['fit_s'] for r in fits]):.0f} s on "
        "average (other jobs shared the machine: indicative)."
        if fits
        else "- No trained fit has finished yet.",
        "",
        "Fashion-MNIST one class vs rest, all training images of the class, the "
        "whole test split. `EncoderGAN()` at its defaults (trained) and "
        "`EncoderGAN(max_epochs=0)` (the same networks, seed and scoring, "
        "untrained). Every row of one network is a score of the same fit. "
        "Gaussians on features: Ledoit-Wolf, fitted on the training images' "
        "features, squared Mahalanobis distance. The critic's value uses, for "
        "each image, a minibatch-stddev group completed by the first three "
        "training images. The feature residual compares the critic trunk's "
        "features of `x` and `G(E(x))`; the latent cycle is "
        "`E(x) - E(G(E(x)))`, under a Gaussian fitted on the training "
        "images' cycles, or in the codes' trimmed metric without centring. "
        "ROC AUC:",
        "",
        markdown_table(header, rows),
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="0,5,6")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    classes = [1] if args.quick else [int(c) for c in args.classes.split(",")]
    start = time.perf_counter()
    results = run(classes, args.quick, args.report_only)
    command = "python benchmarks/encoder_gan_features.py" + (
        " --quick" if args.quick else ""
    )
    text = report(results, classes, time.perf_counter() - start, command)
    if args.quick:
        print(text)
    else:
        publish(text, DOC)


if __name__ == "__main__":
    main()
