"""
A process's own peak memory and CPU time from a moment on: what the
benchmarks measuring memory (``bundles.py``) read in their child processes.
"""

import resource

__all__ = ["Peak", "TracedPeak", "peak_meter", "process_cpu_seconds"]


def _status_bytes(field, pid="self"):
    with open("/proc/{}/status".format(pid)) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no {} in /proc/{}/status".format(field, pid))


class Peak:
    """The peak resident memory of this process from now on, above now."""

    def __init__(self):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
        self.base = _status_bytes("VmRSS")

    def bytes(self):
        return _status_bytes("VmHWM") - self.base

    @staticmethod
    def absolute():
        return _status_bytes("VmHWM")


class TracedPeak:
    """The peak of tracemalloc's traced memory from now on, above now."""

    def __init__(self):
        import tracemalloc

        self._tracemalloc = tracemalloc
        if not tracemalloc.is_tracing():
            tracemalloc.start()
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]

    def bytes(self):
        return self._tracemalloc.get_traced_memory()[1] - self.base


def process_cpu_seconds():
    """User + system CPU seconds this process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_meter(traced):
    """A :class:`TracedPeak` if ``traced``, else a :class:`Peak`."""
    return TracedPeak() if traced else Peak()
