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


@attrs.frozen
class Attachment:
    """One attachment (not used by the mesh)."""

    GO_PACKAGE = "smsg"

    name: str = go_field("name", STRING)
    content: str = go_field("content", STRING, omitempty=True)
    mime_type: str = go_field("mime", STRING, omitempty=True)
    size: int = go_field("size", INT, omitempty=True)


@attrs.frozen
class PKIInfo:
    """The key for authenticated replies (not used by the mesh)."""

    GO_PACKAGE = "smsg"

    public_key: str = go_field("public_key", STRING)
    key_id: str = go_field("key_id", STRING, omitempty=True)
    algorithm: str = go_field("algorithm", STRING, omitempty=True)
    fingerprint: str = go_field("fingerprint", STRING, omitempty=True)


@attrs.frozen
class SmsgMessage:
    """The object sealed in a frame; ``body`` is the mesh envelope's text."""

    GO_PACKAGE = "smsg"
    GO_NAME = "Message"

    subject: str = go_field("subject", STRING, omitempty=True)
    body: str = go_field("body", STRING)
    attachments: tuple = go_field("attachments", SliceOf(StructOf(Attachment)), omitempty=True)
    reply_key: object = go_field("reply_key", StructOf(PKIInfo), default=None, omitempty=True)
    from_: str = go_field("from", STRING, omitempty=True)
    timestamp: int = go_field("timestamp", INT64, omitempty=True)
    meta: object = go_field("meta", MapOf(STRING), omitempty=True)
