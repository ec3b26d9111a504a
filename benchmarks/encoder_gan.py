"""EncoderGAN under contaminated training data: the experiment of arXiv 1905.11034.

Fashion-MNIST one class vs rest. The training set holds the first ``--n-train``
training images of the normal class plus floor(p * n / (1 - p)) images drawn
from the other classes of the training split (``make_one_class_split`` with
``contamination=p``), for p in {0, 0.05, 0.1, 0.2}; the test set is the same
for every p. Methods:

* EncoderGAN, encoder trained simultaneously (the paper), scored by the
  latent norm (the default, sign-free score) and by the residual
  ``|x - G(E(x))|``;
* the same GAN with the encoder trained after it (``encoder_training=
  "post_hoc"``, the baseline of the paper's experiment), both scores;
* ConvAutoEncoder and PyOD KNN on pixels.

Both scores of one EncoderGAN come from one fit (``all_scores``), so the
latent-norm and residual columns compare scores of the same networks. The
ROC AUC of the *raw* norm ``||E(x)||`` (high = anomalous) is also reported, as a
diagnostic of which side of the median the anomalies fall on; it is read with
the test labels and is not a score the library uses.

Writes ``docs/benchmarks/encoder_gan.md`` and the plot
``docs/benchmarks/encoder_gan_contamination.png``; also times training per
iteration and scoring.

    python benchmarks/encoder_gan.py           # full run (about 25 min, 2 idle cores)
    python benchmarks/encoder_gan.py --quick   # smoke run (about a minute)
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
from pyod.models.knn import KNN
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from skanomaly import ConvAutoEncoder, EncoderGAN
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split
from skanomaly.preprocessing import ImageFlattener

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table  # noqa: E402

DEFAULT_OUT = os.path.join("docs", "benchmarks", "encoder_gan.md")
PLOT_NAME = "encoder_gan_contamination.png"

METHODS = (
    "EncoderGAN latent norm",
    "EncoderGAN residual",
    "post-hoc encoder, latent norm",
    "post-hoc encoder, residual",
    "ConvAutoEncoder",
    "PyOD KNN (pixels)",
)
DIAGNOSTICS = ("EncoderGAN raw norm", "post-hoc encoder, raw norm")


def contaminated_task(train, test, normal_class, p, seed, n_train, n_test):
    """Training images of one class (first ``n_train``) plus p anomalies; test set."""
    normal = np.flatnonzero(train.target == normal_class)[:n_train]
    others = np.flatnonzero(train.target != normal_class)
    index = np.concatenate([normal, others])
    X_train, y_train, X_test, y_test = make_one_class_split(
        train.images[index],
        train.target[index],
        normal_class,
        X_test=test.images[:n_test],
        y_test=test.target[:n_test],
        contamination=p,
        random_state=seed,
    )
    return X_train, y_train, X_test, y_test


def fit_gan(args, seed, mode, X_train, X_test, y_test):
    detector = EncoderGAN(
        n_filters=args.n_filters,
        latent_dim=args.latent_dim,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        lr=args.lr,
        encoder_training=mode,
        device="cpu",
        random_state=seed,
    )
    start = time.perf_counter()
    detector.fit(X_train)
    fit_s = time.perf_counter() - start
    iterations = sum(
        epoch["train_batch_count"]
        for epoch in detector.history_
        if epoch["phase"] in ("joint", "gan")
    )
    start = time.perf_counter()
    detector.decision_function(X_test)  # latent norm: the encoder only
    latent_speed = len(X_test) / (time.perf_counter() - start)
    start = time.perf_counter()
    scores = detector.all_scores(X_test)  # encoder and generator
    all_speed = len(X_test) / (time.perf_counter() - start)
    aucs = {name: roc_auc_score(y_test, s) for name, s in scores.items()}
    timing = {
        "fit_s": fit_s,
        "s_per_iteration": fit_s / iterations,
        "iterations": iterations,
        "latent_images_per_s": latent_speed,
        "all_images_per_s": all_speed,
    }
    return aucs, timing


def run(args):
    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    auc = {}  # (method, p) -> list over (class, seed)
    per_class = {}  # (method, p, class) -> list over seeds
    timings = {"simultaneous": [], "post_hoc": []}
    other_fit_s = {"ConvAutoEncoder": [], "PyOD KNN (pixels)": []}
    for p in args.p:
        for c in args.classes:
            for seed in args.seeds:
                X_train, y_train, X_test, y_test = contaminated_task(
                    train, test, c, p, seed, args.n_train, args.n_test
                )
                results = {}
                for mode, prefix in (
                    ("simultaneous", "EncoderGAN"),
                    ("post_hoc", "post-hoc encoder,"),
                ):
                    aucs, timing = fit_gan(args, seed, mode, X_train, X_test, y_test)
                    timings[mode].append(timing)
                    results[f"{prefix} latent norm"] = aucs["latent_norm"]
                    results[f"{prefix} residual"] = aucs["residual"]
                    results[f"{prefix} raw norm"] = aucs["latent_norm_raw"]
                baselines = {
                    "ConvAutoEncoder": ConvAutoEncoder(
                        max_epochs=args.cae_epochs, device="cpu", random_state=seed
                    ),
                    "PyOD KNN (pixels)": make_pipeline(ImageFlattener(), KNN()),
                }
                for name, detector in baselines.items():
                    start = time.perf_counter()
                    detector.fit(X_train)
                    other_fit_s[name].append(time.perf_counter() - start)
                    results[name] = roc_auc_score(
                        y_test, detector.decision_function(X_test)
                    )
                for name, value in results.items():
                    auc.setdefault((name, p), []).append(value)
                    per_class.setdefault((name, p, c), []).append(value)
                print(
                    f"p={p} class={c} seed={seed} n_train={len(X_train)} "
                    f"(anomalies {int(y_train.sum())}): "
                    + ", ".join(f"{k} {v:.3f}" for k, v in results.items()),
                    file=sys.stderr,
                    flush=True,
                )
    return auc, per_class, timings, other_fit_s


def plot(args, auc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        "EncoderGAN latent norm": ("C0", "-", "o"),
        "EncoderGAN residual": ("C0", "--", "s"),
        "post-hoc encoder, latent norm": ("C1", "-", "o"),
        "post-hoc encoder, residual": ("C1", "--", "s"),
        "ConvAutoEncoder": ("C2", ":", "^"),
        "PyOD KNN (pixels)": ("C7", ":", "v"),
    }
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name in METHODS:
        means = [np.mean(auc[(name, p)]) for p in args.p]
        errors = [np.std(auc[(name, p)]) / np.sqrt(len(auc[(name, p)])) for p in args.p]
        color, line, marker = styles[name]
        ax.errorbar(
            args.p,
            means,
            yerr=errors,
            label=name,
            color=color,
            linestyle=line,
            marker=marker,
            capsize=3,
        )
    ax.set_xlabel("contamination p of the training set")
    ax.set_ylabel("ROC AUC (mean, +- standard error)")
    ax.set_title(
        f"Fashion-MNIST one-vs-rest, classes {args.classes}, {len(args.seeds)} seeds",
        fontsize=10,
    )
    ax.set_xticks(args.p)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tables(args, auc, per_class, timings, other_fit_s):
    def cell(values):
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    header = ["method", *[f"p = {p}" for p in args.p], "drop 0 -> " + str(args.p[-1])]
    rows = []
    for name in METHODS + DIAGNOSTICS:
        means = [np.mean(auc[(name, p)]) for p in args.p]
        rows.append(
            [name if name in METHODS else f"*{name} (diagnostic)*"]
            + [cell(auc[(name, p)]) for p in args.p]
            + [f"{means[0] - means[-1]:+.3f}"]
        )
    main = markdown_table(header, rows)

    class_rows = []
    for c in args.classes:
        for name in METHODS:
            class_rows.append(
                [str(c), name]
                + [f"{np.mean(per_class[(name, p, c)]):.3f}" for p in args.p]
            )
    by_class = markdown_table(
        ["class", "method", *[f"p = {p}" for p in args.p]], class_rows
    )

    # paired difference simultaneous - post-hoc, per (p, class, seed)
    diff_rows = []
    for score in ("latent norm", "residual"):
        for p in args.p:
            a = np.array(auc[(f"EncoderGAN {score}", p)])
            b = np.array(auc[(f"post-hoc encoder, {score}", p)])
            d = a - b
            diff_rows.append(
                [
                    score,
                    str(p),
                    f"{d.mean():+.3f}",
                    f"{d.std():.3f}",
                    f"{int((d > 0).sum())} / {len(d)}",
                ]
            )
    paired = markdown_table(
        ["score", "p", "mean AUC difference", "std", "runs where simultaneous wins"],
        diff_rows,
    )

    timing_rows = []
    for mode, label in (("simultaneous", "EncoderGAN"), ("post_hoc", "post-hoc")):
        t = timings[mode]
        timing_rows.append(
            [
                label,
                f"{np.mean([x['fit_s'] for x in t]):.1f}",
                f"{np.mean([x['iterations'] for x in t]):.0f}",
                f"{np.mean([x['s_per_iteration'] for x in t]):.3f}",
                f"{np.mean([x['latent_images_per_s'] for x in t]):.0f}",
                f"{np.mean([x['all_images_per_s'] for x in t]):.0f}",
            ]
        )
    for name, fits in other_fit_s.items():
        timing_rows.append([name, f"{np.mean(fits):.1f}", "", "", "", ""])
    timing = markdown_table(
        [
            "method",
            "fit s (mean)",
            "GAN iterations",
            "s per GAN iteration",
            "images/s, latent-norm score",
            "images/s, all scores",
        ],
        timing_rows,
    )
    return main, by_class, paired, timing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="0,1,8")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--p", default="0,0.05,0.1,0.2")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--n-filters", type=int, default=8)
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--cae-epochs", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads (default: torch's own choice, one per core)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--out",
        default=None,
        help=f"Markdown file to write (a full run defaults to {DEFAULT_OUT}, with "
        f"the plot {PLOT_NAME} next to it; a --quick run only prints unless given "
        "one)",
    )
    args = parser.parse_args(argv)
    args.classes = [int(c) for c in args.classes.split(",")]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.p = [float(p) for p in args.p.split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.classes, args.seeds, args.p = [1], [0], [0.0, 0.2]
        args.n_train, args.n_test, args.epochs, args.cae_epochs = 100, 300, 1, 1
    started = time.perf_counter()
    auc, per_class, timings, other_fit_s = run(args)
    main_table, by_class, paired, timing = tables(
        args, auc, per_class, timings, other_fit_s
    )
    wall = time.perf_counter() - started

    command = "python benchmarks/encoder_gan.py" + (" --quick" if args.quick else "")
    if args.threads:
        command += f" --threads {args.threads}"
    text = "\n".join(
        [
            "# EncoderGAN: measured results",
            "",
            *environment_lines(command, wall),
            f"- Seeds {args.seeds} (data draw and detectors), normal classes "
            f"{args.classes}, contamination p in {args.p}.",
            "",
            "## Contaminated training data (the experiment of Berg et al.)",
            "",
            f"Fashion-MNIST, one class vs rest. Training set: the first "
            f"{args.n_train} training images of the normal class plus "
            f"floor(p * {args.n_train} / (1 - p)) images drawn from the other "
            "classes of the training split (`make_one_class_split(..., "
            "contamination=p)`), shuffled. Test set: the first "
            f"{args.n_test} test images, the normal class labelled 0 and the others "
            "1, the same for every p. "
            f"EncoderGAN: n_filters={args.n_filters}, latent_dim={args.latent_dim}, "
            f"batch {args.batch_size}, {args.epochs} epochs (one GAN iteration per "
            f"batch), lr {args.lr}, Adam betas (0, 0.99), gradient penalty 10, "
            "drift 1e-3, n_critic 1, no EMA; the post-hoc variant trains the same "
            "GAN (same seed, bit-identical weights) and then its encoder for as "
            "many iterations on the frozen generator. The latent-norm and residual "
            "columns of one variant are two scores of one fitted model "
            "(`all_scores`). ConvAutoEncoder: its defaults with "
            f"{args.cae_epochs} epochs. PyOD KNN: defaults, on flattened pixels.",
            "",
            "ROC AUC, mean ± standard deviation over "
            f"{len(args.classes)} classes x {len(args.seeds)} seeds; the last "
            "column is the mean at p = 0 minus the mean at the largest p. The "
            "*raw norm* rows are diagnostics: the ROC AUC of ||E(x)|| itself "
            "(high = anomalous), computed with the test labels to see which "
            "side of the median the anomalies fall on; no detector uses them.",
            "",
            main_table,
            "",
            f"![ROC AUC against contamination]({PLOT_NAME})",
            "",
            "### Simultaneous minus post-hoc encoder, paired by class and seed",
            "",
            paired,
            "",
            "### Per class (mean over seeds)",
            "",
            by_class,
            "",
            "## Training time and scoring throughput",
            "",
            "Fit seconds include scoring the training set. Scoring throughput on "
            f"the {args.n_test} test images, batches of {args.batch_size}.",
            "",
            timing,
            "",
        ]
    )
    print(text)
    out = args.out or (None if args.quick else DEFAULT_OUT)
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write(text)
        plot(args, auc, os.path.join(os.path.dirname(out) or ".", PLOT_NAME))


if __name__ == "__main__":
    main()
