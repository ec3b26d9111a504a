"""Look at the codes: normal and anomalous images with and without the entropy term
================================================================================

InfoTheoreticAD learns unit-norm codes ``Z`` of the training images. With
``beta=0`` (contrastive learning alone) the InfoNCE bound spreads the normal
codes out; with ``beta > 0`` the Gaussian entropy penalty concentrates them,
and the Mahalanobis score measures how far a code falls from that
concentration. This script trains both on T-shirts (Fashion-MNIST class 0),
projects the codes of test T-shirts and of other test clothes onto the first
two principal components of the *training* codes (same scale in both
panels), and saves the figure. With seed 0 and one torch thread the penalized
codes occupy a far smaller region (H(Z) estimate -126 against -109 nats) and
the ROC AUC rises from 0.726 to 0.900; two components of a 64-dimensional
code show only part of the separation the Mahalanobis score sees. The script
uses the InfoNCE bound, whose uniformity term spreads the codes (the
detector's default is the reconstruction bound).

Usage::

    python examples/info_theoretic_codes.py [figure.png]

Saves ``info_theoretic_codes.png`` by default. About a minute on a laptop CPU.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from skanomaly import InfoTheoreticAD  # noqa: E402
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split  # noqa: E402

NORMAL = 0  # T-shirt/top
path = sys.argv[1] if len(sys.argv) > 1 else "info_theoretic_codes.png"

train = fetch_fashion_mnist(subset="train")
test = fetch_fashion_mnist(subset="test")
X_train, _, X_test, y_test = make_one_class_split(
    train.images,
    train.target,
    NORMAL,
    X_test=test.images[:1000],
    y_test=test.target[:1000],
)
X_train = X_train[:1000]

# one scale for both panels, so that the concentration of the codes shows
fig, axes = plt.subplots(1, 2, figsize=(10, 4.8), sharex=True, sharey=True)
for ax, beta in zip(axes, [0.0, 0.1]):
    detector = InfoTheoreticAD(
        mi_estimator="infonce",
        n_filters=16,
        batch_size=64,
        max_epochs=5,
        beta=beta,
        random_state=0,
    )
    detector.fit(X_train)
    train_codes = detector.encode(X_train)
    pca = PCA(n_components=2).fit(train_codes)
    codes = pca.transform(detector.encode(X_test))
    ax.scatter(*pca.transform(train_codes).T, s=4, c="0.8", label="training T-shirts")
    auc = roc_auc_score(y_test, detector.decision_function(X_test))
    entropy = detector.history_[-1, "entropy"]
    for label, colour, name in [
        (1, "tab:red", "other clothes"),
        (0, "tab:blue", "T-shirts"),
    ]:
        mask = y_test == label
        ax.scatter(*codes[mask].T, s=6, alpha=0.5, c=colour, label=f"test: {name}")
    ax.set_title(f"beta={beta:g}: H(Z) estimate {entropy:.0f} nats, ROC AUC {auc:.3f}")
    ax.set_xlabel("PC 1 of the training codes")
    ax.set_ylabel("PC 2")
    ax.set_aspect("equal")
    ax.legend(loc="best", fontsize=8, markerscale=2)
    print(f"beta={beta:g}: ROC AUC {auc:.3f}, H(Z) estimate {entropy:.1f} nats")
fig.tight_layout()
fig.savefig(path, dpi=100)
print(f"saved {path}")
