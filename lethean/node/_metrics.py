"""
The node's status as Prometheus metrics, through ``prometheus_client``.

A custom collector reads one status document (see ``_status``), so
``/metrics`` shows exactly what ``/api/status`` shows.  The transport's
counters are published by name, whatever names it keeps: a counter named
``refused_*`` (or ``rejected_*``, ``handshake_rejected*``) is a refusal, ``dropped_*`` a
drop, and any other an event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

__all__ = ["StatusCollector", "render_metrics", "CONTENT_TYPE"]

#: The media type of the text format ``render_metrics`` writes.
CONTENT_TYPE = CONTENT_TYPE_LATEST

_REFUSAL_PREFIXES = ("refused_", "rejected_", "handshake_rejected")
_DROP_PREFIX = "dropped_"


def _reason(name: str) -> str:
    """A counter name as a label value: the part after the classifying prefix."""
    for prefix in _REFUSAL_PREFIXES + (_DROP_PREFIX,):
        if name.startswith(prefix):
            rest = name[len(prefix):].lstrip(":_")
            return rest or name
    return name


class StatusCollector:
    """A ``prometheus_client`` collector over one status document."""

    def __init__(self, status: Mapping[str, Any]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        status = self.status
        node = status["node"]
        info = InfoMetricFamily("lethean_node", "This node's identity and software.")
        info.add_metric([], {"node_id": node["id"], "name": node["name"], "role": node["role"],
                             "version": node["version"], "auth": node["auth"],
                             "tls": "on" if node["tls"] else "off"})
        yield info
        yield GaugeMetricFamily("lethean_uptime_seconds", "Seconds since the node started.",
                                value=node["uptimeS"])
        yield GaugeMetricFamily("lethean_peers_registered", "Peers in the registry.",
                                value=node["registeredPeers"])
        yield GaugeMetricFamily("lethean_allowlisted_keys", "Public keys on the allowlist.",
                                value=node["allowlisted"])

        connected = GaugeMetricFamily("lethean_peers_connected", "Live mesh links.",
                                      labels=["direction"])
        for direction in ("inbound", "outbound"):
            connected.add_metric([direction], sum(
                1 for p in status["peers"] if p["direction"] == direction))
        yield connected
        sessions = GaugeMetricFamily(
            "lethean_peers_by_session",
            "Live mesh links by session: v1 (the reference's static pair key) or v2.",
            labels=["session"])
        for session in ("v1", "v2"):
            sessions.add_metric([session], sum(
                1 for p in status["peers"] if p.get("session") == session))
        yield sessions

        traffic = status["traffic"]
        frames = CounterMetricFamily("lethean_frames", "Sealed frames over all links.",
                                     labels=["direction"])
        frames.add_metric(["in"], traffic["framesIn"])
        frames.add_metric(["out"], traffic["framesOut"])
        yield frames
        sent = CounterMetricFamily("lethean_frame_bytes", "Bytes of sealed frames over all links.",
                                   labels=["direction"])
        sent.add_metric(["in"], traffic["bytesIn"])
        sent.add_metric(["out"], traffic["bytesOut"])
        yield sent

        rtt = GaugeMetricFamily("lethean_peer_rtt_seconds",
                                "Round trip of each link's last keepalive.", labels=["peer_id"])
        for peer in status["peers"]:
            if peer["rttMs"] is not None:
                rtt.add_metric([peer["id"]], peer["rttMs"] / 1000.0)
        yield rtt

        refusals = CounterMetricFamily("lethean_refusals", "Connections and handshakes refused.",
                                       labels=["reason"])
        drops = CounterMetricFamily("lethean_drops", "Links and frames dropped.",
                                    labels=["reason"])
        events = CounterMetricFamily("lethean_mesh_events", "Other mesh transport events.",
                                     labels=["event"])
        for name, value in status["counters"].items():
            if name.startswith(_REFUSAL_PREFIXES):
                refusals.add_metric([_reason(name)], value)
            elif name.startswith(_DROP_PREFIX):
                drops.add_metric([_reason(name)], value)
            else:
                events.add_metric([name], value)
        yield refusals
        yield drops
        yield events
        yield CounterMetricFamily("lethean_control_unauthorized",
                                  "Control API requests refused for a missing or wrong token.",
                                  value=status["control"]["unauthorized"])

        running = GaugeMetricFamily("lethean_miners_running", "Miners the worker runs.",
                                    value=len(status["miners"]))
        yield running
        hashrate = GaugeMetricFamily("lethean_miner_hashrate", "Each miner's reported hashrate.",
                                     labels=["miner", "type"])
        shares = CounterMetricFamily("lethean_miner_shares", "Each miner's accepted shares.",
                                     labels=["miner", "type"])
        for miner in status["miners"]:
            labels = [miner.get("name", ""), miner.get("type", "")]
            hashrate.add_metric(labels, miner.get("hashrate", 0))
            shares.add_metric(labels, miner.get("shares", 0))
        yield hashrate
        yield shares


def render_metrics(status: Mapping[str, Any]) -> bytes:
    """The Prometheus text format of ``status`` (bytes)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(status))
    return generate_latest(registry)
