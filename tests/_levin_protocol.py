"""
Fixtures the LevinProtocol tests share: packets as a daemon writes them and a
recording protocol on a StringTransport.
"""

from twisted.internet import defer, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from lethean.levin import (
    Header,
    LevinDecoder,
    LevinFactory,
    LevinProtocol,
    Section,
    String,
    Uint64,
    encode_header,
    encode_storage,
)
from lethean.levin._protocol import RETURN_SUCCESS


PEER = IPv4Address("TCP", "192.0.2.7", 18080)
PING_REPLY = Section({"status": String("OK"), "peer_id": Uint64(42)})
SYNC = Section({"payload_data": {"current_height": Uint64(1)}})


def packet(header, payload=b""):
    """The bytes of one packet; ``header.payload_size`` is set from ``payload``."""
    fields = dict(payload_size=len(payload), expect_response=header.expect_response,
                  command=header.command, return_code=header.return_code,
                  flags=header.flags)
    return encode_header(Header(**fields)) + payload


def response(command, section=None, return_code=RETURN_SUCCESS):
    """A response packet as a daemon writes it."""
    body = b"" if section is None else encode_storage(section)
    return packet(Header.response(command, 0, return_code), body)


def request(command, section):
    """An invoke packet as a daemon writes it."""
    return packet(Header.request(command, 0), encode_storage(section))


def notification(command, section):
    """A notification packet."""
    return packet(Header.notification(command, 0), encode_storage(section))


class Recorder(LevinProtocol):
    """Remembers notifications and how the connection ended."""

    def __init__(self):
        super().__init__()
        self.notifications = []
        self.reason = None
        self._closed = []

    def connectionMade(self):
        super().connectionMade()
        if not self.factory.first.called:
            self.factory.first.callback(self)

    def notificationReceived(self, header, section):
        self.notifications.append((header.command, section))
        return super().notificationReceived(header, section)

    def connectionLost(self, reason=None):
        self.reason = reason
        super().connectionLost(reason)
        waiting, self._closed = self._closed, None
        for d in waiting:
            d.callback(None)

    def closed(self):
        """A Deferred firing once the connection is closed."""
        if self._closed is None:
            return defer.succeed(None)
        d = defer.Deferred()
        self._closed.append(d)
        return d


def ping(protocol, header, section):
    """A ping handler as in monerod."""
    return PING_REPLY


class BuiltRecorder(LevinFactory):
    """A factory whose protocols are Recorders, remembered in ``built``."""

    protocol = Recorder

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.built = []
        self.first = defer.Deferred()

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        self.built.append(protocol)
        return protocol


def connect(**config):
    """A client protocol on a StringTransport, its transport and clock."""
    clock = config.pop("clock", None) or task.Clock()
    factory = BuiltRecorder(clock, **config)
    protocol = factory.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return protocol, transport, clock


def written(transport):
    """The packets written to ``transport`` so far (and clears it)."""
    packets = LevinDecoder().feed(transport.value())
    transport.clear()
    return packets
