"""Fashion-MNIST one-class-vs-rest: ConvAutoEncoder against PyOD on pixels.

For each class c: train on ``--n-train`` training images of class c, score the
whole test split (class c = normal, 0; the nine others = anomaly, 1), report
ROC AUC and average precision. Writes a Markdown table.

    python benchmarks/fashion_mnist_one_class.py            # full run
    python benchmarks/fashion_mnist_one_class.py --quick    # smoke run
"""

import argparse
import os
import sys
import time

import numpy as np
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.models.pca import PCA
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline

from skanomaly import ConvAutoEncoder
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split
from skanomaly.preprocessing import ImageFlattener

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import environment_lines  # noqa: E402

DEFAULT_OUT = os.path.join("docs", "benchmarks", "fashion_mnist_one_class.md")


def detectors(seed, max_epochs):
    return {
        "ConvAutoEncoder": ConvAutoEncoder(
            max_epochs=max_epochs, device="cpu", random_state=seed
        ),
        "PyOD KNN (pixels)": make_pipeline(ImageFlattener(), KNN()),
        "PyOD IForest (pixels)": make_pipeline(
            ImageFlattener(), IForest(random_state=seed)
        ),
        "PyOD PCA (pixels)": make_pipeline(ImageFlattener(), PCA()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="2 classes, tiny budget")
    parser.add_argument(
        "--out",
        default=None,
        help=f"Markdown file to write (a full run defaults to {DEFAULT_OUT}; a "
        "--quick run only prints unless given one)",
    )
    args = parser.parse_args(argv)
    classes = [int(c) for c in args.classes.split(",")]
    n_test = None
    if args.quick:
        classes, args.n_train, args.max_epochs, n_test = [0, 1], 200, 1, 1000

    train = fetch_fashion_mnist(subset="train")
    test = fetch_fashion_mnist(subset="test")
    X_test_all, y_test_all = test.images[:n_test], test.target[:n_test]
    names = list(detectors(args.seed, args.max_epochs))
    auc = {name: {} for name in names}
    ap = {name: {} for name in names}
    fit_s = {name: 0.0 for name in names}
    started = time.perf_counter()
    for c in classes:
        X_train, _, X_test, y_test = make_one_class_split(
            train.images, train.target, c, X_test=X_test_all, y_test=y_test_all
        )
        X_train = X_train[: args.n_train]
        for name, detector in detectors(args.seed, args.max_epochs).items():
            t0 = time.perf_counter()
            detector.fit(X_train)
            fit_s[name] += time.perf_counter() - t0
            scores = detector.decision_function(X_test)
            auc[name][c] = roc_auc_score(y_test, scores)
            ap[name][c] = average_precision_score(y_test, scores)
            print(f"class {c} {name}: ROC AUC {auc[name][c]:.3f}", file=sys.stderr)
    wall = time.perf_counter() - started

    command = f"python benchmarks/{os.path.basename(__file__)}" + (
        " --quick" if args.quick else ""
    )
    lines = [
        "# Fashion-MNIST one-class-vs-rest: ConvAutoEncoder and PyOD on pixels",
        "",
        *environment_lines(command, wall),
        f"- Protocol: train on the first {args.n_train} training images of the normal "
        f"class; test on {len(X_test_all)} test images (normal class = 0, others "
        f"= 1). Seed {args.seed}. ConvAutoEncoder: default architecture, "
        f"{args.max_epochs} epochs, batch 64, lr 1e-3. PyOD detectors: default "
        "parameters on flattened pixels in [0, 1].",
        "",
        "ROC AUC per normal class (mean in the last column):",
        "",
        "| detector | " + " | ".join(str(c) for c in classes) + " | mean | fit s |",
        "|---" * (len(classes) + 3) + "|",
    ]
    for name in names:
        values = [auc[name][c] for c in classes]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{v:.3f}" for v in values)
            + f" | **{np.mean(values):.3f}** | {fit_s[name]:.0f} |"
        )
    lines += ["", "Average precision (anomalies as positives), mean over classes:", ""]
    lines += ["| detector | mean AP |", "|---|---|"]
    for name in names:
        lines.append(f"| {name} | {np.mean([ap[name][c] for c in classes]):.3f} |")
    lines.append("")
    print("\n".join(lines))
    out = args.out or (None if args.quick else DEFAULT_OUT)
    if out:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w") as f:
            f.write("\n".join(lines))


if __name__ == "__main__":
    main()
