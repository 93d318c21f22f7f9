"""UEPS packet data: the header fields and the payload they travel with."""

from __future__ import annotations

from typing import Any

from attrs import Attribute, field, frozen, validate
from attrs.validators import and_, ge, instance_of, le

__all__ = [
    "Header",
    "Packet",
    "DEFAULT_VERSION",
    "DEFAULT_LAYER",
]

#: Version the reference builder writes (``NewBuilder``).
DEFAULT_VERSION = 0x09
#: Current and target layer the reference builder writes.
DEFAULT_LAYER = 5


_set = object.__setattr__
_check_u8 = and_(instance_of(int), ge(0), le(0xFF))
_check_u16 = and_(instance_of(int), ge(0), le(0xFFFF))


# attrs' composed validators cost four calls a field; these pass the usual
# valid value in one and leave every refusal (and its message) to attrs.
def _u8(instance: object, attribute: "Attribute[Any]", value: Any) -> None:
    if type(value) is not int or not 0 <= value <= 0xFF:
        _check_u8(instance, attribute, value)


def _u16(instance: object, attribute: "Attribute[Any]", value: Any) -> None:
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        _check_u16(instance, attribute, value)


@frozen(init=False)
class Header:
    """
    The signed header fields of a UEPS packet.

    Only ``intent_id`` is required, as in the reference builder; the other
    fields default to what it writes.  The reader validates none of them.
    """

    version: int = field(default=DEFAULT_VERSION, kw_only=True, validator=_u8)
    current_layer: int = field(default=DEFAULT_LAYER, kw_only=True, validator=_u8)
    target_layer: int = field(default=DEFAULT_LAYER, kw_only=True, validator=_u8)
    intent_id: int = field(validator=_u8)
    threat_score: int = field(default=0, kw_only=True, validator=_u16)

    def __init__(self, intent_id: int, *, version: int = DEFAULT_VERSION,
                 current_layer: int = DEFAULT_LAYER, target_layer: int = DEFAULT_LAYER,
                 threat_score: int = 0) -> None:
        # attrs' own __init__, with the five checks in one expression (every
        # packet sent builds a header); anything unusual goes through the
        # validators above, which raise the errors attrs always raised.
        _set(self, "version", version)
        _set(self, "current_layer", current_layer)
        _set(self, "target_layer", target_layer)
        _set(self, "intent_id", intent_id)
        _set(self, "threat_score", threat_score)
        if not (type(version) is int and type(current_layer) is int
                and type(target_layer) is int and type(intent_id) is int
                and type(threat_score) is int and 0 <= version <= 0xFF
                and 0 <= current_layer <= 0xFF and 0 <= target_layer <= 0xFF
                and 0 <= intent_id <= 0xFF and 0 <= threat_score <= 0xFFFF):
            validate(self)


_check_header = instance_of(Header)
_check_bytes = instance_of(bytes)


def _header(instance: object, attribute: "Attribute[Any]", value: Any) -> None:
    if type(value) is not Header:
        _check_header(instance, attribute, value)


def _bytes(instance: object, attribute: "Attribute[Any]", value: Any) -> None:
    if type(value) is not bytes:
        _check_bytes(instance, attribute, value)


@frozen(init=False)
class Packet:
    """A UEPS packet: a header and the application's payload bytes."""

    header: Header = field(validator=_header)
    payload: bytes = field(default=b"", validator=_bytes)

    def __init__(self, header: Header, payload: bytes = b"") -> None:
        # As Header's: attrs' __init__ with the usual case checked inline.
        _set(self, "header", header)
        _set(self, "payload", payload)
        if type(header) is not Header or type(payload) is not bytes:
            validate(self)
