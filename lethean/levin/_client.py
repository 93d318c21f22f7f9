"""
A small client of a daemon's P2P commands: :func:`connect_peer`, then
:func:`ping_peer` or :func:`handshake_peer`, then :func:`close_peer`.

Each returns a Deferred.  While connected, the client answers the daemon's
own requests (support flags, timed sync) as a polite peer does
(spec/levin.md section 5) and skips its notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint, ITransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from lethean._deferreds import returns_deferred

from ._errors import (
    BadSignatureError,
    ConnectionLostError,
    LevinHandshakeRejectedError,
    NotLevinError,
    PeerUnreachableError,
    UnexpectedReplyError,
)
from ._header import LEVIN_SIGNATURE, Command, Header
from ._networks import network_label
from ._protocol import Handler, LevinFactory, LevinProtocol
from ._replies import PING_OK_STATUS, parse_handshake_reply, parse_ping_reply, parse_timed_sync_reply
from ._requests import ping_request, support_flags_response, timed_sync_request, timed_sync_response
from ._values import Section

__all__ = [
    "CLIENT_MAX_PAYLOAD_SIZE",
    "polite_handlers",
    "connect_peer",
    "close_peer",
    "ping_peer",
    "handshake_peer",
]

_log = Logger()

#: Largest packet the client accepts.  P2P replies are tens of kilobytes (a
#: full peer list of 250 entries is about 20 KB); a block notification that
#: slips in stays well under this.  The Go reference's 100 MiB is for nodes.
CLIENT_MAX_PAYLOAD_SIZE = 4 * 1024 * 1024


def polite_handlers(payload_data: Section, support_flags: int = 0) -> dict[int, Handler]:
    """
    Handlers answering what a daemon asks a connected peer: its support
    flags (1007) and a timed sync (1002, about once a minute; a peer that
    leaves it unanswered is dropped).  Notifications need no handler.
    """
    def on_support_flags(protocol: LevinProtocol, header: Header, section: Section) -> Section:
        return support_flags_response(support_flags)

    def on_timed_sync(protocol: LevinProtocol, header: Header, section: Section) -> Section:
        return timed_sync_response(payload_data)

    return {
        Command.REQUEST_SUPPORT_FLAGS: on_support_flags,
        Command.TIMED_SYNC: on_timed_sync,
    }


_SIGNATURE_BYTES = LEVIN_SIGNATURE.to_bytes(8, "little")


class _ClientProtocol(LevinProtocol):
    """
    A :class:`LevinProtocol` whose ``lost`` Deferred fires when it closes,
    and which remembers in ``not_levin`` a peer whose first bytes are not a
    Levin signature (so the user hears "wrong port", not "connection lost").
    """

    def __init__(self) -> None:
        super().__init__()
        self.lost: Deferred[None] = Deferred()
        self.not_levin: NotLevinError | None = None
        #: The peer's first bytes (up to a signature's worth).
        self.prefix = b""

    def dataReceived(self, data: bytes) -> None:
        if len(self.prefix) < len(_SIGNATURE_BYTES):
            self.prefix += data[:len(_SIGNATURE_BYTES) - len(self.prefix)]
            if not _SIGNATURE_BYTES.startswith(self.prefix):
                self.not_levin = NotLevinError("it sent {} {!r}".format(
                    self.prefix.hex(), self.prefix))
        super().dataReceived(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        super().connectionLost(reason)
        self.lost.callback(None)

    def packetReceived(self, header: Header, payload: bytes) -> None:
        # A client has no use for the daemon's notifications (2010 right
        # after the handshake, 2006 when it wants our blocks): skip them
        # without decoding.
        if not header.expect_response and not header.is_response:
            _log.debug("ignored Levin notification {command} from {peer}",
                       command=header.command, peer=self.peer)
            return
        super().packetReceived(header, payload)


class _ClientFactory(LevinFactory):
    protocol = _ClientProtocol


@returns_deferred
async def connect_peer(reactor: IReactorTime, endpoint: IStreamClientEndpoint | str, *,
                       timeout: float, handlers: Mapping[int, Handler] | None = None,
                       max_payload_size: int = CLIENT_MAX_PAYLOAD_SIZE) -> LevinProtocol:
    """
    Connect to a Levin peer; a Deferred firing with the connected
    :class:`LevinProtocol`.

    ``endpoint`` is any ``IStreamClientEndpoint`` or a client endpoint
    string for ``reactor`` (``tcp:host=H:port=P``, ``unix:/path``,
    ``tls:host:port``, ...).  ``handlers`` answer the peer's requests (see
    :func:`polite_handlers`); ``timeout`` bounds the connection attempt on
    ``reactor``'s clock and is each invoke's default; a packet over
    ``max_payload_size`` drops the connection.  Fails with
    :class:`PeerUnreachableError`.
    """
    dial: IStreamClientEndpoint = (
        clientFromString(reactor, endpoint) if isinstance(endpoint, str) else endpoint)
    factory = _ClientFactory(reactor, handlers=handlers, invoke_timeout=timeout,
                             max_payload_size=max_payload_size)
    connecting = dial.connect(factory)

    def too_late(result: object, timeout: float) -> object:
        # Whatever the endpoint's canceller failed with (CancelledError, or
        # ConnectingCancelledError for TCP), the user's answer is the timeout.
        if isinstance(result, Failure):
            raise PeerUnreachableError("no connection within {} s".format(timeout))
        return result

    connecting.addTimeout(timeout, reactor, onTimeoutCancel=too_late)
    try:
        return cast(LevinProtocol, await connecting)
    except (ConnectError, DNSLookupError) as e:
        raise PeerUnreachableError(_connect_detail(e)) from None


def _connect_detail(error: Exception) -> str:
    detail = str(error).strip().rstrip(".")
    return detail or type(error).__name__


@returns_deferred
async def close_peer(protocol: LevinProtocol) -> None:
    """
    Close a connection made by :func:`connect_peer`; a Deferred firing once
    it is closed (at once if it already is).
    """
    client = cast(_ClientProtocol, protocol)
    if not client.lost.called:
        cast(ITransport, client.transport).loseConnection()
    await client.lost


async def _invoke(protocol: LevinProtocol, command: int, section: Section,
                  timeout: float | None) -> Section:
    try:
        return await protocol.invoke(command, section, timeout=timeout)
    except (ConnectionLostError, BadSignatureError) as e:
        not_levin = getattr(protocol, "not_levin", None)
        if not_levin is not None:
            raise not_levin from None
        if isinstance(e, ConnectionLostError) and getattr(protocol, "prefix", None) == b"":
            raise ConnectionLostError(
                "the peer closed it without sending anything; is that its P2P port?") from None
        raise


@returns_deferred
async def ping_peer(protocol: LevinProtocol, *, timeout: float | None = None) -> Section:
    """
    COMMAND_PING; a Deferred firing with the reply :class:`Section` after
    checking that its status is ``OK`` (:class:`UnexpectedReplyError`
    otherwise).
    """
    reply = await _invoke(protocol, Command.PING, ping_request(), timeout)
    parsed = parse_ping_reply(reply)
    if not parsed.ok:
        raise UnexpectedReplyError("ping status {!r}, expected {!r}".format(
            parsed.status, PING_OK_STATUS))
    return reply


@returns_deferred
async def handshake_peer(protocol: LevinProtocol, request: Section, *,
                         timeout: float | None = None) -> tuple[Section, Section]:
    """
    COMMAND_HANDSHAKE with ``request``, then one COMMAND_TIMED_SYNC with the
    request's ``payload_data``; a Deferred firing with both reply Sections.

    A daemon closes the connection without a word when the network id
    differs (spec/levin.md section 5), so a close before the reply, or a
    reply from another network, fails with :class:`LevinHandshakeRejectedError`.
    """
    network_id = request["node_data"]["network_id"].value
    try:
        reply = await _invoke(protocol, Command.HANDSHAKE, request, timeout)
    except ConnectionLostError:
        raise LevinHandshakeRejectedError(
            "it closed the connection without a reply, as a daemon does to a peer of "
            "another network; we sent {}".format(network_label(network_id))) from None
    parsed = parse_handshake_reply(reply)
    if parsed.node_data.network_id != network_id:
        raise LevinHandshakeRejectedError("it is on {}, we sent {}".format(
            network_label(parsed.node_data.network_id), network_label(network_id)))
    _log.info("Levin handshake with {peer} done: peer_id {peer_id}, height {height}",
              peer=protocol.peer, peer_id=parsed.node_data.peer_id,
              height=parsed.payload_data.current_height)
    sync = await _invoke(
        protocol, Command.TIMED_SYNC, timed_sync_request(request["payload_data"]), timeout)
    parse_timed_sync_reply(sync)
    return reply, sync
