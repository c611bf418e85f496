"""Small measuring helpers of the benchmarks: percentiles, ms, the CPU time and the peak
memory of a process with its descendants."""

from __future__ import annotations

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
                try:
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
                except psutil.Error:
                    pass
        return total
    except psutil.Error:
        return 0.0


def tree_rss(pid: int) -> int:
    """The summed resident memory of a process and its live descendants, in bytes."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in tree:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


class PeakMemory:
    """A thread sampling `tree_rss(pid)` every `interval` s until stopped: the peak seen.

    with PeakMemory(process.pid) as peak:
        process.wait()
    peak.bytes
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            self.bytes = max(self.bytes, tree_rss(self.pid))
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
