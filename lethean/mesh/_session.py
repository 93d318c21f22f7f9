"""
v2 sessions between lethean peers: fresh keys per link and direction, with
forward secrecy, ordering, replay, reflection and truncation protection,
on top of the reference's handshake.  docs/security.md argues the design;
in short:

1. **Offer, inside the reference's handshake.**  A lethean initiator's
   32-byte ``challenge`` is :func:`offer_challenge`: 16 random bytes and a
   16-byte keyed BLAKE2b tag of them under its own public key.  A Go
   responder MACs it like any challenge.  A lethean responder recognises
   it (:func:`is_offer`) and answers with :func:`accept_response` (keyed
   BLAKE2b under the pair's static secret) instead of the reference's
   HMAC-SHA256.  The response covers all 32 bytes, so the offer cannot be
   stripped unnoticed, and an acceptance cannot be turned into the
   reference's answer without the pair's secret: before any sealed frame
   both peers know, authenticated by their static keys, that the link is
   v2.  Nothing changes for a Go peer.
2. **Upgrade.**  Each side sends one ``session_upgrade`` message sealed the
   reference's way (so the static pair key authenticates it): its
   ephemeral ``crypto_kx`` key and the :func:`transcript_hash` of the two
   handshake frames as it saw them.
3. **Keys.**  ``crypto_kx`` (the initiator is the client) gives one key per
   direction; :func:`derive_keys` binds each with keyed BLAKE2b to the
   pair's static secret, the transcript and both static public keys, and
   derives a third key for deploy bundles.  The ephemeral secret is then
   dropped.
4. **Frames.**  Every later frame is one libsodium ``secretstream``
   (XChaCha20-Poly1305) message of its direction's stream
   (:class:`SessionCipher`), the first one prefixed with the stream header.
   The stream rekeys itself every :data:`REKEY_MESSAGES` messages or
   :data:`REKEY_INTERVAL_S` seconds, and a ``disconnect`` carries its
   final tag.

:class:`Session` is one link's side of all this, without I/O.
"""

from __future__ import annotations

import base64
import hmac
import os
import struct

import attrs
from twisted.internet.interfaces import IReactorTime
import nacl.bindings as sodium
import nacl.encoding
import nacl.exceptions
import nacl.hash

from lethean._types import Buffer
from lethean.mesh._errors import MessageTooLargeError, SessionError, SessionPendingError


__all__ = [
    "SESSION_UPGRADE",
    "OFFER_BYTES",
    "REKEY_MESSAGES",
    "REKEY_INTERVAL_S",
    "QUEUE_MESSAGES",
    "QUEUE_BYTES",
    "FRAME_OVERHEAD_BYTES",
    "offer_challenge",
    "is_offer",
    "accept_response",
    "accepts_offer",
    "transcript_hash",
    "Ephemeral",
    "SessionKeys",
    "derive_keys",
    "SessionCipher",
    "Session",
]

#: The message type of the upgrade (sealed the reference's way).
SESSION_UPGRADE = "session_upgrade"
#: An offer is a challenge of this many bytes: a nonce and a tag, half each.
OFFER_BYTES = 32
_NONCE_BYTES = OFFER_BYTES // 2
_KEY_BYTES = 32
#: The sender rekeys its stream after this many messages ...
REKEY_MESSAGES = 4096
#: ... or once this many seconds have passed since the last rekey.
REKEY_INTERVAL_S = 60.0
#: Messages (and their bytes) a link holds while its upgrade is under way.
QUEUE_MESSAGES = 64
QUEUE_BYTES = 4 * 1024 * 1024

_HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
#: Most bytes a v2 frame adds to its envelope (the first one carries the header).
FRAME_OVERHEAD_BYTES = _HEADER_BYTES + _ABYTES
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_REKEY = sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL

# BLAKE2b personalisations (at most 16 bytes): one per use, so that no
# value can stand in for another.
_OFFER = b"lethean/v2/offer"
_ACCEPT = b"lethean/v2/acpt"
_TRANSCRIPT = b"lethean/v2/hs"
_I2R = b"lethean/v2/i2r"
_R2I = b"lethean/v2/r2i"
_BUNDLE = b"lethean/v2/bndl"
_U32 = struct.Struct(">I")


def _blake2b(data: bytes, *, key: bytes, person: bytes, size: int = 32) -> bytes:
    return nacl.hash.blake2b(data, digest_size=size, key=key, person=person,
                             encoder=nacl.encoding.RawEncoder)


def offer_challenge(public_key: Buffer, nonce: Buffer | None = None) -> bytes:
    """
    The handshake challenge of an initiator offering v2: 16 random bytes
    and their tag under its own 32-byte ``public_key``.  ``nonce`` is for
    reproducible tests only.
    """
    nonce = os.urandom(_NONCE_BYTES) if nonce is None else bytes(nonce)
    if len(nonce) != _NONCE_BYTES:
        raise ValueError("an offer's nonce is {} bytes".format(_NONCE_BYTES))
    return nonce + _blake2b(nonce, key=bytes(public_key), person=_OFFER, size=_NONCE_BYTES)


def is_offer(challenge: bytes, public_key: Buffer) -> bool:
    """Whether ``challenge`` offers v2 (for the initiator holding ``public_key``)."""
    if len(challenge) != OFFER_BYTES:
        return False
    nonce, tag = challenge[:_NONCE_BYTES], challenge[_NONCE_BYTES:]
    expected = _blake2b(nonce, key=bytes(public_key), person=_OFFER, size=_NONCE_BYTES)
    return hmac.compare_digest(expected, tag)


def accept_response(shared_secret: Buffer, challenge: Buffer) -> bytes:
    """The challenge response of a responder accepting the offer ``challenge``."""
    return _blake2b(bytes(challenge), key=bytes(shared_secret), person=_ACCEPT)


def accepts_offer(shared_secret: Buffer, challenge: Buffer, response: Buffer) -> bool:
    """Whether ``response`` accepts the offer ``challenge`` (constant time)."""
    return hmac.compare_digest(accept_response(shared_secret, challenge), bytes(response))


def transcript_hash(handshake: Buffer, ack: Buffer) -> bytes:
    """The hash of the exact handshake and ack frames (the bytes sent or received)."""
    data = b"".join((_U32.pack(len(handshake)), bytes(handshake), _U32.pack(len(ack)), bytes(ack)))
    return _blake2b(data, key=b"", person=_TRANSCRIPT)


class Ephemeral:
    """A fresh ``crypto_kx`` key pair; :meth:`forget` drops the secret."""

    __slots__ = ("public_key", "_secret")

    def __init__(self) -> None:
        self.public_key: bytes
        self._secret: bytes | None
        self.public_key, self._secret = sodium.crypto_kx_keypair()

    def __repr__(self) -> str:
        return "<Ephemeral {}>".format(base64.b64encode(self.public_key).decode("ascii"))

    def forget(self) -> None:
        self._secret = None


@attrs.frozen
class SessionKeys:
    """One side's keys: what it seals with, what it opens with, and the bundle secret."""

    send: bytes = attrs.field(repr=False)
    receive: bytes = attrs.field(repr=False)
    bundle: bytes = attrs.field(repr=False)


def derive_keys(ephemeral: Ephemeral, peer_key: bytes, *, initiator: bool,
                shared_secret: Buffer, transcript: Buffer, initiator_key: Buffer,
                responder_key: Buffer) -> SessionKeys:
    """
    This side's :class:`SessionKeys`: ``crypto_kx`` between ``ephemeral``
    and the peer's ephemeral ``peer_key`` (the initiator is the client),
    each direction's key bound to ``shared_secret`` (the static pair
    secret), ``transcript`` and the static public keys.  Forgets the
    ephemeral secret.  Raises :class:`SessionError` for a key libsodium
    refuses (a low-order point).
    """
    secret, ephemeral._secret = ephemeral._secret, None
    if secret is None:
        raise SessionError("dropped_session_refused", "the ephemeral key was already used")
    try:
        if initiator:
            rx, tx = sodium.crypto_kx_client_session_keys(ephemeral.public_key, secret, peer_key)
            i2r, r2i = tx, rx
        else:
            rx, tx = sodium.crypto_kx_server_session_keys(ephemeral.public_key, secret, peer_key)
            i2r, r2i = rx, tx
    except nacl.exceptions.CryptoError as e:
        raise SessionError("dropped_session_refused",
                           "unusable ephemeral key: {}".format(e)) from None
    context = b"".join((bytes(shared_secret), bytes(transcript), bytes(initiator_key),
                        bytes(responder_key)))
    k_i2r = _blake2b(context, key=i2r, person=_I2R)
    k_r2i = _blake2b(context, key=r2i, person=_R2I)
    bundle = _blake2b(context, key=i2r + r2i, person=_BUNDLE)
    if initiator:
        return SessionKeys(k_i2r, k_r2i, bundle)
    return SessionKeys(k_r2i, k_i2r, bundle)


class SessionCipher:
    """
    Both directions of a v2 link: a ``secretstream`` push state for what
    this side sends and a pull state for what it receives.

    The first frame each way starts with the stream header.  A frame that
    is replayed, reordered, reflected (sent back the other way), truncated,
    forged or sent after the final one does not open: :meth:`open` raises
    :class:`SessionError`, and the link ends.
    """

    __slots__ = ("_clock", "max_frame_bytes", "_push", "_header", "_pull", "_pull_key",
                 "_sent_since_rekey", "_rekeyed_at", "_finished", "_ended")

    def __init__(self, keys: SessionKeys, clock: IReactorTime, *, max_frame_bytes: int) -> None:
        self._clock = clock
        self.max_frame_bytes = max_frame_bytes
        self._push = sodium.crypto_secretstream_xchacha20poly1305_state()
        self._header: bytes | None = sodium.crypto_secretstream_xchacha20poly1305_init_push(
            self._push, keys.send)
        self._pull: sodium.crypto_secretstream_xchacha20poly1305_state | None = None
        self._pull_key: bytes | None = keys.receive
        self._sent_since_rekey = 0
        self._rekeyed_at = clock.seconds()
        #: The peer sent its final frame; we sent ours.
        self._finished = self._ended = False

    def __repr__(self) -> str:
        return "<SessionCipher max_frame_bytes={}>".format(self.max_frame_bytes)

    def check_size(self, plaintext: Buffer) -> None:
        """Raise MessageTooLargeError if ``plaintext`` would make a frame over the limit."""
        size = len(plaintext) + _ABYTES + (_HEADER_BYTES if self._header else 0)
        if size > self.max_frame_bytes:
            raise MessageTooLargeError("frame of {} bytes, limit {}".format(
                size, self.max_frame_bytes))

    def seal(self, plaintext: Buffer, *, final: bool = False) -> bytes:
        """The next frame of our stream; ``final`` ends it (nothing may follow)."""
        if self._ended:
            raise SessionError("dropped_session_frame", "the stream was already finished")
        self.check_size(plaintext)
        tag = _TAG_MESSAGE
        now = self._clock.seconds()
        if final:
            tag = _TAG_FINAL
            self._ended = True
        elif (self._sent_since_rekey >= REKEY_MESSAGES
              or now - self._rekeyed_at >= REKEY_INTERVAL_S):
            # Both ends move to a new key after this message: what was sent
            # before cannot be opened from the state we keep.
            tag = _TAG_REKEY
            self._sent_since_rekey = 0
            self._rekeyed_at = now
        self._sent_since_rekey += 1
        frame = sodium.crypto_secretstream_xchacha20poly1305_push(self._push, bytes(plaintext),
                                                                  tag=tag)
        if self._header is not None:
            frame, self._header = self._header + frame, None
        return frame

    def open(self, frame: Buffer) -> bytes:
        """The plaintext of the peer's next frame; SessionError if it is not that."""
        if len(frame) > self.max_frame_bytes:
            raise SessionError("dropped_session_frame", "frame of {} bytes, limit {}".format(
                len(frame), self.max_frame_bytes))
        if self._finished:
            raise SessionError("dropped_session_frame", "frame after the peer's final frame")
        frame = bytes(frame)
        if self._pull is None:
            if len(frame) < _HEADER_BYTES + _ABYTES:
                raise SessionError("dropped_session_frame",
                                   "first frame of {} bytes is shorter than the stream "
                                   "header".format(len(frame)))
            assert self._pull_key is not None, "the key is dropped once the stream is pulled"
            self._pull = sodium.crypto_secretstream_xchacha20poly1305_state()
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(
                self._pull, frame[:_HEADER_BYTES], self._pull_key)
            self._pull_key = None
            frame = frame[_HEADER_BYTES:]
        try:
            plaintext, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(self._pull, frame)
        except nacl.exceptions.CryptoError:
            raise SessionError("dropped_session_frame",
                               "a frame of {} bytes does not open: replayed, reordered, "
                               "reflected, truncated or forged".format(len(frame))) from None
        if tag == _TAG_FINAL:
            self._finished = True
        elif tag not in (_TAG_MESSAGE, _TAG_REKEY):
            raise SessionError("dropped_session_frame", "unexpected stream tag {}".format(tag))
        return plaintext


def _b64(data: Buffer) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _read_key(payload: dict[str, object], name: str) -> bytes:
    value = payload.get(name)
    if type(value) is not str or len(value) > 64:
        raise ValueError("{} must be base64 of 32 bytes".format(name))
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        raise ValueError("{} is not base64".format(name)) from None
    if len(raw) != _KEY_BYTES:
        raise ValueError("{} must be base64 of 32 bytes".format(name))
    return raw


class Session:
    """
    One link's side of the v2 session, without I/O.

    ===========  =================================================  ===========
    state        event                                              next
    ===========  =================================================  ===========
    upgrading    :meth:`start` gave our ``session_upgrade`` payload  upgrading
    upgrading    :meth:`upgrade` with the peer's payload             keyed
    keyed        the first frame of the peer's stream opens          v2
    ===========  =================================================  ===========

    Any failure raises :class:`SessionError` naming the drop reason; the
    link then ends.  While ``upgrading``, messages wait in a bounded queue
    (:meth:`hold`, :meth:`release`): nothing but the upgrade is sealed
    with the static key.
    """

    def __init__(self, clock: IReactorTime, *, initiator: bool, shared_secret: bytes,
                 initiator_key: Buffer, responder_key: Buffer, transcript: Buffer,
                 max_frame_bytes: int) -> None:
        self._clock = clock
        self.initiator = initiator
        self._shared_secret: bytes | None = shared_secret
        self._initiator_key = bytes(initiator_key)
        self._responder_key = bytes(responder_key)
        self._transcript = bytes(transcript)
        self._max_frame_bytes = max_frame_bytes
        self._ephemeral: Ephemeral | None = None
        self.cipher: SessionCipher | None = None
        #: The secret deploy bundles of this session are keyed from.
        self.bundle_secret: bytes | None = None
        self.state = "upgrading"
        self._queue: list[bytes] = []
        self._queued_bytes = 0

    def __repr__(self) -> str:
        return "<Session {} {}>".format("initiator" if self.initiator else "responder",
                                        self.state)

    @property
    def keyed(self) -> bool:
        return self.cipher is not None

    def start(self) -> dict[str, str]:
        """Our ``session_upgrade`` payload: a fresh ephemeral key and our transcript."""
        if self._ephemeral is not None:
            raise SessionError("dropped_session_refused", "the upgrade was already started")
        self._ephemeral = Ephemeral()
        return {"key": _b64(self._ephemeral.public_key), "transcript": _b64(self._transcript)}

    def upgrade(self, payload: object) -> None:
        """
        Key the session from the peer's ``session_upgrade`` payload.  A
        second one, a malformed one, our own key sent back, or a transcript
        other than ours (the handshake was altered in transit) raise
        :class:`SessionError`.
        """
        if self.cipher is not None or self._ephemeral is None:
            raise SessionError("dropped_session_refused", "a second session upgrade")
        try:
            if type(payload) is not dict:
                raise ValueError("the payload is not a JSON object")
            peer_key = _read_key(payload, "key")
            transcript = _read_key(payload, "transcript")
        except ValueError as e:
            raise SessionError("dropped_session_refused",
                               "malformed session upgrade: {}".format(e)) from None
        if hmac.compare_digest(peer_key, self._ephemeral.public_key):
            raise SessionError("dropped_session_refused", "our own upgrade was sent back")
        if not hmac.compare_digest(transcript, self._transcript):
            raise SessionError("dropped_session_transcript",
                               "the handshake frames were altered in transit")
        shared_secret = self._shared_secret
        if shared_secret is None:
            # Forgotten with the ephemeral key (derive_keys would say the same).
            raise SessionError("dropped_session_refused", "the ephemeral key was already used")
        keys = derive_keys(self._ephemeral, peer_key, initiator=self.initiator,
                           shared_secret=shared_secret, transcript=self._transcript,

                           initiator_key=self._initiator_key, responder_key=self._responder_key)
        self._ephemeral.forget()
        self.cipher = SessionCipher(keys, self._clock, max_frame_bytes=self._max_frame_bytes)
        self.bundle_secret = keys.bundle
        self.state = "keyed"

    def opened(self) -> None:
        """A frame of the peer's stream opened: the session is established."""
        self.state = "v2"

    def hold(self, data: bytes) -> None:
        """Queue an encoded envelope until the session is keyed (bounded)."""
        if len(self._queue) >= QUEUE_MESSAGES or self._queued_bytes + len(data) > QUEUE_BYTES:
            raise SessionPendingError(
                "the v2 session is still being set up and {} messages ({} bytes) are "
                "waiting; try again shortly".format(len(self._queue), self._queued_bytes))
        self._queue.append(data)
        self._queued_bytes += len(data)

    def release(self) -> list[bytes]:
        """The queued envelopes, in order; the queue is emptied."""
        queue, self._queue, self._queued_bytes = self._queue, [], 0
        return queue

    def forget(self) -> None:
        """The link is gone: drop every key and anything queued."""
        if self._ephemeral is not None:
            self._ephemeral.forget()
        self.cipher = None
        self.bundle_secret = None
        self._shared_secret = None
        self.release()
