"""UEPS packet data: the header fields and the payload they travel with."""

from __future__ import annotations

from typing import Any

from attrs import Attribute, field, frozen, validate
from attrs.validators import and_, ge, instance_of, le

from lethean._accel import pick, speedups

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


_new = object.__new__
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
    Headers are values: two made with the builder's defaults and the same
    intent may be one shared object.
    """

    version: int = field(default=DEFAULT_VERSION, kw_only=True, validator=_u8)
    current_layer: int = field(default=DEFAULT_LAYER, kw_only=True, validator=_u8)
    target_layer: int = field(default=DEFAULT_LAYER, kw_only=True, validator=_u8)
    intent_id: int = field(validator=_u8)
    threat_score: int = field(default=0, kw_only=True, validator=_u16)

    def __new__(cls, intent_id: int, *, version: int = DEFAULT_VERSION,
                current_layer: int = DEFAULT_LAYER, target_layer: int = DEFAULT_LAYER,
                threat_score: int = 0) -> "Header":
        # Every packet sent builds a header, nearly always with the defaults:
        # those (the very default int objects) get one of 256 prebuilt ones.
        if (version is DEFAULT_VERSION and current_layer is DEFAULT_LAYER
                and target_layer is DEFAULT_LAYER and threat_score is _ZERO
                and type(intent_id) is int and 0 <= intent_id <= 0xFF and cls is Header):
            return _DEFAULT_HEADERS[intent_id]
        return _build_header(cls, version, current_layer, target_layer, intent_id, threat_score)

    def __getnewargs_ex__(self) -> tuple[tuple[int], dict[str, int]]:
        # copy and pickle make headers through __new__, which needs the intent.
        return (self.intent_id,), {"version": self.version, "current_layer": self.current_layer,
                                   "target_layer": self.target_layer,
                                   "threat_score": self.threat_score}


_ZERO = 0
_set_version, _set_current, _set_target, _set_intent, _set_threat = (
    Header.__dict__[name].__set__
    for name in ("version", "current_layer", "target_layer", "intent_id", "threat_score"))


def _build_header(cls: type[Header], version: int, current_layer: int, target_layer: int,
                  intent_id: int, threat_score: int) -> Header:
    # attrs' own __init__, with the five checks in one expression; anything
    # unusual goes through the validators above, which raise the errors
    # attrs always raised.
    self: Header = _new(cls)
    _set_version(self, version)
    _set_current(self, current_layer)
    _set_target(self, target_layer)
    _set_intent(self, intent_id)
    _set_threat(self, threat_score)
    if not (int is type(version) is type(current_layer) is type(target_layer)
            is type(intent_id) is type(threat_score) and 0 <= version <= 0xFF
            and 0 <= current_layer <= 0xFF and 0 <= target_layer <= 0xFF
            and 0 <= intent_id <= 0xFF and 0 <= threat_score <= 0xFFFF):
        validate(self)
    return self


_DEFAULT_HEADERS = tuple(
    _build_header(Header, DEFAULT_VERSION, DEFAULT_LAYER, DEFAULT_LAYER, intent, 0)
    for intent in range(0x100))

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

    def __new__(cls, header: Header, payload: bytes = b"") -> "Packet":
        # As Header's: attrs' __init__ with the usual case checked inline.
        self: Packet = _new(cls)
        _set_header(self, header)
        _set_payload(self, payload)
        if type(header) is not Header or type(payload) is not bytes:
            validate(self)
        return self

    def __getnewargs__(self) -> tuple[Header, bytes]:
        # copy and pickle make packets through __new__, which needs both.
        return self.header, self.payload


_set_header, _set_payload = (Packet.__dict__[name].__set__ for name in ("header", "payload"))

# Every packet sent makes a Header and a Packet: where the accelerator is
# built, the usual calls of both are compiled, the rest go to the __new__
# methods above (tests/test_ueps_codec.py runs both).
pure_header_new = Header.__new__
pure_packet_new = Packet.__new__
if speedups is not None:
    speedups.ueps_register_values(Packet, Header, pure_packet_new, pure_header_new,
                                  _DEFAULT_HEADERS)
Header.__new__ = staticmethod(pick(pure_header_new, "ueps_header_new"))  # type: ignore[method-assign]
Packet.__new__ = staticmethod(pick(pure_packet_new, "ueps_packet_new"))  # type: ignore[method-assign]
