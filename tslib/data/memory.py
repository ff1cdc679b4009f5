"""Decode once, within a stated memory ceiling: what a decode cache or a device image store will take, and
whether it may.

A Colab VM has about 12 GB of RAM and 2 vCPUs: decoding full-size JPEGs every epoch is what bounds a GPU there,
and a cache that does not fit ends the session. So caches are on by default only where they fit in a stated
share of what is free now:

- :data:`CACHE_SHARE` of the available host RAM for a decode cache (uint8 images at the run's scale);
- :data:`DEVICE_SHARE` of the free GPU memory for the images of ``--gpu-augment`` kept on the GPU, else
  :data:`PINNED_SHARE` of the available host RAM for them in pinned memory; else the CPU loader.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

#: share of the available host RAM a decode cache may take when it is on by default
CACHE_SHARE = 0.35
#: share of the free GPU memory the --gpu-augment image store may take on the GPU
DEVICE_SHARE = 0.5
#: share of the available host RAM the --gpu-augment image store may take in pinned memory
PINNED_SHARE = 0.25


def available_ram() -> int | None:
    """Bytes of host RAM available now (Linux ``MemAvailable``, else free pages), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fits(nbytes: int, share: float = CACHE_SHARE, available: int | None = None) -> bool:
    """Whether ``nbytes`` fit in ``share`` of ``available`` bytes (default: the host RAM available now). Unknown
    RAM: only what is small (< 1 GiB) fits."""
    available = available_ram() if available is None else available
    if available is None:
        return nbytes < 2 ** 30
    return nbytes <= share * available


def gib(nbytes: float) -> str:
    return f"{nbytes / 2 ** 30:.2f} GiB"


def scaled_bytes(sizes: Sequence[tuple[int, int]], count: int, short_side: int | None, channels: int = 3) -> int:
    """Bytes of ``count`` uint8 images whose (width, height) are like ``sizes`` (a sample of them) once their
    shorter side is resized to ``short_side`` (None: kept as they are)."""
    if not sizes or count == 0:
        return 0
    per_image = []
    for w, h in sizes:
        if short_side is not None:
            scale = short_side / min(w, h)
            w, h = max(1, round(w * scale)), max(1, round(h * scale))
        per_image.append(channels * w * h)
    return int(sum(per_image) / len(per_image) * count)


def header_sizes(paths: Sequence[str | Path], sample: int = 64) -> list[tuple[int, int]]:
    """(width, height) of up to ``sample`` evenly spaced files of ``paths``, read from their headers (nothing is
    decoded); unreadable files are left out (they are reported when they are read)."""
    from PIL import Image

    if not paths:
        return []
    step = max(1, len(paths) // sample)
    out = []
    for p in list(paths)[::step][:sample]:
        try:
            with Image.open(p) as im:
                out.append(im.size)
        except (OSError, SyntaxError, ValueError):
            continue
    return out


def decide_cache(wanted: bool | None, nbytes: int, what: str, share: float = CACHE_SHARE,
                 available: int | None = None, quiet: bool = False) -> bool:
    """Whether to decode ``what`` once and keep it: ``wanted`` True/False is the user's choice; None (the default)
    caches when ``nbytes`` fit in ``share`` of the available RAM, and says so in one line when they do not."""
    if wanted is not None:
        return bool(wanted)
    if fits(nbytes, share, available):
        return True
    if not quiet:
        free = available_ram() if available is None else available
        notice(f"decode cache off for {what}: it would take {gib(nbytes)}, more than {share:.0%} of the "
               f"{gib(free or 0)} of RAM available (images are decoded every epoch instead; --decode-cache forces it)")
    return False


def notice(message: str) -> None:
    """One line for the user on stderr (rank 0 only under torchrun)."""
    from ..distributed import is_main

    if is_main():
        print(f"note: {message}", file=sys.stderr, flush=True)
