#!/usr/bin/env python3
"""DuckDB peer: the batch lower bound for the issue-7 query.

One SQL statement reads the JSON-lines file, groups by key and 10 s window
end (ASA semantics, (end - 10 s, end]: end = ceil(ts_us / 10^7) * 10^7,
in microseconds; DuckDB's TIMESTAMP keeps microseconds)
and writes the result with COPY.  `seconds` covers that statement only;
the import and connection come before the timer.
"""
import time

import peercommon as pc

args = pc.parse_args("duckdb")

import duckdb  # noqa: E402

con = duckdb.connect()
con.execute(f"SET threads = {int(args.threads)}")
con.execute("SET preserve_insertion_order = false")


def q(s):
    return "'" + s.replace("'", "''") + "'"


sql = f"""
COPY (
  WITH ev AS (
    SELECT key, v, epoch_us(ts) AS us
    FROM read_json({q(args.data)}, format = 'newline_delimited',
                   columns = {{key: 'BIGINT', v: 'BIGINT', ts: 'TIMESTAMP'}})
  ), w AS (
    SELECT key, v,
           -- ceil to the 10 s grid: start exclusive, end inclusive
           (us + {pc.WINDOW_MS * 1000 - 1}) // {pc.WINDOW_MS * 1000}
             * {pc.WINDOW_MS} AS end_ms
    FROM ev
  )
  SELECT key, count(*) AS n, sum(v) AS total, avg(v) AS mean,
         strftime(epoch_ms(end_ms), '%Y-%m-%dT%H:%M:%S.%gZ') AS t
  FROM w GROUP BY key, end_ms
) TO {q(args.out)} (FORMAT JSON)
"""

t0 = time.perf_counter()
con.execute(sql)
seconds = time.perf_counter() - t0
pc.report("duckdb", duckdb.__version__, args, seconds)
