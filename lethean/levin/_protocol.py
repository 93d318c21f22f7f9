"""
A Levin connection: invokes, notifications and answers to a peer's requests.

Levin has no request ids.  A response carries the command id of the invoke
it answers, and a peer answers the invokes of one command in the order it
received them, so responses are matched to pending invokes **by command, in
FIFO order**.  A peer may interleave its own requests and notifications
(monerod sends a timed sync about once a minute, a support-flags request
after the handshake, and notifications at any time); they are told apart
from responses by the header (``expect_response`` and the RESPONSE flag),
never mistaken for a reply.

An invoke that times out closes the connection, as epee does: a late reply
could not be told apart from the reply to the next invoke of that command.
A cancelled invoke instead keeps its place in the queue, and its reply is
discarded when it arrives.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.interfaces import IReactorTime, ITransport
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._decoder import LevinDecoder
from ._errors import (
    ConnectionLostError,
    InvokeTimeoutError,
    LevinError,
    PayloadTooBigError,
    ReturnCodeError,
    ValueOutOfRangeError,
)
from ._header import (
    MAX_PAYLOAD_SIZE,
    RETURN_ERROR_CONNECTION,
    RETURN_ERROR_HANDLER_NOT_DEFINED,
    Header,
    encode_header,
)
from ._storage import MAX_DEPTH, MAX_ITEMS, decode_storage, encode_storage
from ._values import Section

__all__ = ["LevinProtocol", "LevinFactory", "Handler", "INVOKE_TIMEOUT_S", "RETURN_SUCCESS"]

_log = Logger()

#: Default time an invoke waits for its response (the Go reference's read
#: timeout per packet).
INVOKE_TIMEOUT_S = 120.0
#: Return code of our successful responses.  epee handlers return 1 and
#: epee callers treat a code ``<= 0`` as a failure, so 0 (what the Go
#: reference writes) would fail a daemon's invoke; we read ``>= 0`` as success.
RETURN_SUCCESS = 1

#: A handler of the peer's requests and notifications:
#: ``handler(protocol, header, section)`` returns the answer (a
#: :class:`Section`, a mapping, ``None`` or a Deferred firing with one).
Handler = Callable[["LevinProtocol", Header, Section], Any]


class _Invoke:
    """One invoke waiting for its response."""

    __slots__ = ("command", "deferred", "timeout", "cancelled")

    def __init__(self, command: int, timeout: float | None) -> None:
        self.command = command
        self.timeout = timeout
        self.deferred: Deferred[tuple[Header, bytes]] = Deferred(self._cancel)
        self.cancelled = False

    def _cancel(self, deferred: Deferred[tuple[Header, bytes]]) -> None:
        # Cancelled by the user, or by its timeout (which then takes it out
        # of the queue, see LevinProtocol._timed_out).
        self.cancelled = True


class _ReplySlot:
    """A response owed to the peer; sent once it and every earlier one are ready."""

    __slots__ = ("command", "packet")

    def __init__(self, command: int) -> None:
        self.command = command
        self.packet: tuple[Header, bytes] | None = None


def _check_payload_limit(size: object) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_PAYLOAD_SIZE:
        raise ValueOutOfRangeError("a payload limit is 0..{} bytes, not {!r}".format(
            MAX_PAYLOAD_SIZE, size))


def _check_timeout(timeout: object) -> None:
    if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float))
            or not timeout > 0):
        raise ValueOutOfRangeError(
            "a timeout is a positive number of seconds or None, not {!r}".format(timeout))


def _describe_peer(transport: ITransport | None) -> str:
    peer = transport.getPeer() if transport is not None else None
    host, port = getattr(peer, "host", None), getattr(peer, "port", None)
    if host is not None and port is not None:
        return "{}:{}".format(host, port)
    return str(peer)


class LevinProtocol(Protocol):
    """
    One Levin connection; the configuration lives on its :class:`LevinFactory`.

    Use :meth:`invoke` and :meth:`notify` to talk to the peer.  The peer's
    requests and notifications go to :meth:`requestReceived` and
    :meth:`notificationReceived`, which by default call the handler
    registered for the command in ``factory.handlers``; override them (or
    :meth:`packetReceived`, which sees every packet) in a subclass.

    Bad input (wrong signature, a payload over the limit) is logged once and
    the connection is aborted, failing pending invokes with that error;
    nothing raises out of :meth:`dataReceived`.
    """

    factory: LevinFactory  # set by LevinFactory.buildProtocol

    def __init__(self) -> None:
        self._decoder = LevinDecoder()
        self._pending: dict[int, deque[_Invoke]] = {}
        self._replies: deque[_ReplySlot] = deque()
        self._connected = False
        self._closing = False
        self.peer = "?"

    @property
    def max_payload_size(self) -> int:
        """Largest payload accepted from the peer (from the next packet on)."""
        return self._decoder.max_payload_size

    @max_payload_size.setter
    def max_payload_size(self, size: int) -> None:
        _check_payload_limit(size)
        self._decoder.max_payload_size = size

    # -- Twisted's side ------------------------------------------------------

    def connectionMade(self) -> None:
        self._connected = True
        self.peer = _describe_peer(self.transport)
        self._decoder.max_payload_size = self.factory.max_payload_size

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            packets = self._decoder.feed(data)
            while packets:
                for header, payload in packets:
                    self._dispatch(header, payload)
                    if self._closing:
                        return
                packets = self._decoder.feed(b"")
        except LevinError as e:
            self._drop(e)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._connected = False
        self._closing = True
        self._replies.clear()
        detail = reason.getErrorMessage() if reason is not None else "connection closed"
        self._fail_pending(ConnectionLostError(detail))

    # -- talking to the peer -------------------------------------------------

    def invoke(self, command: int, section: Mapping[str, Any], *,
               timeout: float | None = None) -> Deferred[Section]:
        """
        Send ``section`` as an invoke of ``command``; a Deferred firing with
        the response's :class:`Section`.

        Fails with :class:`ReturnCodeError` when the response's return code
        is negative, :class:`InvokeTimeoutError` after ``timeout`` seconds
        (default ``factory.invoke_timeout``; the connection is then closed),
        :class:`ConnectionLostError` if the connection closes first, or a
        decoding error if the response body is unreadable.  An empty
        response body reads as an empty section.
        """
        try:
            payload = self._encode(section)
        except LevinError:
            return fail()
        return self.invoke_packet(command, payload, timeout=timeout).addCallback(
            self._reply_section)

    def invoke_packet(self, command: int, payload: bytes, *,
                      timeout: float | None = None) -> Deferred[tuple[Header, bytes]]:
        """
        Send raw ``payload`` bytes as an invoke of ``command``; a Deferred
        firing with the response's ``(Header, payload bytes)`` whatever its
        return code.  Fails like :meth:`invoke`.
        """
        if not self._connected or self._closing:
            return fail(ConnectionLostError("not connected"))
        if len(payload) > MAX_PAYLOAD_SIZE:
            return fail(PayloadTooBigError("payload of {} bytes".format(len(payload))))
        if timeout is None:
            timeout = self.factory.invoke_timeout
        try:
            _check_timeout(timeout)
            header = Header.request(command, len(payload))
        except LevinError:
            return fail()
        entry = _Invoke(command, timeout)
        if timeout is not None:
            entry.deferred.addTimeout(
                timeout, self.factory.reactor,
                onTimeoutCancel=lambda result, timeout: self._timed_out(entry))
        self._pending.setdefault(command, deque()).append(entry)
        self.send_packet(header, payload)
        return entry.deferred

    def notify(self, command: int, section: Mapping[str, Any]) -> None:
        """Send ``section`` as a notification of ``command`` (no response)."""
        if not self._connected or self._closing:
            raise ConnectionLostError("not connected")
        payload = self._encode(section)
        self.send_packet(Header.notification(command, len(payload)), payload)

    def send_packet(self, header: Header, payload: bytes) -> None:
        """Write one packet; ``header.payload_size`` must be ``len(payload)``."""
        if header.payload_size != len(payload):
            raise PayloadTooBigError("header declares {} bytes, payload has {}".format(
                header.payload_size, len(payload)))
        self._transport.write(encode_header(header) + bytes(payload))

    # -- hooks ---------------------------------------------------------------

    def packetReceived(self, header: Header, payload: bytes) -> None:
        """
        Route one packet: responses to the pending invokes, invokes to
        :meth:`requestReceived`, everything else to :meth:`notificationReceived`.
        """
        if header.is_response:
            self._response_received(header, payload)
        elif header.expect_response:
            self._request_received(header, payload)
        else:
            self._notification_received(header, payload)

    def requestReceived(self, header: Header, section: Section) -> Any:
        """
        Answer the peer's invoke; return (or fire a Deferred with) the
        response :class:`Section` (``None`` means an empty one).

        Raise :class:`ReturnCodeError` to answer with that return code.  The
        default calls ``factory.handlers[header.command](self, header,
        section)``, and answers -6 (no handler) when there is none.
        """
        handler = self.factory.handlers.get(header.command)
        if handler is None:
            raise ReturnCodeError(RETURN_ERROR_HANDLER_NOT_DEFINED, header.command,
                                  "no handler for command {}".format(header.command))
        return handler(self, header, section)

    def notificationReceived(self, header: Header, section: Section) -> Any:
        """
        Handle the peer's notification.  The default calls the handler in
        ``factory.handlers`` and ignores notifications without one.
        """
        handler = self.factory.handlers.get(header.command)
        if handler is None:
            _log.debug("ignored Levin notification {command} from {peer}",
                       command=header.command, peer=self.peer)
            return None
        return handler(self, header, section)

    # -- internals -----------------------------------------------------------

    @property
    def _transport(self) -> ITransport:
        # Set from connectionMade on, which is when the methods using it run.
        return cast(ITransport, self.transport)

    def _encode(self, section: Mapping[str, Any]) -> bytes:
        if isinstance(section, Mapping) and not isinstance(section, Section):
            section = Section(section)
        return encode_storage(section, epee_arrays=self.factory.epee_arrays,
                              max_depth=self.factory.max_depth)

    def _decode(self, payload: bytes) -> Section:
        if not payload:
            return Section()
        return decode_storage(payload, epee_arrays=self.factory.epee_arrays,
                              max_depth=self.factory.max_depth,
                              max_items=self.factory.max_items)

    def _dispatch(self, header: Header, payload: bytes) -> None:
        try:
            self.packetReceived(header, payload)
        except Exception:
            _log.failure("bug handling Levin packet {command} from {peer}",
                         command=header.command, peer=self.peer)

    def _drop(self, error: LevinError) -> None:
        self._closing = True
        _log.warn("dropping Levin connection from {peer}: {reason} ({error})",
                  peer=self.peer, reason=error.kind, error=str(error))
        # The waiting invokes hear why, not just that the connection closed.
        self._fail_pending(error)
        abort = getattr(self.transport, "abortConnection", self._transport.loseConnection)
        abort()

    def _fail_pending(self, error: LevinError) -> None:
        pending, self._pending = self._pending, {}
        for queue in pending.values():
            for entry in queue:
                if not entry.cancelled:
                    entry.deferred.errback(error)

    def _response_received(self, header: Header, payload: bytes) -> None:
        queue = self._pending.get(header.command)
        if not queue:
            _log.info("ignored unsolicited Levin response {command} from {peer}",
                      command=header.command, peer=self.peer)
            return
        entry = queue.popleft()
        if not queue:
            del self._pending[header.command]
        if not entry.cancelled:
            entry.deferred.callback((header, payload))

    def _reply_section(self, packet: tuple[Header, bytes]) -> Section:
        header, payload = packet
        if header.return_code < 0:
            raise ReturnCodeError(header.return_code, header.command)
        return self._decode(payload)

    def _timed_out(self, entry: _Invoke) -> Failure:
        queue = self._pending.get(entry.command)
        if queue is not None and entry in queue:
            queue.remove(entry)
            if not queue:
                del self._pending[entry.command]
        error = InvokeTimeoutError(
            "no response to command {} within {} s".format(entry.command, entry.timeout))
        if not self._closing:
            _log.warn("Levin invoke {command} to {peer} timed out after {timeout}s; closing",
                      command=entry.command, peer=self.peer, timeout=entry.timeout,
                      reason="timeout")
            self._closing = True
            self._transport.loseConnection()
        return Failure(error)

    def _request_received(self, header: Header, payload: bytes) -> None:
        slot = _ReplySlot(header.command)
        self._replies.append(slot)
        try:
            section = self._decode(payload)
        except LevinError as e:
            _log.warn("unreadable Levin request {command} from {peer}: {reason} ({error})",
                      command=header.command, peer=self.peer, reason=e.kind, error=str(e))
            self._reply_ready(slot, RETURN_ERROR_CONNECTION, b"")
            return
        d = maybeDeferred(self.requestReceived, header, section)
        d.addCallbacks(self._answer, self._answer_failed,
                       callbackArgs=(slot,), errbackArgs=(slot,))
        d.addErrback(self._answer_bug, slot)

    def _notification_received(self, header: Header, payload: bytes) -> None:
        try:
            section = self._decode(payload)
        except LevinError as e:
            _log.warn("unreadable Levin notification {command} from {peer}: {reason} ({error})",
                      command=header.command, peer=self.peer, reason=e.kind, error=str(e))
            return
        d = maybeDeferred(self.notificationReceived, header, section)
        d.addErrback(lambda f: _log.failure(
            "Levin notification handler for {command} failed", f,
            command=header.command, peer=self.peer))

    def _answer(self, result: Mapping[str, Any] | None, slot: _ReplySlot) -> None:
        if result is None:
            result = Section()
        try:
            payload = self._encode(result)
        except LevinError:
            _log.failure("Levin handler for {command} returned an unencodable response",
                         command=slot.command, peer=self.peer)
            self._reply_ready(slot, RETURN_ERROR_CONNECTION, b"")
            return
        self._reply_ready(slot, self.factory.success_return_code, payload)

    def _answer_bug(self, failure: Failure, slot: _ReplySlot) -> None:
        # Answering itself broke (say a handler returned a number): the peer
        # still gets its -1, and the answers queued behind this one go out.
        _log.failure("bug answering Levin request {command} from {peer}", failure,
                     command=slot.command, peer=self.peer)
        if slot.packet is None:
            self._reply_ready(slot, RETURN_ERROR_CONNECTION, b"")

    def _answer_failed(self, failure: Failure, slot: _ReplySlot) -> None:
        if failure.check(ReturnCodeError):
            _log.info("answering Levin request {command} from {peer} with {return_code}",
                      command=slot.command, peer=self.peer,
                      return_code=failure.value.return_code)
            self._reply_ready(slot, failure.value.return_code, b"")
            return
        _log.failure("Levin handler for {command} failed", failure,
                     command=slot.command, peer=self.peer)
        self._reply_ready(slot, RETURN_ERROR_CONNECTION, b"")

    def _reply_ready(self, slot: _ReplySlot, return_code: int, payload: bytes) -> None:
        slot.packet = (Header.response(slot.command, len(payload), return_code), payload)
        # Responses leave in the order the requests came, so that the peer's
        # FIFO matching by command holds even when handlers finish out of order.
        while self._replies:
            packet = self._replies[0].packet
            if packet is None:
                break
            self._replies.popleft()
            if self._connected and not self._closing:
                self.send_packet(*packet)


class LevinFactory(Factory):
    """
    Configuration shared by the Levin connections it builds (client or server).

    ``reactor`` is the clock for invoke timeouts.  ``handlers`` maps command
    ids to ``handler(protocol, header, section)`` for the peer's requests and
    notifications.  ``max_payload_size`` caps what a peer may send (checked
    on the header, before buffering); lower it for untrusted peers, for
    example before a handshake.  ``epee_arrays``, ``max_depth`` and
    ``max_items`` are passed to the storage codec.
    """

    # Twisted types Factory.protocol for its generic Factory[P], which
    # lethean cannot subscript while it supports Twisted 24.
    protocol = LevinProtocol  # type: ignore[assignment]

    def __init__(self, reactor: IReactorTime, *,
                 handlers: Mapping[int, Handler] | None = None,
                 max_payload_size: int = MAX_PAYLOAD_SIZE,
                 invoke_timeout: float | None = INVOKE_TIMEOUT_S,
                 success_return_code: int = RETURN_SUCCESS, epee_arrays: bool = False,
                 max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> None:
        _check_payload_limit(max_payload_size)
        _check_timeout(invoke_timeout)
        if not isinstance(max_depth, int) or max_depth < 1:
            raise ValueOutOfRangeError("max_depth must be at least 1, not {!r}".format(max_depth))
        if not isinstance(max_items, int) or max_items < 0:
            raise ValueOutOfRangeError("max_items must be at least 0, not {!r}".format(max_items))
        # Validated as a header field would be.
        Header.response(0, 0, success_return_code)
        self.reactor = reactor
        self.handlers = dict(handlers or {})
        self.max_payload_size = max_payload_size
        self.invoke_timeout = invoke_timeout
        self.success_return_code = success_return_code
        self.epee_arrays = epee_arrays
        self.max_depth = max_depth
        self.max_items = max_items
