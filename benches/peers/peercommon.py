"""Shared plumbing for the peer runners (standard library only).

Every runner takes `DATA_FILE --threads N --out OUT_FILE`, times its own
processing, writes one JSON object per (key, window) to OUT_FILE and then
calls `report`, which re-reads OUT_FILE (outside the timed part) and prints
the summary line run_all collects.

Window semantics follow Azure Stream Analytics (and Eddy): a 10 s tumbling
window aligned to the Unix epoch covers (end - 10 s, end], start exclusive,
end inclusive.  The peers' native tumbling windows are [start, end), so the
runners hand them the event time minus 1 microsecond: `ts in (s, e]` is
exactly `ts - 1 us in [s, e)` for times of microsecond precision, which
both data sets have (make_data.py writes milliseconds; `eddy bench`
writes seven fractional digits, multiples of 100 us, as Eddy prints
datetimes).  PyFlink's event-time attribute has only millisecond precision;
its runner rounds up to the millisecond before subtracting 1 ms instead,
which is exact for the same reason.
"""
import argparse
import hashlib
import json
import time
from collections import Counter
from datetime import datetime, timezone

# Taken at import, which every runner does first: the start of the process
# as near as Python lets us see it.
PROCESS_T0 = time.perf_counter()

WINDOW_MS = 10_000


def parse_args(engine):
    p = argparse.ArgumentParser(description=f"issue-7 peer runner: {engine}")
    p.add_argument("data")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    return p.parse_args()


def iso_to_ms(s):
    """'2024-01-01T00:00:00.123Z' -> epoch milliseconds (UTC)."""
    d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    return round(d.timestamp() * 1000)


def t_to_ms(t):
    """A window end as written by some engine -> epoch milliseconds."""
    if isinstance(t, (int, float)):
        return int(t)
    s = t.strip().replace(" ", "T")
    if s.endswith("Z"):
        s = s[:-1]
    tz = None
    if "+" in s[10:]:
        s, tz = s[:10] + s[10:].split("+")[0], "+"
    if "." in s:
        head, frac = s.split(".")
        s = head + "." + (frac + "000000")[:6]
    d = datetime.fromisoformat(s).replace(tzinfo=timezone.utc)
    return round(d.timestamp() * 1000)


def ms_to_iso(ms):
    sec, milli = divmod(int(ms), 1000)
    d = datetime.fromtimestamp(sec, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % milli


def report(engine, version, args, seconds, **extra):
    """Summarise OUT_FILE and print the one JSON line run_all reads.

    rows/sum_n/sum_total as asked; `digest` is a hash of the sorted
    (key, n, total, t_ms) tuples, so run_all can tell whether two engines
    produced the same rows, not just the same sums.
    """
    # Engines that write a change stream (Pathway: "diff": 1 / -1) are
    # folded into the final multiset of rows.
    bag = Counter()
    with open(args.out) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            row = (int(r["key"]), int(r["n"]), int(r["total"]),
                   t_to_ms(r["t"]))
            bag[row] += int(r.get("diff", 1))
    if any(c < 0 for c in bag.values()):
        raise SystemExit(f"{engine}: retraction of a row never inserted")
    rows = sorted(bag.elements())
    h = hashlib.sha256()
    for r in rows:
        h.update(("%d,%d,%d,%d\n" % r).encode())
    out = {
        "engine": engine,
        "version": version,
        "threads": args.threads,
        "rows": len(rows),
        "sum_n": sum(r[1] for r in rows),
        "sum_total": sum(r[2] for r in rows),
        "digest": h.hexdigest()[:16],
        "seconds": round(seconds, 3),
        "seconds_with_startup": round(time.perf_counter() - PROCESS_T0, 3),
    }
    out.update(extra)
    print(json.dumps(out), flush=True)
