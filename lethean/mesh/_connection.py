"""
One authenticated mesh link: sealed frames in and out, keepalive, backpressure.

Receive order per frame (transport.md 5, plus weakness 13): rate limit,
decrypt, then the frame counts as activity, then de-duplication, then the
owner delivers it.  Frames that do not decrypt never refresh the idle timer,
so garbage cannot keep a dead peer alive.
"""

from collections import deque

from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from lethean.errors import LetheanError
from lethean.interfaces import IMeshConnection
from lethean.mesh._envelope import DISCONNECT, DISCONNECT_NORMAL, PING, PONG, new_message, open_message
from lethean.mesh._errors import MessageTooLargeError, NotConnectedError
from lethean.mesh._limits import TokenBucket
from lethean.smsg import FrameCipher

__all__ = ["MeshConnection"]

_log = Logger()


@implementer(IMeshConnection, IPushProducer)
class MeshConnection:
    """
    The link to one peer after the handshake, driven by its WebSocket protocol.

    ``owner`` is the :class:`~lethean.mesh.MeshTransport` (clock, config,
    counters, de-duplication and delivery); ``websocket`` the Autobahn
    protocol carrying the frames.
    """

    def __init__(self, owner, websocket, peer, shared_secret, *, outbound):
        self._owner = owner
        self._websocket = websocket
        self._clock = owner.reactor
        self._config = owner.config
        self.peer = peer
        self.peer_id = peer.id
        self.outbound = outbound
        self.shared_secret = shared_secret
        self._cipher = FrameCipher(shared_secret, max_frame_bytes=self._config.max_message_bytes)
        self._bucket = TokenBucket(self._clock, self._config.rate_burst, self._config.rate_per_s)
        self._excess = 0
        #: False until a frame from the peer decrypted: only then has it
        #: proved it holds the key it presented (weakness 2).
        self.authenticated = outbound
        self.closed = False
        self.connected_at = self.last_activity = self._clock.seconds()
        self.rtt_s = None
        #: lethean extensions the peer announced; a Go peer announces none.
        self.features = frozenset()
        self.session = "v1"
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0
        self._paused = False
        self._producing = False
        self._queue = deque()
        self._queued_bytes = 0
        self._lost = defer.Deferred()
        #: Our recent keepalive pings (id -> sent at), whose pongs are ours,
        #: not the consumers'.
        self._keepalive_pings = {}
        self._keepalive = LoopingCall(self._tick)
        self._keepalive.clock = self._clock

    def __repr__(self):
        return "<MeshConnection {} {}>".format(
            self.peer_id, "outbound" if self.outbound else "inbound")

    @property
    def address(self):
        """The peer's ``host:port`` as seen on the socket."""
        peer = self._websocket.transport.getPeer()
        return "{}:{}".format(getattr(peer, "host", "?"), getattr(peer, "port", "?"))

    def start(self):
        """Begin keepalive and backpressure once the handshake is done."""
        transport = self._websocket.transport
        try:
            transport.registerProducer(self, True)
            self._producing = True
        except RuntimeError:
            pass  # a producer is already registered; we then rely on the cap alone
        self._keepalive.start(self._config.ping_interval_s, now=False)

    # -- sending -----------------------------------------------------------

    def seal(self, message):
        """The frame for ``message``; MessageTooLargeError over the peer's limit."""
        try:
            return self._cipher.seal(message, timestamp=int(self._clock.seconds()))
        except LetheanError as e:
            raise MessageTooLargeError(str(e)) from None

    def send(self, message):
        if self.closed:
            raise NotConnectedError("peer {} not connected".format(self.peer_id))
        self.send_frame(self.seal(message))

    def send_frame(self, frame):
        """Send one sealed frame now, or queue it while the peer is not reading."""
        if self.closed:
            raise NotConnectedError("peer {} not connected".format(self.peer_id))
        if not self._paused and not self._queue:
            self._write(frame)
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if self._queued_bytes > self._config.max_send_buffer_bytes:
            self._owner.count("dropped_slow_reader")
            self._drop("send buffer over {} bytes: peer is not reading".format(
                self._config.max_send_buffer_bytes))

    # IPushProducer: the TCP transport tells us when its buffer is full.
    def pauseProducing(self):
        self._paused = True

    def resumeProducing(self):
        self._paused = False
        while self._queue and not self._paused and not self.closed:
            frame = self._queue.popleft()
            self._queued_bytes -= len(frame)
            self._write(frame)

    def _write(self, frame):
        self.frames_out += 1
        self.bytes_out += len(frame)
        self._websocket.sendMessage(frame, isBinary=True)

    def stopProducing(self):
        self._queue.clear()
        self._queued_bytes = 0

    # -- receiving ---------------------------------------------------------

    def frame_received(self, frame):
        """One binary frame from the peer; never raises."""
        if self.closed:
            return
        if not self._bucket.allow():
            self._owner.count("rate_limited")
            self._excess += 1
            if self._excess > self._config.rate_excess_drop:
                self._owner.count("dropped_flooding")
                self._drop("kept sending past its rate limit")
            return
        self._excess = 0
        try:
            message = open_message(self._cipher, frame)
        except LetheanError as e:
            self._owner.count("decrypt_failed")
            _log.warn("dropped frame from {peer_id} ({peer}): {reason}", peer=self.address,
                      peer_id=self.peer_id, reason=str(e))
            return
        self.last_activity = self._clock.seconds()
        self.frames_in += 1
        self.bytes_in += len(frame)
        if not self.authenticated:
            self.authenticated = True
            self._owner.authenticated(self)
            if self.closed:
                return
        if not self._owner.dedup.check_and_mark(message.id):
            self._owner.count("duplicates")
            return
        self._owner.count("messages_received")
        self._owner.deliver(self, message)

    def is_keepalive_pong(self, message):
        """True for the pong answering one of our keepalive pings."""
        if message.type == PONG and message.reply_to in self._keepalive_pings:
            sent_at = self._keepalive_pings.pop(message.reply_to)
            self.rtt_s = max(0.0, self._clock.seconds() - sent_at)
            return True
        return False

    # -- keepalive -----------------------------------------------------------

    def _tick(self):
        idle = self._clock.seconds() - self.last_activity
        if idle > self._config.idle_limit_s:
            self._owner.count("dropped_idle")
            self._drop("idle for {:.0f} s".format(idle))
            return
        ping = new_message(PING, self._owner.identity.id, self.peer_id,
                           {"sentAt": int(self._clock.seconds() * 1000)}, clock=self._clock)
        try:
            self.send(ping)
            self._keepalive_pings[ping.id] = self._clock.seconds()
            while len(self._keepalive_pings) > 4:
                del self._keepalive_pings[next(iter(self._keepalive_pings))]
        except LetheanError as e:
            self._drop("ping failed: {}".format(e))

    # -- closing -------------------------------------------------------------

    def _drop(self, reason):
        """Log one warning and close the TCP connection at once (hostile or dead peer)."""
        if self.closed:
            return
        _log.warn("dropped {peer_id} ({peer}): {reason}", peer=self.address,
                  peer_id=self.peer_id, reason=reason)
        self._shutdown()
        self._websocket.transport.abortConnection()

    def close(self, reason=None, code=None):
        """
        Close the link; with ``reason``, first a sealed ``disconnect``
        ``{"reason", "code"}`` (best effort).  Returns a Deferred that fires
        once the connection is gone.
        """
        if not self.closed:
            if reason is not None:
                message = new_message(DISCONNECT, self._owner.identity.id, self.peer_id,
                                      {"reason": reason, "code": DISCONNECT_NORMAL if code is None else code}, clock=self._clock)
                try:
                    # Straight to the socket buffer: queued frames go first.
                    self.resumeProducing()
                    self._write(self.seal(message))
                except LetheanError:
                    pass
            self._shutdown()
            # TCP close after the buffer drains; no WebSocket close frame,
            # as the reference.
            self._websocket.transport.loseConnection()
        return self.when_lost()

    def when_lost(self):
        """A Deferred firing (with None) when the connection has gone."""
        d = defer.Deferred()
        if self._lost is None:
            d.callback(None)
        else:
            self._lost.addBoth(lambda result: (d.callback(None), result)[1])
        return d

    def _shutdown(self):
        self.closed = True
        if self._keepalive.running:
            self._keepalive.stop()
        if self._producing:
            # A transport with a registered producer does not close (TLS
            # would wait for it forever before its close_notify).
            self._producing = False
            transport = self._websocket.transport
            if transport is not None:
                transport.unregisterProducer()
        self._queue.clear()
        self._queued_bytes = 0

    def connection_lost(self):
        """The socket is gone: stop timers, tell the owner, wake waiters."""
        self._shutdown()
        self._owner.connection_lost(self)
        lost, self._lost = self._lost, None
        if lost is not None:
            lost.callback(None)
