"""The two terms of the objective ``I(X; Z) - beta * H(Z)``, as estimators.

Plain PyTorch. Ye, Zheng, Huang and Zhang (arXiv 2012.04837) show that, when
normal and anomalous data are separable in latent space, a lower bound of the
direct anomaly-detection objective trades the mutual information ``I(X; Z)``
between images and representations against the entropy ``H(Z)`` of the
representations of normal data. Their concrete estimators could not be
consulted; the ones below are this library's instantiation:

* :func:`transformation_bound`: the lower bound ``I(T; Z) >= H(T) - CE`` of a
  transformation-prediction task (here the four rotations by multiples of 90
  degrees), which is also a lower bound on the information that ``Z`` keeps
  about the transformed image (data processing: ``T -> X -> Z``);
* :func:`infonce_bound`: the InfoNCE lower bound on ``I(X; Z)`` from two
  augmented views (van den Oord et al., 2018; NT-Xent of SimCLR);
* :func:`reconstruction_bound`: the Barber-Agakov lower bound
  ``I(X; Z) >= H(X) + E log q(x | z)`` with a Gaussian decoder, per pixel and
  without the constant ``H(X)``;
* :func:`gaussian_entropy`: the maximum-entropy (Gaussian) upper bound
  ``H(Z) <= 1/2 log det(2 pi e (Sigma + eps I))`` on a batch of codes;
* :func:`compactness_entropy`: the looser isotropic bound
  ``H(Z) <= d/2 log(2 pi e (tr(Sigma) / d + eps))``, which only sees the mean
  squared distance of the codes to their centre (Deep SVDD's compactness).
"""

import math

import torch
from torch.nn import functional as F

__all__ = [
    "compactness_entropy",
    "entropy_floor",
    "gaussian_entropy",
    "infonce_bound",
    "reconstruction_bound",
    "transformation_bound",
]


def infonce_bound(z1, z2, temperature=0.2):
    """InfoNCE lower bound on ``I(X; Z)`` from two views, in nats.

    Each of the ``2B`` codes must pick its other view among the ``2B - 1``
    other codes of the batch by cosine similarity over ``temperature``
    (NT-Xent). With ``L`` that cross-entropy, ``I(X; Z) >= log(2B - 1) - L``.

    Parameters
    ----------
    z1, z2 : torch.Tensor of shape (B, d)
        Unit-norm codes of the two views of the same ``B`` images.
    temperature : float, default=0.2

    Returns
    -------
    bound : torch.Tensor
        Scalar, differentiable; at most ``log(2B - 1)``.
    """
    n = len(z1)
    z = torch.cat([z1, z2], dim=0)
    logits = z @ z.T / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return math.log(2 * n - 1) - F.cross_entropy(logits, positives)


def transformation_bound(logits, transforms):
    """Lower bound on ``I(T; Z)`` from predicting the transformation, in nats.

    For a transformation ``T`` drawn uniformly from ``K`` transformations,
    applied to an image, and a critic that predicts it from the code ``Z`` of
    the transformed image with cross-entropy ``CE``,
    ``I(T; Z) = H(T) - H(T | Z) >= log(K) - CE`` (Barber-Agakov). ``T`` is a
    function of the transformed image ``X'`` and ``Z`` a function of ``X'``,
    so the same quantity also bounds ``I(X'; Z)`` from below: this is how
    Ye et al. explain transformation-prediction surrogate tasks.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, K)
        The critic's unnormalized log-probabilities of the ``K`` transformations.
    transforms : torch.Tensor of shape (n,)
        Index of the transformation applied to each image.

    Returns
    -------
    bound : torch.Tensor
        Scalar, differentiable; at most ``log(K)``.
    """
    return math.log(logits.shape[1]) - F.cross_entropy(logits, transforms)


def reconstruction_bound(x, mean, scale):
    """Barber-Agakov bound ``E log q(x | z)`` per pixel, in nats.

    ``q(x | z)`` is a Gaussian with mean ``mean`` (the decoder's output) and
    one standard deviation ``scale`` shared by every pixel:
    ``-1/2 log(2 pi scale^2) - MSE / (2 scale^2)``. The true bound on
    ``I(X; Z)`` adds the constant ``H(X) / D``, which does not depend on the
    network and is left out.

    Parameters
    ----------
    x, mean : torch.Tensor of shape (n, C, H, W)
    scale : float
        Standard deviation of ``q(x | z)``, positive.

    Returns
    -------
    bound : torch.Tensor
        Scalar, differentiable; at most ``-1/2 log(2 pi scale^2)``.
    """
    mse = (x - mean).pow(2).mean()
    return -0.5 * math.log(2 * math.pi * scale**2) - 0.5 * mse / scale**2


def entropy_floor(d, eps=1e-3):
    """Smallest value of both entropy bounds for codes of dimension ``d``.

    ``d/2 log(2 pi e eps)``, reached when all codes coincide.
    """
    return 0.5 * d * math.log(2 * math.pi * math.e * eps)


def _centred(z):
    return z - z.mean(dim=0, keepdim=True), max(len(z) - 1, 1)


def gaussian_entropy(z, eps=1e-3):
    """Gaussian upper bound on the entropy of the codes ``z``, in nats.

    ``1/2 log det(2 pi e (Sigma + eps I))`` with ``Sigma`` the sample
    covariance of the batch. Among distributions with a given covariance the
    Gaussian has the largest entropy, so this bounds ``H(Z)`` from above;
    ``eps`` keeps it finite when the codes collapse onto fewer than ``d``
    directions (or there are fewer codes than dimensions).

    Parameters
    ----------
    z : torch.Tensor of shape (n, d)
    eps : float, default=1e-3

    Returns
    -------
    entropy : torch.Tensor
        Scalar, differentiable.
    """
    centred, dof = _centred(z.double())
    d = z.shape[1]
    cov = centred.T @ centred / dof
    cov = cov + eps * torch.eye(d, dtype=cov.dtype, device=cov.device)
    logdet = 2 * torch.log(torch.diagonal(torch.linalg.cholesky(cov))).sum()
    return (0.5 * (logdet + d * math.log(2 * math.pi * math.e))).to(z.dtype)


def compactness_entropy(z, eps=1e-3):
    """Isotropic upper bound on the entropy of the codes ``z``, in nats.

    ``d/2 log(2 pi e (m / d + eps))`` with ``m`` the mean squared distance of
    the codes to their mean (the trace of ``Sigma``): the entropy of the
    isotropic Gaussian with that spread, which is the largest entropy a
    distribution with that mean squared distance can have. By the inequality
    of arithmetic and geometric means it is never below
    :func:`gaussian_entropy` with the same ``eps``.

    Parameters
    ----------
    z : torch.Tensor of shape (n, d)
    eps : float, default=1e-3

    Returns
    -------
    entropy : torch.Tensor
        Scalar, differentiable.
    """
    centred, dof = _centred(z)
    d = z.shape[1]
    spread = centred.pow(2).sum() / dof
    return 0.5 * d * torch.log(2 * math.pi * math.e * (spread / d + eps))
