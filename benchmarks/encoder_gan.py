"""EncoderGAN under contaminated training data: the experiment of arXiv 1905.11034.

Fashion-MNIST one class vs rest at the standard protocol's size: the training
set holds all 6,000 training images of the normal class plus
floor(p * 6000 / (1 - p)) images drawn from the other classes of the training
split (``load_task(..., contamination=p)``), for p in {0, 0.05, 0.1, 0.2};
the test set is the whole 10,000-image test split, the same for every p.
Methods:

* EncoderGAN at its defaults, encoder trained simultaneously (the paper),
  with every score of one fit (``all_scores``): the latent Gaussian (the
  default score), the paper's latent norm and the residual;
* the same GAN with the encoder trained after it (``encoder_training=
  "post_hoc"``, the baseline of the paper's experiment), the same scores;
* the same networks left untrained (``max_epochs=0``) and scored the same
  way: what the robustness of the latent Gaussian owes to training;
* ConvAutoEncoder at its defaults and PyOD KNN on pixels.

The ROC AUC of the *raw* norm ``||E(x)||`` (high = anomalous) is reported as a
diagnostic of which side of the median the anomalies fall on; it is read with
the test labels and is not a score the library uses.

The jobs run through :func:`skanomaly.benchmark.run_benchmark` (one per
detector, p, class and seed; the other scores of a fit through its
``rescore`` option), cached as JSON under
``benchmarks/_out/encoder_gan_contamination``; a rerun only runs the missing
ones, two at a time with one torch thread each (``--n-jobs``).

Writes ``docs/benchmarks/encoder_gan.md`` and the plot
``docs/benchmarks/encoder_gan_contamination.png``.

    python benchmarks/encoder_gan.py           # full run (about 75 min, 2 cores)
    python benchmarks/encoder_gan.py --quick   # smoke run (about a minute)
"""

import argparse
import os
import sys
import time

import numpy as np
from pyod.models.knn import KNN
from sklearn.pipeline import make_pipeline

from skanomaly import ConvAutoEncoder, EncoderGAN
from skanomaly.benchmark import run_benchmark
from skanomaly.preprocessing import ImageFlattener

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(
    os.path.dirname(HERE), "docs", "benchmarks", "encoder_gan.md"
)
PLOT_NAME = "encoder_gan_contamination.png"
CACHE = os.path.join(HERE, "_out", "encoder_gan_contamination")

#: The two EncoderGAN fits (benchmark names) and their encoder training.
FITS = {"EncoderGAN": "simultaneous", "post-hoc encoder": "post_hoc"}


def raw_norm(detector, task):
    """``||E(x)||`` itself (high = anomalous): a diagnostic, not a score."""
    return np.linalg.norm(detector.encode(task.X_test), axis=1)


#: Other scores of each EncoderGAN fit: label -> rescore parameters.
RESCORE = {
    "Ledoit-Wolf fit": {"latent_fit": "ledoit_wolf"},
    "latent norm": {"score": "latent_norm"},
    "residual": {"score": "residual"},
    "raw norm": raw_norm,
}

#: Benchmark name of the same networks at their initial weights.
UNTRAINED = "EncoderGAN-untrained"

#: Reported methods: label -> benchmark row.
GAN_METHODS = {
    "EncoderGAN latent Gaussian (default)": "EncoderGAN",
    "EncoderGAN latent Gaussian, untrimmed fit": "EncoderGAN [Ledoit-Wolf fit]",
    "EncoderGAN latent norm (paper)": "EncoderGAN [latent norm]",
    "EncoderGAN residual": "EncoderGAN [residual]",
    "post-hoc encoder, latent Gaussian": "post-hoc encoder",
    "post-hoc encoder, latent Gaussian, untrimmed fit": (
        "post-hoc encoder [Ledoit-Wolf fit]"
    ),
    "post-hoc encoder, latent norm": "post-hoc encoder [latent norm]",
    "post-hoc encoder, residual": "post-hoc encoder [residual]",
    "untrained networks, latent Gaussian": UNTRAINED,
    "untrained networks, latent Gaussian, untrimmed fit": (
        f"{UNTRAINED} [Ledoit-Wolf fit]"
    ),
}
#: The default's label: the p values shown are those where it has run.
DEFAULT = "EncoderGAN latent Gaussian (default)"
#: Per score, its simultaneous and post-hoc rows, compared pair by pair.
PAIRED = {
    "latent Gaussian": (DEFAULT, "post-hoc encoder, latent Gaussian"),
    "latent Gaussian, untrimmed": (
        "EncoderGAN latent Gaussian, untrimmed fit",
        "post-hoc encoder, latent Gaussian, untrimmed fit",
    ),
    "latent norm": ("EncoderGAN latent norm (paper)", "post-hoc encoder, latent norm"),
    "residual": ("EncoderGAN residual", "post-hoc encoder, residual"),
}
BASELINES = ("ConvAutoEncoder", "PyOD KNN (pixels)")
METHODS = tuple(GAN_METHODS) + BASELINES
ROWS = {**GAN_METHODS, **{name: name for name in BASELINES}}
#: Plot style of each method: (colour: the networks, line: the score, marker).
STYLES = {
    DEFAULT: ("C0", "-", "o"),
    "EncoderGAN latent Gaussian, untrimmed fit": ("C0", "-.", "x"),
    "EncoderGAN latent norm (paper)": ("C0", "--", "s"),
    "EncoderGAN residual": ("C0", ":", "^"),
    "post-hoc encoder, latent Gaussian": ("C1", "-", "o"),
    "post-hoc encoder, latent Gaussian, untrimmed fit": ("C1", "-.", "x"),
    "post-hoc encoder, latent norm": ("C1", "--", "s"),
    "post-hoc encoder, residual": ("C1", ":", "^"),
    "untrained networks, latent Gaussian": ("C3", "-", "d"),
    "untrained networks, latent Gaussian, untrimmed fit": ("C3", "-.", "d"),
    "ConvAutoEncoder": ("C2", ":", "v"),
    "PyOD KNN (pixels)": ("C7", "-", "v"),
}
DIAGNOSTICS = {
    "EncoderGAN raw norm": "EncoderGAN [raw norm]",
    "post-hoc encoder raw norm": "post-hoc encoder [raw norm]",
}
ROWS.update(DIAGNOSTICS)


def detectors(gan_params):
    models = {
        name: EncoderGAN(**gan_params, encoder_training=mode, device="cpu")
        for name, mode in FITS.items()
    }
    models[UNTRAINED] = EncoderGAN(**{**gan_params, "max_epochs": 0}, device="cpu")
    models["ConvAutoEncoder"] = ConvAutoEncoder(device="cpu")
    models["PyOD KNN (pixels)"] = make_pipeline(ImageFlattener(), KNN())
    return models


def run(args, gan_params):
    """Records of every (p, detector, class, seed) job, each with its ``"p"``."""
    records = []
    for p in args.p:
        results = run_benchmark(
            detectors(gan_params),
            "fashion-mnist",
            classes=args.classes,
            seeds=args.seeds,
            contamination=p,
            n_train=args.n_train,
            n_test=args.n_test,
            n_jobs=args.n_jobs,
            cache_dir=None if args.quick else CACHE,
            cached_only=args.report_only,
            rescore={
                **{name: RESCORE for name in FITS},
                UNTRAINED: {"Ledoit-Wolf fit": RESCORE["Ledoit-Wolf fit"]},
            },
        )
        records += [{**r, "p": p} for r in results.records]
    return records


def gan_iterations(record):
    """GAN iterations of an EncoderGAN fit (the encoder's phase excluded)."""
    return sum(
        epoch["train_batch_count"]
        for epoch in record["history"]
        if epoch.get("phase") in ("joint", "gan")
    )


def _values(records, label, p, c=None):
    return [
        r["roc_auc"]
        for r in records
        if r["detector"] == ROWS[label]
        and r["p"] == p
        and (c is None or r["normal_class"] == c)
    ]


def plot(args, records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.8, 4.6))
    ps = [p for p in args.p if _values(records, DEFAULT, p)]
    for name in METHODS:
        values = [_values(records, name, p) for p in ps]
        means = [np.mean(v) for v in values]
        errors = [np.std(v) / np.sqrt(len(v)) for v in values]
        color, line, marker = STYLES[name]
        ax.errorbar(
            ps,
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
        "Fashion-MNIST one-vs-rest, classes "
        f"{sorted({r['normal_class'] for r in records})}, "
        f"seeds {sorted({r['seed'] for r in records})}",
        fontsize=10,
    )
    ax.set_xticks(ps)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tables(args, records):
    ps = [p for p in args.p if _values(records, DEFAULT, p)]

    def cell(values):
        if not values:
            return "not run"
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    def drop(name, to):
        a, b = _values(records, name, ps[0]), _values(records, name, to)
        return f"{np.mean(a) - np.mean(b):+.3f}" if a and b else "–"

    drops = list(dict.fromkeys([0.1 if 0.1 in ps else ps[-1], ps[-1]]))
    header = ["method", *[f"p = {p}" for p in ps], *[f"drop 0 -> {p}" for p in drops]]
    rows = []
    for name in METHODS + tuple(DIAGNOSTICS):
        label = name if name in METHODS else f"*{name} (diagnostic)*"
        rows.append(
            [label]
            + [cell(_values(records, name, p)) for p in ps]
            + [drop(name, p) for p in drops]
        )
    main = markdown_table(header, rows)

    class_rows = []
    for c in args.classes:
        for name in METHODS:
            class_rows.append(
                [str(c), name]
                + [
                    f"{np.mean(v):.3f}" if (v := _values(records, name, p, c)) else "–"
                    for p in ps
                ]
            )
    by_class = markdown_table(
        ["class", "method", *[f"p = {p}" for p in ps]], class_rows
    )

    diff_rows = []
    for score, (simultaneous, post_hoc) in PAIRED.items():
        # the jobs come in the same (class, seed) order
        for p in ps:
            d = np.array(_values(records, simultaneous, p)) - np.array(
                _values(records, post_hoc, p)
            )
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
    for name in (*FITS, *BASELINES):
        fits = [r for r in records if r["detector"] == name]
        iterations = (
            f"{np.mean([gan_iterations(r) for r in fits]):.0f}" if name in FITS else ""
        )
        timing_rows.append(
            [
                name,
                f"{np.mean([r['fit_s'] for r in fits]):.1f}",
                iterations,
                f"{np.mean([r['score_images_per_s'] for r in fits]):.0f}",
            ]
        )
    timing = markdown_table(
        ["method", "fit s (mean)", "GAN iterations", "images/s, default score"],
        timing_rows,
    )
    return main, by_class, paired, timing


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="0,5,6")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--p", default="0,0.05,0.1,0.2")
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report-only", action="store_true")
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
    gan_params = {}  # EncoderGAN's defaults
    if args.quick:
        args.classes, args.seeds, args.p = [1], [0], [0.0, 0.2]
        args.n_train, args.n_test = 100, 300
        gan_params = dict(EncoderGAN.presets["quick"])
    started = time.perf_counter()
    records = run(args, gan_params)
    main_table, by_class, paired, timing = tables(args, records)
    wall = time.perf_counter() - started
    defaults = EncoderGAN()
    settings = ", ".join(
        f"{k}={getattr(defaults, k)!r}"
        for k in ("n_filters", "latent_dim", "batch_size", "max_epochs", "lr", "score")
    )
    tasks = {(r["p"], r["normal_class"], r["seed"]) for r in records}
    missing = len(args.p) * len(args.classes) * len(args.seeds) - len(tasks)
    text = "\n".join(
        [
            "# EncoderGAN: measured results",
            "",
            *environment_lines(
                "python benchmarks/encoder_gan.py"
                + (" --quick" if args.quick else "")
                + (" --report-only" if args.report_only else ""),
                wall,
            ),
            "- Sum of the tasks' fit times: "
            f"{sum(r['fit_s'] for r in records if 'rescored_from' not in r) / 60:.0f}"
            " min (other jobs shared the machine: indicative).",
            f"- Jobs ran {args.n_jobs} at a time with "
            f"{max(1, (os.cpu_count() or 1) // args.n_jobs)} torch thread(s) each.",
            f"- Seeds {args.seeds} (data draw and detectors), normal classes "
            f"{args.classes}, contamination p in {args.p}.",
            "",
            *(
                [f"**Partial**: {missing} (p, class, seed) tasks have not run yet.", ""]
                if missing
                else []
            ),
            "## Contaminated training data (the experiment of Berg et al.)",
            "",
            f"Fashion-MNIST, one class vs rest. Training set: {args.n_train} "
            "training images of the normal class (all of them at the default) "
            f"plus floor(p * {args.n_train} / (1 - p)) images drawn from the other "
            "classes of the training split, shuffled. Test set: "
            f"{args.n_test} test images (the whole split at the default), the "
            "normal class labelled 0 and the others 1, the same for every p. "
            f"EncoderGAN at its defaults ({settings}); the post-hoc variant "
            "trains the same GAN (same seed, bit-identical weights) and then its "
            "encoder for as many iterations on the frozen generator. The score "
            "columns of one variant are scores of one fitted model "
            "(`rescore`). The untrained rows are the same networks at their "
            "initial weights (`max_epochs=0`), scored the same way: what the "
            "scores owe to training. ConvAutoEncoder at its defaults. PyOD "
            "KNN: defaults, on flattened pixels.",
            "",
            "ROC AUC, mean ± standard deviation over classes and seeds; the "
            "last columns are the mean at p = 0 minus the mean at p = 0.1 (and "
            "at the largest p): positive is a loss. The *raw norm* rows are "
            "diagnostics: the ROC AUC of ||E(x)|| itself (high = anomalous), "
            "computed with the test labels to see which side of the median the "
            "anomalies fall on; no detector uses them.",
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
            "Fit seconds include scoring the training set; the post-hoc variant "
            "trains the GAN and then the encoder. Scoring throughput on the test "
            "images with the default score (the encoder only).",
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
        plot(args, records, os.path.join(os.path.dirname(out) or ".", PLOT_NAME))


if __name__ == "__main__":
    main()
