"""Peak memory of the running process, as every benchmark worker reports it."""

from __future__ import annotations

import resource

__all__ = ["peak_rss_mib"]


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB. Not ``ru_maxrss``: on Linux a child inherits its
    parent's at fork and keeps it through exec, so every worker would read at least the
    driver's size. ``VmHWM`` is the high-water mark of this process's own memory since exec."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux (bytes on macOS, where the figure reads 1024x too big).
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
