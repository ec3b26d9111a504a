"""SelfSupervisedAE ablations on the texture defects.

What decides SelfSupervisedAE's quality, one change at a time from a base
(``STUDY_BASE``: the defaults when the studies were first run, batches of
64, a 183 px receptive field and a constant learning rate), on the home
benchmark of ``benchmarks/textures.py`` (the same tasks:
``make_texture_defects``, brick, grass, gravel, 64 px, 1,000 normal
training crops, 400 test crops with defects of eight types, seed 0):

- the training scheme: no corruption (``corruption_prob=0``, the same
  network trained as a plain autoencoder);
- the corruption size: larger masks (semi-axes 0.15-0.45 of the side, up to
  70% of the image) against the defaults (0.06-0.25, up to 35%);
- the loss: corrupted pixels weighted 6 times the clean ones
  (``corrupted_weight=5``);
- the training length: 10 epochs instead of 5;
- the anomaly map and the image score, rescored on each fit
  (``run_benchmark(rescore=...)``): the raw squared error instead of the
  per-pixel standardized one, and the map's mean instead of its maximum.

The map and score variants are also measured on the Fashion-MNIST standard
protocol (all 6,000 training images of the class, the full test split) for
the two classes where SelfSupervisedAE is weakest, 0 (T-shirt/top) and 6
(shirt).

A second study (``--study corruption``, its own report) goes through the
rest of the corruption model and the network's receptive field, one change
at a time from the same defaults:

- the opacity: opaque patterns only (``opacity=(1.0, 1.0)``) against half
  opaque, half ``U(0.3, 1)``;
- the pattern sources: content from other normal images only
  (``pattern_sources=("image",)``), the paper's main source;
- the shape: one ellipse per mask (``max_blobs=1``) against up to three;
- the size, downwards: smaller masks (semi-axes 0.03-0.12, up to 15%);
- the receptive field against the corruption size: the base's output
  pixel sees 183 px of input (measured from the gradient, as in
  ``tests/detectors/test_self_supervised_ae.py``), more than the
  64 px crop; without dilation and with one bottleneck block
  (``dilations=(1,)``, ``n_bottleneck_blocks=1``) it sees 63 px, and with one
  downsampling less as well (``depth=1``) 25 px, less than the largest
  corruptions (semi-axes up to 16 px);
- the number of optimizer steps: batches of 16 instead of 64, so the same
  5 epochs make 4 times as many steps (about 320 on 1,000 crops);
- the two that helped most together (batches of 16 and the 63 px receptive
  field: today's defaults), and with other images as the only source.

Its report also fits the base, the larger corruptions of the first study,
the batches of 16, the 63 px receptive field and the two together on
Fashion-MNIST classes 0 and 6 (standard protocol), where the issue measured
that larger masks help.

The jobs are cached in ``benchmarks/_out/textures_cache``, shared with
``benchmarks/textures.py``.

    python benchmarks/self_supervised_ae.py            # writes the report
    python benchmarks/self_supervised_ae.py --study corruption
    python benchmarks/self_supervised_ae.py --quick    # smoke run, prints
"""

import argparse
import os
import sys
import time

import torch

from skanomaly import SelfSupervisedAE
from skanomaly.benchmark import run_benchmark

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines, markdown_table, publish  # noqa: E402
from textures import (  # noqa: E402
    CACHE,
    RESCORE,
    TEXTURES,
    defect_tables,
    drop_pixel_metrics,
    variant_table,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "self_supervised_ae.md")
CORRUPTION_DOC = os.path.join(
    ROOT, "docs", "benchmarks", "self_supervised_ae_corruption.md"
)

VARIANTS = {
    "SelfSupervisedAE": {},
    "no corruption (corruption_prob=0)": dict(corruption_prob=0.0),
    "larger corruptions (blob_size=(0.15, 0.45), max_area=0.7)": dict(
        blob_size=(0.15, 0.45), max_area=0.7
    ),
    "corrupted_weight=5": dict(corrupted_weight=5.0),
    "10 epochs": dict(max_epochs=10),
}
CORRUPTION_VARIANTS = {
    "SelfSupervisedAE": {},
    "opaque patterns only (opacity=(1.0, 1.0))": dict(opacity=(1.0, 1.0)),
    "other images only (pattern_sources=('image',))": dict(pattern_sources=("image",)),
    "one ellipse per mask (max_blobs=1)": dict(max_blobs=1),
    "smaller corruptions (blob_size=(0.03, 0.12), max_area=0.15)": dict(
        blob_size=(0.03, 0.12), max_area=0.15
    ),
    "receptive field 63 px (dilations=(1,), n_bottleneck_blocks=1)": dict(
        dilations=(1,), n_bottleneck_blocks=1
    ),
    "receptive field 25 px (depth=1, dilations=(1,), n_bottleneck_blocks=1)": dict(
        depth=1, dilations=(1,), n_bottleneck_blocks=1
    ),
    "batch_size=16 (4 times the optimizer steps)": dict(batch_size=16),
    "batch_size=16 and receptive field 63 px": dict(
        batch_size=16, dilations=(1,), n_bottleneck_blocks=1
    ),
    "batch_size=16, receptive field 63 px, other images only": dict(
        batch_size=16,
        dilations=(1,),
        n_bottleneck_blocks=1,
        pattern_sources=("image",),
    ),
}
STUDIES = {
    "ablations": (
        VARIANTS,
        DOC,
        "SelfSupervisedAE: what decides its quality on texture defects",
    ),
    "corruption": (
        CORRUPTION_VARIANTS,
        CORRUPTION_DOC,
        "SelfSupervisedAE: the corruption model and the receptive field",
    ),
}
FASHION_CLASSES = [0, 6]


#: The settings both studies start from: the defaults when they were run
#: (the defaults since are the study's "batch_size=16 and receptive field
#: 63 px" row with a cosine learning-rate schedule).
STUDY_BASE = dict(
    batch_size=64,
    dilations=(1, 2, 4, 8),
    n_bottleneck_blocks=2,
    lr_schedule="constant",
)


def models(quick, variants=VARIANTS):
    base = dict(random_state=0, device="cpu", **STUDY_BASE)
    if quick:
        base.update(n_filters=4, depth=1, max_epochs=1)
    return {
        name: SelfSupervisedAE(**{**base, **params})
        for name, params in variants.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", default=",".join(TEXTURES))
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cached-only", action="store_true")
    parser.add_argument("--study", choices=sorted(STUDIES), default="ablations")
    args = parser.parse_args()
    chosen, doc, title = STUDIES[args.study]
    args.textures = args.textures.split(",")
    size = 64
    if args.quick:
        args.textures, args.n_train, args.n_test, size = ["brick"], 40, 32, 32
    torch.set_num_threads(args.threads)
    start = time.time()
    variants = models(args.quick, chosen)
    records = run_benchmark(
        variants,
        "textures",
        classes=args.textures,
        seeds=[0],
        n_train=args.n_train,
        n_test=args.n_test,
        image_size=size,
        n_jobs=args.n_jobs,
        rescore={name: RESCORE["SelfSupervisedAE"] for name in variants},
        cache_dir=None if args.quick else CACHE,
        cached_only=args.cached_only,
        verbose=True,
    ).records
    records = drop_pixel_metrics(records)
    names = list(dict.fromkeys(r["detector"] for r in records))
    for name in variants:
        if name not in names:
            names.append(name)
    sections = [
        f"## {size} px: image and pixel ROC AUC per texture",
        "",
        variant_table(records, names, args.textures),
        "",
        "## Per defect type (all textures)",
        "",
        "Each cell: the good test images against those of one defect type, "
        "mean ± standard deviation over the textures. Types marked \\* "
        "resemble what the training corruptions draw; the others do not.",
        "",
        *defect_tables(records, names),
    ]
    sections += fashion_sections(args.study, args)
    text = "\n".join(sections)
    if args.quick:
        print(text)
        return
    command = "python benchmarks/self_supervised_ae.py " + " ".join(sys.argv[1:])
    header = [
        f"# {title}",
        "",
        *environment_lines(command.strip(), time.time() - start),
        f"- Protocol: `make_texture_defects`, {size} px, {args.n_train} normal "
        f"training crops from the top half of each photograph, {args.n_test} "
        "test crops from the bottom half (half of them with defects of eight "
        "types), seed 0. Each row changes one setting of the study's base, "
        "the defaults when the study was first run (`n_filters=16`, 5 epochs, "
        "batch 64, receptive field 183 px (`dilations=(1, 2, 4, 8)`, two "
        "bottleneck blocks), default corruptions, plain MSE, standardized map "
        "smoothed with sigma 1, image score = maximum of the map)"
        + (
            "; the last rows combine changes, and `batch_size=16 and receptive "
            "field 63 px` is today's defaults"
            if args.study == "corruption"
            else ""
        )
        + ". Rows in brackets rescore the fit above them.",
        "",
    ]
    publish("\n".join(header + sections), doc)


def fashion_section(variants, args, rescore, title, caption):
    """A table of image ROC AUC on the two weakest Fashion-MNIST classes."""
    fashion = run_benchmark(
        variants,
        "fashion-mnist",
        classes=FASHION_CLASSES[:1] if args.quick else FASHION_CLASSES,
        seeds=[0],
        n_train=200 if args.quick else 6000,
        n_test=400 if args.quick else 10000,
        rescore=rescore,
        cache_dir=None if args.quick else CACHE,
        cached_only=args.cached_only,
        verbose=True,
    )
    return [
        f"## Fashion-MNIST standard protocol: {title}",
        "",
        "All 6,000 training images of the class, the whole 10,000-image test "
        f"split; image ROC AUC {caption}.",
        "",
        markdown_table(*fashion.table("roc_auc")),
        "",
    ]


def fashion_sections(study, args):
    """The Fashion-MNIST part of a study's report."""
    if study == "ablations":
        variants = models(args.quick, {"SelfSupervisedAE": {}})
        rescore = {"SelfSupervisedAE": RESCORE["SelfSupervisedAE"]}
        return fashion_section(
            variants,
            args,
            rescore,
            "the map and the image score",
            "of one fit at the defaults, rescored",
        )
    chosen = [
        "SelfSupervisedAE",
        "larger corruptions (blob_size=(0.15, 0.45), max_area=0.7)",
        "batch_size=16 (4 times the optimizer steps)",
        "receptive field 63 px (dilations=(1,), n_bottleneck_blocks=1)",
        "batch_size=16 and receptive field 63 px",
    ]
    every = {**VARIANTS, **CORRUPTION_VARIANTS}
    variants = models(args.quick, {name: every[name] for name in chosen})
    return fashion_section(
        variants,
        args,
        {},
        "some of the variants",
        "at the defaults but the one change",
    )


if __name__ == "__main__":
    main()
