"""
Just enough of RFC 6455 and of the mesh handshake for attackers that speak
the protocol correctly up to a point, and then do not.

Client frames are masked, as a server requires; a length can be declared
that the payload does not have.  The mesh pieces come from lethean's own
public API (identities, envelopes, ``FrameCipher``), so an attacker's
handshake is byte for byte a real one until the attacker chooses otherwise.
"""

import base64
import os
import struct
import time

from lethean.identity import LocalIdentity, PrivateKey, generate_challenge
from lethean.mesh import Timestamp, decode_message, new_message
from lethean.mesh._envelope import HANDSHAKE, PING, PROTOCOL_VERSION

__all__ = [
    "OP_CONTINUATION",
    "OP_TEXT",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "frame",
    "FrameReader",
    "upgrade_request",
    "response_status",
    "new_identity",
    "handshake",
    "ack_identity",
    "ping",
    "WallClock",
]

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
#: Largest server frame an attacker bothers to keep.
MAX_READ_FRAME_BYTES = 4 * 1024 * 1024


def _mask(payload, key):
    if not payload:
        return b""
    size = len(payload)
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


def frame(opcode, payload=b"", *, fin=True, rsv1=False, length=None):
    """
    One masked client frame.  ``length`` declares a payload length other
    than the real one (to lie about it); ``rsv1`` marks it compressed.
    """
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    declared = len(payload) if length is None else length
    if declared < 126:
        header = struct.pack("!BB", first, 0x80 | declared)
    elif declared < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, declared)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, declared)
    key = os.urandom(4)
    return header + key + _mask(payload, key)


class FrameReader:
    """Server frames out of a byte stream: ``feed(data)`` returns ``[(opcode, payload)]``."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data):
        self._buffer += data
        frames = []
        while True:
            parsed = self._one()
            if parsed is None:
                return frames
            frames.append(parsed)

    def _one(self):
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        opcode, second = buffer[0] & 0x0F, buffer[1]
        size, offset = second & 0x7F, 2
        if size == 126:
            if len(buffer) < 4:
                return None
            size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
        elif size == 127:
            if len(buffer) < 10:
                return None
            size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
        if size > MAX_READ_FRAME_BYTES:
            raise ValueError("server frame of {} bytes".format(size))
        key = None
        if second & 0x80:
            key, offset = bytes(buffer[offset:offset + 4]), offset + 4
        if len(buffer) < offset + size:
            return None
        payload = bytes(buffer[offset:offset + size])
        del buffer[:offset + size]
        if key is not None:
            payload = _mask(payload, key)
        return opcode, payload


def upgrade_request(host, path=b"/ws", *, origin=None, extensions=None):
    """The HTTP request of a WebSocket upgrade (``host`` is ``b"host:port"``)."""
    lines = [
        b"GET " + path + b" HTTP/1.1",
        b"Host: " + host,
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)),
        b"Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(b"Origin: " + origin)
    if extensions is not None:
        lines.append(b"Sec-WebSocket-Extensions: " + extensions)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def response_status(buffer):
    """``(status, rest)`` once an HTTP response head is complete, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line = bytes(buffer[:buffer.find(b"\r\n")])
    parts = status_line.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, bytes(buffer[end + 4:])


class WallClock:
    """The ``IReactorTime`` slice ``new_message`` needs, without a reactor."""

    @staticmethod
    def seconds():
        return time.time()


def new_identity(name="hostile"):
    """A fresh ``LocalIdentity`` (a new X25519 key)."""
    return LocalIdentity.create(PrivateKey.generate(), name, "dual", Timestamp.from_unix(time.time()))


def handshake(local, *, identity=None, challenge=None, version=PROTOCOL_VERSION):
    """
    The bytes of an initiator's handshake text frame payload.

    ``identity`` replaces the presented identity (a JSON dict: someone
    else's, or one whose id does not match its key); ``challenge`` replaces
    the base64 challenge text.
    """
    if challenge is None:
        challenge = base64.b64encode(generate_challenge()).decode("ascii")
    presented = local.identity.to_json_value() if identity is None else identity
    payload = {"identity": presented, "challenge": challenge, "version": version}
    return new_message(HANDSHAKE, presented.get("id", ""), "", payload,
                       clock=WallClock).to_bytes()


def ack_identity(data):
    """
    ``(accepted, node_id, public_key)`` from the responder's ack text (the
    attacker does not check the challenge response: it only wants in).
    """
    message = decode_message(data)
    payload = message.payload if type(message.payload) is dict else {}
    identity = payload.get("identity") if type(payload.get("identity")) is dict else {}
    return payload.get("accepted") is True, identity.get("id", ""), identity.get("publicKey", "")


def ping(local, to):
    """A sealed-frame-ready ``ping`` message from ``local`` to ``to``."""
    return new_message(PING, local.id, to, {"sentAt": int(time.time() * 1000)}, clock=WallClock)
