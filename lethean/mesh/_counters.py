"""
Every counter name the mesh transport keeps, said once, with the ones that
are offences marked.

``MeshTransport.counters`` only holds what happened; the node's status and
metrics publish every name here from the start, at 0, so a Prometheus scrape
sees a counter before its first event.  docs/transport.md explains each; a
test keeps that page and this list the same.  ``handshake_failed:<kind>``
counters are a family named by error kind, and are not listed.

A link dropped (or a handshake refused) for a reason marked
:data:`OFFENCE` is misbehaviour, not bad luck: its address, and its key
once proven, get a strike, and repeat offenders are refused for a while.
"""

__all__ = ["COUNTER_NAMES", "OFFENCES", "REFUSED_SELF"]

#: A handshake from this node's own key: a node that dialled itself.
REFUSED_SELF = "refused_self"

#: The mark of a counter whose reason is an offence.
OFFENCE = True
_EVENT = False

#: ``(name, OFFENCE or not)``, in the order status pages list them.
_COUNTERS: tuple[tuple[str, bool], ...] = (
    # refusals: connections and handshakes turned away
    ("refused_connect_rate", _EVENT),
    ("refused_address_connections", _EVENT),
    ("refused_address_pending", _EVENT),
    ("refused_request_too_large", _EVENT),
    ("refused_bad_request", _EVENT),
    ("refused_path", _EVENT),
    ("refused_origin", _EVENT),
    ("refused_capacity", _EVENT),
    ("refused_evicted", _EVENT),
    ("refused_timeout", _EVENT),
    ("refused_version", _EVENT),
    ("refused_unauthorized", _EVENT),
    ("refused_id_mismatch", OFFENCE),
    ("refused_bad_handshake", OFFENCE),
    ("refused_offender", _EVENT),
    (REFUSED_SELF, _EVENT),
    # drops: links and frames dropped
    ("dropped_prove_timeout", OFFENCE),
    ("dropped_session_frame", OFFENCE),
    ("dropped_session_refused", OFFENCE),
    ("dropped_session_transcript", _EVENT),
    ("dropped_session_timeout", _EVENT),
    ("dropped_session_downgrade", _EVENT),
    ("dropped_flooding", OFFENCE),
    ("dropped_bad_frames", OFFENCE),
    ("dropped_text_frame", OFFENCE),
    ("dropped_fragments", OFFENCE),
    ("dropped_control_frames", OFFENCE),
    ("dropped_protocol_error", OFFENCE),
    ("dropped_slow_reader", _EVENT),
    ("dropped_idle", _EVENT),
    ("dropped_duplicate", _EVENT),
    ("dropped_send_failed", _EVENT),
    # other events
    ("handshake_accepted", _EVENT),
    ("connections_opened", _EVENT),
    ("connections_closed", _EVENT),
    ("messages_received", _EVENT),
    ("rate_limited", _EVENT),
    ("decrypt_failed", _EVENT),
    ("duplicates", _EVENT),
    ("capabilities_repeated", _EVENT),
    ("sessions_v2", _EVENT),
    ("envelope_wrong_from", _EVENT),
    ("envelope_wrong_to", _EVENT),
    ("envelope_stale_ts", _EVENT),
    ("ueps_received", _EVENT),
    ("ueps_rejected", _EVENT),
    ("register_failed", _EVENT),
    ("connect_failed", _EVENT),
    ("handshake_timeout", _EVENT),
)

COUNTER_NAMES: tuple[str, ...] = tuple(name for name, _ in _COUNTERS)
#: Why a link may be dropped that count as offences (refused when repeated).
OFFENCES: frozenset[str] = frozenset(name for name, offence in _COUNTERS if offence)
