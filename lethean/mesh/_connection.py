"""
What every mesh link does once its handshake is done: sealed frames in and
out, keepalive, the capability exchange, and the bounds on what a peer can
make it do.

A link is driven by its thin Autobahn protocol (``_protocol``), which only
forwards events, and talks to its owner (the transport) through
``ILinkOwner``.  The handshakes are explicit state machines in
``_inbound`` (``upgrading -> awaiting_handshake -> proving -> open ->
closed``) and ``_outbound`` (``upgrading -> awaiting_ack -> open ->
closed``), subclasses of :class:`MeshConnection`.

Receive order per sealed frame (transport.md, plus weakness 13): rate
limit, decrypt, then the frame counts as activity, then the envelope
checks (``_checks``), de-duplication, then the link's own messages
(capabilities, session upgrade, ping, keepalive pong) or the owner's
consumers.  Frames that do not decrypt never refresh the idle timer, so
garbage cannot keep a dead peer alive.

Between two lethean peers that negotiated it in the handshake, the link
upgrades to a v2 session (``_session``): each side's first sealed frame
is its ``session_upgrade`` (sealed with the static pair key), every later
frame a v2 frame.  Nothing else is sealed with the static key: messages
sent meanwhile wait in a bounded queue.  The link is registered (and
``link up`` logged) once the peer's first v2 frame has opened.
"""

from twisted.internet import defer
from twisted.internet.task import LoopingCall
from zope.interface import implementer

from lethean.errors import LetheanError
from lethean.interfaces import IMeshConnection
from lethean.mesh._capabilities import (
    CAPABILITIES,
    SESSION_V2,
    capabilities_payload,
    parse_capabilities,
)
from lethean.mesh._checks import envelope_problem
from lethean.mesh._envelope import (
    DISCONNECT,
    DISCONNECT_NORMAL,
    PING,
    PONG,
    decode_message,
    new_message,
    open_message,
)
from lethean.mesh._errors import MessageTooLargeError, NotConnectedError, SessionError
from lethean.mesh._limits import TokenBucket
from lethean.mesh._logs import clean, peer_text
from lethean.mesh._payloads import answer_ping
from lethean.mesh._session import (
    FRAME_OVERHEAD_BYTES,
    SESSION_UPGRADE,
    Session,
    transcript_hash,
)
from lethean.smsg import FrameCipher

__all__ = ["MeshConnection", "reason_text"]

#: Keepalive pings remembered for their pongs (round-trip time).
_KEEPALIVE_PINGS = 4
#: The largest handshake (or ack) message read: an honest one is well under
#: a kilobyte, and a stranger's is parsed before anything else is known.
MAX_HANDSHAKE_BYTES = 64 * 1024
#: A link's allowance of undecryptable frames grows by one this often.
BAD_FRAME_REFILL_S = 60.0
#: Why a link may be dropped that count as offences (refused when repeated).
OFFENCES = frozenset((
    "dropped_flooding",
    "dropped_bad_frames",
    "dropped_text_frame",
    "dropped_fragments",
    "dropped_control_frames",
    "dropped_protocol_error",
    "refused_bad_handshake",
    "refused_id_mismatch",
    "dropped_prove_timeout",
    "dropped_session_frame",
    "dropped_session_refused",
))


@implementer(IMeshConnection)
class MeshConnection:
    """
    What both directions share once the handshake is done.

    ``owner`` provides ``ILinkOwner``; ``websocket`` is the Autobahn
    protocol carrying the frames (its ``transport`` is the connection's
    ``Wire``).
    """

    outbound: bool | None = None

    def __init__(self, owner, websocket):
        self._owner = owner
        self._websocket = websocket
        self._clock = owner.reactor
        self._config = owner.config
        self.peer = None
        self.peer_id = ""
        self.shared_secret = None
        self._cipher = None
        #: True once the link is closed (or failed before opening).
        self.closed = False
        self.reason = None
        self.connected_at = self.last_activity = self._clock.seconds()
        self.rtt_s = None
        #: lethean extensions the peer announced; a Go peer announces none.
        self.features = frozenset()
        self.peer_version = ""
        #: ``"v1"`` (the reference's static pair key) or ``"v2"`` (a session).
        self.session = "v1"
        self._session = None
        self._session_deadline = None
        self._hello = b""
        self.frames_in = self.frames_out = 0
        self.bytes_in = self.bytes_out = 0
        config = self._config
        self._bucket = TokenBucket(self._clock, config.rate_burst, config.rate_per_s)
        self._bytes = TokenBucket(self._clock, config.rate_bytes_burst, config.rate_bytes_per_s)
        self._control = TokenBucket(self._clock, config.control_burst, config.control_per_s)
        self._bad = TokenBucket(self._clock, config.max_bad_frames, 1 / BAD_FRAME_REFILL_S)
        self._excess = TokenBucket(self._clock, config.rate_excess_drop,
                                   config.rate_excess_drop / config.rate_excess_window_s)
        self._skip = False
        self._fragments = 0
        self._message_bytes = 0
        self._in_flight = 0
        self._pauses = set()
        #: Reading pauses until each of these timers fires (by reason).
        self._resume_calls = {}
        self._proven = False
        self._announced = False
        self._capabilities_seen = False
        self._announcement = defer.Deferred()
        self._announce_timer = None
        self._lost = []
        self._gone = False
        self._keepalive_pings = {}
        self._keepalive = LoopingCall(self._tick)
        self._keepalive.clock = self._clock

    def __repr__(self):
        return "<{} {}>".format(type(self).__name__, self.peer_id or self.address)

    @property
    def address(self):
        """The peer's ``host:port`` as seen on the socket."""
        transport = self._websocket.transport
        return peer_text(transport.getPeer()) if transport is not None else "?"

    @property
    def direction(self):
        return "outbound" if self.outbound else "inbound"

    @property
    def bundle_secret(self):
        """
        The 32-byte secret deploy bundles on this link are keyed from: the
        v2 session's own, or the static ``shared_secret`` (what a Go peer uses).
        """
        session = self._session
        if session is None:
            return self.shared_secret
        if session.bundle_secret is None:
            raise NotConnectedError("the v2 session with {} is not keyed".format(self.peer_id))
        return session.bundle_secret

    # -- sending -----------------------------------------------------------

    def seal(self, message, *, final=False):
        """
        The next frame for ``message``; MessageTooLargeError over the peer's
        limit.  On a v2 link the frame takes the next place in the stream:
        send it, and in order.  ``final`` (v2) ends our stream.
        """
        session = self._session
        if session is not None and session.keyed:
            return session.cipher.seal(message.to_bytes(), final=final)
        return self._seal_v1(message)

    def _seal_v1(self, message):
        try:
            return self._cipher.seal(message, timestamp=int(self._clock.seconds()))
        except LetheanError as e:
            raise MessageTooLargeError(str(e)) from None

    def send(self, message):
        if self.closed or self._cipher is None:
            raise NotConnectedError("peer {} not connected".format(self.peer_id))
        session = self._session
        if session is not None and not session.keyed:
            # Nothing but the upgrade goes out under the static key.
            data = message.to_bytes()
            self._session_size_check(data)
            session.hold(data)
            return
        self.send_frame(self.seal(message))

    def _session_size_check(self, data):
        size = len(data) + FRAME_OVERHEAD_BYTES
        if size > self._config.max_message_bytes:
            raise MessageTooLargeError("frame of {} bytes, limit {}".format(
                size, self._config.max_message_bytes))

    def send_frame(self, frame):
        """Send one sealed frame; every byte counts against the peer's send budget."""
        if self.closed or self._cipher is None:
            raise NotConnectedError("peer {} not connected".format(self.peer_id))
        self.frames_out += 1
        self.bytes_out += len(frame)
        self._websocket.sendMessage(frame, isBinary=True)

    def _send_new(self, type, payload):
        message = new_message(type, self._owner.identity.id, self.peer_id, payload,
                              clock=self._clock)
        self.send(message)
        return message

    # -- the open link ---------------------------------------------------------

    def _begin(self, peer, secret):
        """The handshake is done: key the cipher, start keepalive."""
        self.peer = peer
        self.peer_id = peer.id
        self.shared_secret = secret
        self._cipher = FrameCipher(secret, max_frame_bytes=self._config.max_message_bytes)
        self.connected_at = self.last_activity = self._clock.seconds()
        self._keepalive.start(self._config.ping_interval_s, now=False)
        # Sealed frames now go straight to the link, not through the
        # machine's input (automat builds a bound input on every access).
        self.message_received = self._receive_sealed

    def _send_capabilities(self):
        self._send_new(CAPABILITIES, capabilities_payload(self._owner.features))

    # -- the v2 session ----------------------------------------------------------

    @property
    def _sessions(self):
        """Whether this node offers and accepts v2 sessions."""
        return SESSION_V2 in self._owner.features

    def _start_session(self, ack):
        """
        The handshake negotiated v2: send our upgrade (the only frame
        sealed with the static key) and start the upgrade's deadline.
        ``ack`` is the ack frame, as sent or received.
        """
        local = self._owner.identity.identity.raw_public_key
        peer = self.peer.raw_public_key
        self._session = Session(
            self._clock, initiator=self.outbound, shared_secret=self.shared_secret,
            initiator_key=local if self.outbound else peer,
            responder_key=peer if self.outbound else local,
            transcript=transcript_hash(self._hello, ack),
            max_frame_bytes=self._config.max_message_bytes)
        self._hello = b""
        self._session_deadline = self._clock.callLater(
            self._config.session_timeout_s, self._session_late)
        upgrade = new_message(SESSION_UPGRADE, self._owner.identity.id, self.peer_id,
                              self._session.start(), clock=self._clock)
        self.send_frame(self._seal_v1(upgrade))

    def _session_late(self):
        self._session_deadline = None
        self.drop("dropped_session_timeout", "no v2 session within {} s".format(
            self._config.session_timeout_s))

    def _upgrade_received(self, message):
        """The peer's first sealed frame on a v2 link: it must be its upgrade."""
        if message.type != SESSION_UPGRADE:
            self.drop("dropped_session_refused", "expected the session upgrade, got {}".format(
                clean(message.type, 64)))
            return
        problem = self._envelope_problem(message)
        if problem is not None:
            self.drop("dropped_session_refused", "session upgrade refused: " + problem[1])
            return
        try:
            self._session.upgrade(message.payload)
        except SessionError as e:
            self.drop(e.reason, str(e))
            return
        # Our stream's first frames: our capabilities (then, from the
        # initiator, the ping a Go peer would expect), then what waited.
        self._send_capabilities()
        if self.outbound:
            self._ping()
        for data in self._session.release():
            if self.closed:
                return
            self.send_frame(self._session.cipher.seal(data))

    def _receive_v2(self, frame):
        try:
            message = decode_message(self._session.cipher.open(frame))
        except SessionError as e:
            self.drop(e.reason, "v2 frame refused: {}".format(e))
            return
        except LetheanError as e:
            self.drop("dropped_session_frame", "v2 frame refused: {}".format(e))
            return
        self._opened(frame)
        if self._session.state != "v2":
            self._session_established()
            if self.closed:
                return
        self._accept(message)

    def _session_established(self):
        """The peer's first v2 frame opened: the session is up, the link may be registered."""
        self._session.opened()
        self.session = "v2"
        if self._session_deadline is not None and self._session_deadline.active():
            self._session_deadline.cancel()
        self._session_deadline = None
        self._owner.count("sessions_v2")
        if not self._proven:
            # The responder: a v2 frame proves the initiator holds its key
            # now (a replayed handshake and upgrade cannot make one).
            self._proven = True
            self.proved()
        else:
            self._owner.link_proven(self)
            if not self.closed:
                self._log_up()

    # -- receiving ----------------------------------------------------------------

    def _receive_sealed(self, frame, is_binary):
        """One frame after the handshake; never raises."""
        if self._skip:
            self._skip = False
            return
        if not is_binary:
            self.drop("dropped_text_frame", "text frame after the handshake")
            return
        session = self._session
        if session is not None and session.keyed:
            self._receive_v2(frame)
            return
        try:
            message = open_message(self._cipher, frame)
        except LetheanError as e:
            self._owner.report("decrypt_failed", "dropped frame: {}".format(e),
                               peer=self.address, peer_id=self.peer_id)
            if not self._bad.allow():
                self.drop("dropped_bad_frames", "kept sending frames that do not decrypt")
            return
        self._opened(frame)
        if session is not None:
            self._upgrade_received(message)
            return
        if not self._proven:
            self._proven = True
            self.proved()
            if self.closed:
                return
        self._accept(message)

    def _opened(self, frame):
        """A frame from the peer opened: it counts as activity."""
        self.last_activity = self._clock.seconds()
        self.frames_in += 1
        self.bytes_in += len(frame)

    def _envelope_problem(self, message):
        return envelope_problem(message, peer_id=self.peer_id, local_id=self._owner.identity.id,
                                now=self._clock.seconds(),
                                max_skew_s=self._config.max_clock_skew_s)

    def _accept(self, message):
        """Envelope checks and de-duplication, then the message is handled."""
        problem = self._envelope_problem(message)
        if problem is not None:
            reason, text = problem
            self._owner.report(reason, "dropped message: " + text, peer=self.address,
                               peer_id=self.peer_id)
            return
        if self._owner.is_duplicate(message.id):
            self._owner.count("duplicates")
            return
        self._handle(message)

    def _handle(self, message):
        if message.type == CAPABILITIES:
            self._capabilities(message)
            return
        if message.type == SESSION_UPGRADE:
            if self._session is None:
                self.drop("dropped_session_refused",
                          "session upgrade from a peer that did not negotiate v2")
            else:
                self.drop("dropped_session_refused", "a second session upgrade")
            return
        # Any other frame first: the peer announces nothing (a Go peer).
        self._announce()
        if message.type == PING:
            self._pong(message)
            return
        if message.type == PONG and message.reply_to in self._keepalive_pings:
            sent_at = self._keepalive_pings.pop(message.reply_to)
            self.rtt_s = max(0.0, self._clock.seconds() - sent_at)
            return
        self._owner.count("messages_received")
        for result in self._owner.deliver(self, message) or ():
            if not result.called:
                self._in_flight += 1
                if self._in_flight > self._config.max_in_flight:
                    self._pause("busy")
                result.addBoth(self._finished)

    def _finished(self, result):
        self._in_flight -= 1
        if self._in_flight <= self._config.max_in_flight // 2:
            self._resume("busy")
        return result

    # -- what arrives, as it arrives (called by the Autobahn protocol) ----------

    def message_begins(self):
        """A WebSocket message starts: charge the peer's message rate now."""
        self._fragments = 0
        self._message_bytes = 0
        if self._cipher is None:
            return
        if self._bucket.allow():
            self._skip = False
            return
        self._owner.count("rate_limited")
        session = self._session
        if session is not None and session.keyed:
            # A session frame cannot be skipped unread (its stream would
            # lose its place): read it, and pause reading until it is due.
            self._skip = False
            self._pause("rate", self._bucket.take(1))
            return
        self._skip = True
        # Excess is forgiven only slowly: tokens trickling in between the
        # frames of a flood must not reset it.
        if not self._excess.allow():
            self.drop("dropped_flooding", "kept sending past its rate limit")

    def fragment_begins(self, length):
        """A frame of a message starts: bound the fragments, charge the bytes."""
        self._fragments += 1
        self._message_bytes += length
        if self._cipher is None and self._message_bytes > MAX_HANDSHAKE_BYTES:
            self.drop("refused_bad_handshake", "handshake message over {} bytes".format(
                MAX_HANDSHAKE_BYTES))
            return
        config = self._config
        if self._fragments > config.max_fragments + self._message_bytes // config.fragment_bytes:
            self.drop("dropped_fragments", "{} fragments for {} bytes".format(
                self._fragments, self._message_bytes))
            return
        wait = self._bytes.take(length)
        if wait > 0 and not self.closed:
            self._pause("bytes", wait)

    def control_frame(self):
        """A ping or pong arrived; False (and the peer dropped) past the control rate."""
        if self._control.allow():
            return True
        self.drop("dropped_control_frames", "too many WebSocket control frames")
        return False

    def protocol_error(self, text):
        """Autobahn failed the connection for a WebSocket protocol violation."""
        self.drop("dropped_protocol_error", text)

    def _pause(self, reason, seconds=None):
        transport = self._websocket.transport
        if not self._pauses and transport is not None:
            transport.pauseProducing()
        self._pauses.add(reason)
        if seconds is not None:
            call = self._resume_calls.get(reason)
            if call is not None and call.active():
                call.cancel()
            self._resume_calls[reason] = self._clock.callLater(seconds, self._resume, reason)

    def _resume(self, reason):
        if reason not in self._pauses:
            return
        self._pauses.discard(reason)
        transport = self._websocket.transport
        if not self._pauses and transport is not None and not self._gone:
            transport.resumeProducing()

    def _offence(self, reason):
        """
        A strike for the address, and for the key once the peer proved it
        holds it (an unproven link may be a replay of someone else's key).
        """
        if reason in OFFENCES:
            transport = self._websocket.transport
            peer = transport.getPeer() if transport is not None else None
            key = self.peer.public_key if self._proven and self.peer is not None else None
            self._owner.offence(getattr(peer, "host", None), key)

    def _capabilities(self, message):
        if self._capabilities_seen:
            self._owner.count("capabilities_repeated")
            return
        self._capabilities_seen = True
        self.features, self.peer_version = parse_capabilities(message.payload)
        if self._session is None and SESSION_V2 in self.features and self._sessions:
            # Both announce v2, yet the handshake did not negotiate it:
            # someone altered it, or one side is broken.  Never stay on v1.
            self.drop("dropped_session_downgrade",
                      "the peer announces v2 sessions but the handshake negotiated none")
            return
        self._announce()

    def _announce(self):
        """The peer's features are known (announced, or never will be)."""
        self._announced = True
        if self._announce_timer is not None and self._announce_timer.active():
            self._announce_timer.cancel()
        self._announce_timer = None
        announcement, self._announcement = self._announcement, None
        if announcement is not None:
            announcement.callback(self)

    def _await_capabilities(self):
        if not self._announced:
            self._announce_timer = self._clock.callLater(
                self._config.capabilities_timeout_s, self._announce)

    def when_announced(self):
        """A Deferred firing with this link once the peer's features are known."""
        if self._announcement is None:
            return defer.succeed(self)
        d = defer.Deferred()
        self._announcement.addBoth(lambda result: (d.callback(self), result)[1])
        return d

    def _pong(self, ping):
        try:
            self.send(answer_ping(ping, clock=self._clock, from_=self._owner.identity.id))
        except LetheanError:
            pass

    def _tick(self):
        idle = self._clock.seconds() - self.last_activity
        if idle > self._config.idle_limit_s:
            self.drop("dropped_idle", "idle for {:.0f} s".format(idle))
            return
        self._ping()

    def _ping(self):
        try:
            ping = self._send_new(PING, {"sentAt": int(self._clock.seconds() * 1000)})
        except LetheanError as e:
            self.drop("dropped_send_failed", "ping failed: {}".format(e))
            return
        self._keepalive_pings[ping.id] = self._clock.seconds()
        while len(self._keepalive_pings) > _KEEPALIVE_PINGS:
            del self._keepalive_pings[next(iter(self._keepalive_pings))]

    # -- closing -------------------------------------------------------------

    def close(self, reason=None, code=None):
        """
        Close the link; with ``reason``, first a sealed ``disconnect``
        ``{"reason", "code"}`` (best effort).  Returns a Deferred that fires
        once the connection is gone.
        """
        self.shutdown(reason, code)
        return self.when_lost()

    def when_lost(self):
        """A Deferred firing (with None) when the connection has gone."""
        if self._gone:
            return defer.succeed(None)
        d = defer.Deferred()
        self._lost.append(d)
        return d

    def _say_goodbye(self, reason, code):
        if reason is None or self._cipher is None:
            return
        session = self._session
        if session is not None and not session.keyed:
            return  # nothing but the upgrade under the static key
        message = new_message(DISCONNECT, self._owner.identity.id, self.peer_id,
                              {"reason": reason,
                               "code": DISCONNECT_NORMAL if code is None else code},
                              clock=self._clock)
        try:
            # On a v2 link, the last frame of our stream.
            self.send_frame(self.seal(message, final=True))
        except LetheanError:
            pass

    def _stop(self, reason):
        """Leave the open (or proving) state: timers off, owner told once."""
        self.message_received = _ignore
        self.closed = True
        self.reason = reason
        if self._keepalive.running:
            self._keepalive.stop()
        self._end_session()
        self._announce()
        self._owner.link_lost(self, reason)

    def _end_session(self):
        if self._session_deadline is not None and self._session_deadline.active():
            self._session_deadline.cancel()
        self._session_deadline = None
        if self._session is not None:
            self._session.forget()

    def _lose_connection(self):
        transport = self._websocket.transport
        if transport is not None:
            # No WebSocket close frame, as the reference: TCP close once
            # the buffer has drained.
            transport.loseConnection()

    def _abort_connection(self):
        # Through Autobahn, so that it stops parsing what is already buffered.
        if self._websocket.transport is not None:
            self._websocket.dropConnection(abort=True)

    def _report_drop(self, failure):
        """When we dropped the connection (a deadline, a full send buffer), say why once."""
        reason = getattr(failure.value, "reason", None)
        if reason is not None:
            self._owner.report(reason, str(failure.value), peer=self.address,
                               peer_id=self.peer_id)
            self._offence(reason)

    def _count_drop(self, failure):
        reason = getattr(failure.value, "reason", None)
        if reason is not None:
            self._owner.count(reason)

    def _gone_now(self):
        self.closed = True
        self._gone = True
        for call in self._resume_calls.values():
            if call.active():
                call.cancel()
        self._resume_calls = {}
        if self._announce_timer is not None and self._announce_timer.active():
            self._announce_timer.cancel()
        self._announce_timer = None
        self._end_session()
        waiters, self._lost = self._lost, []
        for d in waiters:
            d.callback(None)

    def _drop_while_open(self, reason, text):
        self._owner.count(reason)
        self._offence(reason)
        self._log_down(text)
        self._stop(text)
        self._abort_connection()

    def _close_while_open(self, reason, code):
        self._say_goodbye(reason, code)
        self._log_down(reason or "closed")
        self._stop(reason or "closed")
        self._lose_connection()

    def _lost_while_open(self, failure):
        text = reason_text(failure)
        self._count_drop(failure)
        self._log_down(text)
        self._stop(text)

    def _log_up(self):
        self._owner.event("link", "link up: {} {} {} {}, session {}".format(
            clean(self.peer.name, 64), self.peer_id, self.address, self.direction, self.session),
            peer=self.address, peer_id=self.peer_id)

    def _log_down(self, reason):
        self._owner.event("link", "link down: {} {} {} {}: {}".format(
            clean(self.peer.name, 64), self.peer_id, self.address, self.direction, reason),
            peer=self.address, peer_id=self.peer_id)


def _ignore(payload, is_binary):
    """Frames after the link closed."""


def reason_text(failure):
    """Why a connection was lost, short and escaped."""
    return clean(failure.getErrorMessage() or type(failure.value).__name__)
