"""LevinProtocol answers: the peer's requests and notifications reach our handlers."""

from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from lethean.levin import (
    Array,
    Command,
    Header,
    LevinFactory,
    LevinProtocol,
    ReturnCodeError,
    Section,
    String,
    Uint8,
    Uint32,
    encode_storage,
)
from lethean.levin._header import RETURN_ERROR_CONNECTION, RETURN_ERROR_HANDLER_NOT_DEFINED
from lethean.levin._protocol import RETURN_SUCCESS
from tests._levin_protocol import (
    PEER,
    PING_REPLY,
    connect,
    notification,
    packet,
    ping,
    request,
    written,
)


class AnswerTests(SynchronousTestCase):
    """The peer's requests are answered by handlers, in order."""

    def test_handler_answer(self):
        """A handler's section is the response, with the success code."""
        protocol, transport, _ = connect(handlers={Command.PING: ping})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, payload)] = written(transport)
        self.assertEqual(header, Header.response(Command.PING, len(payload), RETURN_SUCCESS))
        self.assertEqual(payload, encode_storage(PING_REPLY))

    def test_success_code_configurable(self):
        """The factory sets the return code of successful answers."""
        protocol, transport, _ = connect(handlers={Command.PING: ping}, success_return_code=0)
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, 0)

    def test_none_is_an_empty_answer(self):
        """A handler returning None answers with an empty section."""
        protocol, transport, _ = connect(handlers={Command.PING: lambda p, h, s: None})
        protocol.dataReceived(request(Command.PING, {}))
        [(_, payload)] = written(transport)
        self.assertEqual(payload, encode_storage(Section()))

    def test_no_handler(self):
        """A request without a handler is answered -6 (handler not defined)."""
        protocol, transport, _ = connect()
        protocol.dataReceived(request(Command.PING, {}))
        [(header, payload)] = written(transport)
        self.assertEqual((header.return_code, payload), (RETURN_ERROR_HANDLER_NOT_DEFINED, b""))

    def test_return_code_error(self):
        """A handler raising ReturnCodeError answers with that code."""
        def refuse(protocol, header, section):
            raise ReturnCodeError(-5, header.command)
        protocol, transport, _ = connect(handlers={Command.PING: refuse})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, -5)

    def test_handler_bug(self):
        """A handler that crashes is logged and answered -1; the connection stays."""
        def broken(protocol, header, section):
            return 1 / 0
        protocol, transport, _ = connect(handlers={Command.PING: broken})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, RETURN_ERROR_CONNECTION)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertFalse(transport.disconnecting)

    def test_unencodable_answer(self):
        """A handler answer that cannot be encoded is logged and answered -1."""
        protocol, transport, _ = connect(handlers={
            Command.PING: lambda p, h, s: {"a": Array(Uint8, [1])}})
        protocol.dataReceived(request(Command.PING, {}))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, RETURN_ERROR_CONNECTION)
        self.assertEqual(len(self.flushLoggedErrors()), 1)

    def test_answer_of_the_wrong_kind(self):
        """A handler answering a non-section is logged as a bug and answered -1; later answers flow."""
        answers = iter([5, PING_REPLY])
        protocol, transport, _ = connect(handlers={Command.PING: lambda p, h, s: next(answers)})
        protocol.dataReceived(request(Command.PING, {}) + request(Command.PING, {}))
        [(first, _), (second, payload)] = written(transport)
        self.assertEqual(first.return_code, RETURN_ERROR_CONNECTION)
        self.assertEqual((second.return_code, payload), (RETURN_SUCCESS, encode_storage(PING_REPLY)))
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)

    def test_unreadable_request(self):
        """A request whose body is not storage is answered -1, as monerod does."""
        protocol, transport, _ = connect(handlers={Command.PING: ping})
        protocol.dataReceived(packet(Header.request(Command.PING, 0), b"junk"))
        [(header, _)] = written(transport)
        self.assertEqual(header.return_code, RETURN_ERROR_CONNECTION)
        self.assertFalse(transport.disconnecting)

    def test_answers_keep_request_order(self):
        """Answers to one command leave in request order, even if handlers finish reversed."""
        pending = []

        def slow(protocol, header, section):
            pending.append((defer.Deferred(), section))
            return pending[-1][0]

        protocol, transport, _ = connect(handlers={Command.TIMED_SYNC: slow, Command.PING: ping})
        protocol.dataReceived(request(Command.TIMED_SYNC, {"n": Uint8(1)})
                              + request(Command.TIMED_SYNC, {"n": Uint8(2)}))
        pending[1][0].callback(pending[1][1])
        self.assertEqual(transport.value(), b"")
        pending[0][0].callback(pending[0][1])
        answers = written(transport)
        self.assertEqual([p for _, p in answers],
                         [encode_storage({"n": Uint8(1)}), encode_storage({"n": Uint8(2)})])

    def test_notifications(self):
        """Notifications go to their handler; without one they are ignored."""
        seen = []
        protocol, transport, _ = connect(handlers={
            Command.NOTIFY_NEW_TRANSACTIONS: lambda p, h, s: seen.append(s)})
        txs = {"txs": Array(String, [b"tx"])}
        protocol.dataReceived(notification(Command.NOTIFY_NEW_TRANSACTIONS, txs)
                              + notification(2010, {}))
        self.assertEqual(seen, [Section(txs)])
        self.assertEqual(transport.value(), b"")

    def test_notify(self):
        """notify writes a notification packet."""
        protocol, transport, _ = connect()
        protocol.notify(Command.NOTIFY_NEW_TRANSACTIONS, {"txs": Array(String, [b"tx"])})
        [(header, payload)] = written(transport)
        self.assertEqual(header, Header.notification(Command.NOTIFY_NEW_TRANSACTIONS,
                                                     len(payload)))

    def test_subclass_hook(self):
        """A subclass may answer requests by overriding requestReceived."""
        class Answering(LevinProtocol):
            def requestReceived(self, header, section):
                return {"echo": Uint32(header.command)}

        factory = LevinFactory(task.Clock())
        factory.protocol = Answering
        protocol = factory.buildProtocol(PEER)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(request(77, {}))
        [(_, payload)] = written(transport)
        self.assertEqual(payload, encode_storage({"echo": Uint32(77)}))
