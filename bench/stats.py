"""Small measuring helpers of the benchmarks: percentiles, ms, the CPU time and the peak
memory of a process with its descendants."""

from __future__ import annotations

import contextlib
import math
import threading

import psutil

MiB = 1024 * 1024


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def cpu_seconds(pid: int, *, descendants: bool = True) -> float:
    """CPU time of a process, with its reaped and (unless told not to) its live descendants."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system
        if descendants:
            total += times.children_user + times.children_system
            for child in process.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
        return total
    except psutil.Error:
        return 0.0


def tree_rss(pid: int, *, proportional: bool = False) -> int:
    """The summed resident memory of a process and its live descendants, in bytes; with
    `proportional`, each one's share of the pages it shares with others (PSS: PostgreSQL's
    backends all map its shared buffers, which summed RSS would count once per backend)."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in tree:
        with contextlib.suppress(psutil.Error):
            total += member.memory_full_info().pss if proportional else member.memory_info().rss
    return total


class PeakMemory:
    """A thread sampling `tree_rss(pid)` every `interval` s until the block ends: the peak.

    with PeakMemory(process.pid) as peak:
        process.wait()
    print(peak.mib)
    """

    def __init__(self, pid: int, interval: float = 0.05, *, proportional: bool = False) -> None:
        self.pid, self.interval, self.proportional = pid, interval, proportional
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            self.bytes = max(self.bytes, tree_rss(self.pid, proportional=self.proportional))
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return self.bytes / MiB
