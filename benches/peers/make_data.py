#!/usr/bin/env python3
"""Write the issue-7 benchmark workload as JSON lines, deterministically.

    make_data.py N OUT

Event i (0 <= i < N):
  key = i * 2654435761 % 10000
  v   = i * 7919 % 1000
  ts  = 2024-01-01T00:00:00Z + i/10000 s, and for every 4th event
        (i % 4 == 3) minus (i * 104729 % 500) ms: disorder stays below 500 ms.
Timestamps are written with millisecond precision and a trailing Z.
"""
import sys
from datetime import datetime, timezone

BASE_MS = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


def fmt(ms):
    s, milli = divmod(ms, 1000)
    d = datetime.fromtimestamp(s, tz=timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % milli


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_data.py N OUT")
    n, out = int(sys.argv[1]), sys.argv[2]
    with open(out, "w") as f:
        w = f.write
        for i in range(n):
            ms = BASE_MS + i // 10  # i/10000 s, in ms
            if i % 4 == 3:
                ms -= i * 104729 % 500
            w('{"key": %d, "v": %d, "ts": "%s"}\n'
              % (i * 2654435761 % 10000, i * 7919 % 1000, fmt(ms)))


if __name__ == "__main__":
    main()
