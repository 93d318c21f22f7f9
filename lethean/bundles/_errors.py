"""
Errors of the bundle layer.

``kind`` matches the ``error_kind`` strings of the shared bundle vectors
(``checksum_mismatch``, ``password_required``, ``invalid_stim_payload``);
``invalid_container`` and ``decryption_failed`` come from :mod:`lethean.smsg`,
whose container and cipher bundles share.  Archive rejections are all
:class:`UnsafeArchiveError` (kind ``unsafe_archive``) with one subclass per
reason, so callers can catch the family or a single case.
"""

from lethean.errors import (
    IntegrityError,
    LetheanError,
    LimitExceededError,
    MalformedError,
)

__all__ = [
    "BundleError",
    "InvalidBundleError",
    "UnknownBundleTypeError",
    "InvalidBundleNameError",
    "BundleTooLargeError",
    "ChecksumMismatchError",
    "PasswordRequiredError",
    "PlaintextRefusedError",
    "InvalidStimPayloadError",
    "InvalidStimHeaderError",
    "UnsafeArchiveError",
    "CorruptArchiveError",
    "AbsolutePathError",
    "PathTraversalError",
    "PathEscapeError",
    "LinkMemberError",
    "SymlinkMemberError",
    "HardlinkMemberError",
    "SpecialMemberError",
    "DeviceMemberError",
    "FifoMemberError",
    "DuplicateMemberError",
    "ArchiveLimitError",
    "MemberTooLargeError",
    "ArchiveTooLargeError",
    "TooManyMembersError",
    "UnsafeDestinationError",
    "ExtractionError",
    "BundleFileError",
]


class BundleError(LetheanError):
    """The deployment bundle was refused."""

    kind = "bundle"


class InvalidBundleError(BundleError, MalformedError):
    """The bundle is not a valid bundle object."""

    kind = "invalid_bundle"


class UnknownBundleTypeError(InvalidBundleError):
    """The bundle type is not profile, miner or full."""

    kind = "unknown_bundle_type"


class InvalidBundleNameError(InvalidBundleError):
    """The bundle name is not a safe directory name."""

    kind = "invalid_bundle_name"


class BundleTooLargeError(BundleError, LimitExceededError):
    """The bundle is larger than the configured limit."""

    kind = "bundle_too_large"


class ChecksumMismatchError(BundleError, IntegrityError):
    """Checksum mismatch: the bundle may be corrupted."""

    kind = "checksum_mismatch"


class PasswordRequiredError(BundleError):
    """The bundle is encrypted and needs a non-empty password."""

    kind = "password_required"


class PlaintextRefusedError(BundleError):
    """The bundle is unencrypted and plaintext bundles are not enabled."""

    kind = "plaintext_refused"


class InvalidStimPayloadError(BundleError, MalformedError):
    """The STIM payload is too short for the parts it declares."""

    kind = "invalid_stim_payload"


class InvalidStimHeaderError(InvalidStimPayloadError):
    """The STIM header does not describe its payload."""

    kind = "invalid_stim_header"


class UnsafeArchiveError(BundleError, MalformedError):
    """The bundle's file archive is unsafe to extract."""

    kind = "unsafe_archive"


class CorruptArchiveError(UnsafeArchiveError):
    """The bundle's file archive is not a readable tar archive."""

    kind = "corrupt_archive"


class AbsolutePathError(UnsafeArchiveError):
    """An archive member has an absolute path."""

    kind = "absolute_path"


class PathTraversalError(UnsafeArchiveError):
    """An archive member's path climbs out with "..", or is not a plain path."""

    kind = "path_traversal"


class PathEscapeError(UnsafeArchiveError):
    """An archive member would be written outside the destination."""

    kind = "path_escape"


class LinkMemberError(UnsafeArchiveError):
    """An archive member is a symbolic or hard link."""

    kind = "link_member"


class SymlinkMemberError(LinkMemberError):
    """An archive member is a symbolic link."""

    kind = "symlink_member"


class HardlinkMemberError(LinkMemberError):
    """An archive member is a hard link."""

    kind = "hardlink_member"


class SpecialMemberError(UnsafeArchiveError):
    """An archive member is a device, FIFO or other special file."""

    kind = "special_member"


class DeviceMemberError(SpecialMemberError):
    """An archive member is a character or block device."""

    kind = "device_member"


class FifoMemberError(SpecialMemberError):
    """An archive member is a FIFO (named pipe)."""

    kind = "fifo_member"


class DuplicateMemberError(UnsafeArchiveError):
    """Two archive members claim the same path."""

    kind = "duplicate_member"


class ArchiveLimitError(UnsafeArchiveError, LimitExceededError):
    """The archive exceeds an extraction limit."""

    kind = "archive_limit"


class MemberTooLargeError(ArchiveLimitError):
    """An archive member is larger than the per-file limit."""

    kind = "member_too_large"


class ArchiveTooLargeError(ArchiveLimitError):
    """The archive's files add up to more than the total-size limit."""

    kind = "archive_too_large"


class TooManyMembersError(ArchiveLimitError):
    """The archive has more members than the limit."""

    kind = "too_many_members"


class UnsafeDestinationError(BundleError):
    """The extraction destination is a link, a file or a non-empty folder."""

    kind = "unsafe_destination"



class ExtractionError(BundleError):
    """The bundle's files could not be written."""

    kind = "extraction_failed"


class BundleFileError(BundleError):
    """A bundle, profile or miner file could not be read or written."""

    kind = "file_error"
