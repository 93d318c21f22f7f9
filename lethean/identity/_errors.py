"""Errors of the identity layer; ``kind`` is the vectors' ``error_kind``."""

from lethean.errors import IntegrityError, LetheanError, MalformedError

__all__ = [
    "IdentityError",
    "InvalidPublicKeyError",
    "LowOrderPointError",
    "InvalidIdentityError",
    "InvalidNodeNameError",
    "NoIdentityError",
    "IdentityExistsError",
    "IdentityFileError",
    "IdentityWriteError",
    "InsecureKeyFileError",
    "IdentityMismatchError",
]


class IdentityError(LetheanError):
    """The node identity could not be used."""

    kind = "identity_error"


class InvalidPublicKeyError(MalformedError):
    """The public key is not 32 bytes of padded standard base64."""

    kind = "invalid_public_key"


class LowOrderPointError(IntegrityError):
    """The peer's public key is a low-order point (the shared secret would be zero)."""

    kind = "low_order_point"


class InvalidIdentityError(MalformedError):
    """The node identity JSON is not valid."""

    kind = "invalid_identity"


class InvalidNodeNameError(IdentityError):
    """The node name is not a valid peer name (1-64 letters, digits, '-', '_' or spaces)."""

    kind = "invalid_node_name"


class NoIdentityError(IdentityError):
    """This node has no identity yet (run 'lethean identity new')."""

    kind = "no_identity"


class IdentityExistsError(IdentityError):
    """An identity already exists here (use --force to replace it)."""

    kind = "identity_exists"


class IdentityFileError(IdentityError):
    """An identity file is damaged or unreadable."""

    kind = "identity_file"


class IdentityWriteError(IdentityFileError):
    """The identity cannot be written in this folder."""

    kind = "identity_write"


class InsecureKeyFileError(IdentityFileError):
    """The private key file is readable by other users."""

    kind = "insecure_key_file"


class IdentityMismatchError(IdentityError):
    """node.json does not belong to the private key (refusing to start)."""

    kind = "identity_mismatch"
