"""Choose a threshold: contamination, "auto", a thresholder, a target rate
=========================================================================

A detector's scores rank images; ``predict`` needs a threshold on top. This
example fits one ConvAutoEncoder on the digit 0 of scikit-learn's embedded
digits and shows four ways to turn its scores into labels:

1. ``contamination=0.1`` (PyOD's default): the threshold is the 90th
   percentile of the training scores, so a tenth of the *training* images is
   flagged, whether or not any of them is abnormal;
2. ``contamination="auto"``: a robust three-sigma rule on the training
   scores (median + 3 x 1.4826 x MAD), no outlier fraction to guess;
3. a thresholder object, as PyOD accepts from PyThresh (any object with
   ``fit(scores)``, ``predict(scores)``, ``thresh_``);
4. a threshold chosen on labelled validation images for a target false
   positive rate, applied to ``decision_function`` yourself.

Only the threshold changes: the scores, and so the ROC AUC, are the same for
all four. Runs in under a minute on a CPU.
"""

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from skanomaly import ConvAutoEncoder
from skanomaly.datasets import load_digits, make_one_class_split

X, y = load_digits(return_X_y=True)
X_train, _, X_rest, y_rest = make_one_class_split(X, y, normal_class=0, random_state=0)
# half of the held-out images for validation, half for testing
rng = np.random.default_rng(0)
order = rng.permutation(len(X_rest))
val, test = order[: len(order) // 2], order[len(order) // 2 :]
X_val, y_val, X_test, y_test = X_rest[val], y_rest[val], X_rest[test], y_rest[test]

detector = ConvAutoEncoder(
    n_filters=16, depth=3, latent_dim=8, max_epochs=50, batch_size=16, random_state=0
).fit(X_train)
scores = detector.decision_function(X_test)
print(f"ROC AUC on the test images: {roc_auc_score(y_test, scores):.3f}")


def report(name, labels):
    false_positive_rate = labels[y_test == 0].mean()
    recall = labels[y_test == 1].mean()
    print(
        f"{name:<28} flags {labels.mean():6.1%} of test images: "
        f"false positive rate {false_positive_rate:6.1%}, recall {recall:6.1%}"
    )


# %%
# 1. The default: ``contamination=0.1``
# -------------------------------------
report("contamination=0.1", detector.predict(X_test))

# %%
# 2. ``contamination="auto"``
# ---------------------------
# The same settings with another threshold rule, refitted (same data and
# ``random_state``: the same network).
auto = clone(detector).set_params(contamination="auto").fit(X_train)
report('contamination="auto"', auto.predict(X_test))
print(f"  it flags {auto.contamination_:.1%} of the training images")
train_scores = detector.decision_scores_


# %%
# 3. A thresholder object
# -----------------------
# PyThresh's thresholders (``pip install pythresh``; e.g.
# ``pythresh.thresholds.iqr.IQR()``) are passed as ``contamination=`` and
# label the scores themselves. This minimal one flags scores above the
# training scores' 75th percentile plus 1.5 interquartile ranges.
class IQRThreshold:
    def fit(self, scores):
        q1, q3 = np.percentile(scores, [25, 75])
        self.thresh_ = q3 + 1.5 * (q3 - q1)
        self.labels_ = (scores > self.thresh_).astype(int)
        return self

    def predict(self, scores):
        return (np.asarray(scores) > self.thresh_).astype(int)


thresholder = IQRThreshold().fit(train_scores)
report("IQR thresholder", thresholder.predict(scores))

# %%
# 4. A target false positive rate on validation images
# ----------------------------------------------------
# With a few labelled images, pick the threshold that keeps the false positive
# rate on the normal validation images at 5%, then apply it to new scores.
val_scores = detector.decision_function(X_val)
threshold = np.quantile(val_scores[y_val == 0], 0.95)
report("5% FPR on validation", (scores > threshold).astype(int))

# %%
# What the numbers say
# --------------------
# The first three rules look only at the *training* scores, and a network
# reconstructs the images it was trained on better than new normal images:
# held-out normal images score higher, so far more than a tenth of them cross
# a threshold set to flag a tenth of the training images. Where some held-out
# images of known class exist, set the threshold on them (4.): it is the only
# rule here that controls the false positive rate on new images. (With the
# few normal images of this small test split, a rate measured here moves by
# several points from one split to another.)
