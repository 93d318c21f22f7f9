"""
Copy the public conformance vectors into ``tests/vectors``.

The suite runs on its own copy, so a clone without ``../shared`` still runs
every vector test.  Run this after the published vectors change::

    python tests/refresh_vectors.py [SOURCE]

SOURCE defaults to ``../shared/vectors`` beside the checkout.
"""

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "vectors"
DEFAULT_SOURCE = HERE.parent.parent / "shared" / "vectors"


def refresh(source, target=TARGET):
    """Copy every ``*.json`` and the README of ``source`` to ``target``; returns the names."""
    source = Path(source)
    if not source.is_dir():
        raise SystemExit("refresh_vectors: no such folder: {}".format(source))
    target.mkdir(exist_ok=True)
    names = sorted(p.name for p in source.iterdir() if p.suffix == ".json" or p.name == "README.md")
    for name in names:
        shutil.copyfile(source / name, target / name)
    return names


if __name__ == "__main__":
    copied = refresh(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SOURCE)
    print("copied {} files to {}".format(len(copied), TARGET))
