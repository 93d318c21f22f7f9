"""
Every counter name the mesh transport keeps, said once.

``MeshTransport.counters`` only holds what happened; the node's status and
metrics publish every name here from the start, at 0, so a Prometheus scrape
sees a counter before its first event.  docs/transport.md explains each; a
test keeps that page and this list the same.  ``handshake_failed:<kind>``
counters are a family named by error kind, and are not listed.
"""

__all__ = ["COUNTER_NAMES", "REFUSED_SELF"]

#: A handshake from this node's own key: a node that dialled itself.
REFUSED_SELF = "refused_self"

COUNTER_NAMES = (
    # refusals: connections and handshakes turned away
    "refused_connect_rate",
    "refused_address_connections",
    "refused_address_pending",
    "refused_request_too_large",
    "refused_bad_request",
    "refused_path",
    "refused_origin",
    "refused_capacity",
    "refused_evicted",
    "refused_timeout",
    "refused_version",
    "refused_unauthorized",
    "refused_id_mismatch",
    "refused_bad_handshake",
    "refused_offender",
    REFUSED_SELF,
    # drops: links and frames dropped
    "dropped_prove_timeout",
    "dropped_session_frame",
    "dropped_session_refused",
    "dropped_session_transcript",
    "dropped_session_timeout",
    "dropped_session_downgrade",
    "dropped_flooding",
    "dropped_bad_frames",
    "dropped_text_frame",
    "dropped_fragments",
    "dropped_control_frames",
    "dropped_protocol_error",
    "dropped_slow_reader",
    "dropped_idle",
    "dropped_duplicate",
    "dropped_send_failed",
    # other events
    "handshake_accepted",
    "connections_opened",
    "connections_closed",
    "messages_received",
    "rate_limited",
    "decrypt_failed",
    "duplicates",
    "capabilities_repeated",
    "sessions_v2",
    "envelope_wrong_from",
    "envelope_wrong_to",
    "envelope_stale_ts",
    "ueps_received",
    "ueps_rejected",
    "register_failed",
    "connect_failed",
    "handshake_timeout",
)
