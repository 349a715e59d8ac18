"""The batch's process pool: an abort finds its workers through public APIs and stops them."""

from __future__ import annotations

import os
import time

import psutil

from ipf_eval.pipeline import runner as runner_mod


def _wait_for(condition, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_abort_stops_the_workers_it_started() -> None:
    executor = runner_mod._Executor(2, None)
    pool = executor._pool
    assert pool is not None
    futures = [pool.submit(time.sleep, 120) for _ in range(2)]
    assert _wait_for(lambda: len(executor.worker_pids()) == 2), executor.worker_pids()
    pids = executor.worker_pids()
    assert set(pids) <= {child.pid for child in psutil.Process().children()}
    assert os.getpid() not in pids
    executor.abort()
    assert executor.worker_pids() == []
    assert _wait_for(lambda: all(_gone(pid) for pid in pids)), [psutil.Process(p).status() for p in pids]
    assert _wait_for(lambda: all(f.done() for f in futures))  # cancelled, or failed with the broken pool


def test_worker_pids_ignores_processes_that_are_not_our_children() -> None:
    executor = runner_mod._Executor(1, None)
    try:
        assert executor._pid_queue is not None
        executor._pid_queue.put(os.getppid())  # a reported pid that is not (or no longer) a worker
        executor._pid_queue.put(os.getpid())
        assert executor.worker_pids() == []
    finally:
        executor.close()


def test_in_process_executor_has_no_workers() -> None:
    executor = runner_mod._Executor(0, None)
    assert executor.worker_pids() == []
    executor.abort()
