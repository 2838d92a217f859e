"""`map`-compatible executors: serial, a local process pool (the default), or Ray for a cluster.

Everything that fans out work (latency datasets, objective evaluation) takes one of these, so the engine is a
choice made at the edge (CLI or config), not inside the algorithms. Results always come back in input order.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Literal

from predictors.learned.jobs import follow_parent

ExecutorKind = Literal["serial", "process", "ray"]


class SerialExecutor:
    workers = 1

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        return map(fn, items)


class ProcessExecutor:
    """A local process pool. `spawn` workers start clean (no inherited torch threads or locks), and each one
    exits when this process dies, however it dies (`follow_parent`), so a killed run leaves no orphans."""

    def __init__(self, workers: int | None = None):
        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=follow_parent)

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        return self._pool.map(fn, items)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class RayExecutor:
    """Ray tasks. `address="auto"` joins a cluster started with `ray start --head`; with no address a local
    Ray instance starts in-process and is shut down again by `close`."""

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError("the ray executor needs Ray: pip install 'hwnas[ray]'") from exc
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            ray.init(address=address, num_cpus=workers if address is None else None,
                     include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        self.workers = workers or int(ray.cluster_resources().get("CPU", 1))

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        remote = self._ray.remote(fn)
        refs = [remote.remote(item) for item in items]
        for ref in refs:
            yield self._ray.get(ref)

    def close(self) -> None:
        if self._owns:
            self._ray.shutdown()


@contextmanager
def executor(kind: ExecutorKind = "process", workers: int | None = None, address: str | None = None):
    """An executor for the duration of a `with` block; pools and Ray are shut down on exit."""
    if kind == "serial" or (kind == "process" and workers == 1):
        yield SerialExecutor()
        return
    pool = ProcessExecutor(workers) if kind == "process" else RayExecutor(workers, address)
    try:
        yield pool
    finally:
        pool.close()
