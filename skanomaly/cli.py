"""The ``skanomaly`` command line.

``skanomaly demo`` runs one-class anomaly detection on scikit-learn's embedded
digits with skanomaly's detectors and PyOD's classical ones, and prints a
table of ROC AUC, average precision and fit/score time per detector.
"""

import argparse
import sys
import time

import numpy as np
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.pca import PCA
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline

from .datasets import load_digits, make_one_class_split
from .detectors import ConvAutoEncoder, SelfSupervisedAE
from .preprocessing import ImageFlattener

__all__ = ["demo_detectors", "main", "run_demo"]


def demo_detectors(random_state=0):
    """The detectors of the demo, by name, with settings for 8x8 digits."""
    return {
        "ConvAutoEncoder": ConvAutoEncoder(
            n_filters=16,
            depth=3,
            latent_dim=8,
            max_epochs=50,
            batch_size=16,
            device="cpu",
            random_state=random_state,
        ),
        "SelfSupervisedAE": SelfSupervisedAE(
            n_filters=16,
            depth=2,
            max_epochs=30,
            batch_size=16,
            smoothing_sigma=0.5,
            device="cpu",
            random_state=random_state,
        ),
        "PyOD KNN (pixels)": make_pipeline(ImageFlattener(), KNN()),
        "PyOD IForest (pixels)": make_pipeline(
            ImageFlattener(), IForest(random_state=random_state)
        ),
        "PyOD PCA (pixels)": make_pipeline(ImageFlattener(), PCA()),
    }


def run_demo(classes=range(10), random_state=0, out=None):
    """Run the demo and print its table.

    For each digit class, the detectors train on half of that class's images
    and score the held-out half of every class (the digit = normal, 0; any
    other digit = anomaly, 1). Metrics are averaged over the classes.

    Returns
    -------
    results : dict
        ``{detector name: {"roc_auc", "average_precision", "fit_s", "score_s"}}``
        with metrics averaged over classes and times summed.
    """
    out = sys.stdout if out is None else out
    X, y = load_digits(return_X_y=True)
    classes = list(classes)
    results = {}
    for name, template in demo_detectors(random_state).items():
        rows = []
        for normal in classes:
            X_train, _, X_test, y_test = make_one_class_split(
                X, y, normal, test_size=0.5, random_state=random_state
            )
            detector = clone(template)
            start = time.perf_counter()
            detector.fit(X_train)
            fitted = time.perf_counter()
            scores = detector.decision_function(X_test)
            scored = time.perf_counter()
            rows.append(
                (
                    roc_auc_score(y_test, scores),
                    average_precision_score(y_test, scores),
                    fitted - start,
                    scored - fitted,
                )
            )
        rows = np.array(rows)
        results[name] = {
            "roc_auc": rows[:, 0].mean(),
            "average_precision": rows[:, 1].mean(),
            "fit_s": rows[:, 2].sum(),
            "score_s": rows[:, 3].sum(),
        }
        print(f"  done: {name}", file=sys.stderr)

    print(
        f"\nOne-class anomaly detection on scikit-learn's digits (8x8), "
        f"normal class in {classes}, other digits anomalous; mean over classes, "
        f"seed {random_state}.\n",
        file=out,
    )
    header = f"| {'detector':<24} | ROC AUC | avg. precision | fit s | score s |"
    print(header, file=out)
    print(
        "|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|", file=out
    )
    for name, r in results.items():
        print(
            f"| {name:<24} | {r['roc_auc']:7.3f} | {r['average_precision']:14.3f} "
            f"| {r['fit_s']:5.1f} | {r['score_s']:7.2f} |",
            file=out,
        )
    return results


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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="skanomaly",
        description="Deep unsupervised image anomaly detection, the scikit-learn way.",
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
    return parser


def main(argv=None):
    """Entry point of the ``skanomaly`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        run_demo(classes=args.classes, random_state=args.seed)
        return 0
    parser.print_help()
    return 2
