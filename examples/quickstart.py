"""Quickstart: train on one digit, find the other digits
=====================================================

A ConvAutoEncoder learns the digit 0 from scikit-learn's embedded 8x8 digits,
then scores held-out images of all digits. Scores follow PyOD: higher means
more abnormal, so ROC AUC needs no sign flip. Runs in under a minute on a CPU.
"""

from pyod.utils.data import evaluate_print

from skanomaly import ConvAutoEncoder
from skanomaly.datasets import load_digits, make_one_class_split

X, y = load_digits(return_X_y=True)
X_train, _, X_test, y_test = make_one_class_split(X, y, normal_class=0, random_state=0)

detector = ConvAutoEncoder(
    n_filters=16, depth=3, latent_dim=8, max_epochs=50, batch_size=16, random_state=0
)
detector.fit(X_train)  # normal images only; y is not needed

scores = detector.decision_function(X_test)  # higher = more abnormal
labels = detector.predict(X_test)  # 1 = outlier, using threshold_
evaluate_print("ConvAutoEncoder", y_test, scores)
print(f"flagged {labels.sum()} of {len(labels)} test images as outliers")
losses = detector.history_[:, "train_loss"]  # skorch history, one value per epoch
print(f"training loss {losses[0]:.4f} (first epoch) -> {losses[-1]:.4f} (last)")
