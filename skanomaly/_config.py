"""Global settings of skanomaly, in the manner of :func:`sklearn.set_config`.

Only inference settings live here: they change how much memory scoring
takes, not what a detector learns, so they are not estimator parameters
(scikit-learn's ``working_memory`` is the model).
"""

import numbers
import threading
from contextlib import contextmanager

__all__ = ["config_context", "get_config", "set_config"]

_DEFAULTS = {"inference_batch_size": 32}
_local = threading.local()


def _settings():
    if not hasattr(_local, "settings"):
        _local.settings = dict(_DEFAULTS)
    return _local.settings


def get_config():
    """Return the current values of skanomaly's global settings.

    Returns
    -------
    config : dict
        ``{"inference_batch_size": int}``; see :func:`set_config`.
    """
    return dict(_settings())


def set_config(inference_batch_size=None):
    """Set skanomaly's global settings (for the current thread).

    Parameters
    ----------
    inference_batch_size : int, default=None
        Images per chunk when a fitted detector scores, maps or reconstructs
        images (32 unless set). Every chunk the network sees has exactly
        this many images (the last one is padded), so an image's outputs do
        not depend on which or how many other images are scored with it; a
        different value may change them in the last bits, as any change of
        the shapes a convolution sees can. Larger chunks are faster on a GPU
        and need more memory. It is not the training ``batch_size``.
        ``None`` leaves the setting unchanged.
    """
    if inference_batch_size is not None:
        if (
            not isinstance(inference_batch_size, numbers.Integral)
            or isinstance(inference_batch_size, bool)
            or inference_batch_size < 1
        ):
            raise ValueError(
                "inference_batch_size must be a positive int; got "
                f"{inference_batch_size!r}."
            )
        _settings()["inference_batch_size"] = int(inference_batch_size)


@contextmanager
def config_context(**settings):
    """Change skanomaly's global settings inside a ``with`` block.

    Parameters
    ----------
    **settings
        As for :func:`set_config`; restored on leaving the block.

    Examples
    --------
    >>> import skanomaly
    >>> with skanomaly.config_context(inference_batch_size=256):
    ...     skanomaly.get_config()["inference_batch_size"]
    256
    """
    previous = get_config()
    set_config(**settings)
    try:
        yield
    finally:
        _settings().update(previous)
