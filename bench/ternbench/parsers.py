"""Parsers of what tern-bench records: the guest's console lines and markers (bench/guests/, tests/guest/init),
/proc/PID/smaps, fio's JSON, iperf3's JSON and the virtio-net feature bits the guest prints. No I/O: each takes
text or a parsed document, so that bench/tests/ can feed them recorded outputs."""

import re

from .stats import is_figure

# Markers on the guest's serial console. tests/guest/init prints INIT first and "EXIT status" last; a guest script
# that waits for the driver prints IDLE (boot) and then NOGO if no go line came.
MARK_INIT = "TERN-GUEST-INIT"
MARK_IDLE = "TERN-BENCH-IDLE"
MARK_NOGO = "TERN-BENCH-NOGO"
MARK_EXIT = "TERN-GUEST-EXIT"

# The window protocol of bench/guests/windows.sh, one family of markers per workload: (ready, start, end, result).
MARK_READY = "TERN-BLK-READY"
MARK_FIO_START = "TERN-FIO-START"
MARK_FIO_END = "TERN-FIO-END"
MARK_FIO = "TERN-FIO"
FIO_MARKERS = (MARK_READY, MARK_FIO_START, MARK_FIO_END, MARK_FIO)

MARK_NET_READY = "TERN-NET-READY"
MARK_NET_START = "TERN-NET-START"
MARK_NET_END = "TERN-NET-END"
MARK_NET = "TERN-NET"
NET_MARKERS = (MARK_NET_READY, MARK_NET_START, MARK_NET_END, MARK_NET)


class Lines:
    """Splits a byte stream into lines as it arrives (\r stripped)."""

    def __init__(self):
        self.buf = b""

    def feed(self, chunk):
        self.buf += chunk
        *done, self.buf = self.buf.split(b"\n")
        return [ln.rstrip(b"\r").decode(errors="replace") for ln in done]


class MarkerClock:
    """Timestamps the first appearance of each marker in a byte stream, chunk by chunk as it arrives."""

    def __init__(self, markers, t0):
        self.markers = [m.encode() for m in markers]
        self.t0 = t0
        self.buf = bytearray()
        self.seen = {}

    def feed(self, chunk, now):
        start = len(self.buf)
        self.buf += chunk
        for m in self.markers:
            k = m.decode()
            if k not in self.seen and self.buf.find(m, max(0, start - len(m) + 1)) >= 0:
                self.seen[k] = now - self.t0
        return self.seen

    def guest_exit_status(self):
        """The status in the last 'TERN-GUEST-EXIT N' line, or None."""
        found = re.findall(rb"TERN-GUEST-EXIT (\d+)", bytes(self.buf))
        return int(found[-1]) if found else None


def parse_guest_line(line, markers=FIO_MARKERS):
    """A blk guest line -> (marker, window name or None, {key: int|float|str}); None if it is none of
    TERN-BLK-READY, TERN-FIO-START, TERN-FIO-END, TERN-FIO. The line may carry the console's \r and text
    before the marker (a kernel message that ran into it). MARKERS: (ready, start, end, result) of the scenario
    (parse_net_line passes the net scenario's)."""
    m = re.search(r"(%s)(?:\s+(.*?))?\s*$" % "|".join(re.escape(k) for k in markers), line)
    if not m:
        return None
    marker, rest = m.group(1), (m.group(2) or "").split()
    name = None
    if marker != markers[0]:
        if not rest or "=" in rest[0]:
            return None
        name, rest = rest[0], rest[1:]
    kv = {}
    for w in rest:
        k, eq, v = w.partition("=")
        if not eq:
            continue
        try:
            kv[k] = int(v)
        except ValueError:
            try:
                kv[k] = float(v)
            except ValueError:
                kv[k] = v
    return marker, name, kv


def parse_net_line(line):
    """A net guest line -> (marker, window name or None, {key: value}); None if it is none of TERN-NET-READY,
    TERN-NET-START, TERN-NET-END, TERN-NET (bench/guests/net.sh)."""
    return parse_guest_line(line, NET_MARKERS)


_SMAPS_HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)\s*(.*)$")
_SMAPS_FIELD = re.compile(r"^(\w+):\s+(\d+) kB$")


def parse_smaps_rollup(text):
    """{field: kB} from /proc/PID/smaps_rollup."""
    out = {}
    for line in text.splitlines():
        m = _SMAPS_FIELD.match(line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    if "Pss" not in out:
        raise ValueError("no Pss in smaps_rollup")
    return out


def parse_smaps(text):
    """The mappings of /proc/PID/smaps: [{start, end, perms, dev, inode, name, kb: {field: kB}}]."""
    maps = []
    for line in text.splitlines():
        h = _SMAPS_HEAD.match(line)
        if h:
            maps.append({"start": int(h.group(1), 16), "end": int(h.group(2), 16), "perms": h.group(3),
                         "dev": h.group(5), "inode": int(h.group(6)), "name": h.group(7), "kb": {}})
            continue
        m = _SMAPS_FIELD.match(line.strip())
        if m and maps:
            maps[-1]["kb"][m.group(1)] = int(m.group(2))
    if not maps:
        raise ValueError("no mappings in smaps")
    return maps


def guest_ram(maps):
    """The guest-RAM mapping: the largest one. If it is file-backed (tern's memfd), every mapping of the
    same file counts too, so that a second alias of guest RAM is not billed as overhead."""
    big = max(maps, key=lambda m: m["kb"].get("Size", 0))
    if big["inode"]:
        group = [m for m in maps if m["inode"] == big["inode"] and m["dev"] == big["dev"]]
    else:
        group = [big]
    return {"name": big["name"] or "[anon]", "mappings": len(group),
            "size_kb": sum(m["kb"].get("Size", 0) for m in group),
            "rss_kb": sum(m["kb"].get("Rss", 0) for m in group),
            "pss_kb": sum(m["kb"].get("Pss", 0) for m in group),
            # Huge pages backing guest RAM (THP or hugetlbfs): under nesting this changes guest speed a lot.
            "huge_kb": sum(m["kb"].get(k, 0) for m in group for k in
                           ("AnonHugePages", "ShmemPmdMapped", "FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb"))}


def memory_overhead(rollup_text, smaps_text, guest_mib):
    """(result dict, errors). overhead = Pss(process) - Pss(guest RAM). For a mapping only this process
    maps, Pss equals Rss; Pss stays right if guest RAM is shared with another process (vhost-user)."""
    roll = parse_smaps_rollup(rollup_text)
    g = guest_ram(parse_smaps(smaps_text))
    errors = []
    if g["size_kb"] < guest_mib * 1024:
        errors.append("largest mapping %s is %d kB, smaller than the guest's %d MiB: guest RAM not found"
                      % (g["name"], g["size_kb"], guest_mib))
    over_kb = roll["Pss"] - g["pss_kb"]
    res = {"pss_kb": roll["Pss"], "rss_kb": roll.get("Rss"), "guest_ram": g, "overhead_kb": over_kb,
           "pss_overhead_mib": over_kb / 1024.0,
           # Transparent huge pages outside guest RAM (thread stacks, heap) make the overhead jump by 2 MiB.
           "other_anon_huge_kb": roll.get("AnonHugePages", 0) - (g["huge_kb"] if g["name"] == "[anon]" else 0)}
    if over_kb <= 0:
        errors.append("overhead %d kB is not positive" % over_kb)
    return res, errors


def fio_json_figures(doc):
    """(iops, bw_kib, total_ios, runtime_ms, error) of a group-reported fio JSON document, summed over its
    read and write sections: what bench/guests/blk.sh's awk prints for the guest."""
    jobs = doc.get("jobs") or []
    if len(jobs) != 1:
        raise ValueError("want one (group-reported) job in fio's JSON, got %d" % len(jobs))
    j = jobs[0]
    iops = sum(j[d]["iops"] for d in ("read", "write"))
    bw = sum(j[d]["bw"] for d in ("read", "write"))
    ios = sum(j[d]["total_ios"] for d in ("read", "write"))
    rt = max(j[d]["runtime"] for d in ("read", "write"))
    return iops, bw, ios, rt, j.get("error", 0)


def net_server_summary(doc):
    """What one iperf3 server run's JSON (-J, iperf3 3.12, the server in the test host) says: protocol, reverse,
    the bytes and bit rates it received and sent, its seconds, for UDP the datagrams (packets = the highest
    sequence number seen, lost = the gaps: received = packets - lost), and its error if any. The server's JSON
    knows only its own side: received for tcp_tx and udp_tx, sent for -R."""
    if doc.get("error"):
        return {"error": str(doc["error"])}
    start = (doc.get("start") or {}).get("test_start") or {}
    end = doc.get("end") or {}
    rcv, snd = end.get("sum_received"), end.get("sum_sent")
    if not isinstance(rcv, dict) or not isinstance(snd, dict):
        raise ValueError("no end.sum_received/sum_sent in iperf3's JSON")
    out = {"protocol": start.get("protocol"), "reverse": bool(start.get("reverse")), "seconds": rcv.get("seconds"),
           "rcv_bytes": rcv.get("bytes"), "rcv_bps": rcv.get("bits_per_second"), "snd_bytes": snd.get("bytes"),
           "snd_bps": snd.get("bits_per_second")}
    if out["protocol"] == "UDP":
        out["packets"], out["lost"] = rcv.get("packets"), rcv.get("lost_packets")
        if isinstance(out["packets"], int) and isinstance(out["lost"], int) and is_figure(out["seconds"]):
            out["rcv_pps"] = (out["packets"] - out["lost"]) / out["seconds"]
    return out


# virtio-net feature bits (virtio 1.2, 5.1.3; transport bits 28..38), to name what the guest's driver negotiated.
VIRTIO_NET_FEATURES = {
    0: "CSUM", 1: "GUEST_CSUM", 2: "CTRL_GUEST_OFFLOADS", 3: "MTU", 5: "MAC", 6: "GSO", 7: "GUEST_TSO4",
    8: "GUEST_TSO6", 9: "GUEST_ECN", 10: "GUEST_UFO", 11: "HOST_TSO4", 12: "HOST_TSO6", 13: "HOST_ECN",
    14: "HOST_UFO", 15: "MRG_RXBUF", 16: "STATUS", 17: "CTRL_VQ", 18: "CTRL_RX", 19: "CTRL_VLAN",
    20: "CTRL_RX_EXTRA", 21: "GUEST_ANNOUNCE", 22: "MQ", 23: "CTRL_MAC_ADDR", 24: "NOTIFY_ON_EMPTY",
    27: "ANY_LAYOUT", 28: "INDIRECT_DESC", 29: "EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM",
    34: "RING_PACKED", 35: "IN_ORDER", 36: "ORDER_PLATFORM", 37: "SR_IOV", 38: "NOTIFICATION_DATA",
    39: "NOTIF_CONFIG_DATA", 40: "RING_RESET", 54: "HOST_USO", 55: "HASH_REPORT", 56: "GUEST_HDRLEN",
    57: "RSS", 58: "RSC_EXT", 59: "STANDBY", 60: "SPEED_DUPLEX"}


def virtio_features(bits):
    """Names of the bits set in a virtio device's sysfs 'features' string ('0'/'1' per bit, bit 0 first; the guest
    prints it after a 'b', so that it stays a string)."""
    if isinstance(bits, str) and bits.startswith("b"):
        bits = bits[1:]
    if not isinstance(bits, str) or not bits or set(bits) - {"0", "1"}:
        return None
    return [VIRTIO_NET_FEATURES.get(i, "bit%d" % i) for i, c in enumerate(bits) if c == "1"]
