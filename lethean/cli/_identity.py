"""
``lethean identity``: show or create this node's identity.

Local file operations, so they run synchronously (no reactor).  Output is
the public identity and where its files are, as text or with ``--json`` as
JSON; the private key is never printed.
"""

from __future__ import annotations

from lethean.cli._output import emit

# Not typing.TYPE_CHECKING: importing typing would slow ``lethean --help``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from lethean.cli._main import Subparsers
    from lethean.identity import LocalIdentity, NodeManager

__all__ = ["register"]

#: The identity package's choices, repeated so --help need not import it
#: (a test checks they agree).
ROLES = ("controller", "worker", "dual")
REPAIR, REFUSE = "repair", "refuse"


def register(subparsers: Subparsers) -> None:
    """Add ``lethean identity ...`` to the ``lethean`` parser."""
    identity = subparsers.add_parser(
        "identity",
        help="show or create this node's identity (X25519 key and node id)",
        description="A node's identity is an X25519 keypair, its node id (derived from the "
        "public key), a name and a role. The private key stays in its 0600 file and is never "
        "printed.",
    )
    commands = identity.add_subparsers(dest="identity_command", metavar="ACTION", required=True)

    show = commands.add_parser(
        "show", help="print the public identity (JSON with --json)",
        description="Load the identity, check that node.json belongs to the private key and "
        "that the key file is private, and print the public identity (JSON with --json).")
    _add_location(show)
    show.add_argument(
        "--insecure-key", choices=(REPAIR, REFUSE), default=REPAIR,
        help="what to do if other users can read the private key file: 'repair' chmods it to "
        "0600 (default), 'refuse' fails")
    show.set_defaults(func=_show)

    new = commands.add_parser(
        "new", help="create a new identity and print it (JSON with --json)",
        description="Generate a new keypair, write private.key (mode 0600) and node.json, and "
        "print the identity (JSON with --json). "
        "Refuses to replace an existing identity unless --force is given, because that changes "
        "the node id every peer knows this node by.")
    _add_location(new)
    new.add_argument(
        "--name", metavar="NAME",
        help="node name: 1-64 letters, digits, '-', '_' or spaces, starting and ending with a "
        "letter or digit (default: the first label of the host name)")
    new.add_argument(
        "--role", choices=ROLES, default="dual",
        help="informational role announced to peers (default %(default)s)")
    new.add_argument(
        "--force", action="store_true",
        help="replace an existing identity (its node id is lost)")
    new.set_defaults(func=_new)


def _add_location(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the identity as JSON")
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help="keep private.key and node.json in DIR instead of the XDG locations "
        "(<data home>/lethean-desktop/node/private.key and "
        "<config home>/lethean-desktop/node.json)")


def _manager(args: argparse.Namespace, **kwargs: Any) -> NodeManager:
    from lethean.identity import NodeManager

    if args.data_dir:
        return NodeManager.in_directory(args.data_dir, **kwargs)
    return NodeManager(**kwargs)


def _print(args: argparse.Namespace, manager: NodeManager, local: LocalIdentity) -> None:
    document = local.identity.to_json_value()
    document["keyPath"] = manager.key_path
    document["identityPath"] = manager.identity_path
    facts = [("id", document["id"]), ("name", document["name"] or "-"),
             ("role", document["role"] or "-"), ("public key", document["publicKey"]),
             ("created", document["createdAt"]), ("key file", document["keyPath"]),
             ("identity file", document["identityPath"])]
    width = max(len(label) for label, _ in facts)
    emit(args, document, "\n".join("{}  {}".format(label.ljust(width), value)
                                   for label, value in facts))


def _show(args: argparse.Namespace) -> int:
    from lethean.identity import NoIdentityError

    manager = _manager(args, insecure_key=args.insecure_key)
    try:
        local = manager.load()
    except NoIdentityError as e:
        import shlex

        where = args.data_dir or manager.identity_path
        command = "lethean identity new" + (
            " --data-dir " + shlex.quote(args.data_dir) if args.data_dir else "")
        node = "twistd -n lethean-node" + (
            " --data-dir " + shlex.quote(args.data_dir) if args.data_dir else "")
        e.line = ("no identity in {} yet: create one with '{}', or start a node there ('{}' "
                  "creates it){}".format(
                      where, command, node,
                      "" if args.data_dir else "; for another folder give --data-dir DIR"))
        raise
    _print(args, manager, local)
    return 0


def _new(args: argparse.Namespace) -> int:
    manager = _manager(args)
    _print(args, manager, manager.generate(name=args.name, role=args.role, force=args.force))
    return 0
