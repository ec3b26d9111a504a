"""Look inside EncoderGAN: generator samples, and G(E(x)) for normal and odd images
================================================================================

EncoderGAN learns a generator G of the normal images and an encoder E that
inverts it. This script trains it on sneakers (Fashion-MNIST class 7) and draws
five rows: images sampled from the generator, normal test sneakers and their
reconstructions G(E(x)), then images of other classes and theirs. Each
reconstruction is titled with its two scores: "latent", the latent-norm score
(how far ``||E(x)||`` is from the training images' median, in robust standard
deviations), and "residual", the mean ``|x - G(E(x))|`` in the [-1, 1] range.
Since G can only draw what it learned, the other classes come back
sneaker-like, which is what the residual score measures.

Usage::

    python examples/encoder_gan_samples.py [figure.png]

Saves ``encoder_gan_samples.png`` by default. About a minute and a half on a
laptop CPU (a small budget: the samples are blurry).
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from skanomaly import EncoderGAN  # noqa: E402
from skanomaly.datasets import fetch_fashion_mnist  # noqa: E402

out = sys.argv[1] if len(sys.argv) > 1 else "encoder_gan_samples.png"
NORMAL, N_SHOW = 7, 6
train = fetch_fashion_mnist(subset="train")
test = fetch_fashion_mnist(subset="test")
X_train = train.images[train.target == NORMAL][:1000]

detector = EncoderGAN(n_filters=8, batch_size=32, max_epochs=8, random_state=0)
detector.fit(X_train)

normal = test.images[test.target == NORMAL][:N_SHOW]
others = np.stack(
    [test.images[test.target == c][0] for c in (0, 1, 2, 5, 8, 9)][:N_SHOW]
)
samples = detector.generate(N_SHOW, random_state=0)[:, 0]

rows = [("generator samples", samples, None)]
for name, images in (("normal (sneakers)", normal), ("other classes", others)):
    scores = detector.all_scores(images)
    rows.append((name, images / 255.0, None))
    rows.append(("G(E(x))", detector.reconstruct(images)[:, 0], scores))

fig, axes = plt.subplots(len(rows), N_SHOW, figsize=(1.8 * N_SHOW, 2.1 * len(rows)))
for r, (label, images, scores) in enumerate(rows):
    for c in range(N_SHOW):
        ax = axes[r, c]
        ax.imshow(np.clip(images[c], 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if scores is not None:
            ax.set_title(
                f"latent {scores['latent_norm'][c]:.1f}\n"
                f"residual {scores['residual'][c]:.2f}",
                fontsize=8,
            )
    axes[r, 0].set_ylabel(label, fontsize=9)
fig.suptitle("EncoderGAN trained on sneakers: samples and reconstructions")
fig.tight_layout()
fig.savefig(out, dpi=100)
print(f"saved {out}")
