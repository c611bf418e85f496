"""Processes that end with the process that started them, however it ends (SIGKILL too)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Have the kernel send `sig` to this process when its parent dies (Linux; elsewhere
    nothing). As `preexec_fn` of a Popen, or called by the child itself. The parent is the
    thread that started the process: start it from a thread that lives as long as its
    process (the main thread, say)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def die_with_parent_now(sig: int = signal.SIGTERM) -> None:
    """`die_with_parent`, from a process already running: if its parent died before the
    call, no signal would come, so it is sent at once."""
    parent = os.getppid()
    die_with_parent(sig)
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
