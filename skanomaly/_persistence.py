"""Saving and loading fitted detectors without pickle.

:meth:`BaseImageDetector.save <skanomaly.base.BaseImageDetector.save>` writes
a directory with two files:

- ``weights.safetensors``: every tensor of the fitted model (the module's
  ``state_dict`` under ``module_.``) and every numpy array among the fitted
  attributes (under ``array.``), in the safetensors format, which holds data
  only;
- ``skanomaly.json``: the detector's class name, its parameters, its other
  fitted attributes (numbers, strings, tuples, dicts, the training history),
  the package version and the SHA-256 digest of the weights file.

:func:`load` reads them back without executing code: the class must be a
registered detector, every value is data, and the optimizer is looked up by
name in :mod:`torch.optim` only. A changed or truncated file raises
``ValueError``. Pickle and joblib, by contrast, run code named in the file
when loading, so load a pickle only from a source you trust.
"""

import hashlib
import json
import numbers
import os
import tempfile

import numpy as np
import torch

__all__ = ["load", "save"]

FORMAT = "skanomaly-detector"
FORMAT_VERSION = 1
_MANIFEST = "skanomaly.json"
_WEIGHTS = "weights.safetensors"
#: Parameters that only steer training and are not data: not saved, loaded as
#: ``None``.
_TRAINING_ONLY = ("callbacks",)


def _safetensors():
    try:
        import safetensors.torch
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError(
            "saving and loading detectors needs safetensors: pip install safetensors"
        ) from exc
    return safetensors.torch


# ------------------------------------------------------------------ encoding
def _encode(value, where):
    """JSON form of ``value``; tuples and a few types are tagged to come back."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not np.isfinite(value):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, where) for k, v in value.items()}}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
        name = value.__name__
        if getattr(torch.optim, name, None) is not value:
            raise ValueError(
                f"{where}: the optimizer {value.__module__}.{value.__qualname__} is "
                "not one of torch.optim's, so it cannot be saved by name; save "
                "with pickle (from a source you trust) instead."
            )
        return {"__optimizer__": name}
    raise ValueError(
        f"{where}: a {type(value).__name__} cannot be saved as data; save() "
        "supports numbers, strings, tuples, lists, dicts, numpy arrays and "
        "torch tensors. Use pickle or joblib for this detector (and load the "
        "file only from a source you trust)."
    )


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise ValueError(f"unexpected value {value!r} in the saved parameters")
    ((tag, inner),) = value.items()
    if tag == "__tuple__":
        return tuple(_decode(v) for v in inner)
    if tag == "__dict__":
        return {k: _decode(v) for k, v in inner.items()}
    if tag == "__float__":
        return float(inner)
    if tag == "__device__":
        return torch.device(inner)
    if tag == "__optimizer__":
        optimizer = getattr(torch.optim, inner, None)
        if not (
            isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)
        ):
            raise ValueError(f"{inner!r} is not an optimizer of torch.optim")
        return optimizer
    raise ValueError(f"unexpected tag {tag!r} in the saved parameters")


def _is_training_net(value):
    from skorch import NeuralNet

    return isinstance(value, NeuralNet)


# ---------------------------------------------------------------------- save
def save(detector, path):
    """Write a fitted detector to the directory ``path`` (see module docs)."""
    from sklearn.utils.validation import check_is_fitted
    from skorch.history import History

    from . import __version__

    check_is_fitted(detector, ["module_", "threshold_"])
    cls = type(detector)
    params = {}
    for name, value in detector.get_params(deep=False).items():
        if name in _TRAINING_ONLY:
            continue
        if name == "contamination" and hasattr(value, "fit"):
            raise ValueError(
                "contamination is a thresholder object, which save() cannot store "
                "as data; use a float or 'auto', or save with pickle (and load the "
                "file only from a source you trust)."
            )
        params[name] = _encode(value, f"parameter {name}")
    tensors = {
        f"module_.{key}": tensor.detach().contiguous().cpu()
        for key, tensor in detector.module_.state_dict().items()
    }
    fitted, arrays = {}, []
    param_names = set(detector.get_params(deep=False))
    for name, value in vars(detector).items():
        if name in param_names or name == "module_" or _is_training_net(value):
            continue
        if isinstance(value, torch.Tensor):
            tensors[f"tensor.{name}"] = value.detach().contiguous().cpu()
        elif isinstance(value, np.ndarray):
            if value.dtype == object:
                raise ValueError(f"fitted attribute {name}: an object array")
            tensors[f"array.{name}"] = torch.from_numpy(np.ascontiguousarray(value))
            arrays.append(name)
        elif isinstance(value, History):
            fitted[name] = {"__history__": _encode(list(value), f"attribute {name}")}
        else:
            fitted[name] = _encode(value, f"fitted attribute {name}")

    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path!r} exists and is not a directory.")
    os.makedirs(path, exist_ok=True)
    weights = _safetensors().save(tensors)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skanomaly_version": __version__,
        "class": cls.__name__,
        "params": params,
        "not_saved": [n for n in _TRAINING_ONLY if n in param_names],
        "fitted": fitted,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
    }
    _write_atomically(os.path.join(path, _WEIGHTS), weights)
    text = json.dumps(manifest, indent=1, allow_nan=False)
    _write_atomically(os.path.join(path, _MANIFEST), text.encode())
    return path


def _write_atomically(filename, data):
    folder = os.path.dirname(filename)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, filename)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---------------------------------------------------------------------- load
def _read(path, name):
    filename = os.path.join(path, name)
    if not os.path.isfile(filename):
        raise FileNotFoundError(
            f"{filename!r} does not exist: expected a directory written by "
            "detector.save(path), with skanomaly.json and weights.safetensors."
        )
    with open(filename, "rb") as f:
        return f.read()


def load(path, device=None):
    """Load a detector written by ``detector.save(path)``, without running code.

    Parameters
    ----------
    path : str or os.PathLike
        The directory given to :meth:`~skanomaly.base.BaseImageDetector.save`.
    device : str or torch.device, default=None
        Where to put the model: ``None`` keeps the device it was fitted on
        when that exists here and falls back to the CPU (with a warning)
        otherwise; ``device_`` tells which.

    Returns
    -------
    detector : BaseImageDetector
        Fitted, scoring as the saved one did. Parameters that only steer
        training and are not data (``callbacks``) are ``None``; the private
        training nets (``net_``) are not saved.
    """
    from skorch.history import History

    from .base import _device_here, registered_detectors

    path = os.fspath(path)
    raw = _read(path, _MANIFEST)
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{os.path.join(path, _MANIFEST)!r} is not valid JSON ({exc}); the file "
            "was changed or truncated."
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{path!r} does not hold a detector saved by skanomaly.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was saved in format version "
            f"{manifest.get('format_version')!r}; this skanomaly reads version "
            f"{FORMAT_VERSION}."
        )
    weights = _read(path, _WEIGHTS)
    if hashlib.sha256(weights).hexdigest() != manifest.get("weights_sha256"):
        raise ValueError(
            f"{os.path.join(path, _WEIGHTS)!r} does not match the digest recorded "
            "in skanomaly.json: the file was changed or truncated after saving."
        )
    classes = {cls.__name__: cls for cls in registered_detectors()}
    cls = classes.get(manifest.get("class"))
    if cls is None:
        raise ValueError(
            f"{manifest.get('class')!r} is not a registered detector; known: "
            f"{sorted(classes)}."
        )
    try:
        params = {k: _decode(v) for k, v in manifest["params"].items()}
        fitted = {}
        for name, value in manifest["fitted"].items():
            if isinstance(value, dict) and set(value) == {"__history__"}:
                fitted[name] = History(_decode(value["__history__"]))
            else:
                fitted[name] = _decode(value)
        detector = cls(**params)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path!r}: malformed skanomaly.json ({exc!r}).") from exc
    detector._validate_params()
    try:
        tensors = _safetensors().load(weights)
    except Exception as exc:  # safetensors raises its own error type
        raise ValueError(f"{os.path.join(path, _WEIGHTS)!r}: {exc}") from exc

    target = _device_here(device, saved=str(fitted.get("device_", "cpu")))
    for name, value in fitted.items():
        setattr(detector, name, value)
    for key, tensor in tensors.items():
        kind, _, name = key.partition(".")
        if kind == "array":
            setattr(detector, name, tensor.numpy())
        elif kind == "tensor":
            setattr(detector, name, tensor.to(target))
    state = {
        key[len("module_.") :]: tensor.to(target)
        for key, tensor in tensors.items()
        if key.startswith("module_.")
    }
    detector.device_ = target
    with torch.device("meta"):
        module = detector._module_for_loading()
    _assign_state(module, state)
    detector.module_ = module.eval()
    return detector


def _assign_state(module, state):
    """Load ``state`` into a module built on the meta device (assigning tensors).

    Buffers whose shape depends on the data (e.g. stored training codes) take
    the saved shape; parameters must match.
    """
    for key, tensor in state.items():
        owner_name, _, name = key.rpartition(".")
        owner = module.get_submodule(owner_name) if owner_name else module
        if name in owner._buffers and owner._buffers[name] is not None:
            owner._buffers[name] = torch.empty_like(tensor, device="meta")
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ValueError(
            f"the saved weights do not fit the detector's network: {exc}"
        ) from exc
    for key, tensor in list(module.state_dict().items()):
        if tensor.is_meta:  # pragma: no cover - load_state_dict(strict) covers it
            raise ValueError(f"the saved weights lack {key}")
