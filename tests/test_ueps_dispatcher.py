"""The UEPS intent dispatcher: check order, threshold, handlers, circuit breaker."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from lethean.interfaces import IPacketConsumer
from lethean.ueps import (
    INTENT_COMPUTE,
    Dispatcher,
    Header,
    NilPacketError,
    Packet,
    PeerQuarantinedError,
    ThreatScoreExceededError,
    UnknownIntentError,
)


def packet(intent_id=INTENT_COMPUTE, threat_score=0):
    return Packet(Header(intent_id, threat_score=threat_score), b"job")


class Link:
    """What the dispatcher needs of a mesh connection."""

    def __init__(self, peer_id):
        self.peer_id = peer_id


class DispatcherTests(SynchronousTestCase):
    """Routing by intent, in the reference's order of checks."""

    def setUp(self):
        self.clock = Clock()
        self.dispatcher = Dispatcher(self.clock)
        self.events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)

    def test_routes_to_the_intent_handler(self):
        """A registered intent's handler gets the packet and its result is returned."""
        self.dispatcher.register(INTENT_COMPUTE, lambda p: ("handled", p.payload))
        self.assertEqual(self.successResultOf(self.dispatcher.dispatch(packet())),
                         ("handled", b"job"))

    def test_register_replaces(self):
        """Registering an intent again replaces the earlier handler."""
        self.dispatcher.register(INTENT_COMPUTE, lambda p: 1)
        self.dispatcher.register(INTENT_COMPUTE, lambda p: 2)
        self.assertEqual(self.successResultOf(self.dispatcher.dispatch(packet())), 2)

    def test_threshold_is_inclusive(self):
        """A threat score of 50000 passes and 50001 is dropped."""
        self.dispatcher.register(INTENT_COMPUTE, lambda p: "ok")
        self.assertEqual(self.successResultOf(self.dispatcher.dispatch(packet(threat_score=50000))), "ok")
        self.failureResultOf(self.dispatcher.dispatch(packet(threat_score=50001)),
                             ThreatScoreExceededError)

    def test_threat_checked_before_intent(self):
        """A high-threat packet with an unknown intent reports the threat."""
        self.failureResultOf(self.dispatcher.dispatch(packet(0x99, threat_score=60000)),
                             ThreatScoreExceededError)

    def test_unknown_intent(self):
        """An intent with no handler fails and logs one warning."""
        self.failureResultOf(self.dispatcher.dispatch(packet(0x42)), UnknownIntentError)
        drops = [e for e in self.events if e.get("reason") == "unknown intent"]
        self.assertEqual(len(drops), 1)
        self.assertEqual(drops[0]["intent"], "0x42")

    def test_nil_packet(self):
        """A missing packet fails with NilPacketError."""
        self.failureResultOf(self.dispatcher.dispatch(None), NilPacketError)

    def test_handler_deferred_is_returned(self):
        """A handler's Deferred is what dispatch returns."""
        later = defer.Deferred()
        self.dispatcher.register(INTENT_COMPUTE, lambda p: later)
        d = self.dispatcher.dispatch(packet())
        self.assertNoResult(d)
        later.callback("done")
        self.assertEqual(self.successResultOf(d), "done")

    def test_circuit_breaker(self):
        """Repeated threat drops from one peer quarantine it until the cool-down ends."""
        dispatcher = Dispatcher(self.clock, breaker_trips=3, breaker_window_s=10,
                                breaker_cool_down_s=100)
        dispatcher.register(INTENT_COMPUTE, lambda p: "ok")
        for _ in range(3):
            self.failureResultOf(dispatcher.dispatch(packet(threat_score=60000), "bad"),
                                 ThreatScoreExceededError)
        self.failureResultOf(dispatcher.dispatch(packet(), "bad"), PeerQuarantinedError)
        self.assertEqual(self.successResultOf(dispatcher.dispatch(packet(), "good")), "ok")
        self.clock.advance(100)
        self.assertEqual(self.successResultOf(dispatcher.dispatch(packet(), "bad")), "ok")

    def test_breaker_window(self):
        """Drops spread wider than the window never open the breaker."""
        dispatcher = Dispatcher(self.clock, breaker_trips=2, breaker_window_s=10)
        dispatcher.register(INTENT_COMPUTE, lambda p: "ok")
        for _ in range(3):
            dispatcher.dispatch(packet(threat_score=60000), "slow").addErrback(lambda f: None)
            self.clock.advance(11)
        self.assertEqual(self.successResultOf(dispatcher.dispatch(packet(), "slow")), "ok")

    def test_packet_consumer(self):
        """As a packet consumer it swallows drops and logs handler failures."""
        verifyObject(IPacketConsumer, self.dispatcher)
        self.assertIsNone(self.successResultOf(
            self.dispatcher.packetReceived(Link("p"), packet(0x42))))

        def broken(p):
            raise RuntimeError("boom")
        self.dispatcher.register(INTENT_COMPUTE, broken)
        self.assertIsNone(self.successResultOf(self.dispatcher.packetReceived(Link("p"), packet())))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
