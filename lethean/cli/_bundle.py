"""
``lethean bundle``: create, inspect and extract deployment bundles.

Operator commands working on local files, so they run synchronously (no
reactor).  Passwords come from ``--password-file``, ``--password-env`` or
the ``LETHEAN_BUNDLE_PASSWORD`` variable, so they need not appear on the
command line (``--password`` exists but is visible to other local users).
``create --for TARGET`` needs no password: the bundle is encrypted for the
link to that peer, as ``lethean deploy`` does.  Every command prints a
summary, as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from lethean.cli._output import emit

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import IO, Any

    from twisted.internet.interfaces import IReactorTime

    from lethean.bundles import Bundle
    from lethean.cli._main import Subparsers
    from lethean.node import NodeOperations

__all__ = ["register", "PASSWORD_ENV"]

#: Environment variable read when no password option is given.
PASSWORD_ENV = "LETHEAN_BUNDLE_PASSWORD"
_MAX_PASSWORD_FILE_BYTES = 64 * 1024
#: Limits of lethean.bundles, repeated so --help need not import the
#: bundles (a test checks they agree).
MAX_BUNDLE_DATA_BYTES = 128 * 1024 * 1024
MAX_MEMBER_BYTES = 100 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 1024
BUNDLE_MINER, BUNDLE_FULL, BUNDLE_PROFILE = "miner", "full", "profile"


def register(subparsers: Subparsers) -> None:
    """Add ``lethean bundle ...`` to the ``lethean`` parser."""
    bundle = subparsers.add_parser(
        "bundle",
        help="create, inspect and extract deployment bundles (TIM/STIM)",
        description="Deployment bundles carry a mining profile or a miner binary to a worker, "
        "encrypted (STIM) with a password. Each command prints JSON.",
    )
    commands = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    _register_create(commands)
    _register_inspect(commands)
    _register_extract(commands)


def _add_password_options(parser: argparse.ArgumentParser, required_for: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--password-file", metavar="FILE",
        help="read the password from the first line of FILE (trailing newline removed)")
    group.add_argument(
        "--password-env", metavar="VAR",
        help="read the password from environment variable VAR (default: {} if set)".format(
            PASSWORD_ENV))
    group.add_argument(
        "--password", metavar="PASSWORD",
        help="the password itself (visible in the process list; prefer the two options "
        "above). " + required_for)


def _add_data_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-bundle-bytes", type=_positive_int, default=MAX_BUNDLE_DATA_BYTES, metavar="N",
        help="refuse bundles whose data is larger than N bytes (default %(default)s)")


def _register_create(commands: Subparsers) -> None:
    create = commands.add_parser(
        "create", help="create a profile or miner bundle",
        description="Create a bundle; writes the bundle JSON to --output (default stdout).")
    kinds = create.add_subparsers(dest="bundle_kind", metavar="KIND", required=True)

    profile = kinds.add_parser(
        "profile", help="bundle a mining profile (JSON file)",
        description="Bundle a mining profile, encrypted unless --plain.")
    profile.add_argument("profile", metavar="PROFILE_JSON", help="file holding the profile JSON")
    profile.add_argument("--name", required=True, help="bundle name shown to the worker")
    profile.add_argument(
        "--plain", action="store_true",
        help="do not encrypt (workers refuse plain bundles unless they allow them)")
    _add_password_options(profile, "Required unless --plain or --for.")
    _add_for(profile)
    _add_output(profile)
    profile.set_defaults(func=_create_profile)

    miner = kinds.add_parser(
        "miner", help="bundle a miner binary and an optional profile",
        description="Bundle a miner binary (stored under its file name) and optionally a "
        "profile; always encrypted.")
    miner.add_argument("miner", metavar="MINER_BINARY", help="the miner executable")
    miner.add_argument(
        "--name", required=True,
        help="bundle name; the worker installs into miners/NAME (letters, digits, '.', '_', "
        "'-'; at most 64)")
    miner.add_argument("--profile", metavar="PROFILE_JSON",
                       help="file holding a profile JSON to ship with the miner")
    miner.add_argument("--type", choices=(BUNDLE_MINER, BUNDLE_FULL), default=BUNDLE_MINER,
                       help="bundle type (default %(default)s; 'full' is handled like 'miner')")
    _add_password_options(miner, "A password is required, unless --for.")
    _add_for(miner)
    _add_output(miner)
    miner.set_defaults(func=_create_miner)


def _add_for(parser: argparse.ArgumentParser) -> None:
    from lethean.cli._node import TARGET_HELP, add_control_option
    from lethean.cli._peers import add_data_dir_option

    parser.add_argument(
        "--for", dest="for_target", metavar="TARGET", default=None,
        help="encrypt the bundle for the link to this peer ({}), as 'lethean deploy' does, "
        "so it can be deployed to it later; needs no password. The key is that of the node "
        "running for --data-dir, else the lethean command's own".format(TARGET_HELP))
    add_data_dir_option(parser)
    add_control_option(parser)


def _add_output(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "-o", "--output", default="-", metavar="FILE",
        help="where to write the bundle JSON ('-' = stdout, the default); with a FILE a "
        "JSON summary is printed instead")


def _register_inspect(commands: Subparsers) -> None:
    inspect = commands.add_parser(
        "inspect", help="describe a bundle without extracting it",
        description="Print a bundle's type, name, checksum status and sizes; with a password "
        "also its config and file list. Nothing is written.")
    inspect.add_argument("file", metavar="FILE", help="bundle file ('-' = stdin)")
    inspect.add_argument("--json", action="store_true", help="print the description as JSON")
    _add_password_options(inspect, "Optional: without one only the outer layer is shown.")
    _add_data_limit(inspect)
    inspect.set_defaults(func=_inspect)


def _register_extract(commands: Subparsers) -> None:
    extract = commands.add_parser(
        "extract", help="verify, decrypt and extract a bundle",
        description="Extract a bundle. A profile is written as JSON to the file DEST; a miner "
        "bundle's files go into the folder DEST, which must not exist or be empty (see "
        "--replace). Hostile archives are refused and nothing is left behind.")
    extract.add_argument("file", metavar="FILE", help="bundle file ('-' = stdin)")
    extract.add_argument("dest", metavar="DEST", help="profile: output file; miner: folder")
    extract.add_argument("--json", action="store_true", help="print the summary as JSON")
    extract.add_argument("--replace", action="store_true",
                         help="replace an existing DEST (its whole content, atomically)")
    extract.add_argument("--allow-plain", action="store_true",
                         help="accept an unencrypted profile bundle")
    extract.add_argument("--max-file-bytes", type=_positive_int,
                         default=MAX_MEMBER_BYTES, metavar="N",
                         help="refuse archives with a file over N bytes (default %(default)s)")
    extract.add_argument("--max-total-bytes", type=_positive_int,
                         default=MAX_TOTAL_BYTES, metavar="N",
                         help="refuse archives whose files add up to over N bytes "
                         "(default %(default)s)")
    extract.add_argument("--max-files", type=_positive_int,
                         default=MAX_MEMBERS, metavar="N",
                         help="refuse archives with more than N entries (default %(default)s)")
    _add_password_options(extract, "Required for encrypted bundles.")
    _add_data_limit(extract)
    extract.set_defaults(func=_extract)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number: {!r}".format(text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def password_from(args: argparse.Namespace,
                  environ: Mapping[str, str] | None = None) -> str | None:
    """The password the options select, or None when none was given."""
    from lethean.bundles import PasswordRequiredError

    environ = os.environ if environ is None else environ
    if getattr(args, "password", None) is not None:
        return args.password
    if getattr(args, "password_file", None):
        text = _read_file(args.password_file, _MAX_PASSWORD_FILE_BYTES).decode("utf-8", "replace")
        return text.splitlines()[0] if text else ""
    if getattr(args, "password_env", None):
        if args.password_env not in environ:
            raise PasswordRequiredError("environment variable {} is not set".format(
                args.password_env))
        return environ[args.password_env]
    return environ.get(PASSWORD_ENV)


def _read_file(path: str, limit: int = MAX_BUNDLE_DATA_BYTES) -> bytes:
    """The bytes of ``path`` ('-' = stdin), refusing more than ``limit``."""
    from lethean.bundles import BundleFileError, BundleTooLargeError

    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
    except OSError as e:
        raise BundleFileError("cannot read {}: {}".format(path, e.strerror)) from None
    if len(data) > limit:
        raise BundleTooLargeError("{} is over {} bytes".format(path, limit))
    return data


def _write_atomically(path: str, write: Callable[[IO[bytes]], object], replace: bool) -> str:
    """Write ``path`` with ``write(file)`` via a temporary file and a rename."""
    import tempfile

    from lethean.bundles import BundleFileError, UnsafeDestinationError

    path = os.path.abspath(path)
    if os.path.islink(path):
        raise UnsafeDestinationError("{} is a symbolic link".format(path))
    if os.path.lexists(path) and not replace:
        raise UnsafeDestinationError("{} exists (pass --replace)".format(path))
    folder = os.path.dirname(path)
    try:
        fd, staging = tempfile.mkstemp(prefix=".lethean-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(staging, 0o600)
            os.replace(staging, path)
        except BaseException:
            os.unlink(staging)
            raise
    except OSError as e:
        raise BundleFileError("cannot write {}: {}".format(path, e.strerror)) from None
    return path


def _facts(document: Mapping[str, Any]) -> str:
    """A flat JSON object as aligned ``label  value`` lines."""
    rows = []
    for key, value in document.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, (list, dict)):
            value = json.dumps(value)
        rows.append((key.replace("_", " "), str(value)))
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join("{}  {}".format(label.ljust(width), value) for label, value in rows)


def _emit(args: argparse.Namespace, document: Mapping[str, Any]) -> int:
    emit(args, document, lambda: _facts(document))
    return 0


def _finish_create(args: argparse.Namespace, bundle: Bundle,
                   extra: Mapping[str, Any] | None = None) -> int:
    from lethean.bundles import write_bundle

    if args.output == "-":
        write_bundle(bundle, sys.stdout.buffer)
        sys.stdout.flush()
        return 0
    path = _write_atomically(args.output, lambda f: write_bundle(bundle, f), replace=True)
    summary = {
        "type": bundle.type,
        "name": bundle.name,
        "checksum": bundle.checksum,
        "data_bytes": len(bundle.data),
        "encrypted": not bundle.is_plain,
        "output": path,
    }
    summary.update(extra or {})
    return _emit(args, summary)


def _require_password(args: argparse.Namespace) -> str:
    from lethean.bundles import PasswordRequiredError

    password = password_from(args)
    if not password:
        raise PasswordRequiredError(
            "give --password-file, --password-env or set {}, or encrypt the bundle for a "
            "peer with --for TARGET".format(PASSWORD_ENV))
    return password


def _create_for(args: argparse.Namespace, kind: str, source: str) -> int:
    """The bundle of ``source`` encrypted for the link to ``args.for_target``."""
    from lethean.cli._errors import CommandLineError
    from lethean.cli._main import run_in_reactor
    from lethean.cli._node import check_target

    check_target(args.for_target)
    if getattr(args, "plain", False):
        raise CommandLineError("--plain and --for do not go together: --for encrypts")
    if getattr(args, "profile", None) and kind == "miner":
        raise CommandLineError("--profile cannot go with --for: deploy the profile on its "
                               "own with 'lethean deploy TARGET PROFILE.json --kind profile'")
    if any(getattr(args, option, None) for option in ("password", "password_file",
                                                       "password_env")):
        raise CommandLineError("--for needs no password: the bundle is encrypted for the link")
    made: list[tuple[dict[str, str], Bundle]] = []

    async def command(reactor: IReactorTime, args: argparse.Namespace) -> int:
        from lethean.bundles import read_bundle_in_thread
        from lethean.cli._client import find_node
        from lethean.cli._node import own_session

        client = await find_node(reactor, args.data_dir, args.control)
        if client is not None:
            headers, body = await client.upload_for_file(
                "/api/bundle", {"target": args.for_target, "kind": kind, "name": args.name,
                                "minerFileName": os.path.basename(source)
                                if kind == "miner" else None}, source)
            import io

            peer_ids = headers.getRawHeaders(b"x-lethean-peer-id") or [b""]
            made.append(({"id": peer_ids[0].decode("ascii", "replace")},
                         await read_bundle_in_thread(reactor, io.BytesIO(body))))
            return 0

        # No node runs: the bundle is made with the command's own identity.
        async def work(operations: NodeOperations) -> int:
            made.append(await operations.bundle_for(
                args.for_target, source, kind, args.name,
                os.path.basename(source) if kind == "miner" else None))
            return 0
        return await own_session(reactor, args, work)

    status = run_in_reactor(command, args)
    if status or not made:
        return status
    peer, bundle = made[0]
    return _finish_create(args, bundle, {"for": peer.get("id")})


def _create_profile(args: argparse.Namespace) -> int:
    if args.for_target:
        return _create_for(args, "profile", args.profile)
    from lethean.bundles import create_plain_profile_bundle, create_profile_bundle

    profile = _read_file(args.profile)
    if args.plain:
        bundle = create_plain_profile_bundle(profile, args.name)
    else:
        bundle = create_profile_bundle(profile, args.name, _require_password(args))
    return _finish_create(args, bundle)


def _create_miner(args: argparse.Namespace) -> int:
    if args.for_target:
        return _create_for(args, "miner", args.miner)
    from lethean.bundles import create_miner_bundle_from_file

    password = _require_password(args)
    profile = None if args.profile is None else _read_file(args.profile)
    bundle = create_miner_bundle_from_file(
        args.miner, args.name, password, profile_json=profile, bundle_type=args.type)
    return _finish_create(args, bundle)


def _load(args: argparse.Namespace) -> Bundle:
    from lethean.bundles import BundleFileError, read_bundle

    try:
        if args.file == "-":
            return read_bundle(sys.stdin.buffer, max_data_bytes=args.max_bundle_bytes)
        with open(args.file, "rb") as f:
            return read_bundle(f, max_data_bytes=args.max_bundle_bytes)
    except OSError as e:
        raise BundleFileError("cannot read {}: {}".format(args.file, e.strerror)) from None


def _inspect(args: argparse.Namespace) -> int:
    from lethean.bundles import inspect_bundle

    bundle = _load(args)
    info = inspect_bundle(bundle, password_from(args), max_data_bytes=args.max_bundle_bytes)
    return _emit(args, info.to_dict())


def _extract(args: argparse.Namespace) -> int:
    from lethean.bundles import (
        ExtractLimits, extract_miner_bundle, extract_profile_bundle)

    bundle = _load(args)
    password = password_from(args) or ""
    limits = ExtractLimits(
        max_member_bytes=args.max_file_bytes,
        max_total_bytes=args.max_total_bytes,
        max_members=args.max_files,
    )
    if bundle.type == BUNDLE_PROFILE:
        profile = extract_profile_bundle(
            bundle, password, allow_plain=args.allow_plain, limits=limits,
            max_data_bytes=args.max_bundle_bytes)
        path = _write_atomically(args.dest, lambda f: f.write(profile), args.replace)
        return _emit(args, {"type": bundle.type, "name": bundle.name, "profile_file": path,
                            "profile_bytes": len(profile)})
    result = extract_miner_bundle(
        bundle, password, args.dest, replace=args.replace, limits=limits,
        max_data_bytes=args.max_bundle_bytes)
    bundled = result.profile_json
    return _emit(args, {
        "type": bundle.type,
        "name": bundle.name,
        "dest": result.root,
        "miner_path": result.miner_path,
        "files": list(result.files),
        "profile": None if bundled is None else bundled.decode("utf-8", "replace"),
    })
