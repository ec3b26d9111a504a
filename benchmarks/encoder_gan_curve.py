"""EncoderGAN: ROC AUC of every score against training iterations, standard protocol.

For each normal class, EncoderGAN trains on all 6,000 training images of the
class; after chosen epochs (and before the first, the untrained networks) the
training statistics of the scores are computed as ``fit`` computes them, and
the whole 10,000-image test split is scored with every score option: the
latent Gaussian (the default, trimmed fit; and one Ledoit-Wolf fit on all
codes), the latent norm (the paper's), the residual and the combined score
(``run_benchmark``'s ``checkpoints`` and ``rescore``). The fit's random
generators are restored after each evaluation, so the training run is the
one an uninterrupted fit makes; evaluation time is not counted in the fit
seconds.

Variants: the paper's encoder (trained on generated images only) and the
library's departure, ``real_cycle_weight=1`` (the encoder also inverts the
generator on the real training images). PyOD KNN on pixels on the same split
is the baseline.

    python benchmarks/encoder_gan_curve.py                 # writes the report
    python benchmarks/encoder_gan_curve.py --classes 0 --variants paper
    python benchmarks/encoder_gan_curve.py --quick         # smoke run, prints

Each finished (variant, class) job is cached as JSON under
``benchmarks/_out/encoder_gan_curve``; reruns only run what is missing, and
the report covers what the cache holds, marking the rest as not run.
"""

import argparse
import os
import sys
import time

from pyod.models.knn import KNN
from sklearn.pipeline import make_pipeline

from skanomaly import EncoderGAN
from skanomaly.benchmark import run_benchmark
from skanomaly.datasets import FASHION_MNIST_CLASSES
from skanomaly.preprocessing import ImageFlattener

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402
from encoder_gan import raw_norm  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "encoder_gan_curve.md")
PLOT = os.path.join(ROOT, "docs", "benchmarks", "encoder_gan_curve.png")
CACHE = os.path.join(HERE, "_out", "encoder_gan_curve")

#: Settings shared by every variant (CPU-sized networks).
COMMON = dict(n_filters=8, latent_dim=128, batch_size=64, lr=2e-4)
VARIANTS = {
    "paper": {},
    "real-cycle": dict(real_cycle_weight=1.0),
}
CHECKPOINTS = (0, 1, 2, 3, 4, 6, 8, 12)
CLASSES = (0, 5)
KNN_NAME = "pixel KNN"


#: Columns: the default score (``latent_gaussian``), then rescored variants.
RESCORE = {
    "latent_gaussian_ledoit_wolf": {"latent_fit": "ledoit_wolf"},
    "latent_norm": {"score": "latent_norm"},
    "residual": {"score": "residual"},
    "combined": {"score": "combined"},
    "latent_norm_raw": raw_norm,
}
COLUMNS = ("latent_gaussian", *RESCORE)


def run(classes, variants, checkpoints, n_train, n_test, cache, report_only=False):
    """``({(class, variant): record}, {class: pixel KNN ROC AUC})``."""
    models = {
        variant: EncoderGAN(
            **COMMON, **VARIANTS[variant], max_epochs=max(checkpoints), device="cpu"
        )
        for variant in variants
    }
    models[KNN_NAME] = make_pipeline(ImageFlattener(), KNN())
    results = run_benchmark(
        models,
        "fashion-mnist",
        classes=classes,
        seeds=[0],
        n_train=n_train,
        n_test=n_test,
        n_jobs=2,
        cache_dir=CACHE if cache else None,
        cached_only=report_only,
        rescore={v: RESCORE for v in variants},
        checkpoints={v: list(checkpoints) for v in variants},
    )
    curves, knn = {}, {}
    for record in results.records:
        if record["detector"] == KNN_NAME:
            knn[record["normal_class"]] = record["roc_auc"]
        elif record["detector"] in variants:
            curves[record["normal_class"], record["detector"]] = record
    return curves, knn


def _rows(record):
    """Per checkpoint: iterations, fit seconds and the ROC AUC of each column."""
    rows = []
    for point in record["checkpoints"]:
        row = dict(
            iterations=point["optimizer_steps"],
            fit_seconds=point["fit_s"],
            latent_gaussian=point["roc_auc"],
        )
        row.update(point["rescored"])
        rows.append(row)
    return rows


def _plot(results, knn_auc, classes, variants):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [c for c in classes if any((c, v) in results for v in variants)]
    size = (4.2 * len(shown), 3.4)
    fig, axes = plt.subplots(1, len(shown), figsize=size, squeeze=False)
    styles = {"paper": "-", "real-cycle": "--"}
    colours = {"latent_norm": "C0", "latent_gaussian": "C1", "residual": "C2"}
    for ax, cls in zip(axes[0], shown):
        knn = None
        for variant in variants:
            record = results.get((cls, variant))
            if record is None:
                continue
            knn = knn_auc.get(cls)
            rows = _rows(record)
            steps = [r["iterations"] for r in rows]
            for score, colour in colours.items():
                ax.plot(
                    steps,
                    [r[score] for r in rows],
                    styles.get(variant, ":"),
                    color=colour,
                    marker="o",
                    ms=3,
                    label=f"{score} ({variant})",
                )
        if knn is not None:
            ax.axhline(knn, color="grey", lw=1, label="pixel KNN")
        ax.set_title(f"class {cls} ({FASHION_MNIST_CLASSES[cls]})")
        ax.set_xlabel("GAN iterations (batches of 64)")
        ax.set_ylim(0.3, 1.0)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test ROC AUC")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)
    plt.close(fig)


def report(results, knn_auc, classes, variants, wall):
    lines = [
        "# EncoderGAN: ROC AUC against training iterations",
        "",
        "Fashion-MNIST one class vs rest, all 6,000 training images of the class,",
        "the whole 10,000-image test split, seed 0. Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in COMMON.items())
        + "; jobs ran 2 at a time with one torch thread each.",
        "One iteration = one critic, one generator and one encoder step on a",
        "batch of 64; 94 iterations per epoch. Iteration 0",
        "is the untrained networks, scored the same way. Fit seconds exclude the",
        "evaluations; other benchmark jobs shared the two cores, so they are",
        "indicative. `latent_gaussian` is the default score (trimmed fit),",
        "`latent_gaussian_ledoit_wolf` the same Gaussian fitted once on all codes.",
        "`latent_norm_raw` is the ROC AUC of the raw norm `||E(x)||`",
        "(high = anomalous), a diagnostic of the side anomalies fall on, not a score.",
        "",
    ]
    missing = [(c, v) for c in classes for v in variants if (c, v) not in results]
    if missing:
        lines += [
            "**Partial**: not run yet: "
            + ", ".join(f"class {c} {v}" for c, v in missing)
            + ".",
            "",
        ]
    columns = list(COLUMNS)
    for cls in classes:
        for variant in variants:
            record = results.get((cls, variant))
            if record is None:
                continue
            lines += [
                f"## Class {cls} ({FASHION_MNIST_CLASSES[cls]}), {variant}"
                f" (pixel KNN {knn_auc[cls]:.3f})",
                "",
            ]
            header = ["iterations", "fit s", *columns]
            rows = [
                [
                    str(r["iterations"]),
                    f"{r['fit_seconds']:.0f}",
                    *[f"{r[c]:.3f}" for c in columns],
                ]
                for r in _rows(record)
            ]
            lines += [markdown_table(header, rows), ""]
    lines += ["![ROC AUC against iterations](encoder_gan_curve.png)", ""]
    lines += environment_lines("python benchmarks/encoder_gan_curve.py", wall)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default=",".join(map(str, CLASSES)))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, prints")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    classes = [int(c) for c in args.classes.split(",")]
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    if args.quick:
        results, knn = run(classes[:1], variants, (0, 1), 128, 256, cache=False)
        for key, record in results.items():
            print(key, _rows(record)[-1], "knn", knn[key[0]])
        return
    start = time.perf_counter()
    results, knn = run(
        classes, variants, CHECKPOINTS, 6000, 10000, True, args.report_only
    )
    wall = time.perf_counter() - start
    _plot(results, knn, classes, variants)
    publish(report(results, knn, classes, variants, wall), DOC)


if __name__ == "__main__":
    main()
