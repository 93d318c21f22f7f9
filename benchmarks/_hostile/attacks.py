"""
The attack catalogue: every attack class of the hardening work, as the
connection scripts an attacker process runs (:mod:`.attacker`).

Attackers that must speak the protocol correctly up to a point use
lethean's own identities, envelopes and ``FrameCipher``
(:class:`~.connections.Mesh`); the rest is raw TCP and the few lines of
RFC 6455 framing in :mod:`.wire`.
"""

import base64
import itertools
import os
import time
import zlib

import attrs
from twisted.internet import task

from benchmarks._hostile import wire
from benchmarks._hostile.connections import CHUNK_BYTES, Attacker, Mesh, WebSocket, stream
from lethean.identity import node_id_for
from lethean.mesh import new_message
from lethean.mesh._envelope import GET_STATS
from lethean.smsg import pack_trix

__all__ = ["ATTACKS", "Attack"]

#: Past the node's 1 MiB message limit.
OVERSIZE_BYTES = 2 * 1024 * 1024
#: Requests per second per slow-reader link: under the node's 50/s limit,
#: so the node answers every one.
SLOW_READER_RATE = 45.0
#: Just under the node's 1 MiB frame limit.
LTHN_FRAME_BYTES = 1024 * 1024 - 100


# -- before WebSocket -------------------------------------------------------------


class TcpGarbage(Attacker):
    def begin(self):
        self.send(os.urandom(4096) + b"\r\n\r\n")
        self.finish_later()


class PlainHttp(Attacker):
    def begin(self):
        self.send(b"GET / HTTP/1.1\r\nHost: " + self.pool.host_port + b"\r\n\r\n")
        self.finish_later()


class WrongPath(WebSocket):
    path = b"/admin"

    def ws_open(self):
        self.finish()


class WrongOrigin(WebSocket):
    origin = b"http://attacker.example"

    def ws_open(self):
        self.finish()


def _header_chunk():
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    return line * (CHUNK_BYTES // len(line))


class EndlessHeaders(Attacker):
    def begin(self):
        self.send(b"GET /ws HTTP/1.1\r\nHost: " + self.pool.host_port + b"\r\n")
        chunk = self.pool.constant("headers", _header_chunk)
        stream(self, lambda: chunk)


def _huge_request_line(host_port):
    # Malformed (spaces inside), so a server that quotes a bad request line
    # in its log quotes all of it, terminal control characters included.
    filler = (b"\x1b[31m HOSTILE\x07\x08" * (256 * 1024 // 16 + 1))[:256 * 1024]
    return (b"GET /ws" + filler + b" HTTP/1.1\r\nHost: " + host_port + b"\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) +
            b"\r\nSec-WebSocket-Version: 13\r\n\r\n")


class HugeRequestLine(Attacker):
    def begin(self):
        self.send(self.pool.constant("line", lambda: _huge_request_line(self.pool.host_port)))
        self.finish_later()


class SilentTcp(Attacker):
    pass


class SilentWebSocket(WebSocket):
    pass


def _oversize_text():
    return wire.frame(wire.OP_TEXT, b"x" * OVERSIZE_BYTES)


class OversizeText(WebSocket):
    def ws_open(self):
        self.send(self.pool.constant("oversize_text", _oversize_text), 1)
        self.finish_later()


def _fragments():
    one = wire.frame(wire.OP_CONTINUATION, b"x", fin=False)
    return one * (CHUNK_BYTES // len(one))


class TinyFragments(WebSocket):
    def ws_open(self):
        self.send(wire.frame(wire.OP_TEXT, b"{", fin=False), 1)
        chunk = self.pool.constant("fragments", _fragments)
        stream(self, lambda: chunk, len(chunk) // 7)


def _compressed():
    # A deflate bomb: 16 MiB of spaces in about 16 KiB.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(b" " * (16 * 1024 * 1024)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return wire.frame(wire.OP_TEXT, payload[:-4], rsv1=True)


class Compression(WebSocket):
    extensions = b"permessage-deflate; client_max_window_bits"

    def ws_open(self):
        self.send(self.pool.constant("compressed", _compressed), 1)
        self.finish_later()


# -- the mesh handshake -------------------------------------------------------------


class WrongVersion(Mesh):
    def handshake(self):
        return wire.handshake(self.local, version="9.9")


class BadChallenge(Mesh):
    def handshake(self):
        return wire.handshake(self.local, challenge="%%% not base64 %%%")


class IdMismatch(Mesh):
    def handshake(self):
        identity = dict(self.local.identity.to_json_value(), id=os.urandom(16).hex())
        return wire.handshake(self.local, identity=identity)


class Replay(Mesh):
    """
    Replays the handshake of a legitimate peer (only public data) and holds
    the link it gets: it can never prove the key, but it may hold the id.
    """

    linger = False

    def handshake(self):
        victims = self.pool.victims or [self.local.identity.to_json_value()]
        victim = victims[self.tally.connections % len(victims)]
        return self.pool.constant("replay:" + victim["id"],
                                  lambda: wire.handshake(self.local, identity=victim))


#: Points of small order on Curve25519 (RFC 7748 and libsodium's blocklist).
LOW_ORDER_KEYS = [bytes.fromhex(h) for h in (
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
)]


class LowOrderKey(Mesh):
    def handshake(self):
        raw = LOW_ORDER_KEYS[self.tally.connections % len(LOW_ORDER_KEYS)]
        identity = dict(self.local.identity.to_json_value(), id=node_id_for(raw),
                        publicKey=base64.b64encode(raw).decode("ascii"))
        return wire.handshake(self.local, identity=identity)


GARBAGE_JSON = [
    b"\x00\xff not json at all \x1b[2J",
    b'{"type":"handshake","payload":',
    b"[" * 100000 + b"]" * 100000,
    b'{"type":"handshake","payload":{"identity":[],"challenge":7,"version":null}}',
    b'{"type":"handshake","payload":{"identity":{"publicKey":{"x":1}},"version":"1.0"}}',
    b'{"type":{"nested":true},"id":12,"ts":"not a time"}',
    b'"just a string"',
]


class GarbageJson(Mesh):
    def handshake(self):
        return GARBAGE_JSON[self.tally.connections % len(GARBAGE_JSON)]


class OversizeBinary(Mesh):
    linger = False

    def mesh_open(self):
        self.send(self.pool.constant("oversize_binary", lambda: wire.frame(
            wire.OP_BINARY, os.urandom(OVERSIZE_BYTES))), 1)
        self.finish_later()


# -- after the handshake ---------------------------------------------------------------


class SealedFlood(Mesh):
    """Valid sealed pings (distinct ids), as fast as the node reads them."""

    linger = False

    def mesh_open(self):
        self.prove()
        frames = [self.sealed(wire.ping(self.local, self.node_id)) for _ in range(400)]
        chunks = itertools.cycle([b"".join(frames[i:i + 100]) for i in range(0, len(frames), 100)])
        stream(self, lambda: next(chunks), 100)


class Undecryptable(Mesh):
    """After proving its key, frames sealed with a key the node does not share."""

    linger = False

    def mesh_open(self):
        self.prove()
        wrong = wire.new_identity().frame_cipher(wire.new_identity().identity.public_key)
        frames = [wire.frame(wire.OP_BINARY, wrong.seal(wire.ping(self.local, self.node_id),
                                                        timestamp=int(time.time())))
                  for _ in range(100)]
        chunk = b"".join(frames)
        stream(self, lambda: chunk, len(frames))


class SlowReader(Mesh):
    """Sends ``get_stats`` under the rate limit and never reads the answers."""

    linger = False
    _loop = None

    def mesh_open(self):
        self.prove()
        self.stop_reading()
        self._loop = task.LoopingCall(self._request)
        self._loop.clock = self.pool.reactor
        self._loop.start(1.0 / SLOW_READER_RATE)

    def _request(self):
        message = new_message(GET_STATS, self.local.id, self.node_id, None, clock=wire.WallClock)
        self.send(self.sealed(message), 1)

    def gone(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()


def _lthn_frame():
    # Invalid UTF-8 throughout: the slowest path of the lthn hash.
    header = {"checksum": "0" * 64, "checksum_algo": "lthn"}
    frame = pack_trix(b"SMSG", header, b"\xff" * (LTHN_FRAME_BYTES - 100))
    return wire.frame(wire.OP_BINARY, frame[:LTHN_FRAME_BYTES])


class LthnChecksum(Mesh):
    """Frames whose Trix header asks for the lthn checksum of ~1 MiB of bad UTF-8."""

    linger = False

    def mesh_open(self):
        self.prove()
        chunk = self.pool.constant("lthn", _lthn_frame)
        stream(self, lambda: chunk, 1)


def _pings():
    one = wire.frame(wire.OP_PING, b"p" * 125)
    return one * (CHUNK_BYTES // len(one))


class PingFlood(Mesh):
    """WebSocket pings as fast as possible on a proven link, never reading the pongs."""

    linger = False

    def mesh_open(self):
        self.prove()
        self.stop_reading()
        chunk = self.pool.constant("pings", _pings)
        stream(self, lambda: chunk, len(chunk) // 131)


class ChurnFreshKeys(Mesh):
    """A new key each time: handshake, prove, wait for the node's answer, leave."""

    linger = False

    def mesh_open(self):
        self.prove()
        self.finish_later()

    def mesh_frame(self, opcode, payload):
        self.finish()


class OverCap(Mesh):
    """Proven links, each a new key, held open."""

    linger = False

    def mesh_open(self):
        self.prove()


# -- the catalogue ---------------------------------------------------------------------


@attrs.frozen
class Attack:
    """
    One attack class: its name, how many connections it keeps going at
    once, what it does, and how many times ``--duration`` it lasts (more
    for attacks whose cost accumulates slowly).
    """

    name: str
    size: int
    protocol: type
    summary: str
    duration_factor: int = 1


ATTACKS = {attack.name: attack for attack in [
    Attack("tcp_garbage", 20, TcpGarbage,
           "4 KiB of random bytes then a blank line, on raw TCP"),
    Attack("plain_http", 20, PlainHttp, "a plain HTTP GET / (no upgrade)"),
    Attack("wrong_path", 20, WrongPath, "a WebSocket upgrade to /admin"),
    Attack("wrong_origin", 20, WrongOrigin,
           "a WebSocket upgrade to /ws from Origin http://attacker.example"),
    Attack("endless_headers", 10, EndlessHeaders,
           "an upgrade request whose 1 KiB header lines never end, sent as fast as read"),
    Attack("huge_request_line", 10, HugeRequestLine,
           "a 256 KiB request line full of terminal control characters"),
    Attack("silent_tcp", 300, SilentTcp, "TCP connections that never send a byte"),
    Attack("silent_websocket", 300, SilentWebSocket,
           "WebSocket upgrades that never send the mesh handshake"),
    Attack("handshake_wrong_version", 20, WrongVersion,
           "mesh handshakes with version 9.9 (the node answers a rejection)"),
    Attack("handshake_bad_challenge", 20, BadChallenge,
           "mesh handshakes whose challenge is not base64"),
    Attack("handshake_id_mismatch", 20, IdMismatch,
           "mesh handshakes claiming an id that is not the id of the key"),
    Attack("handshake_replay", 50, Replay,
           "replays of the legitimate peers' handshakes (public data only), each held open"),
    Attack("handshake_low_order_key", 20, LowOrderKey,
           "mesh handshakes presenting a low-order X25519 point"),
    Attack("handshake_garbage_json", 20, GarbageJson,
           "handshake frames that are not a mesh envelope (junk, truncated, 100k-deep, "
           "wrong types)"),
    Attack("oversize_text_before_handshake", 10, OversizeText,
           "a 2 MiB text frame instead of the handshake"),
    Attack("oversize_binary_after_handshake", 5, OversizeBinary,
           "a real handshake, then a 2 MiB binary frame"),
    Attack("tiny_fragments", 1, TinyFragments,
           "one message sent as endless 1-byte fragments, before the handshake",
           duration_factor=3),
    Attack("compression", 10, Compression,
           "an upgrade offering permessage-deflate, then a compressed frame (a 16 MiB "
           "deflate bomb)"),
    Attack("sealed_flood", 2, SealedFlood,
           "proven links flooding valid sealed pings, as fast as the node reads"),
    Attack("undecryptable_flood", 2, Undecryptable,
           "proven links flooding frames sealed with a key the node does not share"),
    Attack("slow_reader", 10, SlowReader,
           "proven links sending get_stats at 45/s and never reading the answers"),
    Attack("ws_ping_flood", 1, PingFlood,
           "a proven link flooding WebSocket pings and never reading the pongs",
           duration_factor=3),
    Attack("trix_lthn_checksum", 1, LthnChecksum,
           "a proven link sending ~1 MiB frames whose Trix header names the lthn checksum "
           "(costly before decryption)"),
    Attack("churn_fresh_keys", 8, ChurnFreshKeys,
           "connect with a new key, handshake, prove it, leave; again and again"),
    Attack("over_cap", 150, OverCap,
           "150 proven links (each a new key) held open: 50 past the default cap"),
]}
