"""The benchmark's cache on disk: records, claims of jobs in flight, clean-up.

Each finished job is one JSON record. It is written to a temporary file
``<record>.<pid>.tmp`` and renamed (:func:`os.replace`), so that no reader
ever sees half a record and a process killed while writing leaves only a
temporary file, which :func:`clean_orphan_temporaries` deletes.

Several processes may share a cache: two runs on one folder, or the workers
of a Dask cluster. Before running a job, a process *claims* it: it creates
``<record stem>.lock`` with ``O_CREAT | O_EXCL`` (which fails when the file
exists) holding its host name, process id and a random token, and refreshes
the file's modification time every :data:`HEARTBEAT_S` seconds while the job
runs. Another process that wants the same job waits until the record appears
(and loads it), or takes the claim over when it is stale: its owner is a
process of this host that no longer runs (a killed worker), or it was not
refreshed for :data:`STALE_AFTER_S` seconds (an owner on another machine that
died). So two processes do not both run a job to completion, and a killed
process's claim is recovered by the next process that wants its job.
"""

import contextlib
import json
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path

#: Seconds between two refreshes of a claim by the process running its job.
HEARTBEAT_S = 10.0
#: A claim not refreshed for this long is stale, whoever its owner.
STALE_AFTER_S = 120.0
#: Seconds between two looks at a job that another process is running.
POLL_S = 0.5


def _read_cached(path):
    """Read a cached record; ``None`` (with a warning) when the file is unreadable."""
    try:
        with open(path) as f:
            record = json.load(f)
        if not isinstance(record, dict) or "roc_auc" not in record:
            raise ValueError("not a benchmark record")
        return record
    except (OSError, ValueError) as exc:
        warnings.warn(
            f"ignoring the unreadable benchmark cache file {path} ({exc}); "
            "its job runs again and replaces it",
            stacklevel=3,
        )
        return None


def write_record(path, record):
    """Write ``record`` to ``path`` atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)  # a job in flight when interrupted leaves nothing


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _lock_path(path):
    return path.with_suffix(".lock")


def _read_lock(lock):
    """``(owner dict or None, modification time)``; ``None, None`` when gone."""
    try:
        with open(lock) as f:
            text = f.read()
        mtime = os.stat(lock).st_mtime
    except FileNotFoundError:
        return None, None
    try:
        owner = json.loads(text)
    except ValueError:  # being written, or its writer died right after creating it
        owner = None
    return (owner if isinstance(owner, dict) else None), mtime


def _is_stale(owner, mtime):
    if time.time() - mtime > STALE_AFTER_S:
        return True
    if owner is None or owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    return isinstance(pid, int) and not _alive(pid)


def _break(lock, owner):
    """Remove ``lock`` if it still holds the stale claim of ``owner``.

    The lock is first renamed to a name of this process's own (only one
    process can succeed), then removed if it is the claim judged stale, and
    put back otherwise (a fresh claim made in the meantime).
    """
    grave = lock.with_name(f"{lock.name}.{uuid.uuid4().hex}.{os.getpid()}.tmp")
    try:
        os.rename(lock, grave)
    except FileNotFoundError:
        return
    found, _ = _read_lock(grave)
    token = None if owner is None else owner.get("token")
    if (None if found is None else found.get("token")) != token:
        with contextlib.suppress(OSError):  # a fresh claim: put it back
            os.link(grave, lock)
    with contextlib.suppress(OSError):
        grave.unlink()


class _Claim:
    """A held claim: refreshes its lock file and releases it at the end."""

    def __init__(self, lock, token):
        self.lock = lock
        self.token = token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self):
        while not self._stop.wait(HEARTBEAT_S):
            if self.held():
                with contextlib.suppress(OSError):
                    os.utime(self.lock)

    def held(self):
        """Whether the lock file still holds this claim (none took it over)."""
        owner, _ = _read_lock(self.lock)
        return owner is not None and owner.get("token") == self.token

    def release(self):
        self._stop.set()
        self._thread.join()
        if self.held():
            with contextlib.suppress(OSError):
                self.lock.unlink()


def _try_claim(lock):
    """Create ``lock`` for this process; the :class:`_Claim`, or None if taken."""
    token = uuid.uuid4().hex
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "token": token}
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as f:
        json.dump(owner, f)
    return _Claim(lock, token)


def claim(path, done):
    """Claim the job whose record is ``path``, or wait for the record.

    Parameters
    ----------
    path : Path
        The job's record.
    done : callable
        ``done(path)``: the usable record at ``path``, or None.

    Returns
    -------
    record : dict or None
        The record another process finished meanwhile (nothing to run).
    claim : _Claim or None
        The held claim: run the job, write the record, then ``release()``.
    """
    lock = _lock_path(path)
    while True:
        record = done(path)
        if record is not None:
            return record, None
        held = _try_claim(lock)
        if held is not None:
            record = done(path)  # finished between the look and the claim
            if record is not None:
                held.release()
                return record, None
            return None, held
        owner, mtime = _read_lock(lock)
        if mtime is not None and _is_stale(owner, mtime):
            _break(lock, owner)
            continue
        time.sleep(POLL_S)


def clean_orphan_temporaries(cache_dir):
    """Delete what processes no longer running left in a cache folder.

    A job writes ``<record>.<pid>.tmp`` and renames it when complete; a
    process killed in between leaves the temporary file. Files of processes
    still alive (another run on the same cache) are kept. Stale claims
    (``*.lock``, see :func:`claim`) are removed too.
    """
    for tmp in Path(cache_dir).glob("*.tmp"):
        pid = tmp.suffixes[-2].lstrip(".") if len(tmp.suffixes) >= 2 else ""
        if pid.isdigit() and _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            tmp.unlink()
    for lock in Path(cache_dir).glob("*.lock"):
        owner, mtime = _read_lock(lock)
        if mtime is not None and _is_stale(owner, mtime):
            _break(lock, owner)
