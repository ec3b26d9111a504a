"""PatchCore and PaDiM on the texture defects, beside the trained detectors.

Texture defects (``make_texture_defects``: brick, grass, gravel; 400 normal
training crops, 200 test crops of which half have defects of eight types,
seed 0) at 64 and 128 px: image ROC AUC, pixel ROC AUC and AUPRO (FPR up to
0.3), fit seconds.
PatchCore and PaDiM at their defaults beside ConvAutoEncoder,
SelfSupervisedAE and UTAD at theirs, then the ablations at 64 px: the
coreset ratio, the layers and the input size of PatchCore, PaDiM's
covariance estimate. Fashion-MNIST rows come from
``benchmarks/standard_protocol.py``, which runs every registered detector.

    python benchmarks/patch_features.py            # writes the report
    python benchmarks/patch_features.py --quick    # smoke run, prints

Every job runs through ``skanomaly.benchmark.run_benchmark``; finished jobs
are cached in ``benchmarks/_out/patch_features_cache`` (a rerun runs only
the missing ones, and ``--cached-only`` reports what has finished, marking
the rest as not run).
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

from skanomaly import PaDiM, PatchCore
from skanomaly.benchmark import make_detector, run_benchmark
from skanomaly.datasets import DEFECT_TYPES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import cost_cells, environment_lines, markdown_table, publish  # noqa: E402
from textures import plot_maps  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "patch_features.md")
FIGURE = os.path.join(ROOT, "docs", "benchmarks", "patch_features_maps.png")
FIGURE_DETECTORS = ("PatchCore", "PaDiM", "ConvAutoEncoder")
FIGURE_SIZE = 64
CACHE = os.path.join(HERE, "_out", "patch_features_cache")
TEXTURES = ["brick", "grass", "gravel"]

#: PyOD's KNN on pooled features of the same backbone: image scores only.
POOLED = "KNN-efficientnet-lite0"
MAIN = ["PatchCore", "PaDiM", "ConvAutoEncoder", "SelfSupervisedAE", "UTAD", POOLED]
ABLATIONS = {
    "PatchCore coreset_ratio=1": PatchCore(coreset_ratio=1.0),
    "PatchCore coreset_ratio=0.1": PatchCore(coreset_ratio=0.1),
    "PatchCore coreset_ratio=0.01 (default)": PatchCore(),
    "PatchCore layers=(3, 5)": PatchCore(layers=(3, 5)),
    "PatchCore layers=(11,)": PatchCore(layers=(11,)),
    "PatchCore n_reweight=0": PatchCore(n_reweight=0),
    "PatchCore input_size=128": PatchCore(input_size=128),
    "PaDiM covariance='paper'": PaDiM(covariance="paper"),
    "PaDiM covariance='oas'": PaDiM(covariance="oas"),
    "PaDiM input_size=128": PaDiM(input_size=128),
    "PatchCore backbone='mobilenetv2'": PatchCore(backbone="mobilenetv2"),
    "PaDiM backbone='mobilenetv2'": PaDiM(backbone="mobilenetv2"),
}


def _run(models, size, args, classes=None, gallery=False):
    return run_benchmark(
        models,
        "textures",
        classes=args.textures if classes is None else classes,
        seeds=[0],
        n_train=args.n_train,
        n_test=args.n_test,
        image_size=size,
        n_jobs=1,
        cache_dir=None if args.quick else CACHE,
        cached_only=args.cached_only,
        gallery=gallery,
    ).records


def _jobs_of(records, name, size):
    """The records of one detector at one image size."""
    return [
        r
        for r in records
        if r["detector"] == name and r.get("image_size", size) == size
    ]


def _cell(record, key):
    value = record.get(key) if record else None
    return "not run" if record is None else ("–" if value is None else f"{value:.3f}")


def table(records, names, textures, size):
    header = ["detector"]
    for t in textures:
        header += [f"{t} image", f"{t} pixel", f"{t} AUPRO"]
    header += ["mean image", "mean pixel", "mean AUPRO", "fit s (mean)"]
    rows = []
    for name in names:
        got = {r["normal_class"]: r for r in _jobs_of(records, name, size)}
        row = [name]
        for t in textures:
            row += [_cell(got.get(t), k) for k in ("roc_auc", "pixel_roc_auc", "aupro")]
        if all(t in got for t in textures):
            for key in ("roc_auc", "pixel_roc_auc", "aupro"):
                values = [got[t][key] for t in textures]
                row.append("–" if None in values else f"{np.mean(values):.3f}")
            row.append(f"{np.mean([got[t]['fit_s'] for t in textures]):.1f}")
        else:
            row += ["–"] * 4
        rows.append(row)
    return markdown_table(header, rows)


def cost_table(records, names, size):
    """Fit seconds, scoring images/s and peak memory, means over the textures."""
    header = ["detector", "fit s", "scoring images/s", "peak memory MiB"]
    rows = []
    for name in names:
        mine = _jobs_of(records, name, size)
        if not mine:
            rows.append([name, "not run", "not run", "not run"])
            continue
        rows.append([name, *cost_cells(mine)])
    return markdown_table(header, rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", default=",".join(TEXTURES))
    parser.add_argument("--sizes", default="64,128")
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cached-only", action="store_true")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument(
        "--detectors",
        default=",".join(MAIN),
        help="detectors of the main tables to run (the report shows all of "
        "them, those not run yet marked so)",
    )
    args = parser.parse_args()
    args.textures = args.textures.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.quick:
        args.textures, args.n_train, args.n_test, sizes = ["brick"], 40, 20, [64]
    torch.set_num_threads(args.threads)
    start = time.time()
    preset = "quick" if args.quick else "default"
    main_models = {name: make_detector(name, preset=preset) for name in MAIN}
    chosen = args.detectors.split(",")
    sections = []
    for size in sizes:
        records = _run(
            {n: m for n, m in main_models.items() if n in chosen}, size, args
        )
        if not args.quick and set(chosen) != set(MAIN):
            # the others' finished jobs, from the cache (or "not run")
            args.cached_only, cached_only = True, args.cached_only
            records += _run(
                {n: m for n, m in main_models.items() if n not in chosen}, size, args
            )
            args.cached_only = cached_only
        sections += [
            f"## {size} px, every detector at its defaults",
            "",
            table(records, list(main_models), args.textures, size),
            "",
            f"Cost at {size} px (means over the textures; the peak memory is "
            "the increase of the process's resident memory during the job):",
            "",
            cost_table(records, list(main_models), size),
            "",
        ]
    figure = None
    if not args.quick and FIGURE_SIZE in sizes:
        # the maps of a few brick crops (the jobs keep them in their records)
        shown = {n: main_models[n] for n in FIGURE_DETECTORS}
        records = _run(shown, FIGURE_SIZE, args, classes=["brick"], gallery=True)
        if plot_maps(records, FIGURE, list(FIGURE_DETECTORS), "brick"):
            figure = os.path.basename(FIGURE)
    if not args.no_ablations:
        ablations = dict(ABLATIONS)
        if args.quick:
            ablations = {k: v.set_params(input_size=32) for k, v in ablations.items()}
        records = _run(ablations, sizes[0], args)
        sections += [
            f"## Ablations, {sizes[0]} px",
            "",
            table(records, list(ablations), args.textures, sizes[0]),
            "",
        ]
    text = "\n".join(sections)
    if args.quick:
        print(text)
        return
    command = " ".join(["python benchmarks/patch_features.py", *sys.argv[1:]])
    lines = [
        "# PatchCore and PaDiM on texture defects",
        "",
        *environment_lines(command, time.time() - start),
        f"- Protocol: `make_texture_defects`, {args.n_train} normal training "
        f"crops from the top half of each photograph, {args.n_test} test crops "
        "from the bottom half (half of them with defects drawn uniformly from "
        f"the {len(DEFECT_TYPES)} types: {', '.join(DEFECT_TYPES)}), seed 0; "
        "image ROC AUC, pixel ROC AUC and AUPRO up to FPR 0.3 (`–` where "
        f"a detector gives no maps: `{POOLED}` is PyOD's KNN on pooled "
        "EfficientNet-Lite0 features, 128 px input). "
        "Jobs run one at a time; fit seconds are those of that setting.",
        "",
        *(
            [
                f"![Maps on brick defects, {FIGURE_SIZE} px]({figure})",
                "",
                f"Maps at {FIGURE_SIZE} px of defective brick crops: the input, "
                "the true mask, then each detector's map at its defaults.",
                "",
            ]
            if figure
            else []
        ),
        text,
    ]
    publish("\n".join(lines) + "\n", DOC)


if __name__ == "__main__":
    main()
