"""
The SMSG message object a frame encrypts (Borg ``pkg/smsg`` ``Message``):
the mesh puts its envelope text in ``body`` and sets ``timestamp``; the
other fields are declared so that a wrong JSON type in them fails the
frame, as Go's ``json.Unmarshal`` fails then.
"""

import attrs

from lethean._gostruct import StructOf, go_field
from lethean._gotypes import INT, INT64, STRING, MapOf, SliceOf

__all__ = ["SmsgMessage", "Attachment", "PKIInfo"]


class _SmsgStruct:
    """A struct of Borg's ``pkg/smsg`` (the package in Go's type names)."""

    __slots__ = ()

    GO_PACKAGE = "smsg"


@attrs.frozen
class Attachment(_SmsgStruct):
    """One attachment (not used by the mesh)."""

    name: str = go_field("name", STRING)
    content: str = go_field("content", STRING, omitempty=True)
    mime_type: str = go_field("mime", STRING, omitempty=True)
    size: int = go_field("size", INT, omitempty=True)


@attrs.frozen
class PKIInfo(_SmsgStruct):
    """The key for authenticated replies (not used by the mesh)."""

    public_key: str = go_field("public_key", STRING)
    key_id: str = go_field("key_id", STRING, omitempty=True)
    algorithm: str = go_field("algorithm", STRING, omitempty=True)
    fingerprint: str = go_field("fingerprint", STRING, omitempty=True)


@attrs.frozen
class SmsgMessage(_SmsgStruct):
    """The object sealed in a frame; ``body`` is the mesh envelope's text."""

    GO_NAME = "Message"

    subject: str = go_field("subject", STRING, omitempty=True)
    body: str = go_field("body", STRING)
    attachments: tuple[Attachment, ...] | None = go_field(
        "attachments", SliceOf(StructOf(Attachment)), omitempty=True)
    reply_key: PKIInfo | None = go_field("reply_key", StructOf(PKIInfo), default=None,
                                         omitempty=True)
    from_: str = go_field("from", STRING, omitempty=True)
    timestamp: int = go_field("timestamp", INT64, omitempty=True)
    meta: dict[str, str] | None = go_field("meta", MapOf(STRING), omitempty=True)
