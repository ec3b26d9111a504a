"""Look inside UTAD: input, impression, reconstruction and anomaly map
===================================================================

UTAD explains its decision with intermediate images. It is trained on
defect-free crops of a brick-wall photograph; for two normal and four
defective test crops (defects from ``make_texture_defects``: scratches,
blobs, pasted patches, stains) the figure shows

* the input;
* the impression of the first stage (IE-Net): coarse, and by design without
  the defect;
* the reconstruction of the second stage (Expert-Net): the impression's
  content with the input's global detail code, meant to be finer and still
  without the defect;
* the anomaly map, and the true defect mask.

Read it critically: at this small budget (seed 0, one torch thread) the
scratch still shows, blurred, in both the impression and the reconstruction,
the map lights up the normal mortar lines of the brick wall as much as the
stains, and a defect-free crop scores higher than three of the four defective
ones.
This is what the benchmark measures too (``docs/utad.md``): at CPU budgets
the second stage does not improve on the first.

Usage: ``python examples/utad_figure.py [output.png]`` (default
``utad_figure.png`` in the current directory). About a minute on a laptop CPU.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skanomaly import UTAD  # noqa: E402
from skanomaly.datasets import make_texture_defects  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "utad_figure.png"

train = make_texture_defects(
    300, image_size=32, anomaly_fraction=0.0, subset="train", random_state=0
)
test = make_texture_defects(
    60, image_size=32, anomaly_fraction=0.5, subset="test", random_state=1
)

detector = UTAD(max_epochs=8, random_state=0).fit(train.images)

normal = np.flatnonzero(test.target == 0)[:2]
defective = np.flatnonzero(test.target == 1)[:4]
show = np.r_[normal, defective]
images = test.images[show]
scores = detector.decision_function(images)
rows = [
    ("input", images, "gray"),
    ("impression", detector.impression(images)[:, 0], "gray"),
    ("reconstruction", detector.reconstruct(images)[:, 0], "gray"),
    ("anomaly map", detector.anomaly_map(images), "inferno"),
    ("true defect", test.masks[show], "gray"),
]
vmax = rows[3][1].max()
fig, axes = plt.subplots(len(rows), len(show), figsize=(2 * len(show), 2 * len(rows)))
for r, (title, row, cmap) in enumerate(rows):
    for c, image in enumerate(row):
        ax = axes[r, c]
        if title == "anomaly map":
            ax.imshow(image, cmap=cmap, vmin=0, vmax=vmax)
        else:
            ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if c == 0:
            ax.set_ylabel(title)
for c, i in enumerate(show):
    axes[0, c].set_title(f"{test.defect_type[i]}\nscore {scores[c]:.3f}", fontsize=9)
fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"saved {out}")
