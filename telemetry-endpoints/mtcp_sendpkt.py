# SPDX-License-Identifier: BSD-3-Clause
# mtcp-sendpkt's counters for DPDK's dpdk-telemetry-exporter.py (DPDK 24.11 and later), which
# serves them as OpenMetrics / Prometheus text. `make install` puts this file in
# $(PREFIX)/share/dpdk/telemetry-endpoints/, where the exporter looks (or pass that directory with
# its --load-path). Metric names come out as dpdk_mtcp_sendpkt_<name>.
#
# Read from the library's own telemetry command /mtcp_sendpkt/stats (MTCP_SENDPKT_TELEMETRY=1, or
# the host's EAL telemetry when attached): one sample per core context (label "core", the
# mctx->cpu index), and the rejected calls per errno (label "errno"). A process that has not
# started the library yet answers with no samples.

STATS = "/mtcp_sendpkt/stats"

# Counters kept per core context: name in /mtcp_sendpkt/stats -> (description, type).
PER_CORE = {
    "accepted": ("Frames accepted: put on a TX queue or staged for one.", "counter"),
    "transmitted": ("Frames a TX queue took.", "counter"),
    "pending": ("Frames accepted and not yet on a TX queue.", "gauge"),
    "no_mbuf": ("Calls refused because the mempool was empty.", "counter"),
    "tx_busy": ("Calls refused because a TX queue did not drain in time.", "counter"),
    "dropped_at_shutdown": ("Frames a TX queue still refused at shutdown.", "counter"),
    "resets_sent": ("RST segments sent.", "counter"),
    "raw_frames_sent": ("Raw frames sent.", "counter"),
}
REJECTED = "rejected"
TAP = {
    "tap/written": ("tap_written", "Frames the pcapng tap wrote.", "counter"),
    "tap/dropped": ("tap_dropped", "Frames the pcapng tap could not write.", "counter"),
}


def info():
    out = {name: value for name, value in PER_CORE.items()}
    out[REJECTED] = ("Calls that returned -1, by errno.", "counter")
    for metric, description, kind in TAP.values():
        out[metric] = (description, kind)
    return out


def metrics(sock):
    stats = sock.cmd(STATS)
    if not isinstance(stats, dict) or "per_core/accepted" not in stats:
        return []
    out = []
    for name in PER_CORE:
        for core, value in enumerate(stats.get(f"per_core/{name}", [])):
            out.append((name, value, {"core": core}))
    prefix = f"per_core/{REJECTED}/"
    for key, values in sorted(stats.items()):
        if key.startswith(prefix):
            errno = key[len(prefix):]
            for core, value in enumerate(values):
                out.append((REJECTED, value, {"core": core, "errno": errno}))
    for key, (metric, _, _) in TAP.items():
        if key in stats:
            out.append((metric, stats[key], {}))
    return out
