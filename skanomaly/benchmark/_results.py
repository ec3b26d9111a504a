"""BenchmarkResults: tables, CSV/JSON/Markdown and plots of benchmark records."""

import json
import math
from pathlib import Path

import numpy as np

# ------------------------------------------------------------------ results
_METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "average_precision": "average precision",
    "precision_at_n": "precision@n",
    "pixel_roc_auc": "pixel ROC AUC",
    "aupro": "AUPRO (FPR <= 0.3)",
}

#: Record fields written to CSV, in order (per-image scores stay in JSON).
CSV_FIELDS = (
    "detector",
    "dataset",
    "normal_class",
    "seed",
    "n_train",
    "n_train_anomalies",
    "n_test",
    "roc_auc",
    "average_precision",
    "precision_at_n",
    "pixel_roc_auc",
    "aupro",
    "fit_s",
    "optimizer_steps",
    "epochs_run",
    "score_images_per_s",
    "peak_memory_mb",
    "cached",
)


def _mean_spread(values):
    """``"mean ± std"`` over seeds (sample std; no spread for one value)."""
    values = [v for v in values if v is not None and not np.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


class BenchmarkResults:
    """The records of a benchmark run, with tables and plots.

    Attributes
    ----------
    records : list of dict
        One per (detector, class, seed) job; the keys are
        :data:`CSV_FIELDS` plus ``scores`` and ``y_test`` (per test image).
    settings : dict
        The data set, classes, seeds, preset and detectors of the run.
    """

    def __init__(self, records, settings=None):
        self.records = list(records)
        self.settings = dict(settings or {})

    def __len__(self):
        return len(self.records)

    def __repr__(self):
        return f"BenchmarkResults({len(self.records)} records)"

    @property
    def detectors(self):
        return list(dict.fromkeys(r["detector"] for r in self.records))

    @property
    def classes(self):
        return list(dict.fromkeys(r["normal_class"] for r in self.records))

    def _select(self, detector=None, normal_class=None):
        return [
            r
            for r in self.records
            if (detector is None or r["detector"] == detector)
            and (normal_class is None or r["normal_class"] == normal_class)
        ]

    def summary(self, metric="roc_auc"):
        """Mean over classes per seed, then mean and std over seeds.

        Returns
        -------
        summary : dict
            ``{detector: (mean, std, n_seeds)}``; std is 0 for one seed.
        """
        out = {}
        for det in self.detectors:
            per_seed = {}
            for r in self._select(det):
                if r.get(metric) is not None:
                    per_seed.setdefault(r["seed"], []).append(r[metric])
            means = [np.mean(v) for v in per_seed.values()]
            if means:
                std = float(np.std(means, ddof=1)) if len(means) > 1 else 0.0
                out[det] = (float(np.mean(means)), std, len(means))
        return out

    def table(self, metric="roc_auc"):
        """Header and rows: one row per detector, a column per class, the mean.

        Each cell is the mean over seeds ± the standard deviation over seeds;
        the last column averages over classes per seed first.
        """
        header = ["detector", *[str(c) for c in self.classes], "mean"]
        rows = []
        for det in self.detectors:
            per_seed = {}
            row = [det]
            for c in self.classes:
                values = [r.get(metric) for r in self._select(det, c)]
                row.append(_mean_spread(values))
                for r in self._select(det, c):
                    if r.get(metric) is not None:
                        per_seed.setdefault(r["seed"], []).append(r[metric])
            row.append(_mean_spread([np.mean(v) for v in per_seed.values()]))
            rows.append(row)
        return header, rows

    def defect_types(self, order=None):
        """Return the defect types the records have metrics for, in a stable order.

        ``order`` lists defect types first (e.g.
        ``skanomaly.datasets.DEFECT_TYPES``); types it does not list follow,
        sorted by name. The default sorts all by name, so that the order does
        not depend on which type came first in the test split.
        """
        present = {kind for r in self.records for kind in (r.get("per_defect") or {})}
        listed = [kind for kind in (order or ()) if kind in present]
        return listed + sorted(present - set(listed))

    def defect_table(self, metric="roc_auc", order=None):
        """Header and rows: one row per detector, a column per defect type.

        For data sets that name their defect types (textures, MVTec AD):
        each cell is the metric on the good test images and those of one
        defect type, averaged over classes and seeds (± the standard
        deviation of those jobs); "mean" averages the types. Empty rows when
        no record has per-defect metrics. Columns in the order of
        :meth:`defect_types` (``order``).
        """
        kinds = self.defect_types(order)
        header = ["detector", *kinds, "mean"]
        rows = []
        for det in self.detectors:
            cells, means = [], []
            for kind in kinds:
                values = [
                    r["per_defect"][kind][metric]
                    for r in self._select(det)
                    if (r.get("per_defect") or {}).get(kind, {}).get(metric) is not None
                ]
                cells.append(_mean_spread(values))
                if values:
                    means.append(np.mean(values))
            if means:
                rows.append([det, *cells, f"{np.mean(means):.3f}"])
        return header, rows

    def cost_table(self):
        """Header and rows: mean fit seconds, scoring images/s, peak memory."""
        header = [
            "detector",
            "fit s (mean)",
            "scoring images/s (mean)",
            "peak memory MiB (max)",
            "jobs",
        ]
        rows = []
        for det in self.detectors:
            records = self._select(det)
            memory = [r["peak_memory_mb"] for r in records if r["peak_memory_mb"]]
            rows.append(
                [
                    det,
                    f"{np.mean([r['fit_s'] for r in records]):.1f}",
                    f"{np.mean([r['score_images_per_s'] for r in records]):.0f}",
                    f"{max(memory):.0f}" if memory else "–",
                    str(len(records)),
                ]
            )
        return header, rows

    def to_markdown(self, metrics=None):
        """Markdown tables of the metrics and of the cost of each detector.

        Parameters
        ----------
        metrics : list of str, default=None
            Metrics to tabulate; None gives ROC AUC, average precision and
            precision@n, plus pixel ROC AUC and AUPRO when any job has them.
        """
        if metrics is None:
            metrics = ["roc_auc", "average_precision", "precision_at_n"]
            for extra in ("pixel_roc_auc", "aupro"):
                if any(r.get(extra) is not None for r in self.records):
                    metrics.append(extra)
        n_seeds = len({r["seed"] for r in self.records})
        spread = (
            f"mean ± standard deviation over {n_seeds} seeds"
            if n_seeds > 1
            else "one seed"
        )
        parts = []
        for metric in metrics:
            parts.append(f"#### {_METRIC_NAMES.get(metric, metric)} ({spread})\n")
            parts.append(_markdown(*self.table(metric)))
        for metric in metrics:
            header, rows = self.defect_table(metric)
            if rows:
                parts.append(
                    f"#### {_METRIC_NAMES.get(metric, metric)} per defect type "
                    "(good images against one type; mean over classes and "
                    "seeds)\n"
                )
                parts.append(_markdown(header, rows))
        parts.append("#### Cost per job\n")
        parts.append(_markdown(*self.cost_table()))
        return "\n".join(parts)

    def to_csv(self, path):
        """Write one row per job (no per-image scores) to ``path``."""
        import csv

        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            for r in self.records:
                writer.writerow(r)

    def to_json(self, path):
        """Write the settings and every record, per-image scores included."""
        with open(path, "w") as f:
            json.dump({"settings": self.settings, "records": self.records}, f)

    @classmethod
    def from_json(cls, path):
        """Read results written by :meth:`to_json`."""
        with open(path) as f:
            data = json.load(f)
        return cls(data["records"], data.get("settings"))

    # ------------------------------------------------------------- plots
    def plot_roc(self, path, seed=None):
        """ROC curves, one panel per class, one curve per detector."""
        from sklearn.metrics import roc_curve

        seed = self.records[0]["seed"] if seed is None else seed
        classes = self.classes
        cols = min(5, len(classes))
        rows = math.ceil(len(classes) / cols)
        fig = _figure(figsize=(3 * cols, 3 * rows))
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax, c in zip(axes.flat, classes):
            for det in self.detectors:
                for r in self._select(det, c):
                    if r["seed"] == seed:
                        fpr, tpr, _ = roc_curve(r["y_test"], r["scores"])
                        ax.plot(fpr, tpr, label=f"{det} ({r['roc_auc']:.3f})")
            ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
            ax.set_title(f"class {c}", fontsize=9)
            ax.set_xlabel("false positive rate", fontsize=8)
            ax.set_ylabel("true positive rate", fontsize=8)
            ax.legend(fontsize=5, loc="lower right")
        for ax in list(axes.flat)[len(classes) :]:
            ax.axis("off")
        fig.suptitle(f"ROC curves, seed {seed}")
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    def plot_per_class(self, path, metric="roc_auc"):
        """Plot grouped bars per class (mean over seeds, std as error bars)."""
        from matplotlib import colormaps

        classes, detectors = self.classes, self.detectors
        width = 0.8 / len(detectors)
        fig = _figure(figsize=(max(6, 1.2 * len(classes) + 2), 4))
        ax = fig.subplots()
        x = np.arange(len(classes))
        # Up to 20 distinguishable colours (the default cycle repeats after 10).
        palette = colormaps["tab20" if len(detectors) > 10 else "tab10"]
        for i, det in enumerate(detectors):
            means, stds = [], []
            for c in classes:
                v = [
                    r[metric] for r in self._select(det, c) if r.get(metric) is not None
                ]
                means.append(np.mean(v) if v else np.nan)
                stds.append(np.std(v, ddof=1) if len(v) > 1 else 0.0)
            ax.bar(
                x + i * width,
                means,
                width,
                yerr=stds,
                label=det,
                capsize=2,
                color=palette(i % palette.N),
            )
        ax.set_xticks(x + 0.4 - width / 2)
        ax.set_xticklabels([str(c) for c in classes])
        ax.set_xlabel("normal class")
        ax.set_ylabel(_METRIC_NAMES.get(metric, metric))
        # Bars start at chance level (0.5 for the ROC AUCs; 0 when a bar falls
        # below it), not just under the lowest bar, which would exaggerate
        # small differences.
        low = np.nanmin([r[metric] for r in self.records if r.get(metric) is not None])
        bottom = 0.5 if low >= 0.5 and "roc_auc" in metric else 0.0
        ax.set_ylim(bottom, 1.0)
        if bottom == 0.5:
            ax.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
        # Beside the axes, so that it never hides a bar.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        fig.savefig(path, dpi=120, bbox_inches="tight")

    def plot_gallery(self, path):
        """Anomalous test images, their masks and each detector's anomaly maps."""
        shown = [r for r in self.records if r.get("gallery")]
        if not shown:
            raise ValueError(
                "no record has a gallery; run with gallery=True on a data set "
                "with masks and a detector with anomaly_map"
            )
        seen, rows = set(), []
        for r in shown:  # one record per (detector, class)
            if (r["detector"], r["normal_class"]) not in seen:
                seen.add((r["detector"], r["normal_class"]))
                rows.append(r)
        n_img = len(rows[0]["gallery"]["images"])
        fig = _figure(figsize=(2 * n_img * 1.3, 1.4 * len(rows)))
        axes = fig.subplots(len(rows), 2 * n_img, squeeze=False)
        for ax_row, r in zip(axes, rows):
            g = r["gallery"]
            for j in range(n_img):
                image = np.asarray(g["images"][j])
                if image.ndim == 3 and image.shape[0] in (1, 3):
                    image = np.moveaxis(image, 0, -1)
                image = image.squeeze()
                image = image / max(image.max(), 1e-9)
                ax_row[2 * j].imshow(image, cmap="gray")
                ax_row[2 * j].contour(np.asarray(g["masks"][j]), [0.5], colors="r")
                ax_row[2 * j + 1].imshow(np.asarray(g["maps"][j]), cmap="inferno")
            ax_row[0].set_ylabel(f"{r['detector']}\n{r['normal_class']}", fontsize=6)
        for ax in axes.flat:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    def save(self, out_dir, *, plots=False):
        """Write results.csv, results.json, results.md (and plots) to a folder.

        Returns the list of written paths.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "results.csv", out / "results.json", out / "results.md"]
        self.to_csv(paths[0])
        self.to_json(paths[1])
        paths[2].write_text(self.to_markdown())
        if plots:
            paths.append(out / "roc_curves.png")
            self.plot_roc(paths[-1])
            paths.append(out / "per_class_roc_auc.png")
            self.plot_per_class(paths[-1])
            if any(r.get("gallery") for r in self.records):
                paths.append(out / "anomaly_maps.png")
                self.plot_gallery(paths[-1])
        return paths


def _markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _figure(**kwargs):
    """Return a matplotlib Figure with its own canvas; pyplot is left alone.

    No ``matplotlib.use`` and no pyplot figure manager: a library must not
    switch the user's backend or keep figures alive.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plots need matplotlib: pip install 'skanomaly[plot]'"
        ) from exc
    return Figure(**kwargs)
