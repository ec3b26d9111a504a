"""Train on your own folder of images
====================================

Detectors take arrays; your images are files. Two ways in:

- **Plain image files** (only normal images to train on, new images to
  score): read them with Pillow into one array of equal-sized images.
  ``uint8`` arrays are scaled to [0, 1] by the detector; channels-last RGB
  arrays, as Pillow gives them, are recognised.
- **An MVTec AD-style folder** (``train/good``, ``test/good``,
  ``test/<defect>``, ``ground_truth/<defect>/<name>_mask.png``):
  ``skanomaly.datasets.load_mvtec_folder`` returns the training images, the
  test images with their labels and the defect masks, resized if asked.

To stay self-contained, this example first writes such a folder to a
temporary directory (crops of a gravel photograph with drawn defects, from
``make_texture_defects``); point the code at your own folder instead. Needs
Pillow and scikit-image (the ``images`` and ``textures`` extras); under a
minute on a CPU.
"""

import os
import shutil
import tempfile
from glob import glob

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from skanomaly import ConvAutoEncoder
from skanomaly.datasets import load_mvtec_folder, make_texture_defects
from skanomaly.metrics import pixel_roc_auc


def write_example_folder(root):
    """An MVTec AD-style folder of 64x64 grey PNGs with defect masks."""
    train = make_texture_defects(
        200, image_size=64, texture="gravel", anomaly_fraction=0.0, random_state=0
    )
    test = make_texture_defects(
        40,
        image_size=64,
        texture="gravel",
        anomaly_fraction=0.5,
        subset="test",
        random_state=1,
    )

    def save(image, *parts):
        path = os.path.join(root, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(np.uint8(np.squeeze(image) * 255)).save(path)

    for i, image in enumerate(train.images):
        save(image, "train", "good", f"{i:03d}.png")
    for i, (image, mask, kind) in enumerate(
        zip(test.images, test.masks, test.defect_type)
    ):
        save(image, "test", kind, f"{i:03d}.png")
        if kind != "good":
            save(mask, "ground_truth", kind, f"{i:03d}_mask.png")


root = os.path.join(tempfile.mkdtemp(), "gravel")
write_example_folder(root)

# %%
# Plain image files
# -----------------
# Any list of files of one size: here the normal training images.
files = sorted(glob(os.path.join(root, "train", "good", "*.png")))
X_train = np.stack([np.asarray(Image.open(f).convert("L")) for f in files])
print(f"{len(files)} training images, array {X_train.shape} {X_train.dtype}")
detector = ConvAutoEncoder(max_epochs=20, random_state=0).fit(X_train)

new_image = np.asarray(Image.open(glob(os.path.join(root, "test", "*", "*.png"))[0]))
print(f"score of one new image: {detector.decision_function(new_image[None])[0]:.4f}")
print(f"threshold_ for predict: {detector.threshold_:.4f}")

# %%
# An MVTec AD-style folder
# ------------------------
# Labels and masks come with the images; ``image_size`` resizes them all.
data = load_mvtec_folder(root, grayscale=True)
print(
    f"train {data.X_train.shape}, test {data.X_test.shape}, "
    f"defect types {sorted(set(map(str, data.defect_type)))}"
)
maps, scores = detector.anomaly_map(data.X_test, return_scores=True)
print(f"image ROC AUC: {roc_auc_score(data.y_test, scores):.3f}")
print(f"pixel ROC AUC: {pixel_roc_auc(data.masks_test, maps):.3f}")

shutil.rmtree(os.path.dirname(root))  # the example's temporary folder
