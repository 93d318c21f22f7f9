"""
The worker's answers to bad requests, compared with the Go reference's: a
Go controller sends the same raw requests to a Go worker and to a lethean
node, and both replies must be the same, byte for byte.
"""

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from lethean.identity import NodeManager
from lethean.node import assemble_node
from lethean.peers import PeerRegistry
from tests import _gonode
from tests._gonode import gonode_ctl, gonode_worker, home_for

#: Seconds the Go controller waits for each reply (a failure backstop).
REPLY_TIMEOUT_S = 30


def _comparable(result):
    """A raw op's reply, less what differs between any two workers (a pong's clock)."""
    payload = result.get("reply_payload")
    if result.get("reply_type") == "pong":
        payload = dict(payload, receivedAt="(the worker's clock)")
    return result.get("reply_type"), payload, result["error"]


class ErrorRepliesTests(TestCase):
    """Each request gets the reply a Go worker gives it."""

    skip = _gonode.SKIP
    timeout = 180

    async def setUp(self):
        self.home = home_for(self)
        self.go = await gonode_worker(self, self.home, self.home / "go", "--miners",
                                      "--profiles")
        node_dir = str(self.home / "node")
        identity = NodeManager.in_directory(node_dir).load_or_create(name="bravo")
        registry = PeerRegistry(reactor, os.path.join(node_dir, "peers.json"))
        node = assemble_node(reactor, identity, registry, {
            "listen": "tcp:0:interface=127.0.0.1", "data-dir": node_dir, "peer": []})
        node.startService()
        self.addCleanup(node.stopService)
        self.lethean = "127.0.0.1:{}".format(node.getServiceNamed("transport").port.getHost().port)

    async def replies(self, address, requests):
        ops = ["raw:{}:{}:{}".format(kind, REPLY_TIMEOUT_S, payload)
               for kind, payload in requests]
        results, _ = await gonode_ctl(self.home, address, self.home / "ctl", *ops)
        return [_comparable(results[op]) for op in ops]

    async def assertSameReplies(self, *requests):
        """Send ``(type, payload JSON)`` requests to both workers; the replies must match."""
        theirs = await self.replies(self.go.address, requests)
        ours = await self.replies(self.lethean, requests)
        for request, go_reply, our_reply in zip(requests, theirs, ours):
            self.assertEqual(our_reply, go_reply, "different replies to {}".format(request))

    async def test_ping_payload_not_an_object(self):
        """A ping whose payload is not a JSON object gets error 1004, not a pong."""
        await self.assertSameReplies(("ping", "[1]"), ("ping", '"x"'), ("ping", "true"),
                                     ("ping", "7"), ("ping", '{"sentAt":"x"}'),
                                     ("ping", '{"sentAt":1.5}'), ("ping", '{"SENTAT":[]}'),
                                     ("ping", "null"), ("ping", '{"sentAt":1e400}'))

    async def test_deploy_refusals(self):
        """Bad bundles in a deploy are refused with the reference's texts."""
        await self.assertSameReplies(
            ("deploy", '{"type":"profile","data":"e30=","checksum":"x","name":"p"}'),
            ("deploy", '{"type":"miner","data":"e30=","checksum":"x","name":"m"}'),
            ("deploy", '{"type":"full","data":"","checksum":"","name":"m"}'),
            ("deploy", '{"type":"nope","data":"e30=","checksum":"x","name":"p"}'),
            ("deploy", "null"))

    async def test_json_type_errors(self):
        """Payloads of the wrong JSON shape get Go's encoding/json texts, Go type names and all."""
        await self.assertSameReplies(
            ("get_logs", '{"minerName":5}'), ("get_logs", '{"minerName":{}}'),
            ("get_logs", '{"minerName":[]}'), ("get_logs", '{"minerName":null,"lines":"x"}'),
            ("get_logs", '{"lines":1.5}'), ("get_logs", '{"lines":1e3}'),
            ("get_logs", '{"lines":-1E2}'), ("get_logs", '{"lines":99999999999999999999}'),
            ("get_logs", '{"lines":true}'), ("get_logs", '{"since":"x"}'),
            ("get_logs", '{"lines":1e400}'), ("get_logs", '{"minerName":-1e400,"x":1e400}'),
            ("get_logs", '{"since":1.0}'), ("get_logs", '{"minerName":7,"lines":"x"}'),
            ("get_logs", "[]"), ("get_logs", '"x"'), ("get_logs", "5"), ("get_logs", "true"),
            ("stop_miner", "[]"), ("stop_miner", '{"minerName":true}'),
            ("stop_miner", '{"MINERNAME":1}'), ("start_miner", '{"minerType":1}'),
            ("start_miner", '{"profileId":2}'), ("start_miner", "[1]"),
            ("deploy", '{"type":5}'), ("deploy", '{"checksum":[]}'), ("deploy", '{"name":{}}'),
            ("deploy", '{"data":5}'), ("deploy", '{"data":{}}'), ("deploy", '{"data":[256]}'),
            ("deploy", '{"data":[-1]}'), ("deploy", '{"data":["a"]}'), ("deploy", '{"data":[1.5]}'),
            ("deploy", '{"data":[1,2,null],"type":"x"}'), ("deploy", "[]"))

    async def test_base64_errors(self):
        """Bad base64 in a deploy names the byte Go's decoder stops at."""
        await self.assertSameReplies(*[
            ("deploy", '{"data":"%s"}' % data)
            for data in ("!!", "e30", "e30=x", "e3=0", "====", "e===", "e30=\\n", "e\\r\\n30=",
                         "QQ=", "QQ=\\n=", "QQ=x", "QQ", "Q", "QUJD\\nRA", "QUJDRA==QQ==",
                         "QUJD\u00e9", "QUJDRA=\\n\\n", "QR==", "QUI=")])
