"""Helpers the worker and controller tests share: fake managers, and a worker on a MemoryMesh."""

from twisted.internet import defer, task
from twisted.trial.unittest import SynchronousTestCase

from lethean.identity import LocalIdentity, PrivateKey
from lethean.mesh import Timestamp, new_message
from lethean.node._miners import MinerError, MinerNotFoundError
from lethean.node._errors import ProfileError, ProfileNotFoundError
from lethean.node._worker import Worker
from lethean.testing import MemoryMesh


def make_identity(name):
    """A fresh LocalIdentity called ``name``."""
    return LocalIdentity.create(PrivateKey.generate(), name, "dual", Timestamp.from_unix(0))


def synchronous(reactor, function, *args, **kwargs):
    """Run "in a thread" at once, for tests on a task.Clock."""
    return defer.maybeDeferred(function, *args, **kwargs)


class FakeMiner:
    """A MinerInstance with canned stats and console lines."""

    def __init__(self, name, type="xmrig", stats=None, lines=None, fail=False):
        self.name, self.type, self.stats, self.lines, self.fail = name, type, stats, lines, fail
        self.history_calls = []

    def get_name(self):
        return self.name

    def get_type(self):
        return self.type

    def get_stats(self):
        if self.fail:
            raise MinerError("stats unavailable")
        return self.stats

    def get_console_history_since(self, lines, since):
        self.history_calls.append((lines, since))
        return self.lines


class FakeMinerManager:
    """A MinerManager recording what it was asked."""

    def __init__(self, miners=(), start_error=None, stop_error=None):
        self.miners = {m.name: m for m in miners}
        self.start_error, self.stop_error = start_error, stop_error
        self.started, self.stopped = [], []

    def start_miner(self, miner_type, config):
        if self.start_error:
            raise MinerError(self.start_error)
        self.started.append((miner_type, config))
        return defer.succeed(FakeMiner(miner_type + "-0", miner_type))

    def stop_miner(self, name):
        if self.stop_error:
            raise MinerError(self.stop_error)
        self.stopped.append(name)

    def list_miners(self):
        return list(self.miners.values())

    def get_miner(self, name):
        if name not in self.miners:
            raise MinerNotFoundError("miner not found: {}".format(name))
        return self.miners[name]


class FakeProfileManager:
    """A ProfileManager kept in a dict."""

    def __init__(self, profiles=None, save_error=None):
        self.profiles = dict(profiles or {})
        self.saved = []
        self.save_error = save_error

    def get_profile(self, profile_id):
        if profile_id not in self.profiles:
            raise ProfileNotFoundError("profile not found: {}".format(profile_id))
        return self.profiles[profile_id]

    def save_profile(self, profile):
        if self.save_error:
            raise ProfileError(self.save_error)
        self.saved.append(profile)


class WorkerHarness(SynchronousTestCase):
    """A controller-side node talking to a node that runs a Worker."""

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(1767323045.12)
        self.mesh = MemoryMesh(self.clock)
        self.client = self.mesh.add_node(make_identity("alpha"))
        self.server = self.mesh.add_node(make_identity("bravo"))
        self.link = self.successResultOf(self.client.connect(self.server.address))
        self.miners = FakeMinerManager([
            FakeMiner("xmrig-0", stats={"hashrate": 1234.5, "shares": 10, "rejected": 1,
                                        "uptime": 3600, "pool": "pool.example:3333",
                                        "algorithm": "rx/0"},
                      lines=["a", "b", "c"]),
        ])
        self.profiles = FakeProfileManager({"p1": {"threads": 2}})
        self.miners_root = self.mktemp()
        self.worker = self.make_worker()
        self.server.add_consumer(self.worker)

    def make_worker(self, **kwargs):
        options = dict(miner_manager=self.miners, profile_manager=self.profiles,
                       miners_root=self.miners_root, run_in_thread=synchronous)
        options.update(kwargs)
        return Worker(self.clock, self.server.identity, **options)

    def replace_worker(self, **kwargs):
        self.server.remove_consumer(self.worker)
        self.worker = self.make_worker(**kwargs)
        self.server.add_consumer(self.worker)

    def ask(self, message_type, payload=None):
        """Send a request; return the one reply to it (or None)."""
        request = new_message(message_type, self.client.identity.id, self.server.identity.id,
                              payload, clock=self.clock)
        self.link.send(request)
        replies = [m for m in self.client.received if m.reply_to == request.id]
        self.assertLessEqual(len(replies), 1)
        if replies:
            reply = replies[0]
            self.assertEqual(reply.to, self.client.identity.id)
            self.assertEqual(reply.from_, self.server.identity.id)
            return reply
        return None

    def assertReply(self, message_type, payload, expected_type, expected_payload):
        reply = self.ask(message_type, payload)
        self.assertIsNotNone(reply)
        self.assertEqual((reply.type, reply.payload), (expected_type, expected_payload))

    def assertError(self, message_type, payload, text):
        self.assertReply(message_type, payload, "error", {"code": 1004, "message": text})
