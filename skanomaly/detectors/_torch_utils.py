"""PyTorch helpers shared by the detectors' modules (no scikit-learn, no skorch)."""

import math

import torch.nn.functional as F

__all__ = ["crop_to", "pad_to_multiple", "padded_size"]


def pad_to_multiple(x, multiple, mode="replicate"):
    """Pad the last two dimensions of ``x`` up to a multiple of ``multiple``.

    The padding is split between both sides (one more pixel at the bottom and
    right when odd), so that :func:`crop_to` with the original size undoes it.
    """
    height, width = x.shape[-2:]
    pad_h = math.ceil(height / multiple) * multiple - height
    pad_w = math.ceil(width / multiple) * multiple - width
    if pad_h == 0 and pad_w == 0:
        return x
    top, left = pad_h // 2, pad_w // 2
    return F.pad(x, (left, pad_w - left, top, pad_h - top), mode=mode)


def crop_to(x, size):
    """Undo :func:`pad_to_multiple`: crop the centre ``size=(H, W)`` of ``x``."""
    height, width = size
    top = (x.shape[-2] - height) // 2
    left = (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


def padded_size(size, multiple):
    """Size ``(H, W)`` after :func:`pad_to_multiple`."""
    return tuple(math.ceil(s / multiple) * multiple for s in size)
