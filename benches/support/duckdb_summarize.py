"""DuckDB's per-user aggregation of an event log, the baseline of benches/recompute.rs.

Usage: python3 duckdb_summarize.py EVENTS.parquet THREADS

Builds, per user: purchase days with their spend, first and last purchase day, counts per
event type, mean rating, first and last seen; the same summary strata's read folds into a
history. Prints one JSON line: seconds (the query alone, no interpreter start), users, and
the process's peak RSS in KiB (VmHWM). Exits 3 when `import duckdb` fails.
"""

import json
import sys
import time

try:
    import duckdb
except ImportError as error:  # the bench prints a note and skips the DuckDB rows
    print(f"import duckdb failed: {error}", file=sys.stderr)
    sys.exit(3)

QUERY = """
CREATE TEMP TABLE summaries AS
WITH events AS (
    SELECT trim(user_id) AS user_id, "timestamp" AS ts, lower(trim(event_type)) AS kind,
           amount, rating
    FROM read_parquet({path})
),
purchase_days AS (
    SELECT user_id, CAST(ts AS DATE) AS day, count(*) AS purchases,
           sum(coalesce(amount, 0)) AS spend
    FROM events WHERE kind = 'purchase'
    GROUP BY user_id, day
),
purchases AS (
    SELECT user_id, list(struct_pack(day, purchases, spend) ORDER BY day) AS days,
           min(day) AS first_purchase, max(day) AS last_purchase, sum(spend) AS total_spend
    FROM purchase_days
    GROUP BY user_id
),
users AS (
    SELECT user_id, min(ts) AS first_seen, max(ts) AS last_seen, count(*) AS events,
           count(*) FILTER (kind = 'purchase') AS purchase_events,
           count(*) FILTER (kind = 'add_to_cart') AS add_to_cart,
           count(*) FILTER (kind = 'favorite') AS favorite,
           count(*) FILTER (kind = 'review') AS reviews,
           count(*) FILTER (kind = 'send') AS sends,
           count(*) FILTER (kind = 'response') AS responses,
           count(*) FILTER (kind IN ('offer_issued', 'offer_control')) AS offers,
           avg(rating) FILTER (kind IN ('rating', 'review') AND rating BETWEEN 1 AND 5)
               AS mean_rating
    FROM events
    GROUP BY user_id
)
SELECT * FROM users LEFT JOIN purchases USING (user_id)
"""


def peak_rss_kib() -> float:
    """This process's VmHWM: ru_maxrss would start from the parent's peak at fork."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    return float("nan")


def main() -> None:
    path, threads = sys.argv[1], int(sys.argv[2])
    connection = duckdb.connect()
    connection.execute(f"SET threads = {threads}")
    started = time.perf_counter()
    connection.execute(QUERY.format(path="'" + path.replace("'", "''") + "'"))
    users = connection.execute("SELECT count(*) FROM summaries").fetchone()[0]
    seconds = time.perf_counter() - started
    peak_kib = peak_rss_kib()
    print(json.dumps({"seconds": seconds, "users": users, "peak_kib": peak_kib,
                      "version": duckdb.__version__}))


if __name__ == "__main__":
    main()
