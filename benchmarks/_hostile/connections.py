"""
What an attacking connection is made of: the base protocol that counts
what it sees, a WebSocket client that upgrades then reads frames, and a
mesh initiator that performs the real handshake; attacks subclass them.

Each connection adds to its pool's :class:`Tally`; a connection the node
closes first counts as ``closed_by_node``.
"""

import socket
import time
from collections import Counter

import attrs
from twisted.internet import protocol
from twisted.internet.interfaces import IPullProducer
from zope.interface import implementer

from benchmarks._hostile import wire

__all__ = ["Tally", "Attacker", "WebSocket", "Mesh", "stream", "LINGER_S", "CHUNK_BYTES"]

#: How long a connection that has said its piece waits for the node to
#: close it before closing itself.
LINGER_S = 2.0
#: Bytes a streaming attacker hands the socket each time it drains.
CHUNK_BYTES = 64 * 1024
#: Receive buffer of attackers that never read.
SMALL_RCVBUF = 4096
#: Largest frame an attacker's cipher seals (past the node's limit on purpose).
MAX_SEAL_BYTES = 4 * 1024 * 1024


@attrs.define
class Tally:
    """What the attacker saw; printed with the ``done`` event."""

    connections: int = 0
    connect_failed: int = 0
    closed_by_node: int = 0
    open: int = 0
    peak_open: int = 0
    http_status: Counter = attrs.Factory(Counter)
    handshakes_accepted: int = 0
    handshakes_rejected: int = 0
    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0

    def to_json(self):
        value = attrs.asdict(self)
        value["http_status"] = {str(k): v for k, v in sorted(self.http_status.items())}
        del value["open"]
        return value


class Attacker(protocol.Protocol):
    """One attacking connection; subclasses script it in :meth:`begin`."""

    def __init__(self, pool):
        self.pool = pool
        self.tally = pool.tally
        self._ours = False
        self._counted = False
        self._timer = None
        self._head = b""
        self._status_seen = False

    def connectionMade(self):
        if self.pool.stopped:
            # Connected after the attack ended: not part of it.
            self._ours = True
            self.transport.abortConnection()
            return
        self._counted = True
        tally = self.tally
        tally.connections += 1
        tally.open += 1
        tally.peak_open = max(tally.peak_open, tally.open)
        self.begin()

    def begin(self):
        """Start the script (default: say nothing)."""

    def send(self, data, frames=0):
        if self.transport is not None and not self.transport.disconnecting:
            self.transport.write(data)
            self.tally.bytes_sent += len(data)
            self.tally.frames_sent += frames

    def dataReceived(self, data):
        self.note_status(data)

    def note_status(self, data):
        """Count the HTTP status of the node's answer, once."""
        if self._status_seen:
            return None
        self._head += data
        parsed = wire.response_status(self._head)
        if parsed is None:
            if len(self._head) > 16384:
                self._status_seen = True
            return None
        self._status_seen = True
        self._head = b""
        self.tally.http_status[parsed[0]] += 1
        return parsed

    def finish(self):
        """Close from our side (not counted as a drop by the node)."""
        if not self._ours:
            self._ours = True
            if self.transport is not None:
                self.transport.abortConnection()

    def finish_later(self, seconds=LINGER_S):
        if self._timer is None:
            self._timer = self.pool.reactor.callLater(seconds, self.finish)

    def stop_reading(self):
        """Never read again, with a small receive window (the node's writes pile up)."""
        try:
            self.transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RCVBUF)
        except (OSError, AttributeError):
            pass
        self.transport.pauseProducing()

    def connectionLost(self, reason):
        if self._counted:
            self.tally.open -= 1
            if not self._ours:
                self.tally.closed_by_node += 1
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self.gone()
        self.pool.lost(self)

    def gone(self):
        """The connection is gone (subclasses stop their timers)."""


@implementer(IPullProducer)
class _Stream:
    """Writes ``chunk()`` whenever the socket drains: as fast as the node reads."""

    def __init__(self, attacker, chunk, frames):
        self._attacker = attacker
        self._chunk = chunk
        self._frames = frames

    def resumeProducing(self):
        self._attacker.send(self._chunk(), self._frames)

    def stopProducing(self):
        pass


def stream(attacker, chunk, frames=0):
    """Keep writing ``chunk()`` (``frames`` WebSocket frames each) until the end."""
    attacker.transport.registerProducer(_Stream(attacker, chunk, frames), False)


class WebSocket(Attacker):
    """Upgrades to ``path``, then :meth:`ws_open` and :meth:`ws_frame`."""

    path = b"/ws"
    origin = None
    extensions = None
    reader = None

    def begin(self):
        self.send(wire.upgrade_request(self.pool.host_port, self.path, origin=self.origin,
                                       extensions=self.extensions))

    def dataReceived(self, data):
        if self.reader is None:
            parsed = self.note_status(data)
            if parsed is None:
                return
            status, data = parsed
            if status != 101:
                self.finish_later()
                return
            self.reader = wire.FrameReader()
            self.ws_open()
        try:
            frames = self.reader.feed(data)
        except ValueError:
            self.finish()
            return
        for opcode, payload in frames:
            self.tally.frames_received += 1
            self.ws_frame(opcode, payload)

    def ws_open(self):
        """101 received: the WebSocket is open."""

    def ws_frame(self, opcode, payload):
        """A frame from the node."""


class Mesh(WebSocket):
    """
    A mesh initiator: :meth:`handshake` after the upgrade, then
    :meth:`mesh_open` with ``self.cipher`` once the node accepts.
    """

    local = None
    cipher = None
    node_id = ""
    #: Close once the handshake frame is sent (the node should drop us).
    linger = True

    def ws_open(self):
        self.local = wire.new_identity()
        self.send(wire.frame(wire.OP_TEXT, self.handshake()), 1)
        if self.linger:
            self.finish_later()

    def handshake(self):
        return wire.handshake(self.local)

    def ws_frame(self, opcode, payload):
        if self.cipher is not None:
            self.mesh_frame(opcode, payload)
            return
        if opcode != wire.OP_TEXT:
            return
        try:
            accepted, self.node_id, key = wire.ack_identity(payload)
        except Exception:
            accepted = False
        if not accepted:
            self.tally.handshakes_rejected += 1
            self.finish_later()
            return
        self.tally.handshakes_accepted += 1
        self.cipher = self.local.frame_cipher(key, max_frame_bytes=MAX_SEAL_BYTES)
        self.mesh_open()

    def mesh_open(self):
        """Accepted: ``self.cipher`` seals and opens frames."""

    def mesh_frame(self, opcode, payload):
        """A frame from the node after the handshake."""

    def sealed(self, message):
        return wire.frame(wire.OP_BINARY, self.cipher.seal(message, timestamp=int(time.time())))

    def prove(self):
        """A first sealed frame that decrypts: the node then registers us."""
        self.send(self.sealed(wire.ping(self.local, self.node_id)), 1)
