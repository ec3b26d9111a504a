"""Scores of a deep detector at chosen epochs of one fit (learning curves)."""

import time

import numpy as np
import torch
from skorch.callbacks import Callback


def _variant_scores(detector, task, X_test, params):
    """Test scores of one rescore variant (parameters or a callable)."""
    if callable(params):
        return params(detector, task)
    return detector.rescore(X_test, **params)


class CheckpointScores(Callback):
    """Score the test images at chosen epochs of a fit, as ``fit`` would.

    At each epoch of ``epochs`` (0: before the first), the detector's
    statistics are computed from the training images with the network as it
    is (:meth:`_fit_statistics`, in eval mode), and the test images are
    scored, with the default score and each ``rescore`` variant. The random
    generators of the fit are saved and restored around it, and its time is
    not counted as training time, so the fit goes on exactly as without it.

    ``rows`` holds, per checkpoint, ``epoch``, ``optimizer_steps`` (training
    batches so far), ``fit_s`` (training seconds so far), ``roc_auc``,
    ``average_precision`` and ``rescored`` (``{label: roc_auc}``).
    """

    def __init__(self, detector, task, epochs, metrics, rescore=None):
        self.detector = detector
        self.task = task
        self.epochs = set(int(e) for e in epochs)
        self.metrics = metrics
        self.rescore = rescore or {}
        self.rows = []
        self.eval_seconds = 0.0
        self.start = None
        self._images = None

    def __deepcopy__(self, memo):  # the detector copies its callbacks
        return self

    def on_train_begin(self, net, **kwargs):
        if self.start is None:  # a two-phase fit begins twice
            self.start = time.perf_counter()
            if 0 in self.epochs:
                self.evaluate(net, 0)

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch in self.epochs:
            self.evaluate(net, epoch)

    def _generators(self):
        detector = self.detector
        names = ("_generator", "_shuffle_generator", "_seed_generator")
        return [getattr(detector, n) for n in names if hasattr(detector, n)]

    def evaluate(self, net, epoch):
        started = time.perf_counter()
        detector, task = self.detector, self.task
        module = net.module_
        detector.module_ = module  # what fit sets after training
        if self._images is None:
            self._images = (
                detector._check_images(task.X_train),
                detector._check_images(task.X_test),
            )
        X_train, X_test = self._images
        generators = self._generators()
        states = [g.get_state() for g in generators]
        training = module.training
        module.eval()
        try:
            with torch.inference_mode():
                detector._fit_statistics(X_train)
            scores = np.asarray(detector._scores(X_test), dtype=float)
            rescored = {
                label: float(
                    self.metrics(
                        task.y_test,
                        np.asarray(
                            _variant_scores(detector, task, X_test, params),
                            dtype=float,
                        ),
                    )["roc_auc"]
                )
                for label, params in self.rescore.items()
            }
        finally:
            module.train(training)
            for generator, state in zip(generators, states):
                generator.set_state(state)
        steps = sum(row.get("train_batch_count", 0) for row in net.history)
        row = {
            "epoch": epoch,
            "optimizer_steps": int(steps),
            "fit_s": started - self.start - self.eval_seconds,
            **self.metrics(task.y_test, scores),
            "rescored": rescored,
        }
        row.pop("precision_at_n", None)
        self.rows.append(row)
        self.eval_seconds += time.perf_counter() - started
