"""The ``skanomaly`` command line.

``skanomaly demo`` runs one-class anomaly detection on scikit-learn's embedded
digits with skanomaly's detectors and PyOD's classical ones, and prints a
table of ROC AUC, average precision and fit/score time per detector.
``skanomaly benchmark`` runs :func:`skanomaly.benchmark.run_benchmark` over a
data set's classes and seeds and writes its results to a folder.
"""

import argparse
import contextlib
import sys
import time

import numpy as np
import torch
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.pca import PCA
from sklearn.pipeline import make_pipeline

from .base import registered_detectors
from .preprocessing import ImageFlattener

__all__ = ["build_parser", "demo_detectors", "main", "run_demo", "torch_threads"]


def demo_detectors(random_state=0):
    """Return the detectors of the demo, by name, with settings for 8x8 digits.

    Every registered detector with its ``presets["demo"]`` settings (except
    those whose optional packages are missing, with a note on stderr), then
    PyOD's KNN, IForest and PCA on pixels.
    """
    detectors = {}
    for cls in registered_detectors():
        missing = cls._missing_dependencies()
        if missing:
            print(f"skipping {cls.__name__}: {missing}", file=sys.stderr)
            continue
        detectors[cls.__name__] = cls(
            **cls.presets.get("demo", {}), device="cpu", random_state=random_state
        )
    return {
        **detectors,
        "PyOD KNN (pixels)": make_pipeline(ImageFlattener(), KNN()),
        "PyOD IForest (pixels)": make_pipeline(
            ImageFlattener(), IForest(random_state=random_state)
        ),
        "PyOD PCA (pixels)": make_pipeline(ImageFlattener(), PCA()),
    }


def run_demo(classes=range(10), random_state=0, out=None):
    """Run the demo and print its table.

    A call of :func:`skanomaly.benchmark.run_benchmark` on scikit-learn's
    embedded digits: for each digit class, the detectors train on that
    class's images in one stratified half of the data set and score the other
    half, all classes (the digit = normal, 0; any other digit = anomaly, 1).
    Metrics are averaged over the classes.

    Returns
    -------
    results : dict
        ``{detector name: {"roc_auc", "average_precision", "fit_s", "score_s"}}``
        with metrics averaged over classes and times summed.
    """
    from .benchmark import run_benchmark

    out = sys.stdout if out is None else out
    classes = list(classes)
    started = time.perf_counter()

    def progress(record, n_done, n_jobs):
        # inside each detector, class by class, on stderr
        i = classes.index(record["normal_class"]) + 1
        print(
            f"  {record['detector']}: class {record['normal_class']} "
            f"({i} of {len(classes)}) done, "
            f"{time.perf_counter() - started:.0f} s so far",
            file=sys.stderr,
            flush=True,
        )

    runs = run_benchmark(
        demo_detectors(random_state),
        "digits",
        classes=classes,
        seeds=[random_state],
        verbose=False,
        on_job_done=progress,
    )
    results = {}
    for name in demo_detectors(random_state):
        mine = [r for r in runs.records if r["detector"] == name]
        results[name] = {
            "roc_auc": np.mean([r["roc_auc"] for r in mine]),
            "average_precision": np.mean([r["average_precision"] for r in mine]),
            "fit_s": sum(r["fit_s"] for r in mine),
            "score_s": sum(r["n_test"] / r["score_images_per_s"] for r in mine),
        }

    print(
        f"\nOne-class anomaly detection on scikit-learn's digits (8x8), "
        f"normal class in {classes}, other digits anomalous; mean over classes, "
        f"seed {random_state}.\n",
        file=out,
    )
    header = f"| {'detector':<24} | ROC AUC | avg. precision |   fit s | score s |"
    print(header, file=out)
    print(
        "|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|", file=out
    )
    for name, r in results.items():
        # widths grow with the numbers: a slow machine never breaks the columns
        print(
            f"| {name:<24} | {r['roc_auc']:7.3f} | {r['average_precision']:14.3f} "
            f"| {r['fit_s']:7.1f} | {r['score_s']:7.2f} |",
            file=out,
        )
    return results


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run a block with ``n_threads`` torch threads, then restore the count.

    ``None`` leaves torch's setting alone.
    """
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _parse_classes(text):
    try:
        classes = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated digits such as 0,1,2; got {text!r}"
        ) from None
    if not classes or any(c < 0 or c > 9 for c in classes):
        raise argparse.ArgumentTypeError(
            f"classes must be digits between 0 and 9; got {text!r}"
        )
    return classes


def _version():
    from . import __version__

    return __version__


def build_parser():
    """Return the argument parser of the ``skanomaly`` command."""
    parser = argparse.ArgumentParser(
        prog="skanomaly",
        description="Deep unsupervised image anomaly detection, the scikit-learn way.",
    )
    parser.add_argument(
        "--version", action="version", version=f"skanomaly {_version()}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="one-class detection on the embedded digits, detectors side by side",
        description=(
            "Train each detector on one digit class and score the held-out images "
            "of all classes; print ROC AUC, average precision and timings."
        ),
    )
    demo.add_argument(
        "--classes",
        type=_parse_classes,
        default=list(range(10)),
        help="comma-separated normal classes to run (default: all ten digits)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch threads while the demo runs (default: torch's own, one per "
        "core); 1 is faster on a machine busy with other work",
    )
    _add_benchmark_parser(commands)
    return parser


def main(argv=None):
    """Entry point of the ``skanomaly`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        with torch_threads(args.threads):
            run_demo(classes=args.classes, random_state=args.seed)
        return 0
    if args.command == "benchmark":
        return _run_benchmark_command(args, parser)
    parser.print_help()
    return 2


# ---------------------------------------------------------------- benchmark
#: What ``--detectors all`` runs: every deep detector and three classical ones.
CLASSICAL_DEFAULTS = ("KNN", "IForest", "PCA")


def _comma_list(text):
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list; got {text!r}"
        )
    return items


def _int_list(text):
    try:
        return [int(item) for item in _comma_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 0,1,2; got {text!r}"
        ) from None


def _add_benchmark_parser(commands):
    bench = commands.add_parser(
        "benchmark",
        help="evaluate detectors over classes and seeds; write CSV, JSON, Markdown",
        description=(
            "Run every (detector, normal class, seed) job of a data set: fit on the "
            "normal training images, score the test images, and report ROC AUC, "
            "average precision, precision@n (plus pixel ROC AUC and AUPRO on data "
            "with masks), fit time, scoring speed and peak memory. Finished jobs "
            "are cached under --out, so a rerun or an interrupted run skips them."
        ),
        epilog=(
            "examples:\n"
            "  skanomaly benchmark --dataset digits --detectors ConvAutoEncoder,KNN "
            "--classes 0,1 --seeds 0,1\n"
            "  skanomaly benchmark --dataset fashion-mnist --preset full --seeds 0,1,2 "
            "--n-jobs 2 --out results --plots\n"
            "  skanomaly benchmark --list-detectors"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--dataset",
        default="fashion-mnist",
        choices=["fashion-mnist", "digits", "textures", "mvtec"],
        help="data set and protocol (default: fashion-mnist, one class vs rest)",
    )
    bench.add_argument(
        "--detectors",
        type=_comma_list,
        default=["all"],
        help=(
            "comma-separated detector names, or 'all' for every skanomaly "
            f"detector plus PyOD {', '.join(CLASSICAL_DEFAULTS)} (default: all); "
            "see --list-detectors"
        ),
    )
    bench.add_argument(
        "--list-detectors",
        action="store_true",
        help="print the detector names and exit",
    )
    bench.add_argument(
        "--classes",
        type=_comma_list,
        default=None,
        help="comma-separated normal classes (default: all of the data set's)",
    )
    bench.add_argument(
        "--seeds",
        type=_int_list,
        default=[0],
        help="comma-separated seeds (default: 0)",
    )
    bench.add_argument(
        "--preset",
        choices=["quick", "full", "default"],
        default="quick",
        help="deep detectors' settings: quick (smoke run), full (the 500-image "
        "report) or default (the detectors' defaults; default: quick)",
    )
    bench.add_argument(
        "--contamination",
        type=float,
        default=0.0,
        help="fraction of anomalies mixed into the training set (default: 0)",
    )
    bench.add_argument("--n-train", type=int, help="normal training images per job")
    bench.add_argument("--n-test", type=int, help="test images per job")
    bench.add_argument(
        "--data-path", help="for --dataset mvtec: the folder holding the categories"
    )
    bench.add_argument(
        "--image-size", type=int, help="side of the images (textures, mvtec)"
    )
    bench.add_argument(
        "--n-jobs", type=int, default=1, help="parallel jobs, -1 for all cores"
    )
    bench.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    bench.add_argument(
        "--out",
        default="benchmark-results",
        help="output folder (default: ./benchmark-results)",
    )
    bench.add_argument(
        "--no-cache",
        action="store_true",
        help="do not read or write finished jobs under OUT/cache",
    )
    bench.add_argument(
        "--plots",
        action="store_true",
        help="also write ROC curves, per-class bars and anomaly-map galleries "
        "(needs matplotlib)",
    )
    bench.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_benchmark_command(args, parser):
    from .benchmark import available_detectors, run_benchmark

    if args.list_detectors:
        for name, description in available_detectors().items():
            print(f"{name:28} {description}")
        return 0
    detectors = []
    for name in args.detectors:
        if name == "all":
            detectors += [cls.__name__ for cls in registered_detectors()]
            detectors += list(CLASSICAL_DEFAULTS)
        else:
            detectors.append(name)
    detectors = list(dict.fromkeys(detectors))
    unknown = [name for name in detectors if name not in available_detectors()]
    if unknown:
        parser.exit(
            2,
            f"skanomaly benchmark: error: unknown detector {unknown[0]!r}; "
            f"expected names from: {', '.join(available_detectors())}\n",
        )
    classes = args.classes
    if classes is not None and args.dataset in ("fashion-mnist", "digits"):
        try:
            classes = [int(c) for c in classes]
        except ValueError:
            parser.exit(
                2,
                f"skanomaly benchmark: error: {args.dataset} classes are digits "
                f"0-9; got {','.join(classes)}\n",
            )
    out = args.out
    try:
        results = run_benchmark(
            detectors,
            args.dataset,
            classes=classes,
            seeds=args.seeds,
            preset=args.preset,
            contamination=args.contamination,
            n_train=args.n_train,
            n_test=args.n_test,
            data_path=args.data_path,
            image_size=args.image_size,
            n_jobs=args.n_jobs,
            cache_dir=None if args.no_cache else f"{out}/cache",
            device=args.device,
            gallery=args.plots,
            verbose=not args.quiet,
        )
        paths = results.save(out, plots=args.plots)
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"skanomaly benchmark: error: {exc}\n")
    except (FileNotFoundError, ImportError) as exc:
        parser.exit(1, f"skanomaly benchmark: error: {exc}\n")
    print(results.to_markdown())
    print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0
