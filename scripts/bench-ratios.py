#!/usr/bin/env python3
"""Prints each criterion benchmark's throughput as a ratio to the `memchr_scan` baseline of the
same group (run `cargo bench` first). Ratios survive the noise of shared machines; absolute
numbers do not."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def mean_ns(bench_dir):
    est = bench_dir / "new" / "estimates.json"
    return json.loads(est.read_text())["mean"]["point_estimate"] if est.exists() else None


def throughput_bytes(bench_dir):
    b = bench_dir / "new" / "benchmark.json"
    if not b.exists():
        return None
    t = json.loads(b.read_text()).get("throughput") or {}
    return t.get("Bytes")


for group in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
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
    if rows:
        print(group.name)
        for name, gibs, ratio in rows:
            print(f"  {name:20} {gibs:10.2f} GiB/s {ratio}")
