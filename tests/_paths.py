"""Where the tests find the conformance vectors."""

import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent

#: The suite's own copy of the public vectors (``tests/vectors``), or
#: ``$LETHEAN_VECTORS``; ``python tests/refresh_vectors.py`` refreshes it.
VECTORS = Path(os.environ.get("LETHEAN_VECTORS", _HERE / "vectors"))

#: The vectors published beside the checkout, if any (``../shared/vectors``).
SHARED_VECTORS = _HERE.parent.parent / "shared" / "vectors"

#: Every vector file the suite relies on: a missing one is a failure.
VECTOR_FILES = (
    "bundles.json",
    "identity.json",
    "levin_header.json",
    "levin_storage.json",
    "levin_varint.json",
    "smsg.json",
    "ueps.json",
)

#: Cases of our own in the vectors' format, made with the Go reference
#: (``tests/extra_vectors/generate.py``).
EXTRA_VECTORS = _HERE / "extra_vectors"

#: The Go reference node, built (``../shared/gonode/bin/gonode``), if present.
GONODE = Path(os.environ.get("LETHEAN_GONODE",
                             _HERE.parent.parent / "shared" / "gonode" / "bin" / "gonode"))
