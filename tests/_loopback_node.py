"""A lethean node running in the test's process on loopback, for commands to talk to."""

import os

from twisted.internet import reactor

from lethean.identity import NodeManager
from lethean.node._assembly import assemble_node
from lethean.peers import PeerRegistry


def start_node(test, folder, name="bravo", **options):
    """A node (in this process) on loopback; ``(node, address)``."""
    data_dir = os.path.join(folder, name)
    identity = NodeManager.in_directory(data_dir).load_or_create(name=name, role="worker")
    registry = PeerRegistry(reactor, os.path.join(data_dir, "peers.json"))
    config = {"listen": "tcp:0:interface=127.0.0.1", "data-dir": data_dir, "peer": []}
    config.update(options)
    node = assemble_node(reactor, identity, registry, config)
    node.startService()
    test.addCleanup(node.stopService)
    port = node.getServiceNamed("transport").port.getHost().port
    return node, "127.0.0.1:{}".format(port)
