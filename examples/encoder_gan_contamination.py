"""Train EncoderGAN on contaminated data: does training the encoder with the GAN help?
===================================================================================

Berg, Ahlberg and Felsberg (arXiv 1905.11034) ask what happens to a GAN-based
detector when the "normal" training images already hold anomalies, and propose
to train the encoder *simultaneously* with the GAN rather than after it. This
script reproduces their experiment in miniature on Fashion-MNIST: trousers are
normal, and floor(p * n / (1 - p)) images of the other classes are added to the
n normal training images, so that anomalies make up a fraction p of them.

For each p it fits the detector twice with one seed: ``encoder_training=
"simultaneous"`` (the paper) and ``"post_hoc"`` (the encoder trained after the
GAN, on the frozen generator). The GAN is bit-for-bit the same in both; only
*when* the encoder learns differs. It prints the ROC AUC of both scores of each
fit (the latent norm and the residual, from ``all_scores``) next to PyOD's KNN.

The budget is tiny (about 70 GAN iterations per fit), so read the numbers as a
lesson in the protocol, not as the paper's results; the full experiment is
``benchmarks/encoder_gan.py``. About a minute and a half on a laptop CPU.
"""

import numpy as np
from pyod.models.knn import KNN
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline

from skanomaly import EncoderGAN
from skanomaly.datasets import fetch_fashion_mnist, make_one_class_split
from skanomaly.preprocessing import ImageFlattener

NORMAL, N_NORMAL = 1, 300  # trousers; 300 normal training images
train = fetch_fashion_mnist(subset="train")
test = fetch_fashion_mnist(subset="test")
# the first N_NORMAL trousers plus every other training image to draw anomalies from
keep = np.r_[np.flatnonzero(train.target == NORMAL)[:N_NORMAL],
             np.flatnonzero(train.target != NORMAL)]  # fmt: skip

print(f"{'p':>5} {'anomalies':>9} | {'simultaneous':^17} | {'post hoc':^17} | KNN")
print(f"{'':>5} {'':>9} | {'norm':>8} {'resid.':>8} | {'norm':>8} {'resid.':>8} |")
for p in (0.0, 0.1, 0.2):
    X_train, y_train, X_test, y_test = make_one_class_split(
        train.images[keep],
        train.target[keep],
        NORMAL,
        X_test=test.images[:1000],
        y_test=test.target[:1000],
        contamination=p,
        random_state=0,
    )
    row = []
    for mode in ("simultaneous", "post_hoc"):
        detector = EncoderGAN(
            n_filters=8,
            batch_size=32,
            max_epochs=6,
            encoder_training=mode,
            random_state=0,
        ).fit(X_train)
        scores = detector.all_scores(X_test)  # both scores from one fit
        row += [roc_auc_score(y_test, scores[s]) for s in ("latent_norm", "residual")]
    knn = make_pipeline(ImageFlattener(), KNN()).fit(X_train)
    row.append(roc_auc_score(y_test, knn.decision_function(X_test)))
    print(
        f"{p:5.2f} {int(y_train.sum()):9d} | {row[0]:8.3f} {row[1]:8.3f} | "
        f"{row[2]:8.3f} {row[3]:8.3f} | {row[4]:.3f}"
    )
