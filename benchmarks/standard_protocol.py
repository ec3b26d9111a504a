"""The standard protocol: Fashion-MNIST one class vs rest at full size.

For each class, a detector trains on all 6,000 training images of the class
and scores the whole 10,000-image test split (that class normal, the nine
others anomalous): the protocol of the papers. Deep detectors run at their
defaults (``make_detector(name, preset="default")``), each beside the same
network left at its initial weights and scored the same way
(``"<name>-untrained"``, ``max_epochs=0``): training that does not beat its
own untrained network has learned nothing useful. PyOD's KNN, IForest, LOF,
PCA and OCSVM on pixels and PyOD KNN on pooled EfficientNet-Lite0 features
(the ``pretrained`` extra) are the baselines.

Seed 0 runs on all ten classes; seeds 1 and 2 on three classes (0 T-shirt, 5
sandal, 6 shirt, the hardest for pixel KNN), for the spread over seeds.

    python benchmarks/standard_protocol.py                 # writes the report
    python benchmarks/standard_protocol.py --detectors InfoTheoreticAD,KNN
    python benchmarks/standard_protocol.py --quick         # smoke run, prints

Finished jobs are cached in ``benchmarks/_out/standard_protocol_cache``; a
rerun (or an interrupted run) only runs the jobs that are missing, and the
report covers every job of the chosen detectors found in the cache, marking
those that have not run yet. Jobs run ``--n-jobs`` at a time with
``--threads`` torch threads each; the fit seconds of the report are those of
that setting (see ``docs/benchmarks/time_to_quality.md`` for fits timed
alone with two threads).
"""

import argparse
import importlib.util
import os
import sys
import time

import numpy as np
import torch

from skanomaly import DETECTORS, BaseDeepDetector
from skanomaly.benchmark import (
    UNTRAINED_SUFFIX,
    BenchmarkResults,
    make_detector,
    run_benchmark,
)
from skanomaly.datasets import FASHION_MNIST_CLASSES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import (  # noqa: E402
    cost_cells,
    environment_lines,
    job_minutes,
    markdown_table,
    publish,
    read_csv_records,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "standard_protocol.md")
CSV = os.path.join(ROOT, "docs", "benchmarks", "standard_protocol.csv")
CACHE = os.path.join(HERE, "_out", "standard_protocol_cache")

CLASS_NAMES = FASHION_MNIST_CLASSES
ALL_CLASSES = list(range(10))
#: Classes that also run seeds 1 and 2.
SEED_CLASSES = [0, 5, 6]
BASELINES = ["KNN", "IForest", "LOF", "PCA", "OCSVM"]
PRETRAINED = "KNN-efficientnet-lite0"


#: Baselines whose result depends on the seed when they see every training
#: image; KNN, LOF, PCA, OCSVM and pretrained KNN are deterministic then, so
#: further seeds would repeat their seed-0 numbers and are not run.
SEEDED = ("IForest",)


def _deep(name):
    return name.removesuffix(UNTRAINED_SUFFIX) in {cls.__name__ for cls in DETECTORS}


def default_detectors():
    names = []
    for cls in DETECTORS:
        names.append(cls.__name__)
        if issubclass(cls, BaseDeepDetector):  # training-free ones have no ablation
            names.append(cls.__name__ + UNTRAINED_SUFFIX)
    names += BASELINES
    if importlib.util.find_spec("efficientnet_lite_pytorch") is not None:
        names.append(PRETRAINED)
    return names


def run(
    names,
    classes,
    seed_classes,
    seeds,
    n_jobs,
    quick,
    cached_only=False,
    run_seeds=None,
):
    """Run (or read from the cache) the jobs; ``run_seeds`` limits the seeds."""
    preset = "quick" if quick else "default"
    models = {name: make_detector(name, preset=preset) for name in names}
    sizes = dict(n_train=200, n_test=400) if quick else dict(n_train=6000, n_test=10000)
    cache = None if quick else CACHE
    common = dict(n_jobs=n_jobs, cache_dir=cache, cached_only=cached_only, **sizes)
    records = []
    if run_seeds is None or seeds[0] in run_seeds:
        first = run_benchmark(
            models, "fashion-mnist", classes=classes, seeds=[seeds[0]], **common
        )
        records += first.records
    seeded = {
        name: model for name, model in models.items() if name in SEEDED or _deep(name)
    }
    more_seeds = [s for s in seeds[1:] if run_seeds is None or s in run_seeds]
    if more_seeds and seed_classes and seeded:
        more = run_benchmark(
            seeded, "fashion-mnist", classes=seed_classes, seeds=more_seeds, **common
        )
        records += more.records
    return models, records


def published_records(exclude, detectors=()):
    """Records of the published CSV, except the jobs run now.

    ``exclude`` holds ``(detector, normal_class, seed)`` keys of the jobs run
    now; every row of a detector in ``detectors`` is left out too.
    """
    return [
        r
        for r in read_csv_records(CSV)
        if (r["detector"], r["normal_class"], r["seed"]) not in exclude
        and r["detector"] not in detectors
    ]


def _cell(values):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def per_class_table(records, names, classes, seed):
    header = ["detector", *[f"{c} {CLASS_NAMES[c]}" for c in classes], "mean"]
    rows = []
    for name in names:
        got = {
            r["normal_class"]: r["roc_auc"]
            for r in records
            if r["detector"] == name and r["seed"] == seed
        }
        cells = [f"{got[c]:.3f}" if c in got else "not run" for c in classes]
        complete = all(c in got for c in classes)
        mean = f"{np.mean([got[c] for c in classes]):.3f}" if complete else "–"
        rows.append([name, *cells, mean])
    return header, rows


def seeds_table(records, names, classes, seeds):
    header = ["detector", *[f"{c} {CLASS_NAMES[c]}" for c in classes]]
    rows = []
    for name in names:
        row = [name]
        for c in classes:
            values = [
                r["roc_auc"]
                for r in records
                if r["detector"] == name
                and r["normal_class"] == c
                and r["seed"] in seeds
            ]
            n = len(values)
            deterministic = not (name in SEEDED or _deep(name))
            note = " (deterministic)" if deterministic and n == 1 else ""
            if not deterministic and 0 < n < len(seeds):
                note = f" ({n} of {len(seeds)} seeds)"
            row.append(_cell(values) + note)
        rows.append(row)
    return header, rows


def untrained_table(records, names, classes, seed):
    header = ["detector", "trained mean", "untrained mean", "gain", "classes"]
    rows = []
    for name in names:
        if name.endswith(UNTRAINED_SUFFIX) or name + UNTRAINED_SUFFIX not in names:
            continue
        trained = {
            r["normal_class"]: r["roc_auc"]
            for r in records
            if r["detector"] == name and r["seed"] == seed
        }
        untrained = {
            r["normal_class"]: r["roc_auc"]
            for r in records
            if r["detector"] == name + UNTRAINED_SUFFIX and r["seed"] == seed
        }
        both = [c for c in classes if c in trained and c in untrained]
        if not both:
            rows.append([name, "–", "–", "–", "not run"])
            continue
        a = np.mean([trained[c] for c in both])
        b = np.mean([untrained[c] for c in both])
        rows.append(
            [
                name,
                f"{a:.3f}",
                f"{b:.3f}",
                f"{a - b:+.3f}",
                f"{len(both)} of {len(classes)}",
            ]
        )
    return header, rows


def cost_table(records, names):
    header = [
        "detector",
        "fit s (mean)",
        "scoring images/s (mean)",
        "peak memory MiB (mean)",
        "jobs",
    ]
    rows = []
    for name in names:
        mine = [r for r in records if r["detector"] == name]
        if not mine:
            rows.append([name, "–", "–", "–", "0"])
            continue
        rows.append([name, *cost_cells(mine), str(len(mine))])
    return header, rows


def report(records, names, args, wall):
    seed = args.seeds[0]
    missing = [
        name
        for name in names
        if {
            r["normal_class"]
            for r in records
            if r["detector"] == name and r["seed"] == seed
        }
        != set(args.classes)
    ]
    absent = [cls.__name__ for cls in DETECTORS if cls.__name__ not in names]
    status = (
        "**Partial**: these detectors have not run on every class yet: "
        + ", ".join(f"`{m}`" for m in missing)
        + ". Their cells say `not run`; rerun the command to fill them in "
        "(it only runs the jobs missing from its cache)."
        if missing
        else "Complete for every detector listed."
    )
    reused = sorted({r["detector"] for r in records if r.get("source") == "published"})
    fresh = {}
    for r in records:
        if r.get("source") != "published":
            fresh.setdefault(r["detector"], set()).add(r["seed"])
    # every seed on record, the reused rows' included: a run of seed 0 alone
    # must not hide the published spread of the others
    spread_seeds = sorted(
        set(args.seeds)
        | {r["seed"] for r in records if r["normal_class"] in args.seed_classes}
    )
    lines = [
        "# Standard protocol: Fashion-MNIST, all training images of a class",
        "",
        *environment_lines(
            "python benchmarks/standard_protocol.py"
            + (" --report-only" if args.report_only else ""),
            wall,
        ),
        f"- Sum of the jobs' fit and scoring times: {job_minutes(records):.0f} min.",
        (
            "- Report written from the finished jobs in the cache, which the "
            "default command runs two at a time with one torch thread each; "
            "other work shared the machine at times, so the fit seconds are "
            "indicative (fits timed alone with two threads: "
            "[time_to_quality.md](time_to_quality.md))."
            if args.report_only
            else f"- Jobs ran {args.n_jobs} at a time with {args.threads} torch "
            "thread(s) each; the fit seconds below are for that setting."
        ),
        "- Seeds 1 and 2 run the deep detectors, their untrained networks and "
        "IForest only: with every training image used, the other baselines are "
        "deterministic and would repeat their seed-0 numbers.",
        "- Protocol: for each class, train on all 6,000 training images of the "
        "class; score the whole 10,000-image test split (that class normal, the "
        "nine others anomalous). Deep detectors at their defaults; "
        "`<name>-untrained` is the same network at its initial weights "
        "(`max_epochs=0`), scored the same way. PyOD detectors at their "
        "defaults on flattened pixels in [0, 1]; `KNN-efficientnet-lite0` is "
        "PyOD KNN on pooled ImageNet EfficientNet-Lite0 features.",
        *(
            [
                "- Run for this report: "
                + ", ".join(
                    f"`{n}` (seed {', '.join(map(str, sorted(fresh[n])))})"
                    for n in names
                    if n in fresh
                )
                + ". Every other job is taken unchanged from the previous "
                "report's CSV (same protocol and settings, measured by the "
                "code of that report; see docs/benchmarks.md for what changed "
                "since, e.g. the random streams of the fits); detectors with "
                "such rows: " + ", ".join(f"`{n}`" for n in reused) + "."
            ]
            if reused
            else []
        ),
        "",
        status,
        *(
            [
                "",
                "Not in this report yet: "
                + ", ".join(f"`{m}`" for m in absent)
                + ". Their defaults have not been sized for 6,000 training images "
                "(a fit at the defaults takes far longer than the two minutes of "
                "the detectors above), so they have not run on this protocol.",
            ]
            if absent
            else []
        ),
        "",
        f"## ROC AUC per class, seed {seed}",
        "",
        markdown_table(*per_class_table(records, names, args.classes, seed)),
        "",
        "## Training against the untrained network (seed 0, same classes)",
        "",
        markdown_table(*untrained_table(records, names, args.classes, seed)),
        "",
        f"## Spread over seeds {', '.join(map(str, spread_seeds))} "
        "(mean ± standard deviation)",
        "",
        markdown_table(*seeds_table(records, names, args.seed_classes, spread_seeds)),
        "",
        "## Cost per job",
        "",
        "The peak memory is the increase of the process's resident memory "
        "during a job (fit and scoring).",
        "",
        markdown_table(*cost_table(records, names)),
        "",
        "Per-job results: [standard_protocol.csv](standard_protocol.csv).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--detectors",
        default=None,
        help="comma-separated names (default: every deep detector, its "
        "untrained network, the pixel baselines and pretrained KNN)",
    )
    parser.add_argument("--classes", default=",".join(map(str, ALL_CLASSES)))
    parser.add_argument("--seed-classes", default=",".join(map(str, SEED_CLASSES)))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None, help="report path (default: docs)")
    parser.add_argument(
        "--reuse-published",
        action="store_true",
        help="run the --detectors given and take every other job from the "
        "published CSV (the report says which)",
    )
    parser.add_argument(
        "--run-seeds",
        default=None,
        help="with --reuse-published: run only these of --seeds (e.g. 1,2) "
        "and take the other seeds' jobs from the published CSV",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing; write the report from the jobs finished so far",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.detectors.split(",") if args.detectors else default_detectors()
    run_names = names
    if args.reuse_published and not args.detectors:
        parser.error("--reuse-published needs --detectors (the ones to run)")
    if args.run_seeds is not None and not args.reuse_published:
        parser.error("--run-seeds needs --reuse-published (the other seeds' rows)")
    args.classes = [int(c) for c in args.classes.split(",")]
    args.seed_classes = [int(c) for c in args.seed_classes.split(",") if c]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    run_seeds = None
    if args.run_seeds is not None:
        run_seeds = [int(s) for s in args.run_seeds.split(",")]
        if not set(run_seeds) <= set(args.seeds):
            parser.error(f"--run-seeds {run_seeds} must be among --seeds {args.seeds}")
    if args.quick:
        args.classes, args.seed_classes, args.seeds = [0, 5], [], [0]
    start = time.perf_counter()
    _, records = run(
        run_names,
        args.classes,
        args.seed_classes,
        args.seeds,
        args.n_jobs,
        args.quick,
        cached_only=args.report_only,
        run_seeds=run_seeds,
    )
    wall = time.perf_counter() - start
    if args.reuse_published:
        # without --run-seeds every published job of the detectors run is
        # replaced (their code may have changed); with it, only the jobs run
        done = {(r["detector"], r["normal_class"], r["seed"]) for r in records}
        published = published_records(
            exclude=done, detectors=set(run_names) if run_seeds is None else ()
        )
        shown = {r["detector"] for r in published} | set(run_names)
        names = [n for n in default_detectors() if n in shown]
        names += [n for n in run_names if n not in names]
        records += published
    text = report(records, names, args, wall)
    if args.quick and args.out is None:
        print(text)
        return
    os.makedirs(os.path.dirname(CSV), exist_ok=True)
    BenchmarkResults(records).to_csv(CSV)
    publish(text, args.out or DOC)


if __name__ == "__main__":
    main()
