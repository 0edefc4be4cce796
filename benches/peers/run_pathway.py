#!/usr/bin/env python3
"""Pathway peer: windowby(pw.temporal.tumbling) per key.

The file is read with pw.io.jsonlines in "static" mode (the whole file is
one input batch; "streaming" mode would keep watching the file and never
end).  Event times are parsed by Pathway (dt.strptime), shifted by -1 us
for ASA's (start, end] windows, and windowed on a 10 s grid from the
epoch.  --threads N sets PATHWAY_THREADS=N (Pathway's worker threads).
`seconds` is pw.run() alone: the graph is built before the timer.
"""
import datetime
import os
import time

import peercommon as pc

args = pc.parse_args("pathway")
os.environ["PATHWAY_THREADS"] = str(args.threads)

import pathway as pw  # noqa: E402


class Event(pw.Schema):
    key: int
    v: int
    ts: str


ev = pw.io.jsonlines.read(args.data, schema=Event, mode="static")
ev = ev.select(
    key=pw.this.key,
    v=pw.this.v,
    et=pw.this.ts.dt.strptime("%Y-%m-%dT%H:%M:%S.%fZ")
    - datetime.timedelta(microseconds=1),
)
res = ev.windowby(
    ev.et,
    window=pw.temporal.tumbling(
        duration=datetime.timedelta(milliseconds=pc.WINDOW_MS),
        origin=datetime.datetime(1970, 1, 1),
    ),
    instance=ev.key,
).reduce(
    key=pw.this._pw_instance,
    n=pw.reducers.count(),
    total=pw.reducers.sum(pw.this.v),
    mean=pw.reducers.avg(pw.this.v),
    t=pw.this._pw_window_end,
)
if os.path.exists(args.out):
    os.remove(args.out)
pw.io.jsonlines.write(res, args.out)

t0 = time.perf_counter()
pw.run(monitoring_level=pw.MonitoringLevel.NONE)
seconds = time.perf_counter() - t0
pc.report("pathway", pw.__version__, args, seconds)
