#!/usr/bin/env python3
"""Prints each criterion benchmark's throughput as a ratio to the `memchr_scan` baseline of the
same group (run `cargo bench` first). Ratios survive the noise of shared machines; absolute
numbers do not.

The builder groups (`cargo bench --bench builder`) print the ratios their floors are stated in:
`builder/send4` build+encode time over encode time (floor: at most 2), and `builder/headers`
the cost per header at 16,000 headers over that at 1,000 (flat: about 1).

The connection groups (`cargo bench --bench connection`) print theirs: `connection/send` client
send -> server event over raw encode + decode of the same SEND, `connection/message` server
message -> client event over raw encode + decode of the same MESSAGE (floors: at most 1.5), and
`connection/fanout` a delivery to one more subscription over a full encode of the MESSAGE
(floor: at most 0.6)."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def mean_ns(bench_dir):
    est = bench_dir / "new" / "estimates.json"
    return json.loads(est.read_text())["mean"]["point_estimate"] if est.exists() else None


def throughput(bench_dir, kind):
    b = bench_dir / "new" / "benchmark.json"
    if not b.exists():
        return None
    t = json.loads(b.read_text()).get("throughput") or {}
    return t.get(kind)


def throughput_bytes(bench_dir):
    return throughput(bench_dir, "Bytes")


def builder_ratios(group):
    """The builder floors' ratios, or None for any other group."""
    if group.name == "builder_send4":
        encode, built = mean_ns(group / "encode"), mean_ns(group / "build_encode")
        if encode and built:
            verdict = "meets" if built / encode <= 2 else "MISSES"
            return [f"  build_encode / encode       {built / encode:9.3f}"
                    f"   ({built:.1f} ns / {encode:.1f} ns; floor 2: {verdict})"]
    if group.name == "builder_headers":
        per = {}
        for k in (1000, 16000):
            ns, n = mean_ns(group / str(k)), throughput(group / str(k), "Elements")
            if ns and n:
                per[k] = ns / n
        if len(per) == 2:
            return [f"  per header at 16000 / 1000  {per[16000] / per[1000]:9.3f}"
                    f"   ({per[16000]:.1f} ns / {per[1000]:.1f} ns a header)"]
    return None


CONNECTION_FLOORS = {
    "connection_send": ("client_to_server", "raw", 1.5),
    "connection_message": ("server_to_client", "raw", 1.5),
    "connection_fanout": ("deliver", "encode", 0.6),
}


def connection_ratios(group):
    """The connection floors' ratios, or None for any other group."""
    if group.name not in CONNECTION_FLOORS:
        return None
    layer, base, floor = CONNECTION_FLOORS[group.name]
    a, b = mean_ns(group / layer), mean_ns(group / base)
    if not (a and b):
        return None
    verdict = "meets" if a / b <= floor else "MISSES"
    name = f"{layer} / {base}"
    return [f"  {name:28} {a / b:9.3f}   ({a / 1000:.1f} us / {b / 1000:.1f} us;"
            f" floor {floor}: {verdict})"]


for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
    extra = builder_ratios(group) or connection_ratios(group) or []
    base = mean_ns(group / "memchr_scan")
    # The decode groups also time a splitter that stops at each NUL: a looser baseline.
    split = mean_ns(group / "memchr_split")
    rows = []
    for new in sorted(group.rglob("new")):
        d = new.parent
        ns, size = mean_ns(d), throughput_bytes(d)
        if ns is None or size is None:
            continue
        gibs = size / ns * 1e9 / 2**30
        ratio = f"{base / ns:9.3f} x memchr_scan" if base else ""
        if split:
            ratio += f" {split / ns:9.3f} x memchr_split"
        rows.append((str(d.relative_to(group)), gibs, ratio))
    if rows or extra:
        print(group.name)
        for line in extra:
            print(line)
        for name, gibs, ratio in rows:
            print(f"  {name:20} {gibs:10.2f} GiB/s {ratio}")
