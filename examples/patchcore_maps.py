"""Look at PatchCore's and PaDiM's anomaly maps on texture defects
===============================================================

Both detectors keep statistics of a frozen ImageNet backbone's patch
features of normal brick-wall crops (nothing is trained), then see crops with
defects (scratches, blobs, pasted patches, stains from
``make_texture_defects``). The figure shows, for a few defective crops, the
input, PatchCore's map, PaDiM's map and the true defect mask. Saves
``patchcore_maps.png``. Needs the ``pretrained`` extra; under a minute on a
laptop CPU.
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skanomaly import PaDiM, PatchCore  # noqa: E402
from skanomaly.datasets import make_texture_defects  # noqa: E402

train = make_texture_defects(
    200, image_size=64, anomaly_fraction=0.0, subset="train", random_state=0
)
test = make_texture_defects(
    20, image_size=64, anomaly_fraction=1.0, subset="test", random_state=1
)

patchcore = PatchCore(random_state=0).fit(train.images)
padim = PaDiM(random_state=0).fit(train.images)

show = test.images[:5]
rows = [
    ("input", show),
    ("PatchCore map", patchcore.anomaly_map(show)),
    ("PaDiM map", padim.anomaly_map(show)),
    ("true defect", test.masks[:5]),
]
fig, axes = plt.subplots(len(rows), len(show), figsize=(2 * len(show), 8))
for r, (title, images) in enumerate(rows):
    for c, image in enumerate(images):
        ax = axes[r, c]
        ax.imshow(np.asarray(image), cmap="inferno" if "map" in title else "gray")
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(title)
for c in range(len(show)):
    axes[0, c].set_title(test.defect_type[c])
fig.tight_layout()
fig.savefig("patchcore_maps.png", dpi=100)
print("saved patchcore_maps.png")
