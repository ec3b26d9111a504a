"""The detectors, one subpackage each: the estimator and its PyTorch module.

Every subpackage is imported here, so that the detectors it registers (with
:func:`skanomaly.base.register_detector`) are available as
``skanomaly.detectors.<Name>``, ``skanomaly.<Name>`` and in
``skanomaly.DETECTORS``: adding a detector needs no edit outside its folder.
"""

import importlib
import pkgutil

from ..base import registered_detectors

for _module in pkgutil.iter_modules(__path__):
    if _module.ispkg and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

#: The detectors of the subpackages, sorted by name.
DETECTORS = tuple(
    cls for cls in registered_detectors() if cls.__module__.startswith(__name__ + ".")
)
globals().update({cls.__name__: cls for cls in DETECTORS})

__all__ = ["DETECTORS", *(cls.__name__ for cls in DETECTORS)]
