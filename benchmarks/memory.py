"""Peak memory of a benchmark's child process, measured so that the parent's size does not leak into it.

``ru_maxrss`` survives ``fork`` + ``exec`` on Linux: a child started by a large benchmark process would report at
least the parent's resident set. ``VmHWM`` in ``/proc/self/status`` belongs to the new address space and starts
from zero at ``exec``. Child scripts include :data:`RSS_SOURCE` and call ``rss_mib("VmHWM")`` (peak) or
``rss_mib("VmRSS")`` (now).
"""

RSS_SOURCE = '''
def rss_mib(key="VmHWM"):
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not Linux: the best available, inherited from the parent process
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
'''
