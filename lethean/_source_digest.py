"""
The digest of the accelerator's C sources: ``setup.py`` builds it into
``_lethean_speedups`` and :mod:`lethean._accel` compares it with the
checkout's, so a build of other sources is not used.  Standard library
only: ``setup.py`` loads this file on its own, without lethean.
"""

import hashlib
from pathlib import Path


def source_digest(folder: Path) -> str:
    """SHA-256 over the name, length and bytes of each C file and header in ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.[ch]")):
        data = path.read_bytes()
        digest.update(b"%s\0%d\0" % (path.name.encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()
