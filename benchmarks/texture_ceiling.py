"""A supervised reference for the texture benchmark: how visible are its defects?

The texture benchmark (``benchmarks/textures.py``) asks unsupervised
detectors, trained on normal crops only, to find eight kinds of drawn
defects. This script asks how far a detector can get at all on the same test
crops when it is *told* what the defects look like: a segmentation network
(SelfSupervisedAE's ``RepairNetModule``, 16 filters, one output channel of
logits) trained with a per-pixel binary cross-entropy on labelled crops from
``make_texture_defects`` itself: the same generator, the same eight defect
kinds, the same top half of each photograph, fresh crops and defects every
epoch. It is evaluated on exactly the texture benchmark's test split
(400 crops from the bottom half, seed 0) with the same metrics: pixel ROC
AUC, AUPRO@0.3 and the image ROC AUC of the maximum of the smoothed map,
per texture and per defect kind.

A supervised network that has seen thousands of labelled examples of the
very defects in the test is not a bound in the strict sense, but it is far
better placed than any unsupervised detector: its scores show how visible
the drawn defects are on each texture at this size. It is scored after
several epochs, so that the report shows whether it has stopped improving.

    python benchmarks/texture_ceiling.py          # writes the report
    python benchmarks/texture_ceiling.py --quick  # smoke run, prints

Finished textures are cached in ``benchmarks/_out/texture_ceiling`` (keyed
by the source of the training and evaluation functions and the settings).
"""

import argparse
import hashlib
import inspect
import json
import os
import sys
import time

import numpy as np
import torch
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from skanomaly.benchmark import load_task
from skanomaly.benchmark._jobs import _per_defect
from skanomaly.datasets import DEFECT_TYPES, make_texture_defects
from skanomaly.detectors.self_supervised_ae.torch_model import RepairNetModule
from skanomaly.metrics import aupro, pixel_roc_auc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import textures  # noqa: E402
from _report import environment_lines, markdown_table, publish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOC = os.path.join(ROOT, "docs", "benchmarks", "texture_ceiling.md")
CACHE = os.path.join(HERE, "_out", "texture_ceiling")
TEXTURES = textures.TEXTURES


def _key(args, texture):
    source = "".join(
        inspect.getsource(f) for f in (train_segmenter, evaluate, _per_defect)
    ).encode()
    settings = json.dumps(
        [
            texture,
            args.size,
            args.n_per_epoch,
            args.epochs,
            sorted(args.checkpoints),
            args.seed,
            args.n_test,
        ]
    )
    return hashlib.sha256(source + settings.encode()).hexdigest()[:16]


def train_segmenter(texture, args, task):
    """Fit the network on freshly drawn labelled crops, one draw per epoch.

    Returns the training losses per epoch and the test metrics after each
    epoch in ``args.checkpoints``, so that the report shows whether the
    network has stopped improving.
    """
    torch.manual_seed(args.seed)
    net = RepairNetModule(1, n_filters=16, depth=2)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    generator = torch.Generator().manual_seed(args.seed)
    losses, checkpoints = [], {}
    for epoch in range(1, args.epochs + 1):
        data = make_texture_defects(
            args.n_per_epoch,
            image_size=args.size,
            texture=texture,
            anomaly_fraction=0.5,
            subset="train",
            random_state=10_000 + 100 * args.seed + epoch,
        )
        X = torch.from_numpy(data.images[:, None])
        Y = torch.from_numpy(data.masks[:, None].astype(np.float32))
        net.train()
        total = 0.0
        for idx in torch.randperm(len(X), generator=generator).split(32):
            optimizer.zero_grad()
            loss = loss_fn(net(X[idx]), Y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        losses.append(total / len(X))
        if epoch in args.checkpoints:
            checkpoints[epoch] = evaluate(net, task)
    return losses, checkpoints


def evaluate(net, task):
    net.eval()
    with torch.no_grad():
        X = torch.from_numpy(task.X_test[:, None])
        logits = torch.cat([net(chunk) for chunk in X.split(64)])
    maps = torch.sigmoid(logits)[:, 0].numpy().astype(np.float64)
    maps = ndimage.gaussian_filter(maps, (0, 2, 2))
    scores = maps.reshape(len(maps), -1).max(axis=1)
    return {
        "roc_auc": float(roc_auc_score(task.y_test, scores)),
        "pixel_roc_auc": float(pixel_roc_auc(task.masks_test, maps)),
        "aupro": float(aupro(task.masks_test, maps)),
        "per_defect": _per_defect(task, scores, maps),
    }


def run_texture(texture, args):
    path = os.path.join(CACHE, f"{texture}_{_key(args, texture)}.json")
    if not args.quick and os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    task = load_task(
        "textures",
        texture,
        args.seed,
        n_train=1,
        n_test=args.n_test,
        image_size=args.size,
    )
    start = time.perf_counter()
    losses, checkpoints = train_segmenter(texture, args, task)
    fit_s = time.perf_counter() - start
    record = {"texture": texture, "fit_s": fit_s, "losses": losses}
    record["checkpoints"] = {str(e): m for e, m in checkpoints.items()}
    record.update(checkpoints[args.epochs])
    print(
        f"{texture}: image {record['roc_auc']:.3f} pixel "
        f"{record['pixel_roc_auc']:.3f} AUPRO {record['aupro']:.3f} "
        f"({fit_s:.0f} s)",
        flush=True,
    )
    if not args.quick:
        os.makedirs(CACHE, exist_ok=True)
        with open(path, "w") as f:
            json.dump(record, f)
    return record


def _unsupervised_rows(args):
    """The unsupervised detectors' per-texture rows, from the texture benchmark.

    Taken from the jobs ``benchmarks/textures.py`` has finished (its cache),
    on the same test split; a detector it has not run is marked "not run".
    """
    names = ["SelfSupervisedAE", "UTAD", "ConvAutoEncoder", "PaDiM"]
    names = [name for name in names if textures._available(name)]
    settings = argparse.Namespace(
        textures=args.textures,
        seed=args.seed,
        n_train=1000,
        n_test=args.n_test,
        n_jobs=1,
        quick=False,
    )
    records = textures.run(names, settings, args.size, cached_only=True)
    _, rows = textures.texture_rows(records, names, args.textures)
    return [row[:-1] for row in rows]  # without the fit seconds


def report(records, args, wall):
    header = ["detector"]
    for t in args.textures:
        header += [f"{t} image", f"{t} pixel", f"{t} AUPRO"]
    header += ["mean image", "mean pixel", "mean AUPRO"]
    rows = []
    for epoch in sorted(args.checkpoints):
        at = [r["checkpoints"][str(epoch)] for r in records]
        row = [f"supervised reference, {epoch} epochs"]
        for m in at:
            row += [f"{m[k]:.3f}" for k in ("roc_auc", "pixel_roc_auc", "aupro")]
        for k in ("roc_auc", "pixel_roc_auc", "aupro"):
            row.append(f"{np.mean([m[k] for m in at]):.3f}")
        rows.append(row)
    if not args.quick:
        rows += _unsupervised_rows(args)
    kinds = [k for k in DEFECT_TYPES if k in records[0]["per_defect"]]
    kind_rows = []
    for r in records:
        kind_rows.append(
            [r["texture"]]
            + [f"{r['per_defect'][k]['pixel_roc_auc']:.3f}" for k in kinds]
        )
    kind_rows.append(
        ["mean"]
        + [
            f"{np.mean([r['per_defect'][k]['pixel_roc_auc'] for r in records]):.3f}"
            for k in kinds
        ]
    )
    fit = np.mean([r["fit_s"] for r in records])
    loss_rows = [
        [r["texture"]] + [f"{r['losses'][e - 1]:.4f}" for e in sorted(args.checkpoints)]
        for r in records
    ]
    command = "python benchmarks/texture_ceiling.py " + " ".join(sys.argv[1:])
    lines = [
        "# Texture defects: a supervised reference",
        "",
        *environment_lines(command.strip(), wall),
        f"- Protocol: the texture benchmark's test split ({args.n_test} crops of "
        f"{args.size} px from the bottom half of each photograph, half with "
        f"defects of the eight kinds, seed {args.seed}). The reference is a "
        "segmentation network (`RepairNetModule`, 16 filters, one channel of "
        "logits, per-pixel binary cross-entropy, Adam 1e-3, batch 32) trained "
        f"for {args.epochs} epochs, each on {args.n_per_epoch} freshly drawn "
        "labelled crops of `make_texture_defects` from the top half (half of "
        "them with defects of the same eight kinds). Map: its probabilities, "
        "Gaussian-smoothed (sigma 2); image score: the map's maximum; the "
        "network is scored after several epochs to show where it stops "
        f"improving. Fit {fit:.0f} s per texture on average (with the scoring "
        "at the checkpoints), one torch thread, beside another job. The "
        "unsupervised rows are the [texture report](textures.md)'s jobs "
        "(trained on 1,000 normal crops only, at their defaults).",
        "",
        "A network told what the defects look like, trained on thousands of "
        "labelled examples of them, is far better placed than any "
        "unsupervised detector: its scores show how visible the drawn "
        "defects are on each texture at this size, and how far the "
        "unsupervised detectors are from that. It is not a bound: where its "
        "training loss is still falling, longer training may score higher.",
        "",
        "## Per texture",
        "",
        markdown_table(header, rows),
        "",
        "Training loss (per-pixel binary cross-entropy, mean over the epoch) "
        "at the same epochs:",
        "",
        markdown_table(
            ["texture"] + [f"epoch {e}" for e in sorted(args.checkpoints)],
            loss_rows,
        ),
        "",
        f"## Supervised reference after {args.epochs} epochs: pixel ROC AUC "
        "per defect kind",
        "",
        "Each cell: the good test crops against those of one defect kind.",
        "",
        markdown_table(["texture"] + kinds, kind_rows),
        "",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--textures", default=",".join(TEXTURES))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--n-per-epoch", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--checkpoints",
        default="10,20,30",
        help="epochs after which the network is scored (the last is --epochs)",
    )
    parser.add_argument("--n-test", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.textures = args.textures.split(",")
    if args.quick:
        args.textures, args.size, args.n_per_epoch = ["brick"], 32, 64
        args.epochs, args.checkpoints, args.n_test = 2, "1,2", 40
    args.checkpoints = {int(e) for e in args.checkpoints.split(",")} | {args.epochs}
    torch.set_num_threads(args.threads)
    start = time.time()
    records = [run_texture(t, args) for t in args.textures]
    text = report(records, args, time.time() - start)
    if args.quick:
        print(text)
        return
    publish(text, DOC)


if __name__ == "__main__":
    main()
