#!/usr/bin/env python3
"""Bytewax peer: fold_window over a TumblingWindower with an EventClock.

The clock is purely event-time: its `now_getter` is a constant, so the
watermark is (largest event time seen) - 500 ms and never advances with
wall-clock time (the default would make the watermark drift with
processing speed and drop in-bound late events).  Windows close at EOF at
the latest.  Late events are counted and reported (`late`, must be 0).

--threads N runs N Bytewax workers in this process (cluster_main with
worker_count_per_proc=N).  They share one Python interpreter, so the GIL
limits what they can gain.  The file is one partition, read by one worker
and redistributed before parsing.
"""
import json
import time
from datetime import datetime, timedelta, timezone

import peercommon as pc

args = pc.parse_args("bytewax")

import bytewax  # noqa: E402
import bytewax.operators as op  # noqa: E402
from bytewax._bytewax import cluster_main  # noqa: E402
from bytewax.connectors.files import FileSink, FileSource  # noqa: E402
from bytewax.dataflow import Dataflow  # noqa: E402
from bytewax.operators import windowing as win  # noqa: E402

try:
    from importlib.metadata import version
    VERSION = version("bytewax")
except Exception:  # pragma: no cover
    VERSION = getattr(bytewax, "__version__", "?")

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
LENGTH = timedelta(milliseconds=pc.WINDOW_MS)
ONE_US = timedelta(microseconds=1)
FIXED_NOW = datetime(2000, 1, 1, tzinfo=timezone.utc)


def parse(line):
    r = json.loads(line)
    # minus 1 us: native [start, end) windows give ASA's (start, end]
    return (r["key"], r["v"], datetime.fromisoformat(r["ts"]) - ONE_US)


def fmt(item):
    key, (win_id, (n, total)) = item
    end_ms = pc.WINDOW_MS * (win_id + 1)
    # FileSink is partitioned: it wants (routing key, line)
    return ("out", json.dumps({"key": int(key), "n": n, "total": total,
                               "mean": total / n,
                               "t": pc.ms_to_iso(end_ms)}))


def fold(acc, ev):
    return (acc[0] + 1, acc[1] + ev[1])


def merge(a, b):
    return (a[0] + b[0], a[1] + b[1])


late_count = 0


def count_late(item):
    global late_count
    late_count += 1
    return item


flow = Dataflow("issue7")
lines = op.input("in", flow, FileSource(args.data))
if args.threads > 1:
    lines = op.redistribute("spread", lines)
events = op.map("parse", lines, parse)
keyed = op.key_on("key", events, lambda e: str(e[0]))
clock = win.EventClock(lambda e: e[2],
                       wait_for_system_duration=timedelta(milliseconds=500),
                       now_getter=lambda: FIXED_NOW,
                       to_system_utc=lambda t: None)
windower = win.TumblingWindower(length=LENGTH, align_to=EPOCH)
out = win.fold_window("win", keyed, clock, windower,
                      lambda: (0, 0), fold, merge)
op.inspect("late", op.map("count_late", out.late, count_late),
           lambda *_: None)
op.output("out", op.map("fmt", out.down, fmt), FileSink(args.out))

t0 = time.perf_counter()
cluster_main(flow, [], 0, worker_count_per_proc=args.threads)
seconds = time.perf_counter() - t0
pc.report("bytewax", VERSION, args, seconds, late=late_count)
