"""
Hypothesis strategies shared by the codec tests.

Each layer adds its strategies in its own section below.
"""

from hypothesis import strategies as st  # noqa: F401  (used by the sections)


# --- UEPS ---------------------------------------------------------------

from lethean.ueps import Header, Packet  # noqa: E402

#: Shared secrets: any length works as an HMAC key, including none.
ueps_secrets = st.binary(max_size=64)
_ueps_u8 = st.integers(min_value=0, max_value=0xFF)
ueps_headers = st.builds(
    Header,
    intent_id=_ueps_u8,
    version=_ueps_u8,
    current_layer=_ueps_u8,
    target_layer=_ueps_u8,
    threat_score=st.integers(min_value=0, max_value=0xFFFF),
)
ueps_payloads = st.binary(max_size=2048)
ueps_packets = st.builds(Packet, ueps_headers, ueps_payloads)
