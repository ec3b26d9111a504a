"""Where the benchmark's jobs run and how many threads each job may use.

:func:`run_benchmark` hands its jobs to :class:`joblib.Parallel`, so an active
:func:`joblib.parallel_config` decides where they run: joblib's local
processes (``loky``, the default) or a Dask cluster (``backend="dask"``).
Each job then limits its torch and BLAS threads to its share of the cores of
the machine it runs on, so that jobs running side by side do not fight over
cores: ``cores // parallel jobs`` locally, and on a Dask cluster ``cores of
the worker's machine // threads of all the Dask workers on that machine``.
"""

import contextlib

from joblib import cpu_count, effective_n_jobs
from joblib.parallel import get_active_backend


def _dask_client(backend):
    """Return the ``distributed.Client`` of joblib's Dask backend, else None."""
    client = getattr(backend, "client", None)
    if client is None or not hasattr(client, "ncores"):
        return None
    return client


def _host(address):
    from distributed.comm import get_address_host

    return get_address_host(address)


def _threads_by_host(client):
    """``{host: threads per job}`` for the machines of a Dask cluster."""
    slots = {}
    for address, nthreads in client.ncores().items():
        host = _host(address)
        slots[host] = slots.get(host, 0) + nthreads
    cores = {}
    for address, n in client.run(cpu_count).items():
        host = _host(address)
        cores[host] = max(cores.get(host, 1), n)
    return {host: max(1, cores.get(host, 1) // max(1, n)) for host, n in slots.items()}


def plan_threads(n_jobs):
    """Plan the torch and BLAS threads each job of a run may use.

    Parameters
    ----------
    n_jobs : int or None
        ``n_jobs`` of :func:`run_benchmark`, as joblib reads it: ``None`` is
        the active :func:`joblib.parallel_config`'s value (1 outside one).

    Returns
    -------
    threads : int, dict or None
        An int for jobs on this machine; ``{host: int}`` for the machines of
        a Dask cluster (the active backend is joblib's Dask backend, which
        runs every job on the cluster whatever ``n_jobs``); ``None`` to leave
        torch's setting alone (jobs run one at a time in this process).
    """
    backend, _ = get_active_backend()
    client = _dask_client(backend)
    if client is not None:
        return _threads_by_host(client)
    n = effective_n_jobs(n_jobs)
    return max(1, cpu_count() // n) if n > 1 else None


def job_threads(threads):
    """Resolve :func:`plan_threads`'s answer in the process that runs a job."""
    if not isinstance(threads, dict):
        return threads
    try:
        from distributed import get_worker

        host = _host(get_worker().address)
    except (ImportError, ValueError):  # not on a Dask worker: run in the client
        return None
    return threads.get(host, 1)


@contextlib.contextmanager
def limited_threads(threads):
    """Limit torch's and the native libraries' (BLAS, OpenMP) thread pools.

    ``None`` changes nothing. Both are restored on leaving the block.
    """
    if not threads:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    with threadpool_limits(limits=threads):
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(previous)
