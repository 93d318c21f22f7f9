"""What a conformance check raises when lethean disagrees with a vector."""

__all__ = ["VectorMismatch"]


class VectorMismatch(AssertionError):
    """A case produced something other than the vector says."""
