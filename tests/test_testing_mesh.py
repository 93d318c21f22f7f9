"""Tests for lethean.testing: the in-memory mesh behaves like the real transport."""

from twisted.internet import task
from twisted.internet.error import ConnectionRefusedError
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from lethean.interfaces import IMeshConnection, IMeshTransport
from lethean.mesh import FEATURES, new_message
from lethean.mesh._errors import MessageTooLargeError, NotConnectedError
from lethean.smsg import frame_password
from lethean.testing import MemoryMesh
from tests._node_worker import make_identity


class Recorder:
    """Records messages, packets and lost links."""

    def __init__(self):
        self.messages, self.packets, self.lost = [], [], []

    def messageReceived(self, connection, message):
        self.messages.append((connection, message))

    def packetReceived(self, connection, packet):
        self.packets.append(packet)

    def connectionLost(self, connection):
        self.lost.append(connection)


class MemoryMeshTests(SynchronousTestCase):
    """MemoryMesh and its transports."""

    def setUp(self):
        self.clock = task.Clock()
        self.mesh = MemoryMesh(self.clock)
        self.a = self.mesh.add_node(make_identity("alpha"))
        self.b = self.mesh.add_node(make_identity("bravo"))
        self.inbox = Recorder()
        self.b.add_consumer(self.inbox)
        self.b.add_packet_consumer(self.inbox)

    def message(self, payload=None, message_type="x"):
        return new_message(message_type, self.a.identity.id, self.b.identity.id, payload,
                           clock=self.clock)

    def test_interfaces(self):
        """Transports and connections provide the mesh interfaces."""
        link = self.successResultOf(self.a.connect(self.b.address))
        self.assertTrue(verifyObject(IMeshTransport, self.a))
        self.assertTrue(verifyObject(IMeshConnection, link))

    def test_link_both_ends(self):
        """A dial gives each side a connection with the pair's shared secret."""
        link = self.successResultOf(self.a.connect(self.b.address))
        back = self.b.connection(self.a.identity.id)
        self.assertEqual((link.outbound, back.outbound), (True, False))
        self.assertEqual(link.shared_secret, back.shared_secret)
        self.assertEqual(link.peer_id, self.b.identity.id)
        self.assertIs(self.successResultOf(self.a.connect(self.b.address)), link)
        self.assertEqual(frame_password(link.shared_secret), frame_password(back.shared_secret))

    def test_link_figures(self):
        """Each end counts sealed frames and bytes as the real transport does."""
        link = self.successResultOf(self.a.connect(self.b.address))
        back = self.b.connection(self.a.identity.id)
        self.assertEqual((link.address, back.address), (self.b.address, self.a.address))
        link.send(new_message("x", self.a.identity.id, self.b.identity.id, {}, clock=self.clock))
        self.assertEqual((link.frames_out, back.frames_in), (1, 1))
        self.assertEqual(link.bytes_out, back.bytes_in)
        self.assertGreater(back.bytes_in, 97)
        self.assertEqual((back.session, back.features, back.rtt_s), ("v2", FEATURES, None))

    def test_v2_frames_do_not_open_with_the_static_key(self):
        """Between lethean nodes frames are session frames, not the pair key's SMSG."""
        from lethean.errors import LetheanError
        from lethean.smsg import FrameCipher

        frames = []
        self.patch(self.mesh, "_enqueue", lambda call, *args: (frames.extend(
            arg for arg in args if isinstance(arg, bytes)), call(*args)))
        link = self.successResultOf(self.a.connect(self.b.address))
        link.send(self.message({"secret": "s3cret"}))
        self.assertEqual(len(self.inbox.messages), 1)
        [frame] = frames
        self.assertNotIn(b"s3cret", frame)
        self.assertRaises(LetheanError, FrameCipher(link.shared_secret).open, frame)

    def test_envelope_checks(self):
        """Messages with a wrong from, a wrong to or a stale ts are dropped, as on the real mesh."""
        link = self.successResultOf(self.a.connect(self.b.address))
        late = task.Clock()
        self.clock.advance(1000)
        bad = [new_message("x", "f" * 32, self.b.identity.id, None, clock=self.clock),
               new_message("x", self.a.identity.id, "e" * 32, None, clock=self.clock),
               new_message("x", self.a.identity.id, self.b.identity.id, None, clock=late)]
        for message in bad:
            link.send(message)
        self.assertEqual(self.inbox.messages, [])
        self.assertEqual([reason for reason, _ in self.b.rejected],
                         ["envelope_wrong_from", "envelope_wrong_to", "envelope_stale_ts"])
        good = self.message()
        link.send(good)
        self.assertEqual([m for _, m in self.inbox.messages], [good])

    def test_dial_failures(self):
        """Unknown addresses and a wrong expected peer id are refused."""
        self.failureResultOf(self.a.connect("memory:nowhere"), ConnectionRefusedError)
        self.failureResultOf(self.a.connect(self.b.address, peer_id="0" * 32),
                             ConnectionRefusedError)

    def test_messages_go_through_the_wire_format(self):
        """A delivered message is the decoded wire form (payloads become plain JSON)."""
        self.successResultOf(self.a.connect(self.b.address))
        sent = self.message({"n": 1.5, "s": "<&>"})
        self.a.send(self.b.identity.id, sent)
        [(connection, got)] = self.inbox.messages
        self.assertEqual(got, sent)
        self.assertEqual(connection.peer_id, self.a.identity.id)

    def test_pings_answered_not_delivered(self):
        """The transport answers ping with pong and keeps it from consumers."""
        self.successResultOf(self.a.connect(self.b.address))
        self.a.send(self.b.identity.id, self.message({"sentAt": 7}, "ping"))
        self.assertEqual(self.inbox.messages, [])
        [pong] = self.a.received
        self.assertEqual((pong.type, pong.payload["sentAt"]), ("pong", 7))

    def test_queue_without_autoflush(self):
        """With autoflush off nothing arrives until flush()."""
        self.mesh.autoflush = False
        self.successResultOf(self.a.connect(self.b.address))
        self.a.send(self.b.identity.id, self.message())
        self.assertEqual(self.inbox.messages, [])
        self.mesh.flush()
        self.assertEqual(len(self.inbox.messages), 1)

    def test_limits_and_closed_links(self):
        """Oversized frames, unknown peers and closed links raise the mesh's errors."""
        link = self.successResultOf(self.a.connect(self.b.address))
        self.assertRaises(MessageTooLargeError, link.send, self.message("x" * (1024 * 1024)))
        self.assertRaises(NotConnectedError, self.a.send, "f" * 32, self.message())
        link.close("bye", 1000)
        self.assertEqual(self.inbox.messages[-1][1].payload, {"reason": "bye", "code": 1000})
        self.assertEqual([c.peer_id for c in self.inbox.lost], [self.a.identity.id])
        self.assertIsNone(self.a.connection(self.b.identity.id))
        self.assertRaises(NotConnectedError, link.send, self.message())
        self.successResultOf(link.when_lost())

    def test_broadcast_and_packets(self):
        """broadcast skips the sender named in from; packets reach packet consumers."""
        self.successResultOf(self.a.connect(self.b.address))
        self.a.broadcast(self.message())
        skipped = new_message("x", self.b.identity.id, "", None, clock=self.clock)
        self.a.broadcast(skipped)
        self.assertEqual(len(self.inbox.messages), 1)
        self.a.send_packet(self.b.identity.id, "packet")
        self.assertEqual(self.inbox.packets, ["packet"])
