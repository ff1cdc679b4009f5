"""Canonical landscape classes and how each source dataset's folder names map onto them."""

from __future__ import annotations

from collections.abc import Iterable

#: The seven classes of the merged dataset, in canonical order (label index = position).
CANONICAL_CLASSES: tuple[str, ...] = ("buildings", "desert", "forest", "glacier", "mountain", "sea", "street")

#: Intel Image Classification folder name -> canonical class.
INTEL_CLASSES: dict[str, str] = {c: c for c in ("buildings", "forest", "glacier", "mountain", "sea", "street")}

#: Landscape Recognition folder name -> canonical class (Coast joins sea).
LANDSCAPE_CLASSES: dict[str, str] = {
    "Coast": "sea",
    "Desert": "desert",
    "Forest": "forest",
    "Glacier": "glacier",
    "Mountain": "mountain",
}


def classes_present(labels: Iterable[str]) -> list[str]:
    """The canonical classes that occur in ``labels``, in canonical order."""
    seen = set(labels)
    unknown = seen - set(CANONICAL_CLASSES)
    if unknown:
        raise ValueError(f"unknown class names {sorted(unknown)}; valid: {list(CANONICAL_CLASSES)}")
    return [c for c in CANONICAL_CLASSES if c in seen]
