"""
Check lethean against the reference's conformance vectors.

``python -m lethean.conformance DIR`` loads every ``*.json`` vectors file in
DIR, runs each case through the implementation and prints one line per failed
case, then ``N passed, M failed`` (plus the skipped files).  A file whose
layer has no checker yet is reported as skipped, never as passed.

Each vectors file is checked by a private module named after it
(``ueps.json`` -> :mod:`lethean.conformance._ueps`).  Such a module exposes
``cases(document)``, which yields ``(case_name, check)`` pairs; ``check()``
returns on success and raises on a mismatch (any exception is a failure).
"""

import importlib
import json
from pathlib import Path
from types import ModuleType

import attrs

__all__ = ["Report", "check_file", "check_directory", "main"]


@attrs.define
class Report:
    """Outcome of a conformance run."""

    passed: int = 0
    failed: int = 0
    skipped: list[str] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)


def _checker_for(path: Path) -> ModuleType | None:
    """The checker module for a vectors file, or ``None`` if there is none."""
    name = "lethean.conformance._" + path.stem
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        # Only a missing checker (or a layer it imports that is not built
        # yet) means "skip"; any other import error is a bug to surface.
        if e.name is not None and e.name.startswith("lethean"):
            return None
        raise


def check_file(path: Path, report: Report) -> None:
    """Run every case of one vectors file, adding the outcome to ``report``."""
    checker = _checker_for(path)
    if checker is None:
        report.skipped.append(path.name)
        return
    with path.open("rb") as f:
        document = json.load(f)
    for case_name, check in checker.cases(document):
        try:
            check()
        except Exception as e:
            report.failed += 1
            report.failures.append(
                "{}: {}: {}: {}".format(path.name, case_name, type(e).__name__, e)
            )
        else:
            report.passed += 1


def check_directory(directory: str | Path) -> Report:
    """Check every vectors file in ``directory``; returns a :class:`Report`."""
    report = Report()
    for path in sorted(Path(directory).glob("*.json")):
        check_file(path, report)
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m lethean.conformance``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m lethean.conformance",
        description="Check lethean against a folder of conformance vectors "
        "(JSON files as described in the vectors README).",
    )
    parser.add_argument("directory", help="folder holding the *.json vectors files")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    if not directory.is_dir():
        print("lethean.conformance: no such folder: {}".format(directory), file=sys.stderr)
        return 2
    report = check_directory(directory)
    for line in report.failures:
        print(line)
    for name in report.skipped:
        print("skipped: {} (no checker for this layer yet)".format(name))
    print("{} passed, {} failed".format(report.passed, report.failed))
    if report.failed or report.passed == 0:
        return 1
    return 0
