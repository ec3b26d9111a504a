"""Anomaly maps and pixel-level metrics on texture defects
=========================================================

Detectors that localize return an anomaly map per image (``anomaly_map``,
same height and width as the input, higher = more abnormal). This example
trains a ConvAutoEncoder on normal crops of a brick-wall photograph
(``make_texture_defects``, which also returns the true defect masks), then

- scores the test crops at the image level (ROC AUC of ``decision_function``),
- measures the maps against the masks at the pixel level with
  ``skanomaly.metrics``: pixel ROC AUC and AUPRO (the area under the
  per-region overlap curve up to a false positive rate of 0.3, the MVTec AD
  metric that weighs small defects as much as large ones),
- draws a few crops, their maps and their masks.

``anomaly_map(X, return_scores=True)`` gives maps and image scores from one
pass of the network. Needs scikit-image (the ``textures`` extra); under a
minute on a CPU.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_auc_score

from skanomaly import ConvAutoEncoder
from skanomaly.datasets import make_texture_defects
from skanomaly.metrics import aupro, pixel_roc_auc

train = make_texture_defects(
    300, image_size=64, texture="brick", anomaly_fraction=0.0, random_state=0
)
test = make_texture_defects(
    60,
    image_size=64,
    texture="brick",
    anomaly_fraction=0.5,
    subset="test",
    random_state=1,
)

detector = ConvAutoEncoder(max_epochs=20, random_state=0).fit(train.images)
maps, scores = detector.anomaly_map(test.images, return_scores=True)

print(f"image ROC AUC: {roc_auc_score(test.target, scores):.3f}")
print(f"pixel ROC AUC: {pixel_roc_auc(test.masks, maps):.3f}")
print(f"AUPRO (FPR up to 0.3): {aupro(test.masks, maps):.3f}")

# %%
# Maps of defective crops
# -----------------------
# Each column: a crop with a defect, the detector's map (its own colour
# scale), the true mask. A reconstruction residual also lights up the edges
# of the bricks, which the network reproduces imperfectly: the reason why
# its pixel ROC AUC stays well below 1.
defective = np.flatnonzero(test.target == 1)[:5]
rows = [
    ("crop", test.images[defective]),
    ("map", maps[defective]),
    ("true defect", test.masks[defective]),
]
fig, axes = plt.subplots(len(rows), len(defective), figsize=(2 * len(defective), 6))
for r, (title, images) in enumerate(rows):
    for c, image in enumerate(images):
        axes[r, c].imshow(np.squeeze(image), cmap="gray" if r != 1 else "inferno")
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
        axes[r, c].set_title(f"{title}: {test.defect_type[defective[c]]}", fontsize=8)
fig.tight_layout()
plt.show()
