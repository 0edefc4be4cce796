#!/usr/bin/env python3
"""PyFlink peer: Flink SQL TUMBLE window TVF, streaming mode, local mini-cluster.

Source: the filesystem connector with the json format (one file, so one
split).  Event time: ts parsed in SQL to the millisecond (Flink's
event-time attribute is TIMESTAMP(3)), rounded up and then less 1 ms for
ASA's (start, end] windows (exact: window ends are whole milliseconds),
watermark 1 s behind (the data's disorder is < 500 ms; a looser bound
changes latency, not results).  Sink: the filesystem connector,
json format, into a scratch directory; checkpointing every second lets
the sink commit its part files when the bounded input ends.  The part
files are then concatenated into OUT.  --threads N sets
parallelism.default = N.  Only SQL runs, so no Python worker is started.

`seconds` runs from submitting the INSERT to the part files being
concatenated; the JVM start (TableEnvironment.create) comes before it.
"""
import glob
import os
import shutil
import time

import peercommon as pc

args = pc.parse_args("flink")

import pyflink  # noqa: E402
from pyflink.table import EnvironmentSettings, TableEnvironment  # noqa: E402

try:
    from pyflink.version import __version__ as VERSION
except Exception:  # pragma: no cover
    VERSION = "?"

env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
conf = env.get_config()
conf.set("parallelism.default", str(args.threads))
conf.set("table.local-time-zone", "UTC")
conf.set("execution.checkpointing.interval", "1 s")
conf.set("pipeline.name", "issue7")


def q(s):
    return "'" + s.replace("'", "''") + "'"


sink_dir = os.path.abspath(args.out) + ".flink-parts"
shutil.rmtree(sink_dir, ignore_errors=True)

env.execute_sql(f"""
CREATE TABLE ev (
  `key` BIGINT,
  v BIGINT,
  ts STRING,
  -- ceil(ts to the millisecond) - 1 ms: the time to the millisecond,
  -- less 1 ms when no digit below the millisecond is set
  et AS CASE
    WHEN TRIM(BOTH '0' FROM REPLACE(SUBSTRING(ts FROM 24), 'Z', '')) = ''
    THEN TO_TIMESTAMP(SUBSTRING(REPLACE(ts, 'T', ' ') FROM 1 FOR 23),
                      'yyyy-MM-dd HH:mm:ss.SSS') - INTERVAL '0.001' SECOND
    ELSE TO_TIMESTAMP(SUBSTRING(REPLACE(ts, 'T', ' ') FROM 1 FOR 23),
                      'yyyy-MM-dd HH:mm:ss.SSS')
  END,
  WATERMARK FOR et AS et - INTERVAL '1' SECOND
) WITH (
  'connector' = 'filesystem',
  'path' = {q(os.path.abspath(args.data))},
  'format' = 'json'
)""")
env.execute_sql(f"""
CREATE TABLE out_rows (
  `key` BIGINT,
  n BIGINT,
  total BIGINT,
  mean DOUBLE,
  t STRING
) WITH (
  'connector' = 'filesystem',
  'path' = {q(sink_dir)},
  'format' = 'json'
)""")

t0 = time.perf_counter()
env.execute_sql("""
INSERT INTO out_rows
SELECT `key`, COUNT(*), SUM(v), AVG(CAST(v AS DOUBLE)),
       DATE_FORMAT(window_end, 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')
FROM TABLE(TUMBLE(TABLE ev, DESCRIPTOR(et), INTERVAL '10' SECOND))
GROUP BY `key`, window_start, window_end
""").wait()
parts = sorted(p for p in glob.glob(os.path.join(sink_dir, "**", "*"),
                                    recursive=True)
               if os.path.isfile(p) and not os.path.basename(p).startswith("."))
hidden = [p for p in glob.glob(os.path.join(sink_dir, "**", ".*"),
                               recursive=True) if os.path.isfile(p)]
with open(args.out, "wb") as out:
    for p in parts:
        with open(p, "rb") as f:
            shutil.copyfileobj(f, out)
seconds = time.perf_counter() - t0


def descendants_peak_kib():
    """Largest VmHWM among this process's descendants (the Flink JVM).

    /usr/bin/time -v does not see the JVM (the driver never waits for it),
    so its peak is read here, while it still runs.
    """
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier} - mine
        mine |= frontier
    peak = 0
    for p in mine:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak


jvm_kib = descendants_peak_kib()
pc.report("flink", VERSION, args, seconds, part_files=len(parts),
          uncommitted_files=len(hidden),
          jvm_peak_rss_mib=round(jvm_kib / 1024, 1) if jvm_kib else None)
