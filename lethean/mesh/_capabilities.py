"""
The capability exchange between lethean peers.

Right after the handshake each lethean side sends one sealed ``capabilities``
message, ``{"features": [sorted names], "version": "<lethean version>"}``:
the responder right after its accepting ack, the initiator as its first
sealed frame (which also proves its key).  A Go peer ignores the unknown
type (its worker's default case returns; its controller ignores messages
without ``replyTo``) and announces nothing, so its link's ``features`` stay
empty and lethean-only extensions are not used with it.
"""

from __future__ import annotations

from collections.abc import Iterable

from lethean import __version__


__all__ = [
    "CAPABILITIES",
    "DEPLOY_CHUNKS",
    "UEPS_FEATURE",
    "SESSION_V2",
    "FEATURES",
    "MAX_FEATURES",
    "MAX_FEATURE_CHARS",
    "capabilities_payload",
    "parse_capabilities",
]

#: The message type of the exchange.
CAPABILITIES = "capabilities"
#: Bundles too large for one frame travel as ``deploy_chunk`` messages.
DEPLOY_CHUNKS = "deploy_chunks"
#: UEPS packets travel inside the mesh as ``ueps`` messages.
UEPS_FEATURE = "ueps"
#: Links between two such peers upgrade to a v2 session (forward secrecy;
#: negotiated inside the handshake, see ``_session``).
SESSION_V2 = "session_v2"
#: What this version of lethean announces.
FEATURES = frozenset((DEPLOY_CHUNKS, UEPS_FEATURE, SESSION_V2))
#: A peer's announcement is cut to this many names of at most this length.
MAX_FEATURES = 32
MAX_FEATURE_CHARS = 64
_MAX_VERSION_CHARS = 64


def capabilities_payload(features: Iterable[str],
                         version: str = __version__) -> dict[str, object]:
    """The payload announcing ``features``."""
    return {"features": sorted(features), "version": version}


def parse_capabilities(payload: object) -> tuple[frozenset[str], str]:
    """
    ``(features, version)`` from a peer's payload.  Unknown names are kept
    (a newer peer's); anything that is not a short string is skipped, and
    at most :data:`MAX_FEATURES` names are kept.
    """
    if type(payload) is not dict:
        return frozenset(), ""
    names = payload.get("features")
    features: set[str] = set()
    if type(names) is list:
        for name in names:
            if len(features) >= MAX_FEATURES:
                break
            if type(name) is str and 0 < len(name) <= MAX_FEATURE_CHARS:
                features.add(name)
    version = payload.get("version")
    if type(version) is not str:
        version = ""
    return frozenset(features), version[:_MAX_VERSION_CHARS]
