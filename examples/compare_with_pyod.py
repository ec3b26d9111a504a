"""Compare skanomaly's detectors with PyOD's, side by side
=========================================================

skanomaly's detectors follow PyOD's conventions, so they can be evaluated
exactly as PyOD's are. Two ways:

- **By hand**, as in PyOD's own examples: fit each detector on the same
  normal images, score the same test images, and print ROC AUC and
  precision @ n with ``pyod.utils.data.evaluate_print``. PyOD's detectors
  take tables, so an ``ImageFlattener`` puts them in a pipeline.
- **With** ``skanomaly.benchmark.run_benchmark``, which runs every
  (detector, normal class, seed) job, measures fit time and scoring speed
  too, and returns a table; detectors are given as estimator objects or by
  name (PyOD's classical detectors on flattened pixels included). A deep
  detector's network at its initial weights (``max_epochs=0``, or the name
  ``"<name>-untrained"``) is the control for what training bought.

On scikit-learn's embedded 8x8 digits, one digit normal and the others
anomalous. Under a minute on a CPU.
"""

from pyod.models.ecod import ECOD
from pyod.models.iforest import IForest
from pyod.models.knn import KNN
from pyod.utils.data import evaluate_print
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skanomaly import ConvAutoEncoder, InfoTheoreticAD
from skanomaly.benchmark import run_benchmark
from skanomaly.datasets import load_digits, make_one_class_split
from skanomaly.preprocessing import ImageFlattener

X, y = load_digits(return_X_y=True)
X_train, _, X_test, y_test = make_one_class_split(X, y, normal_class=3, random_state=0)

# %%
# By hand
# -------
detectors = {
    "ConvAutoEncoder": ConvAutoEncoder(
        n_filters=16, depth=3, latent_dim=8, max_epochs=50, batch_size=16
    ),
    "InfoTheoreticAD": InfoTheoreticAD(
        n_filters=8, depth=2, max_epochs=34, batch_size=32
    ),
    "PyOD KNN": make_pipeline(ImageFlattener(), KNN()),
    "PyOD IForest": make_pipeline(ImageFlattener(), IForest(random_state=0)),
    "PyOD ECOD": make_pipeline(ImageFlattener(), ECOD()),
}
for name, detector in detectors.items():
    if hasattr(detector, "random_state"):
        detector.set_params(random_state=0)
    detector.fit(X_train)
    evaluate_print(name, y_test, detector.decision_function(X_test))

# %%
# With the benchmark engine
# -------------------------
# Three normal classes; ConvAutoEncoder with the settings above, beside its
# untrained network (a control) and PyOD's detectors by name.
autoencoder = detectors["ConvAutoEncoder"]
results = run_benchmark(
    [
        ("ConvAutoEncoder", autoencoder),
        ("ConvAutoEncoder-untrained", clone(autoencoder).set_params(max_epochs=0)),
        "KNN",
        "IForest",
        "ECOD",
    ],
    dataset="digits",
    classes=[1, 3, 8],
    seeds=[0],
    verbose=False,
)
print(results.to_markdown(metrics=["roc_auc"]))
