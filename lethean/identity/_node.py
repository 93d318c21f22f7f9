"""
The public node identity (``node.json``, the handshake's ``identity``) and
the local identity that also holds the private key.
"""

import socket
from typing import Any, TypeVar

import attrs

from lethean.identity._errors import (
    IdentityMismatchError,
    InvalidIdentityError,
    InvalidNodeNameError,
    InvalidPublicKeyError,
)
from lethean.identity._keys import PrivateKey, PublicKeyLike, decode_public_key, node_id_for
from lethean.smsg import FrameCipher
from lethean._gojson import Pairs, go_string, top_level_pairs, utf8
from lethean._gostruct import go_field, schema_of
from lethean._gotime import Timestamp
from lethean._gotypes import STRING, TIME, Mismatch
from lethean._names import is_valid_name, sanitise_name
from lethean._types import Buffer, JSONValue

__all__ = [
    "ROLE_CONTROLLER",
    "ROLE_WORKER",
    "ROLE_DUAL",
    "ROLES",
    "DEFAULT_NODE_NAME",
    "NodeIdentity",
    "LocalIdentity",
    "default_node_name",
    "validate_node_name",
]

ROLE_CONTROLLER = "controller"
ROLE_WORKER = "worker"
ROLE_DUAL = "dual"
#: The roles the reference defines (informational: nothing checks them).
ROLES = (ROLE_CONTROLLER, ROLE_WORKER, ROLE_DUAL)
#: The reference's fallback when the host name is unavailable.
DEFAULT_NODE_NAME = "lethean-node"

_I = TypeVar("_I", bound="NodeIdentity")
_L = TypeVar("_L", bound="LocalIdentity")


def validate_node_name(name: str) -> None:
    """
    Raise :class:`InvalidNodeNameError` unless peers would accept ``name``:
    1-64 ASCII letters, digits, ``-``, ``_`` or spaces, starting and ending
    with a letter or digit (peers.md 5).
    """
    if not isinstance(name, str) or not is_valid_name(name):
        raise InvalidNodeNameError("{!r} is not a valid node name".format(name))


def default_node_name(hostname: str | None = None) -> str:
    """
    A valid node name from the host name: its first label, other characters
    turned into ``-``, trimmed and cut to 64 characters.

    The reference uses the raw host name, so a dotted name such as
    ``node.example.com`` makes every peer's auto-registration fail silently.
    """
    if hostname is None:
        try:
            hostname = socket.gethostname()
        except OSError:
            hostname = ""
    label = hostname.split(".", 1)[0]
    return sanitise_name(label) or DEFAULT_NODE_NAME


@attrs.frozen
class NodeIdentity:
    """
    What a node tells others about itself (envelope.md 4.1).

    ``public_key`` is the padded base64 text as sent; ``created_at`` is a
    :class:`~lethean.smsg.Timestamp`.  Received identities are not trusted:
    call :meth:`verify_binding` before believing the ``id``.
    """

    GO_PACKAGE = "node"

    id: str = go_field("id", STRING, default=attrs.NOTHING)
    name: str = go_field("name", STRING, default=attrs.NOTHING)
    public_key: str = go_field("publicKey", STRING, default=attrs.NOTHING)
    created_at: Timestamp = go_field("createdAt", TIME, default=attrs.NOTHING,
                                     validator=attrs.validators.instance_of(Timestamp))
    #: A received identity without a role has none ("").
    role: str = go_field("role", STRING, default=ROLE_DUAL, zero="")

    @property
    def raw_public_key(self) -> bytes:
        """The 32 key bytes (raises ``InvalidPublicKeyError``)."""
        return decode_public_key(self.public_key)

    def verify_binding(self) -> None:
        """
        Check that ``id`` is the id of ``public_key``; the reference never
        does, which lets any key claim any id.  Raises
        ``InvalidPublicKeyError`` or :class:`IdentityMismatchError`.
        """
        expected = node_id_for(self.public_key)
        if self.id != expected:
            raise IdentityMismatchError("claimed id {!r} is not the id of its key ({})".format(
                self.id[:64], expected))

    def to_json_value(self) -> dict[str, JSONValue]:
        """The JSON object, fields in the reference's order."""
        return schema_of(NodeIdentity).to_json_value(self)

    def to_node_json(self) -> bytes:
        """
        ``node.json`` bytes as Go's ``MarshalIndent`` writes them: two-space
        indent, HTML escaping on, no trailing newline.
        """
        lines = ",\n".join("  {}: {}".format(go_string(key), go_string(value))
                           for key, value in self.to_json_value().items())
        return utf8("{\n" + lines + "\n}")

    @classmethod
    def from_json_value(cls: type[_I], value: JSONValue) -> _I:
        """
        An identity from decoded JSON, with Go's tolerance: keys matched
        case-insensitively, unknown keys ignored, ``null`` leaves a field
        empty.  A field of the wrong type or a bad ``createdAt`` raises
        :class:`InvalidIdentityError`.
        """
        if type(value) is not dict:
            raise InvalidIdentityError("an identity is a JSON object")
        return cls._read(value)

    @classmethod
    def from_node_json(cls: type[_I], data: Buffer) -> _I:
        """An identity from ``node.json`` bytes (see :meth:`from_json_value`)."""
        try:
            text = bytes(data).decode("utf-8", "replace")
            pairs = top_level_pairs(text)
        except ValueError as e:
            raise InvalidIdentityError("not a JSON object: {}".format(e)) from None
        return cls._read(Pairs(pairs))

    @classmethod
    def _read(cls: type[_I], value: JSONValue) -> _I:
        try:
            return schema_of(cls).read(value)
        except Mismatch as e:
            if e.text is not None:
                raise InvalidIdentityError(e.text) from None
            raise InvalidIdentityError("identity field {!r} must be a string".format(
                e.path[0])) from None


@attrs.frozen
class LocalIdentity:
    """
    This node: its public :class:`NodeIdentity` and the private key that
    goes with it (kept out of ``repr``).  Everything the handshake and the
    frame layer need from the identity.
    """

    identity: NodeIdentity
    private_key: PrivateKey = attrs.field(repr=False)

    @classmethod
    def create(cls: type[_L], private_key: PrivateKey, name: str, role: str,
               created_at: Timestamp) -> _L:
        """The identity of ``private_key`` with the given name, role and time."""
        identity = NodeIdentity(id=private_key.node_id, name=name,
                                public_key=private_key.public_key_b64,
                                created_at=created_at, role=role)
        return cls(identity, private_key)

    @property
    def id(self) -> str:
        """Our node id."""
        return self.identity.id

    def check(self) -> None:
        """Raise :class:`IdentityMismatchError` unless the identity is the key's."""
        try:
            same = decode_public_key(self.identity.public_key) == self.private_key.public_key
        except InvalidPublicKeyError:
            same = False
        if not same:
            raise IdentityMismatchError("node.json publicKey does not belong to the private key")
        if self.identity.id != self.private_key.node_id:
            raise IdentityMismatchError("node.json id {!r} is not the id of the private key ({})".format(
                self.identity.id[:64], self.private_key.node_id))

    def shared_secret(self, peer_public_key: PublicKeyLike) -> bytes:
        """The secret shared with a peer (raw bytes or base64 key; identity.md 4)."""
        return self.private_key.shared_secret(peer_public_key)

    def frame_cipher(self, peer_public_key: PublicKeyLike, **kwargs: Any) -> FrameCipher:
        """A :class:`~lethean.smsg.FrameCipher` for the link to a peer."""
        return FrameCipher(self.shared_secret(peer_public_key), **kwargs)
