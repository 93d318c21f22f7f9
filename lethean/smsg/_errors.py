"""
Errors of the SMSG layer (Trix container, sigil cipher, SMSG body).

``kind`` is the stable name the conformance vectors use; a container error
also says which rule failed in ``container_error``.
"""

from lethean.errors import LetheanError, LimitExceededError, MalformedError

__all__ = [
    "ContainerError",
    "BadMagicError",
    "ContainerVersionError",
    "TruncatedContainerError",
    "HeaderTooLargeError",
    "BadHeaderJSONError",
    "ContainerChecksumError",
    "PayloadTooLargeError",
    "DecryptionError",
    "InvalidSMSGPayloadError",
    "UnsupportedFormatError",
    "PlaintextTooLargeError",
    "FrameTooLargeError",
]


class ContainerError(MalformedError):
    """The data is not a valid Trix container."""

    kind = "invalid_container"
    #: Which container rule failed (one of the vectors' ``container_error``).
    container_error = "invalid_container"


class BadMagicError(ContainerError):
    """The container does not start with the expected magic bytes."""

    container_error = "bad_magic"


class ContainerVersionError(ContainerError):
    """The container version is not 2."""

    container_error = "bad_version"


class TruncatedContainerError(ContainerError):
    """The container ends before the header it declares."""

    container_error = "truncated"


class HeaderTooLargeError(ContainerError):
    """The container declares a header larger than the limit."""

    container_error = "header_too_large"


class BadHeaderJSONError(ContainerError):
    """The container header is not a JSON object."""

    container_error = "bad_header_json"


class ContainerChecksumError(ContainerError):
    """The container payload does not match the checksum in its header."""

    container_error = "checksum_mismatch"


class PayloadTooLargeError(ContainerError):
    """The container payload is larger than the limit."""

    container_error = "payload_too_large"


class DecryptionError(LetheanError):
    """The encrypted payload could not be decrypted (wrong key or tampered)."""

    kind = "decryption_failed"


class InvalidSMSGPayloadError(MalformedError):
    """The decrypted payload is not an SMSG message object."""

    kind = "invalid_payload"


class UnsupportedFormatError(InvalidSMSGPayloadError):
    """The frame uses an SMSG compression or format lethean does not accept."""


class PlaintextTooLargeError(InvalidSMSGPayloadError):
    """The frame's plaintext expands beyond the size limit."""


class FrameTooLargeError(LimitExceededError):
    """The SMSG frame is larger than the size limit."""

    kind = "frame_too_large"
