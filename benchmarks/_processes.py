"""
What benchmarks that run child processes share: children that die with
their parent, and a process's CPU time and memory read from ``/proc``.
"""

import ctypes
import os
import resource
import signal

__all__ = ["die_with_parent", "cpu_seconds", "rss_bytes"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid=None, signum=signal.SIGKILL):
    """
    Have Linux send ``signum`` to this process when its parent goes (best
    effort).  With ``parent_pid``, exit at once if that parent is already
    gone: nobody would ever stop this process.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


def cpu_seconds(pid):
    """User + system CPU seconds process ``pid`` has used, or None once it is gone."""
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid="self"):
    """Resident memory of process ``pid`` (this one by default), or None once it is gone."""
    try:
        with open("/proc/{}/statm".format(pid)) as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:
        return None
