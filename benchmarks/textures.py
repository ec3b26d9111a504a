"""The defect-localization home benchmark: texture defects, per defect type.

``make_texture_defects`` (brick, grass, gravel; normal training crops from
the top half of each photograph, test crops from the bottom half, half of
them with defects of eight types, seed 0): image ROC AUC, pixel ROC AUC and
AUPRO (FPR up to 0.3) per texture and per defect type. Four of the types
(scratch, blob, patch, stain) resemble what SelfSupervisedAE's training
corruptions draw; the other four (crack, spots, hole, misprint) do not, so
that the test is not the training task.

Detectors at their defaults: SelfSupervisedAE and UTAD (the two methods
made for localization), each beside its untrained network (the same
network at its initial weights, scored the same way), ConvAutoEncoder
(the plain reconstruction baseline) and, when the ``pretrained`` extra is
installed, PaDiM (pretrained features, a reference). Rescored variants of
the same fits (``run_benchmark(rescore=...)``): SelfSupervisedAE's map
without the per-pixel standardization (``map_normalization="none"``) and
its image score as the map's mean; UTAD's first stage alone (the
impression's residual), the combination of the released post-processing
instead of the reconstruction residual, its map without the per-pixel
standardization, and its latent k-NN score.

    python benchmarks/textures.py                 # writes docs/benchmarks/textures.md
    python benchmarks/textures.py --size 128      # writes textures_128px.md
    python benchmarks/textures.py --quick         # smoke run, prints

Every job runs through ``skanomaly.benchmark.run_benchmark``; finished jobs
are cached in ``benchmarks/_out/textures_cache`` (a rerun runs only the
missing ones; ``--cached-only`` reports what has finished and marks the rest
as not run).
"""

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch

from skanomaly.benchmark import BenchmarkResults, make_detector, run_benchmark
from skanomaly.datasets import DEFECT_TYPES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "textures.md")
FIGURE = os.path.join(ROOT, "docs", "benchmarks", "textures_maps.png")
#: The default crop size: other sizes write their own report and figure,
#: suffixed with the size (``textures_128px.md``).
DEFAULT_SIZE = 64
CACHE = os.path.join(HERE, "_out", "textures_cache")
TEXTURES = ["brick", "grass", "gravel"]
DETECTORS = [
    "SelfSupervisedAE",
    "SelfSupervisedAE-untrained",
    "UTAD",
    "UTAD-untrained",
    "ConvAutoEncoder",
    "PaDiM",
]
RESCORE = {
    "SelfSupervisedAE": {
        "raw squared error map": dict(map_normalization="none"),
        "map mean": dict(score="mean"),
    },
    "UTAD": {
        "first stage alone": dict(stages=1),
        "released combination": dict(combination="released"),
        "map not standardized": dict(map_normalization="none"),
        "latent k-NN": dict(score="latent_knn"),
    },
}
METRICS = {
    "roc_auc": "image ROC AUC",
    "pixel_roc_auc": "pixel ROC AUC",
    "aupro": "AUPRO@0.3",
}
#: Rescored variants (name suffixes) that change only the image score: their
#: map, and so their pixel metrics, are those of the fit above them (not
#: repeated).
SCORE_ONLY = ("[map mean]", "[latent k-NN]")
#: Defect types the training corruptions of SelfSupervisedAE resemble.
SEEN = ("scratch", "blob", "patch", "stain")


def _available(name):
    if name.startswith("PaDiM"):
        return importlib.util.find_spec("efficientnet_lite_pytorch") is not None
    return True


def _rescore(names):
    return {name: variants for name, variants in RESCORE.items() if name in names}


def run(names, args, size, cached_only):
    preset = "quick" if args.quick else "default"
    models = {name: make_detector(name, preset=preset) for name in names}
    records = run_benchmark(
        models,
        "textures",
        classes=args.textures,
        seeds=[args.seed],
        n_train=args.n_train,
        n_test=args.n_test,
        image_size=size,
        n_jobs=args.n_jobs,
        rescore=_rescore(names),
        gallery=True,
        cache_dir=None if args.quick else CACHE,
        cached_only=cached_only,
        verbose=True,
    ).records
    return drop_pixel_metrics(records)


def drop_pixel_metrics(records):
    """Blank the pixel metrics of the score-only variants (see SCORE_ONLY)."""
    for record in records:
        if record["detector"].endswith(SCORE_ONLY):
            record["pixel_roc_auc"] = record["aupro"] = None
            for metrics in (record.get("per_defect") or {}).values():
                metrics["pixel_roc_auc"] = metrics["aupro"] = None
    return records


def _cell(record, key):
    if record is None:
        return "not run"
    value = record.get(key)
    return "–" if value is None else f"{value:.3f}"


def texture_table(records, names, textures):
    return markdown_table(*texture_rows(records, names, textures))


def texture_rows(records, names, textures):
    """Header and rows: image, pixel ROC AUC and AUPRO per texture, the means."""
    header = ["detector"]
    for t in textures:
        header += [f"{t} image", f"{t} pixel", f"{t} AUPRO"]
    header += ["mean image", "mean pixel", "mean AUPRO", "fit s (mean)"]
    rows = []
    for name in names:
        got = {r["normal_class"]: r for r in records if r["detector"] == name}
        row = [name]
        for t in textures:
            row += [_cell(got.get(t), key) for key in METRICS]
        if all(t in got for t in textures):
            for key in METRICS:
                values = [got[t][key] for t in textures]
                row.append("–" if None in values else f"{np.mean(values):.3f}")
            fit = [got[t]["fit_s"] for t in textures]
            same_fit = got[textures[0]].get("rescored_from")
            row.append("(same fit)" if same_fit else f"{np.mean(fit):.1f}")
        else:
            row += ["–"] * 4
        rows.append(row)
    return header, rows


def variant_table(records, names, textures):
    """Image and pixel ROC AUC per texture, with the means, one row per variant.

    The table of the ablation reports (``benchmarks/self_supervised_ae.py``,
    ``benchmarks/utad.py``); a variant without a record for every texture is
    marked "not run".
    """
    header = ["variant"]
    for t in textures:
        header += [f"{t} image", f"{t} pixel"]
    header += ["mean image", "mean pixel", "mean AUPRO", "fit s (mean)"]
    rows = []
    for name in names:
        got = {r["normal_class"]: r for r in records if r["detector"] == name}
        if not all(t in got for t in textures):
            rows.append([name] + ["not run"] * (len(header) - 1))
            continue
        row = [name]
        for t in textures:
            row += [_cell(got[t], "roc_auc"), _cell(got[t], "pixel_roc_auc")]
        for key in METRICS:
            values = [got[t][key] for t in textures]
            row.append("–" if None in values else f"{np.mean(values):.3f}")
        same_fit = got[textures[0]].get("rescored_from")
        fit = np.mean([got[t]["fit_s"] for t in textures])
        row.append("(same fit)" if same_fit else f"{fit:.1f}")
        rows.append(row)
    return markdown_table(header, rows)


def defect_tables(records, names):
    results = BenchmarkResults([r for r in records if r["detector"] in names])
    parts = []
    for key, label in METRICS.items():
        header, rows = results.defect_table(key, order=DEFECT_TYPES)
        if not rows:
            continue
        header = [h + " \\*" if h in SEEN else h for h in header]
        rows.sort(key=lambda row: names.index(row[0]))
        parts += [f"### {label} per defect type", "", markdown_table(header, rows), ""]
    return parts


def texture_defect_table(records, names):
    """Pixel ROC AUC per texture and defect type, one row per fit.

    Only the fits themselves (not their rescored variants): where a detector
    fails, the mean over the textures hides on which one.
    """
    shown = [
        r
        for name in names
        for r in records
        if r["detector"] == name and r.get("per_defect") and "[" not in name
    ]
    if not shown:
        return []
    kinds = BenchmarkResults(shown).defect_types(DEFECT_TYPES)
    rows = [
        [r["detector"], r["normal_class"]]
        + [_cell(r["per_defect"].get(k), "pixel_roc_auc") for k in kinds]
        for r in shown
    ]
    header = ["detector", "texture"] + [k + " \\*" if k in SEEN else k for k in kinds]
    return [
        "## Pixel ROC AUC per texture and defect type",
        "",
        markdown_table(header, rows),
        "",
    ]


def plot_maps(records, path, detectors, texture):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [
        r
        for name in detectors
        for r in records
        if r["detector"] == name and r["normal_class"] == texture and r.get("gallery")
    ]
    if not shown:
        return False
    first = shown[0]["gallery"]
    n = len(first["images"])
    fig, axes = plt.subplots(
        n, 2 + len(shown), figsize=(1.6 * (2 + len(shown)), 1.6 * n), squeeze=False
    )
    for i in range(n):
        axes[i, 0].imshow(first["images"][i], cmap="gray", vmin=0, vmax=1)
        axes[i, 1].imshow(first["masks"][i], cmap="gray", vmin=0, vmax=1)
        for j, record in enumerate(shown):
            axes[i, 2 + j].imshow(record["gallery"]["maps"][i], cmap="inferno")
    titles = ["image", "mask"] + [r["detector"] for r in shown]
    for j, title in enumerate(titles):
        axes[0, j].set_title(title, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", default=",".join(TEXTURES))
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cached-only", action="store_true")
    parser.add_argument(
        "--detectors",
        default=",".join(DETECTORS),
        help="detectors to run (the report shows all of them, those not run "
        "yet marked so)",
    )
    args = parser.parse_args()
    args.textures = args.textures.split(",")
    if args.quick:
        args.textures, args.n_train, args.n_test, args.size = ["brick"], 40, 32, 32
    torch.set_num_threads(args.threads)
    start = time.time()
    every = [name for name in DETECTORS if _available(name)]
    chosen = [name for name in args.detectors.split(",") if name in every]
    records = run(chosen, args, args.size, args.cached_only)
    others = [name for name in every if name not in chosen]
    if others and not args.quick:
        records += run(others, args, args.size, cached_only=True)
    names = list(dict.fromkeys(r["detector"] for r in records))
    names.sort(key=lambda n: [every.index(n.split(" [")[0]), n])
    sections = [
        f"## {args.size} px, per texture",
        "",
        texture_table(records, names, args.textures),
        "",
        "## Per defect type (all textures)",
        "",
        "Each cell: the good test images against those of one defect type, "
        "mean ± standard deviation over the textures. Types marked \\* "
        "resemble what SelfSupervisedAE's training corruptions draw; the "
        "others do not.",
        "",
        *defect_tables(records, names),
        *texture_defect_table(records, names),
    ]
    text = "\n".join(sections)
    if args.quick:
        print(text)
        return
    doc, figure = DOC, FIGURE
    if args.size != DEFAULT_SIZE:
        doc = DOC.replace(".md", f"_{args.size}px.md")
        figure = FIGURE.replace(".png", f"_{args.size}px.png")
    plotted = plot_maps(
        records, figure, ["SelfSupervisedAE", "UTAD", "ConvAutoEncoder"], "brick"
    )
    command = "python benchmarks/textures.py " + " ".join(sys.argv[1:])
    header = [
        "# Texture defects: detection and localization, per defect type",
        "",
        *environment_lines(command.strip(), time.time() - start),
        f"- Protocol: `make_texture_defects`, {args.size} px, {args.n_train} "
        f"normal training crops from the top half of each photograph, "
        f"{args.n_test} test crops from the bottom half (half of them with "
        "defects, drawn uniformly from the eight types), seed "
        f"{args.seed}. Detectors at their defaults; `-untrained` is the same "
        "network at its initial weights, scored the same way. Rows in "
        "brackets rescore the fit above them. "
        + (
            "One job at a time."
            if args.n_jobs == 1
            else f"{args.n_jobs} jobs at a time."
        ),
        "",
    ]
    if plotted:
        header += [
            f"![Maps on brick defects]({os.path.basename(figure)})",
            "",
        ]
    publish("\n".join(header + sections), doc)


if __name__ == "__main__":
    main()
