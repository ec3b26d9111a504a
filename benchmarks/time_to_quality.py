"""Time to quality: ROC AUC against fit seconds, at the defaults but max_epochs.

Each detector is fitted at its defaults with a range of training lengths
(``max_epochs``) on the standard protocol (all 6,000 training images of a
Fashion-MNIST class, the whole test split), one fit at a time with two torch
threads, so that the fit seconds are those a user of this machine sees. The
untrained network (``max_epochs=0``) is the first point of each curve and
PyOD's KNN on pixels is drawn as a reference.

The two localization detectors (SelfSupervisedAE and UTAD) are also fitted
at their defaults, the same way, on one texture of the texture benchmark
(``make_texture_defects``, grass, 64 px, 1,000 normal training crops, 400
test crops, seed 0), where the pixel count per epoch is close to that of a
Fashion-MNIST class.

    python benchmarks/time_to_quality.py            # writes the report and figure
    python benchmarks/time_to_quality.py --quick    # smoke run, prints

Finished fits are cached in ``benchmarks/_out/time_to_quality_cache``.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

from skanomaly.benchmark import make_detector, run_benchmark

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "time_to_quality.md")
FIGURE = os.path.join(ROOT, "docs", "benchmarks", "time_to_quality.png")
CACHE = os.path.join(HERE, "_out", "time_to_quality_cache")

#: The training lengths of each detector; its default is among them (the
#: slower detectors: the untrained network and the default only).
BUDGETS = {
    "ConvAutoEncoder": (0, 2, 5, 10, 20),
    "InfoTheoreticAD": (0, 2, 5, 10),
    "EncoderGAN": (0, 3),
    "SelfSupervisedAE": (0, 5),
    "UTAD": (0, 2),
}
CLASSES = (0,)
#: The localization detectors timed at their defaults on a texture, and the
#: texture benchmark task they are timed on.
TEXTURE_DETECTORS = ("SelfSupervisedAE", "UTAD")
TEXTURE_TASK = dict(classes=["grass"], n_train=1000, n_test=400, image_size=64)
#: Detectors whose forward pass the report counts in multiply-adds.
COUNTED = ("ConvAutoEncoder", "InfoTheoreticAD")


def detectors(quick):
    models = {}
    for name, epochs in BUDGETS.items():
        for e in epochs[:3] if quick else epochs:
            preset = "quick" if quick else "default"
            models[f"{name} max_epochs={e}"] = make_detector(
                name, preset=preset
            ).set_params(max_epochs=e)
    models["KNN"] = make_detector("KNN")
    return models


def curves(records):
    """``{(detector, class): [(fit_s, roc_auc, max_epochs), ...]}``."""
    out = {}
    for r in records:
        if r["detector"] == "KNN":
            continue
        name, epochs = r["detector"].split(" max_epochs=")
        out.setdefault((name, r["normal_class"]), []).append(
            (r["fit_s"], r["roc_auc"], int(epochs))
        )
    return {key: sorted(points, key=lambda p: p[2]) for key, points in out.items()}


def plot(records, path):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4))
    ax = figure.subplots()
    colours = {}
    for (name, c), points in sorted(curves(records).items()):
        colour = colours.setdefault(name, f"C{len(colours)}")
        style = "-" if c == CLASSES[0] else "--"
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            style,
            marker="o",
            color=colour,
            label=f"{name}, class {c}",
        )
    for r in records:
        if r["detector"] == "KNN":
            style = ":" if r["normal_class"] == CLASSES[0] else "-."
            ax.axhline(
                r["roc_auc"],
                color="grey",
                linestyle=style,
                label=f"pixel KNN, class {r['normal_class']}",
            )
    ax.set_xscale("symlog", linthresh=10)
    ax.set_xlabel("fit seconds (2 torch threads)")
    ax.set_ylabel("ROC AUC (full test split)")
    ax.set_ylim(0.4, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def multiply_adds(name, image_shape=(1, 28, 28)):
    """Multiply-adds of one forward pass of the default network on one image."""
    import torch

    from skanomaly.benchmark import make_detector

    detector = make_detector(name, preset="default").set_params(max_epochs=0)
    detector.fit(np.zeros((40, *image_shape[1:]), dtype=np.float32))
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            # every output value: in_channels / groups * kh * kw products
            total += output.numel() * module.weight[0].numel()
        elif isinstance(module, torch.nn.ConvTranspose2d):
            # every input value is spread over out_channels * kh * kw outputs
            kernel = module.weight.shape[1] * module.weight[0, 0].numel()
            total += inputs[0].numel() * kernel
        elif isinstance(module, torch.nn.Linear):
            total += module.in_features * module.out_features

    hooks = [m.register_forward_hook(count) for m in detector.module_.modules()]
    with torch.no_grad():
        detector.module_(torch.zeros(1, *image_shape))
    for hook in hooks:
        hook.remove()
    return total


def defaults_table(records):
    """Fit seconds and ROC AUC at each detector's default ``max_epochs``."""
    header = [
        "detector",
        "class",
        "default max_epochs",
        "fit s",
        "ROC AUC",
        "untrained ROC AUC",
        "within 2 min",
    ]
    rows = []
    for (name, c), points in sorted(curves(records).items()):
        default = make_detector(name, preset="default").max_epochs
        at = {epochs: (fit_s, auc) for fit_s, auc, epochs in points}
        if default not in at:
            continue
        fit_s, auc = at[default]
        untrained = f"{at[0][1]:.3f}" if 0 in at else "–"
        rows.append(
            [
                name,
                str(c),
                str(default),
                f"{fit_s:.0f}",
                f"{auc:.3f}",
                untrained,
                "yes" if fit_s <= 120 else "no",
            ]
        )
    return header, rows


def texture_table(records):
    """Fit seconds and quality at the defaults on the texture task."""
    header = ["detector", "texture", "fit s", "image ROC AUC", "pixel ROC AUC"]
    header.append("within 2 min")
    rows = [
        [
            r["detector"],
            str(r["normal_class"]),
            f"{r['fit_s']:.0f}",
            f"{r['roc_auc']:.3f}",
            f"{r['pixel_roc_auc']:.3f}",
            "yes" if r["fit_s"] <= 120 else "no",
        ]
        for r in records
    ]
    return header, rows


def report(records, wall, texture_records=(), task=TEXTURE_TASK):
    rows = []
    for (name, c), points in sorted(curves(records).items()):
        for fit_s, auc, epochs in points:
            rows.append([name, str(c), str(epochs), f"{fit_s:.1f}", f"{auc:.3f}"])
    knn = {r["normal_class"]: r["roc_auc"] for r in records if r["detector"] == "KNN"}
    lines = [
        "# Time to quality",
        "",
        *environment_lines("python benchmarks/time_to_quality.py", wall),
        "- One fit at a time, two torch threads; seed 0. Standard protocol: all "
        "6,000 training images of the class, the 10,000-image test split. "
        "Everything at the detector's defaults except `max_epochs` (0 is the "
        "untrained network).",
        "",
        "![ROC AUC against fit seconds](time_to_quality.png)",
        "",
        markdown_table(["detector", "class", "max_epochs", "fit s", "ROC AUC"], rows),
        "",
        "At the defaults (the two-minute target of the detectors' defaults on "
        "this machine):",
        "",
        markdown_table(*defaults_table(records)),
        "",
        "Multiply-adds of one forward pass on a 28x28 image, default network: "
        + ", ".join(f"{name} {multiply_adds(name) / 1e6:.1f}M" for name in COUNTED)
        + " (for InfoTheoreticAD, its encoder: what scoring runs; training with "
        "the default reconstruction bound also runs its decoder).",
        "",
        "PyOD KNN on pixels, same split: "
        + ", ".join(f"class {c} {auc:.3f}" for c, auc in sorted(knn.items()))
        + ".",
        "",
    ]
    if texture_records:
        lines += [
            "## The localization detectors on a texture",
            "",
            f"At their defaults, one fit at a time as above, on the texture "
            f"benchmark's {task['classes'][0]} task ({task['image_size']} px, "
            f"{task['n_train']} normal training crops, {task['n_test']} test "
            "crops, seed 0; `benchmarks/textures.py` has all textures):",
            "",
            markdown_table(*texture_table(texture_records)),
            "",
        ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--classes", default=",".join(map(str, CLASSES)), help="normal classes"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = (
        dict(n_train=200, n_test=400)
        if args.quick
        else dict(n_train=6000, n_test=10000)
    )
    start = time.perf_counter()
    results = run_benchmark(
        detectors(args.quick),
        "fashion-mnist",
        classes=[int(c) for c in args.classes.split(",")],
        seeds=[0],
        **sizes,
        n_jobs=1,
        cache_dir=None if args.quick else CACHE,
    )
    task = dict(TEXTURE_TASK)
    if args.quick:
        task.update(classes=["brick"], n_train=40, n_test=32, image_size=32)
    preset = "quick" if args.quick else "default"
    textures = run_benchmark(
        {name: make_detector(name, preset=preset) for name in TEXTURE_DETECTORS},
        "textures",
        seeds=[0],
        **task,
        n_jobs=1,
        cache_dir=None if args.quick else CACHE,
    )
    wall = time.perf_counter() - start
    text = report(results.records, wall, textures.records, task)
    if args.quick:
        print(text)
        return
    plot(results.records, FIGURE)
    publish(text, DOC)


if __name__ == "__main__":
    main()
