"""Helpers the v2 session tests share: keyed Session pairs, and records of a link's frames."""

from twisted.internet import task

from lethean.errors import LetheanError
from lethean.mesh import open_message
from lethean.mesh._session import Session
from tests._mesh import make_identity

#: The frame limit the sessions under test are made with.
MAX_FRAME_BYTES = 1024 * 1024


def session_pair(clock=None, transcripts=(b"t" * 32, b"t" * 32)):
    """Two keyed Sessions, initiator first, as two linked peers would have them."""
    clock = clock or task.Clock()
    alpha, bravo = make_identity("alpha"), make_identity("bravo")
    secret = alpha.shared_secret(bravo.identity.public_key)
    keys = (alpha.identity.raw_public_key, bravo.identity.raw_public_key)
    ends = [Session(clock, initiator=initiator, shared_secret=secret, initiator_key=keys[0],
                    responder_key=keys[1], transcript=transcript,
                    max_frame_bytes=MAX_FRAME_BYTES)
            for initiator, transcript in zip((True, False), transcripts)]
    offers = [end.start() for end in ends]
    return ends, offers


def keyed_pair(clock=None):
    """Two Sessions that took each other's upgrade, initiator first."""
    ends, offers = session_pair(clock)
    ends[0].upgrade(offers[1])
    ends[1].upgrade(offers[0])
    return ends


def record(testcase, protocol_class, log):
    """Record every WebSocket message ``protocol_class`` receives, as ``(payload, binary)``."""
    original = protocol_class.onMessage

    def onMessage(self, payload, isBinary):
        log.append((bytes(payload), isBinary))
        original(self, payload, isBinary)

    testcase.patch(protocol_class, "onMessage", onMessage)


def sealed(log):
    """The binary frames of a record."""
    return [payload for payload, binary in log if binary]


def opens_with(cipher, frame):
    """The message ``frame`` opens to with ``cipher``, or None if it does not open."""
    try:
        return open_message(cipher, frame)
    except LetheanError:
        return None


def warnings(events, text):
    """The logged events whose text, format or reason mentions ``text``."""
    return [e for e in events if text in str(e.get("text", "")) + str(e.get("log_format", ""))
            + str(e.get("reason", ""))]
