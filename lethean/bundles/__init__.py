"""
Deployment bundles (TIM/STIM): profiles and miners sent to workers.

A :class:`Bundle` is ``{type, name, data, checksum}``; ``data`` is a STIM
container (config + rootfs tar, each sealed with the SMSG sigil under
SHA-256(password)) or, for an unencrypted profile, the profile JSON.
Creation matches the Go reference byte for byte; extraction verifies the
checksum, decrypts, vets the rootfs and writes it atomically with the
defences the reference lacks (see ``docs/bundles.md``).

Every function whose work grows with a bundle's size has two forms: the
synchronous one (scripts, code already in a thread) and its
``NAME_in_thread(reactor, ...)`` twin, which runs it in the reactor's
thread pool and returns a Deferred (reactor code).  Large bundles are
streamed: read, sealed, opened and extracted a piece at a time, so memory
holds the bundle's data and not several copies of it.
"""

from lethean.bundles._bundle import (
    BUNDLE_FULL,
    BUNDLE_MINER,
    BUNDLE_PROFILE,
    MAX_BUNDLE_DATA_BYTES,
    Bundle,
    write_bundle,
)
from lethean.bundles._create import (
    create_miner_bundle,
    create_miner_bundle_from_file,
    create_plain_profile_bundle,
    create_profile_bundle,
)
from lethean.bundles._errors import (
    AbsolutePathError,
    ArchiveLimitError,
    ArchiveTooLargeError,
    BundleError,
    BundleFileError,
    BundleTooLargeError,
    ChecksumMismatchError,
    CorruptArchiveError,
    DeviceMemberError,
    DuplicateMemberError,
    ExtractionError,
    FifoMemberError,
    HardlinkMemberError,
    InvalidBundleError,
    InvalidBundleNameError,
    InvalidStimHeaderError,
    InvalidStimPayloadError,
    LinkMemberError,
    MemberTooLargeError,
    PasswordRequiredError,
    PathEscapeError,
    PathTraversalError,
    PlaintextRefusedError,
    SpecialMemberError,
    SymlinkMemberError,
    TooManyMembersError,
    UnknownBundleTypeError,
    UnsafeArchiveError,
    UnsafeDestinationError,
)
from lethean.bundles._names import validate_bundle_name
from lethean.bundles._reader import read_bundle
from lethean.bundles._open import (
    BundleInfo,
    extract_miner_bundle,
    extract_profile_bundle,
    inspect_bundle,
    install_miner_bundle,
)
from lethean.bundles._tar import ExtractLimits
from lethean.bundles._threads import (
    create_miner_bundle_from_file_in_thread,
    create_miner_bundle_in_thread,
    create_profile_bundle_in_thread,
    extract_miner_bundle_in_thread,
    extract_profile_bundle_in_thread,
    inspect_bundle_in_thread,
    install_miner_bundle_in_thread,
    read_bundle_in_thread,
    write_bundle_in_thread,
)

__all__ = [
    "AbsolutePathError",
    "ArchiveLimitError",
    "ArchiveTooLargeError",
    "BUNDLE_FULL",
    "BUNDLE_MINER",
    "BUNDLE_PROFILE",
    "Bundle",
    "BundleError",
    "BundleFileError",
    "BundleInfo",
    "BundleTooLargeError",
    "ChecksumMismatchError",
    "CorruptArchiveError",
    "DeviceMemberError",
    "DuplicateMemberError",
    "ExtractLimits",
    "ExtractionError",
    "FifoMemberError",
    "HardlinkMemberError",
    "InvalidBundleError",
    "InvalidBundleNameError",
    "InvalidStimHeaderError",
    "InvalidStimPayloadError",
    "LinkMemberError",
    "MAX_BUNDLE_DATA_BYTES",
    "MemberTooLargeError",
    "PasswordRequiredError",
    "PathEscapeError",
    "PathTraversalError",
    "PlaintextRefusedError",
    "SpecialMemberError",
    "SymlinkMemberError",
    "TooManyMembersError",
    "UnknownBundleTypeError",
    "UnsafeArchiveError",
    "UnsafeDestinationError",
    "create_miner_bundle",
    "create_miner_bundle_from_file",
    "create_miner_bundle_from_file_in_thread",
    "create_miner_bundle_in_thread",
    "create_plain_profile_bundle",
    "create_profile_bundle",
    "create_profile_bundle_in_thread",
    "extract_miner_bundle",
    "extract_miner_bundle_in_thread",
    "extract_profile_bundle",
    "extract_profile_bundle_in_thread",
    "inspect_bundle",
    "inspect_bundle_in_thread",
    "install_miner_bundle",
    "install_miner_bundle_in_thread",
    "read_bundle",
    "read_bundle_in_thread",
    "validate_bundle_name",
    "write_bundle",
    "write_bundle_in_thread",
]
