"""Where the tests find the shared conformance vectors."""

import os
from pathlib import Path

#: ``../shared/vectors`` next to the checkout, or ``$LETHEAN_VECTORS``.
VECTORS = Path(os.environ.get(
    "LETHEAN_VECTORS",
    Path(__file__).resolve().parent.parent.parent / "shared" / "vectors",
))
