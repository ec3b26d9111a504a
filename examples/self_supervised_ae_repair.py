"""Look at what SelfSupervisedAE does: input, repaired reconstruction, anomaly map
===============================================================================

The detector learns to repair corrupted crops of a real brick-wall photograph,
then sees crops with defects it was never shown (scratches, blobs, pasted
patches, stains from ``make_texture_defects``). The figure shows, for a few
defective crops, the input, the repaired reconstruction, the anomaly map and
the true defect mask. Saves ``self_supervised_ae_repair.png``. About a minute
on a laptop CPU.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skanomaly import SelfSupervisedAE  # noqa: E402
from skanomaly.datasets import make_texture_defects  # noqa: E402

train = make_texture_defects(
    300, image_size=32, anomaly_fraction=0.0, subset="train", random_state=0
)
test = make_texture_defects(
    40, image_size=32, anomaly_fraction=1.0, subset="test", random_state=1
)

detector = SelfSupervisedAE(
    n_filters=16, max_epochs=15, smoothing_sigma=1.0, random_state=0
).fit(train.images)

show = test.images[:5]
repaired = detector.reconstruct(show)[:, 0]
maps = detector.anomaly_map(show)

rows = [
    ("input", show),
    ("repaired", repaired),
    ("anomaly map", maps),
    ("true defect", test.masks[:5]),
]
fig, axes = plt.subplots(len(rows), len(show), figsize=(2 * len(show), 8))
for r, (title, images) in enumerate(rows):
    for c, image in enumerate(images):
        ax = axes[r, c]
        cmap = "inferno" if title == "anomaly map" else "gray"
        ax.imshow(np.clip(image, 0, None), cmap=cmap)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(title)
    axes[0, 0].set_title(test.defect_type[0])
for c in range(1, len(show)):
    axes[0, c].set_title(test.defect_type[c])
fig.tight_layout()
fig.savefig("self_supervised_ae_repair.png", dpi=100)
print("saved self_supervised_ae_repair.png")
