"""Helpers the stream codec and protocol tests share (Levin, UEPS)."""

from twisted.internet import defer


def feed_in_pieces(decoder, data, cuts):
    """Feed ``data`` to ``decoder.feed`` cut at the offsets ``cuts``; every frame returned."""
    frames = []
    start = 0
    for end in sorted(cuts) + [len(data)]:
        frames += decoder.feed(data[start:end])
        start = end
    return frames


def close_on_cleanup(case, client, server_factory):
    """
    At the end of ``case``, close ``client`` and wait until it and every
    server protocol in ``server_factory.built`` saw the connection go (each
    has a ``closed()`` Deferred), so trial finds a clean reactor.
    """
    def close():
        client.transport.loseConnection()
        ends = [client.closed()] + [server.closed() for server in server_factory.built]
        return defer.gatherResults(ends)

    case.addCleanup(close)
