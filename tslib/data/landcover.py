"""Landcover.ai v1: download (resume-safe, md5-checked) and tiling as the dataset's own split procedure does it.

Layout of the zip: ``images/*.tif`` and ``masks/*.tif`` (41 orthophotos, ~9000x9500, 25 or 50 cm), and
``train.txt``/``val.txt``/``test.txt`` listing tile names. Tiling (reimplemented with OpenCV; the zip's script
is not run): 512x512 tiles without overlap, row by row, edge remainders dropped, ``output/{name}_{k}.jpg`` and
``output/{name}_{k}_m.png`` with ``k`` counting every grid position (dropped ones included).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from ..errors import check_out_dir
from .download import DownloadError
from .sources import DatasetNotFoundError

URL = "https://landcover.ai.linuxpolska.com/download/landcover.ai.v1.zip"
MD5 = "3268c89070e8734b4e91d531c0617e03"
CLASSES: tuple[str, ...] = ("background", "building", "woodland", "water", "road")
#: One colour per class, used by every figure (RGB).
PALETTE: tuple[tuple[int, int, int], ...] = ((226, 223, 210), (196, 40, 27), (34, 110, 50), (40, 110, 200),
                                             (250, 190, 40))
TILE = 512
LISTS = ("train", "val", "test")


def find_landcover_root(root: str | Path, depth: int = 3) -> Path:
    """The folder holding ``images/`` and ``masks/`` at ``root`` or a few levels below it."""
    root = Path(root).expanduser()
    todo = [(root, 0)]
    while todo:
        d, level = todo.pop(0)
        if (d / "images").is_dir() and (d / "masks").is_dir():
            return d
        if level < depth and d.is_dir():
            todo += [(c, level + 1) for c in sorted(d.iterdir()) if c.is_dir() and not c.name.startswith(".")]
    raise DatasetNotFoundError(
        f"no Landcover.ai layout (images/*.tif, masks/*.tif, train.txt, val.txt, test.txt) under {root}; "
        "download it with `python -m tslib download --datasets landcover`")


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_landcover(out: str | Path, url: str = URL, md5: str = MD5) -> Path:
    """Download the zip into ``out`` (a ``.part`` file resumes an interrupted download), check its md5, and
    extract into ``out/landcover`` via a temporary folder, so nothing half-extracted ever looks complete."""
    out = check_out_dir(out)
    target = out / "landcover"
    if (target / "images").is_dir() and (target / "masks").is_dir():
        return target
    out.mkdir(parents=True, exist_ok=True)
    zip_path, part = out / "landcover.ai.v1.zip", out / "landcover.ai.v1.zip.part"
    if not zip_path.is_file():
        _fetch(url, part)
        os.replace(part, zip_path)
    if _md5(zip_path) != md5:
        bad = zip_path.with_suffix(".zip.bad")
        os.replace(zip_path, bad)
        raise DownloadError(f"{zip_path}: md5 differs from {md5} (moved to {bad.name}); run the command again to "
                            "download it afresh")
    tmp = out / ".landcover.extracting"
    shutil.rmtree(tmp, ignore_errors=True)  # what an interrupted extraction left
    try:
        with zipfile.ZipFile(zip_path) as z:
            z.extractall(tmp)
        os.replace(find_landcover_root(tmp), target)
    except BaseException:  # interrupted, disk full, ...: no half-extracted folder may look complete
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    return target


def _fetch(url: str, part: Path) -> None:
    """Download ``url`` into ``part``, continuing a partial file with an HTTP Range request (a server that ignores
    the range sends the whole file, which then replaces the partial one)."""
    done = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and done:  # nothing left to fetch: the partial file is whole (the md5 check decides)
            return
        raise DownloadError(f"downloading {url} failed (HTTP {e.code} {e.reason}); run the command again to "
                            "retry") from e
    except (urllib.error.URLError, TimeoutError) as e:
        raise DownloadError(f"downloading {url} failed ({getattr(e, 'reason', e)}); check the connection and run "
                            f"the command again: it continues from the {done / 2**20:.0f} MiB already fetched") from e
    with response:
        resumed = done and getattr(response, "status", 200) == 206
        start = done if resumed else 0
        expected = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        broke = None
        try:
            with open(part, "ab" if resumed else "wb") as f:
                shutil.copyfileobj(response, f, 1 << 20)
        except (ConnectionError, TimeoutError, http.client.HTTPException) as e:  # the partial file is kept
            broke = type(e).__name__
        # http.client returns a short body without complaint when the connection closes early: count the bytes.
        got = part.stat().st_size - start
        if broke is None and expected is not None and got < int(expected):
            broke = f"{got} of {int(expected)} bytes"
        if broke is not None:
            raise DownloadError(f"the download of {url} broke off after {part.stat().st_size / 2**20:.1f} MiB "
                                f"({broke}); run the command again to continue it")


def _write(path: Path, array: np.ndarray) -> None:
    """cv2.imwrite to a temporary name, then rename: a tile on disk is always complete (re-runs skip it)."""
    import cv2

    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    if not cv2.imwrite(str(tmp), array):
        raise OSError(f"could not write {tmp}")
    os.replace(tmp, path)


def _tiles_present(image: Path, out_dir: Path, size: int) -> int:
    """The number of full tiles of ``image`` when all of them are already in ``out_dir``, else 0 (size read from
    the header only)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings(), Image.open(image) as im:  # OpenCV's tifs make PIL warn about EXIF
            warnings.simplefilter("ignore")
            width, height = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 0
    cols = -(-width // size)
    names = [f"{image.stem}_{r * cols + c}" for r in range(height // size) for c in range(width // size)]
    ok = names and all((out_dir / f"{n}.jpg").is_file() and (out_dir / f"{n}_m.png").is_file() for n in names)
    return len(names) if ok else 0


def tile_orthophoto(image: Path, mask: Path, out_dir: Path, size: int = TILE) -> tuple[int, int]:
    """Cut one orthophoto and its mask into ``size`` tiles (the official procedure); returns (written, skipped
    because already there). Raises ``ValueError`` naming the file for an unreadable tif or mismatched sizes."""
    import cv2

    done = _tiles_present(image, out_dir, size)
    if done:  # a re-run: every tile is there, so the ~250 MB orthophoto is not decoded again
        return 0, done
    img, msk = cv2.imread(str(image)), cv2.imread(str(mask))
    for path, arr in ((image, img), (mask, msk)):
        if arr is None:
            raise ValueError(f"{path}: unreadable (corrupt or truncated tif)")
    if img.shape[:2] != msk.shape[:2]:
        raise ValueError(f"{mask}: mask is {msk.shape[1]}x{msk.shape[0]}, image is {img.shape[1]}x{img.shape[0]}")
    written = skipped = 0
    k = 0
    for y in range(0, img.shape[0], size):
        for x in range(0, img.shape[1], size):
            tile = img[y:y + size, x:x + size]
            if tile.shape[:2] == (size, size):
                jpg, png = out_dir / f"{image.stem}_{k}.jpg", out_dir / f"{image.stem}_{k}_m.png"
                if jpg.is_file() and png.is_file():
                    skipped += 1
                else:
                    _write(jpg, tile)
                    _write(png, msk[y:y + size, x:x + size])
                    written += 1
            k += 1
    return written, skipped


def prepare_landcover(root: str | Path, progress: bool = True) -> dict:
    """Tile every orthophoto of a Landcover.ai folder into ``root/output`` (one image in memory at a time) and
    count the tiles of each list. Unreadable orthophotos are skipped and reported, never half-tiled."""
    from tqdm.auto import tqdm

    root = find_landcover_root(root)
    missing = [f"{n}.txt" for n in LISTS if not (root / f"{n}.txt").is_file()]
    if missing:
        raise DatasetNotFoundError(f"{root} lacks {', '.join(missing)}: the split lists decide train/val/test")
    images = sorted((root / "images").glob("*.tif"))
    if not images:
        raise DatasetNotFoundError(f"no .tif orthophotos in {root / 'images'}")
    out = root / "output"
    out.mkdir(exist_ok=True)
    report: dict = {"root": str(root), "written": 0, "skipped_existing": 0, "unreadable": []}
    for image in tqdm(images, desc="tiling orthophotos", disable=not progress):
        mask = root / "masks" / image.name
        try:
            if not mask.is_file():
                raise ValueError(f"{image}: no mask {mask}")
            w, s = tile_orthophoto(image, mask, out)
        except ValueError as e:
            report["unreadable"].append(str(e))
            continue
        report["written"] += w
        report["skipped_existing"] += s
    if report["unreadable"] and not report["written"] and not report["skipped_existing"]:
        raise ValueError(f"no orthophoto of {root / 'images'} could be tiled: {report['unreadable'][0]}"
                         + (f" (and {len(report['unreadable']) - 1} more)" if len(report["unreadable"]) > 1 else ""))
    tiles = {p.stem for p in out.glob("*.jpg")}
    report["splits"] = {}
    for name in LISTS:
        listed = [line.strip() for line in (root / f"{name}.txt").read_text().splitlines() if line.strip()]
        report["splits"][name] = {"listed": len(listed), "tiles": sum(t in tiles for t in listed)}
    return report
