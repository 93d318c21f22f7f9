"""What the epee storage tests share: storage bytes written out by hand."""

from lethean.levin._storage import STORAGE_HEADER


def storage(body_hex):
    """Storage bytes: the 9-byte header then ``body_hex``."""
    return STORAGE_HEADER + bytes.fromhex(body_hex)
