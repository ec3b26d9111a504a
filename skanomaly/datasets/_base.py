"""Helpers shared by the dataset loaders: the data cache folder."""

import os

DATA_HOME_ENV = "SKANOMALY_DATA"
DEFAULT_DATA_HOME = os.path.join("~", "skanomaly_data")


def _resolve_data_home(data_home=None):
    """Return the absolute cache path without creating it."""
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME
    data_home = os.fspath(data_home)
    return os.path.abspath(os.path.expandvars(os.path.expanduser(data_home)))


def get_data_home(data_home=None):
    """Return the path of the skanomaly data folder, creating it if needed.

    Downloaded data sets are cached in this folder so that they are fetched
    only once. The folder is, in order of precedence, the ``data_home``
    argument, the ``SKANOMALY_DATA`` environment variable, or
    ``~/skanomaly_data``. A leading ``~`` is expanded to the user's home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The path to the data folder. If None, use the ``SKANOMALY_DATA``
        environment variable, or ``~/skanomaly_data`` if it is unset.

    Returns
    -------
    data_home : str
        The absolute path to the data folder.

    Examples
    --------
    >>> import os, tempfile
    >>> from skanomaly.datasets import get_data_home
    >>> folder = os.path.join(tempfile.mkdtemp(), "cache")
    >>> get_data_home(folder) == folder
    True
    >>> os.path.isdir(folder)
    True
    """
    path = _resolve_data_home(data_home)
    os.makedirs(path, exist_ok=True)
    return path
