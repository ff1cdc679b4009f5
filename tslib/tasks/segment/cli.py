"""What the command line shows of segmentation: mIoU first on each line, the test mIoU last; the ``segment`` verb
(whole images of any size through a trained run)."""

from __future__ import annotations

import argparse
from pathlib import Path


def format_metrics(metrics: dict) -> list[str]:
    lines, last = [], None
    for split in ("val", "val_tta", "test", "test_tta"):
        m = metrics.get(split)
        if not m:
            continue
        per = "  ".join(f"{c} {v:.3f}" for c, v in m["per_class_iou"].items() if v is not None)
        lines.append(f"{split}: mIoU {m['miou']:.4f}  pixel accuracy {m['pixel_accuracy']:.4f}  IoU: {per}")
        last = f"{split} mIoU: {m['miou']:.4f}"
    return lines + ([last] if last else [])


def _cmd_segment(args: argparse.Namespace) -> int:
    from ...data.georaster import parse_bands, raster_georef
    from ...data.imageio import ImageReadError
    from ...errors import check_out_dir
    from ...utils import resolve_device
    from .evaluate import load_segmenter
    from .maps import format_areas, segment_file, write_summary
    from .vector import check_vector_path, polygons, read_class_map, write_polygons

    missing = [str(p) for p in args.images if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such image: {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
    out = check_out_dir(args.out)
    bands = parse_bands(args.bands) if args.bands else None
    vector = check_vector_path(args.vector) if args.vector else None
    if vector is not None:  # one file, one CRS: found out before anything is segmented
        crss = {str(ref.crs) if ref.georeferenced else None for ref in map(raster_georef, args.images)}
        if len(crss) > 1:
            raise ValueError(f"--vector: the images lie in different CRSs ({', '.join(map(str, crss))}); write one "
                             "vector file per CRS")
    device = resolve_device(args.device)
    model, info = load_segmenter(args.run, str(device))
    out.mkdir(parents=True, exist_ok=True)
    results, unreadable, feats, crs = [], [], [], None
    for path in args.images:
        try:
            r = segment_file(model, path, out, info["classes"], info["colours"], alpha=args.alpha, fmt=args.format,
                             bands=bands, window=args.window, overlap=args.overlap, batch_size=args.batch_size,
                             tta=args.tta, device=device)
        except ImageReadError as e:  # one bad file of many: the others are still segmented (nothing half-written)
            print(f"skipped: {e}")
            unreadable.append(str(e))
            continue
        print(f"{path}: {r['width']}x{r['height']} -> {r['files']['classes']}  ({format_areas(r)})")
        if r["area_note"]:
            print(f"  note: {r['area_note']}")
        results.append(r)
        if vector is not None:
            classes_map, ref = read_class_map(r["files"]["classes"])
            crs = ref.crs
            feats += [{**f, "image": str(path)} for f in polygons(classes_map, ref, info["classes"], args.min_area,
                                                                  args.simplify)]
    if results:
        print(f"summary written to {write_summary(results, out)}")
    if vector is not None and results:
        where = "in pixel coordinates (no CRS)" if crs is None else f"in {results[0]['georef']['crs']}"
        print(f"{len(feats)} polygons {where} written to {write_polygons(vector, feats, crs)}")
    if unreadable:
        raise ImageReadError(f"{len(unreadable)} of {len(args.images)} images could not be read: "
                             + "; ".join(unreadable[:2]) + (" ..." if len(unreadable) > 2 else "")
                             + ("; the others were segmented" if results else ""))
    return 0


def _number(cast, low: float, high: float | None = None, closed_high: bool = False):
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value >= low or (high is not None and not (value <= high if closed_high else value < high)):
            bound = f"in [{low}, {high}{']' if closed_high else ')'}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


def add_commands(sub) -> None:
    p = sub.add_parser("segment", help="segment whole images of any size with a segmentation run (a GeoTIFF class "
                                       "map for georeferenced inputs, else PNGs; overlay; areas; polygons)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="image files (any size)")
    p.add_argument("--run", required=True, type=Path, help="a finished segmentation run folder")
    p.add_argument("--out", required=True, type=Path, help="folder for <name>_classes.tif|png, _colour.png, "
                                                            "_overlay.png and segment.json")
    p.add_argument("--format", choices=("tif", "png"), default=None,
                   help="class map format (default: tif, georeferenced, for inputs with a CRS; png otherwise)")
    p.add_argument("--bands", default=None, metavar="R,G,B",
                   help="1-based bands of a multi-band raster to read as red, green, blue (e.g. 1,2,3)")
    p.add_argument("--vector", type=Path, default=None, metavar="FILE",
                   help="also write class polygons to FILE (.geojson or .gpkg) in the input's CRS")
    p.add_argument("--min-area", type=_number(float, 0), default=0.0,
                   help="--vector: merge regions smaller than this into their neighbours first (m² with a "
                        "projected CRS, else pixels; default 0)")
    p.add_argument("--simplify", type=_number(float, 0), default=0.0,
                   help="--vector: simplify polygons with this tolerance in CRS units (default 0: exact pixel edges)")
    p.add_argument("--window", type=_number(int, 16), default=512, help="window side in pixels (default 512)")
    p.add_argument("--overlap", type=_number(float, 0, 1), default=0.25,
                   help="overlap between windows, fraction of the window (default 0.25)")
    p.add_argument("--batch-size", type=_number(int, 1), default=4, help="windows per forward pass (default 4)")
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped image")
    p.add_argument("--alpha", type=_number(float, 0, 1, closed_high=True), default=0.45,
                   help="opacity of the colours in the overlay (default 0.45)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_segment)
