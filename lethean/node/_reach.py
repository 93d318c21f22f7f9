"""
Why a target could not be reached, worded for the person who asked.

Dialling fails in a handful of ways a user can act on: nothing listens,
the host has no address, nobody answers, the other side is not a lethean
node (or speaks TLS when we did not, or the reverse), its certificate is
not trusted, it refused us, or it holds another key than the one pinned
for it.  :func:`explain_dial_failure` turns the transport's exception into
one :class:`TargetError` per situation, whose line names the peer (name,
id and address) and says what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.internet import defer, error as net_error

from lethean.node._errors import (
    HostNotFoundError,
    NoAnswerError,
    NotLetheanError,
    NothingListensError,
    PeerKeyChangedError,
    RefusedByPeerError,
    SelfTargetError,
    TLSFailedError,
    TargetError,
)

from lethean.node._targets import Command

__all__ = [
    "explain_dial_failure",
]


def _tls_text(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in ("certificate", "ssl", "tls", "wrong version number",
                                            "packet length too long", "http request"))


def explain_dial_failure(exc: BaseException, label: str, peer: Mapping[str, Any], scheme: str,
                         timeout_s: float, own_key: str | None = None,
                         command: Command | None = None) -> TargetError | None:
    """
    The :class:`TargetError` for the dial of ``label`` (how to name the
    peer) that failed with ``exc``; ``scheme`` is what was dialled (``ws``
    or ``wss``); ``own_key`` is our public key (a refusing peer's operator
    needs it); ``command(words)`` writes a ``lethean`` command for a hint
    (:func:`~lethean.node._targets.lethean_command`).
    """
    from lethean.mesh import (
        HandshakeError,
        HandshakeRejectedError,
        HandshakeTimeoutError,
        PeerKeyMismatchError,
        CertificateRejectedError,
        SelfConnectionError,
    )

    from lethean.node._targets import lethean_command, printable

    command = command or lethean_command
    reason = printable(str(exc) or type(exc).__name__)
    address = peer.get("address") or label
    if isinstance(exc, net_error.ConnectionRefusedError):
        return NothingListensError(
            "cannot reach {}: nothing listens there (connection refused); start its node, or "
            "check the address and port".format(label), peer, reason)
    if isinstance(exc, net_error.DNSLookupError):
        return HostNotFoundError(
            "cannot reach {}: its host name does not resolve; check the address".format(label),
            peer, reason)
    if isinstance(exc, (defer.TimeoutError, net_error.TimeoutError, HandshakeTimeoutError,
                        TimeoutError)):
        hint = "check the address and any firewall, or allow more time with --timeout"
        if scheme == "wss":
            hint = "if it serves no TLS, dial ws://{}; otherwise {}".format(address, hint)
        return NoAnswerError("{} did not answer within {:g} s: {}".format(
            label, timeout_s, hint), peer, reason)
    if isinstance(exc, CertificateRejectedError):
        return TLSFailedError("cannot trust the TLS certificate of {}: {}".format(
            label, exc.problem), peer, reason)
    if isinstance(exc, SelfConnectionError):
        return SelfTargetError("{} is this node itself (it answered with this node's own "
                               "key)".format(label), peer, reason)
    if isinstance(exc, HandshakeRejectedError):
        hint = "ask its operator to allow this node's key"
        if own_key:
            hint += " with 'lethean peers allow {}'".format(own_key)
        return RefusedByPeerError("{} refused us ({}): {}".format(
            label, printable(getattr(exc, "reason", reason)), hint), peer, reason)
    if isinstance(exc, PeerKeyMismatchError):
        peer_id = peer.get("id") or "ID"
        return PeerKeyChangedError(
            "{} answered with another key than the one pinned for it: if its identity was "
            "renewed on purpose, forget the old key with '{}' and dial it again; otherwise "
            "something else answers at that address".format(
                label, command("peers remove " + peer_id)),
            peer, reason)
    if isinstance(exc, HandshakeError) or isinstance(exc, net_error.ConnectionLost):
        if scheme == "wss" and _tls_text(reason):
            if "verify" in reason.lower() or "certificate" in reason.lower():
                return TLSFailedError(
                    "cannot trust the TLS certificate of {}: pass its certificate (or its CA's) "
                    "with --tls-ca FILE, or pin it with --tls-fingerprint SHA256".format(label),
                    peer, reason)
            return NotLetheanError(
                "{} does not speak TLS: dial ws://{} instead".format(label, address),
                peer, reason)
        if scheme != "wss" and "closed cleanly" in reason:
            return NotLetheanError(
                "{} closed the connection without answering the mesh's upgrade: if it serves "
                "TLS, dial wss://{}; otherwise it is not a lethean node".format(label, address),
                peer, reason)
        if "upgrade" in reason.lower() or "abort" in reason.lower() or "http" in reason.lower():
            return NotLetheanError(
                "{} is not a lethean node (it answered, but not as a mesh node does): check "
                "the port".format(label), peer, reason)
        if scheme == "wss":
            # A plain listener reads a TLS hello as a broken upgrade and drops it.
            return NotLetheanError(
                "{} dropped the connection during the handshake: if it serves no TLS, dial "
                "ws://{}; otherwise check that a lethean node listens there".format(
                    label, address), peer, reason)
        return NotLetheanError(
            "{} did not complete the mesh handshake ({}): check that a lethean node listens "
            "there".format(label, reason), peer, reason)
    if isinstance(exc, net_error.ConnectError) or isinstance(exc, OSError):
        return TargetError("cannot reach {}: {}".format(label, reason), peer, reason)
    return None
