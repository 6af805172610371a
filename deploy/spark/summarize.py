#!/usr/bin/env python3
"""strata's summarize stage on Apache Spark (PySpark 4).

Reads event logs (CSV, JSON Lines, Parquet: the columns `strata` reads),
applies the same bad-row rules and error budget, folds every user's events
into the per-user summary `strata summarize` writes, and writes the same
summary folder: `part-0000i-of-0000N.parquet` (users placed by XXH3-64 of the
id mod N, the hash `strata recompute --partition i/N` uses, sorted by id) and
`manifest.json`. `strata fit`, `strata recompute --summaries` and `strata
summarize --previous` read the result unchanged, and this job reads its own
or the in-process engine's summaries as `--previous` (an incremental day).

One definition of the summary: the fold below mirrors `UserHistory::observe`
(crates/strata-core/src/history.rs, engagement.rs) column by column, and
tests/grpc/spark.rs proves the two engines' parts equal on every column of
every user (floats to the bit: sums run in the logs' order, as the one-thread
fold of `strata summarize` does) and the profiles served from them equal.

    python3 deploy/spark/summarize.py --events logs/ --out summaries/ \
        --parts 8 --as-of 2025-01-01T00:00:00Z [--previous yesterday/] \
        [--preset retail | --model model.toml] [--config models.toml] \
        [--master local[2]]

Needs `pyspark` and `xxhash` (the XXH3 of the part hash and the manifest's
checksums) on the driver and the executors. Paths are local or on a shared
volume: the manifest's checksums are computed by the driver from the files.
"""

import argparse
import csv
import datetime
import json
import os
import re
import shutil
import sys
import tomllib
import uuid
from pathlib import Path

FORMAT_VERSION = 2  # 2: the `send_hours` column
MANIFEST = "manifest.json"
CHANNELS = ["sms", "app_push", "wechat", "email"]
RECENT_CONTACTS = 32
HOURS_PER_WEEK = 168
HOUR_MILLIS = 3_600_000
WEEK_MILLIS = HOURS_PER_WEEK * HOUR_MILLIS
FIRST_MONDAY = 4 * 24 * HOUR_MILLIS  # 1970-01-05T00:00:00Z
MAX_USER_ID_BYTES = 256
EPOCH_MILLIS_THRESHOLD = 100_000_000_000
LATEST_AS_OF = 4_102_444_800_000
MILLIS_PER_DAY = 86_400_000
FUTURE_SLACK = MILLIS_PER_DAY
DEFAULT_MAX_AMOUNT = 10_000_000.0
MAX_PARTITIONS = 4096
WALLET_SHARE = "wallet_share"
COLUMNS = ["user_id", "timestamp", "event_type", "amount", "currency", "channel",
           "benefit_id", "rating"]
EXTENSIONS = {"csv": "csv", "jsonl": "json", "ndjson": "json", "json": "json",
              "parquet": "parquet"}
PRESETS = Path(__file__).resolve().parents[2] / "crates/strata-core/src/lifecycle/presets"


class Refused(Exception):
    """A run that must not write anything, with the reason for the user."""


# ---------------------------------------------------------------- the model

def rust_float(value):
    """A float as Rust's `{}` prints it (`5`, `2.5`)."""
    return str(int(value)) if value == int(value) else repr(value)


def compile_model(text):
    """The fold-relevant part of a lifecycle model (strata-core lifecycle
    `Compiler`): value and satisfaction events, and the tracked series with
    their retention, shared between rules exactly as the Rust compiler shares
    them. `model.tracked_series` in the manifest is checked by every reader,
    so a drift here is refused, never folded wrongly."""
    model = tomllib.loads(text)
    value_events = sorted(set(model.get("value_events", ["purchase"])))
    satisfaction = sorted(set(model.get("satisfaction_events", ["rating", "review"])))
    series = []  # [events, min_amount, retention]; retention (rank, window)

    def add(events, min_amount, retention):
        events = sorted(set(events))
        if min_amount is None and events == value_events:
            return
        for spec in series:
            if spec[0] == events and spec[1] == min_amount:
                spec[2] = max(spec[2], retention)
                return
        series.append([events, min_amount, retention])

    for layer in model["layers"]:
        for key in ("all", "any"):
            for predicate in layer.get(key, []):
                needs_days = any(name in predicate for name in
                                 ("min_days", "max_days", "gap_over_median")) \
                    or predicate.get("amount_growing", False)
                if "within_days" in predicate:
                    retention = (1, predicate["within_days"])
                elif needs_days:
                    retention = (2, 0)
                else:
                    retention = (0, 0)
                minimum = predicate.get("min_amount")
                add(predicate["events"], None if minimum is None else float(minimum),
                    retention)
        if "churn" in layer:
            add(layer["churn"]["activity"], None, (0, 0))

    def retention_text(retention):
        rank, window = retention
        return ["Counters", f"LastDays({window})", "AllDays"][rank]

    tracked = [
        ",".join(events)
        + ("" if minimum is None else f" amount >= {rust_float(minimum)}")
        + ": " + retention_text(retention)
        for events, minimum, retention in series
    ]
    return {
        "name": model["name"],
        "value_events": value_events,
        "satisfaction_events": satisfaction,
        "series": series,
        "tracked_series": tracked,
    }


# ---------------------------------------------------------------- inputs

def log_files(paths):
    """Files in reading order: named files as given, folders' logs in sorted
    path order (as `EventSource::open`)."""
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*")
                           if p.is_file() and p.suffix[1:].lower() in EXTENSIONS)
            files.extend(found)
        elif path.suffix[1:].lower() in EXTENSIONS:
            files.append(path)
        elif path.exists():
            raise Refused(f"{path}: not an event log (.csv, .jsonl, .parquet)")
        else:
            raise Refused(f"{path}: no such file or folder")
    if not files:
        raise Refused(f"no event logs in {', '.join(paths)}")
    return files


def read_file(spark, index, path):
    """One log as rows of text columns (a missing column is null), with the
    file's index and each row's position in it, and `_bad` set for a row its
    format could not parse."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    kind = EXTENSIONS[path.suffix[1:].lower()]
    typed_millis = F.lit(None).cast("long")
    if kind == "csv":
        with open(path, encoding="utf-8", errors="replace") as file:
            header_line = file.readline()
        if not header_line.strip():
            return None
        names = [name.lstrip("\ufeff").strip() for name in next(csv.reader([header_line]))]
        schema = StructType([StructField(f"c{i}", StringType()) for i in range(len(names))]
                            + [StructField("_corrupt", StringType())])
        frame = (spark.read.schema(schema)
                 .option("header", True).option("mode", "PERMISSIVE")
                 .option("escape", '"')
                 .option("columnNameOfCorruptRecord", "_corrupt")
                 .option("ignoreLeadingWhiteSpace", False)
                 .option("ignoreTrailingWhiteSpace", False)
                 .option("enforceSchema", True)
                 .csv(str(path)))
        rename = {f"c{i}": name.lower() for i, name in enumerate(names)}
        bad = F.when(F.col("_corrupt").isNotNull(),
                     F.lit("the number of fields differs from the header"))
    elif kind == "json":
        frame = (spark.read.option("primitivesAsString", True)
                 .option("mode", "PERMISSIVE")
                 .option("columnNameOfCorruptRecord", "_corrupt")
                 .json(str(path)))
        rename = {name: name.lower() for name in frame.columns if name != "_corrupt"}
        bad = (F.when(F.col("_corrupt").isNotNull(), F.lit("not a JSON object"))
               if "_corrupt" in frame.columns else F.lit(None).cast("string"))
    else:
        frame = spark.read.parquet(str(path))
        rename = {}
        for field in frame.schema.fields:
            type_name = field.dataType.typeName()
            column = F.col(f"`{field.name}`")
            if type_name in ("timestamp", "timestamp_ntz"):
                # Already an instant, kept as such (epoch numbers in text are
                # read by their magnitude, which would misread one before 1973).
                if field.name.lower() == "timestamp":
                    frame = frame.withColumn("_typed_millis", F.unix_millis(column))
                    typed_millis = F.col("_typed_millis")
                frame = frame.withColumn(field.name, F.unix_millis(column).cast("string"))
            elif type_name == "date":
                frame = frame.withColumn(
                    field.name, (F.unix_date(column).cast("long") * MILLIS_PER_DAY)
                    .cast("string"))
            else:
                frame = frame.withColumn(field.name, column.cast("string"))
            rename[field.name] = field.name.lower()
        bad = F.lit(None).cast("string")
    columns = [F.lit(index).alias("file_index"),
               F.monotonically_increasing_id().alias("row"),
               bad.alias("_bad"),
               typed_millis.alias("_millis")]
    present = {target: source for source, target in rename.items()}
    for column in COLUMNS:
        source = present.get(column)
        columns.append((F.col(f"`{source}`") if source else F.lit(None))
                       .cast("string").alias(column))
    return frame.select(*columns)


def rows_to_events(raw, latest, max_amount):
    """The row rules of `RawRow::fill` and `RowLimits::check`: each row gets
    either a `reason` or a parsed event (`at` in UTC millis)."""
    from pyspark.sql import functions as F

    def text(name):
        # Rust's `str::trim`: Unicode white space, not only ASCII spaces.
        trimmed = F.regexp_replace(F.col(name), r"^\p{IsWhite_Space}+|\p{IsWhite_Space}+$", "")
        return F.when(F.length(trimmed) > 0, trimmed)

    raw = raw.select(
        "file_index", "row", "_bad", "_millis",
        text("user_id").alias("user_id"),
        text("timestamp").alias("ts"),
        F.lower(text("event_type")).alias("kind"),
        text("amount").alias("amount_text"),
        F.upper(text("currency")).alias("currency"),
        F.lower(text("channel")).alias("channel"),
        text("benefit_id").alias("benefit_id"),
        text("rating").alias("rating_text"),
    )
    integer = r"^[+-]?[0-9]+$"
    ts_integer = F.when(F.col("ts").rlike(integer), F.expr("try_cast(ts as long)"))
    # What Rust's `str::parse::<f64>` reads (Java's parser also takes `1d`, `0x1p3`).
    number = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(?i:inf|infinity|nan)$"

    def float_of(column):
        return F.when(F.col(column).rlike(number), F.expr(f"try_cast({column} as double)"))

    ts_float = F.when(ts_integer.isNull(), float_of("ts"))
    from_integer = F.when(F.abs(ts_integer) >= EPOCH_MILLIS_THRESHOLD, ts_integer) \
        .otherwise(ts_integer * 1000)
    scaled = F.when(F.abs(ts_float) >= EPOCH_MILLIS_THRESHOLD, ts_float) \
        .otherwise(ts_float * 1000.0)
    from_float = F.floor(F.round(scaled * 1000.0, 0) / 1000.0)
    rfc3339 = (r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})"
               r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$")
    fraction = F.regexp_extract("ts", rfc3339, 3)
    millis_text = F.rpad(F.substring(F.concat(fraction, F.lit("000")), 2, 3), 3, "0")
    zone = F.upper(F.regexp_extract("ts", rfc3339, 4))
    normal = F.concat(F.regexp_extract("ts", rfc3339, 1), F.lit("T"),
                      F.regexp_extract("ts", rfc3339, 2), F.lit("."), millis_text,
                      F.when(zone == "Z", F.lit("+00:00")).otherwise(zone))
    from_text = F.when(
        F.col("ts").rlike(rfc3339),
        F.unix_millis(F.expr("try_to_timestamp(normal_ts, \"yyyy-MM-dd'T'HH:mm:ss.SSSXXX\")")))
    raw = raw.withColumn("normal_ts", normal)
    at = F.coalesce(F.col("_millis"),
                    F.when(ts_integer.isNotNull(), from_integer),
                    F.when(ts_float.isNotNull() & ~F.isnan(ts_float)
                           & (F.abs(ts_float) < float("inf")), from_float.cast("long")),
                    from_text)
    amount = float_of("amount_text")
    rating_number = F.coalesce(F.expr("try_cast(rating_text as long)").cast("double"),
                               float_of("rating_text"))
    events = raw.withColumn("at", at).withColumn("amount", amount) \
        .withColumn("rating_number", rating_number)
    finite = lambda column: (~F.isnan(column)) & (F.abs(column) < float("inf"))  # noqa: E731
    reason = (
        F.when(F.col("_bad").isNotNull(), F.col("_bad"))
        .when(F.col("user_id").isNull(), F.lit("user_id is missing or empty"))
        .when(F.col("ts").isNull() & F.col("_millis").isNull(),
              F.lit("timestamp is missing or empty"))
        .when(F.col("at").isNull(), F.lit("timestamp is neither RFC 3339 with an offset "
                                          "nor epoch seconds or milliseconds"))
        .when(F.col("kind").isNull(), F.lit("event_type is missing or empty"))
        .when(F.col("amount_text").isNotNull() & F.col("amount").isNull(),
              F.lit("amount is not a number"))
        .when(F.col("amount").isNotNull() & ~finite(F.col("amount")),
              F.lit("amount is not a finite number"))
        .when(F.col("rating_text").isNotNull()
              & (F.col("rating_number").isNull()
                 | (F.col("rating_number") != F.floor("rating_number"))
                 | (F.col("rating_number") < 1) | (F.col("rating_number") > 5)),
              F.lit("rating is not an integer in 1..=5"))
        .when(F.octet_length("user_id") > MAX_USER_ID_BYTES,
              F.lit(f"user_id is longer than {MAX_USER_ID_BYTES} bytes"))
        .when(F.col("user_id").rlike(r"\p{Cc}"), F.lit("user_id holds a control character"))
        .when(F.col("at") < 0, F.lit("timestamp is before 1970-01-01T00:00:00.000Z"))
        .when(F.col("at") > latest, F.lit("timestamp is more than a day after the as-of time"))
        .when(F.abs("amount") > max_amount, F.lit("amount is above the amount ceiling"))
    )
    return events.withColumn("reason", reason).select(
        "file_index", "row", "reason", "user_id", "at", "kind", "amount", "currency",
        "channel", "benefit_id", F.col("rating_number").cast("int").alias("rating"))


# ---------------------------------------------------------------- the fold

def summary_schema():
    """The summary part's columns (strata-events summary/columns.rs)."""
    from pyspark.sql.types import (ArrayType, BooleanType, DateType, DoubleType, LongType,
                                   StringType, StructField, StructType, TimestampType)

    days = ArrayType(StructType([StructField("day", DateType(), False),
                                 StructField("events", LongType(), False),
                                 StructField("amount", DoubleType(), False)]), False)
    series = StructType([StructField("count", LongType(), False),
                         StructField("total", DoubleType(), False),
                         StructField("first_at", TimestampType(), True),
                         StructField("last_at", TimestampType(), True),
                         StructField("days", days, False)])
    fields = [
        StructField("user_id", StringType(), False),
        StructField("first_seen", TimestampType(), True),
        StructField("last_seen", TimestampType(), True),
        StructField("event_count", LongType(), False),
        StructField("purchase_count", LongType(), False),
        StructField("purchase_total", DoubleType(), False),
        StructField("purchase_first_at", TimestampType(), True),
        StructField("purchase_last_at", TimestampType(), True),
        StructField("purchase_days", days, False),
        StructField("rating_count", LongType(), False),
        StructField("rating_sum", LongType(), False),
        StructField("review_count", LongType(), False),
        StructField("add_to_cart_count", LongType(), False),
        StructField("favorite_count", LongType(), False),
        StructField("wallet_share", DoubleType(), True),
        StructField("wallet_share_at", TimestampType(), True),
    ]
    for channel in CHANNELS:
        fields.append(StructField(f"{channel}_sends", LongType(), False))
        fields.append(StructField(f"{channel}_responses", LongType(), False))
    fields += [
        StructField("recent_contacts", ArrayType(TimestampType(), False), False),
        StructField("offers", ArrayType(StructType([
            StructField("at", TimestampType(), False),
            StructField("benefit_id", StringType(), False),
            StructField("treated", BooleanType(), False)]), False), False),
        StructField("redemptions", ArrayType(StructType([
            StructField("at", TimestampType(), False),
            StructField("benefit_id", StringType(), False),
            StructField("amount", DoubleType(), True)]), False), False),
        StructField("tracked_series", ArrayType(series, False), False),
        StructField("send_hours", ArrayType(StructType([
            StructField("slot", LongType(), False),
            StructField("sends", LongType(), False),
            StructField("responses", LongType(), False)]), False), False),
    ]
    return StructType(fields)


def sql_list(values):
    return "array(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")" \
        if values else "cast(array() as array<string>)"


def series_sql(events, previous, retention):
    """One series (`Series::record` over `events`, continuing `previous`, a
    series struct or null): count, total summed in order, first and last
    times, and per-day totals kept as `retention` says."""
    rank, window = retention
    prev = f"coalesce({previous}.days, cast(array() as array<struct<day:date,events:bigint,amount:double>>))"
    new_days = f"array_distinct(transform({events}, e -> e.day))"
    merged = (
        f"transform(array_sort(array_distinct(concat(transform({prev}, d -> d.day), {new_days}))), "
        f"d -> struct(d as day, "
        f"coalesce(element_at(filter({prev}, p -> p.day = d), 1).events, 0L)"
        f" + cast(size(filter({events}, e -> e.day = d)) as bigint) as events, "
        f"aggregate(filter({events}, e -> e.day = d), "
        f"coalesce(element_at(filter({prev}, p -> p.day = d), 1).amount, 0D), "
        f"(acc, e) -> acc + e.amount) as amount))"
    )
    if rank == 0:
        days = "cast(array() as array<struct<day:date,events:bigint,amount:double>>)"
    elif rank == 1:
        days = (f"filter({merged}, d -> d.day >= "
                f"date_sub(array_max(transform({merged}, x -> x.day)), {window}))")
    else:
        days = merged
    return (
        f"named_struct("
        f"'count', coalesce({previous}.count, 0L) + cast(size({events}) as bigint), "
        f"'total', aggregate({events}, coalesce({previous}.total, 0D), (acc, e) -> acc + e.amount), "
        f"'first_at', least({previous}.first_at, array_min(transform({events}, e -> e.ts))), "
        f"'last_at', greatest({previous}.last_at, array_max(transform({events}, e -> e.ts))), "
        f"'days', {days})"
    )


def send_hours_sql(events, previous):
    """Sends and responses on a known channel by hour slot (engagement.rs
    `HourCounts`), continuing `previous` (the summary's list or null): slot
    `parity * 168 + hour_of_week`, hour 0 Monday 00h UTC, the parity of the
    week counted from 1970-01-05; sorted by slot, only slots with a count."""
    since = f"(unix_millis(e.ts) - {FIRST_MONDAY}L)"
    week = f"(({since} - pmod({since}, {WEEK_MILLIS}L)) div {WEEK_MILLIS}L)"
    slot = (f"pmod({week}, 2L) * {HOURS_PER_WEEK}L"
            f" + pmod({since}, {WEEK_MILLIS}L) div {HOUR_MILLIS}L")
    counted = f"transform({events}, e -> struct({slot} as slot, e.kind = 'send' as send))"
    prev = (f"coalesce({previous}, "
            "cast(array() as array<struct<slot:bigint,sends:bigint,responses:bigint>>))")
    return (
        f"transform(array_sort(array_distinct(concat(transform({prev}, h -> h.slot), "
        f"transform({counted}, h -> h.slot)))), s -> struct(s as slot, "
        f"coalesce(element_at(filter({prev}, h -> h.slot = s), 1).sends, 0L)"
        f" + cast(size(filter({counted}, h -> h.slot = s and h.send)) as bigint) as sends, "
        f"coalesce(element_at(filter({prev}, h -> h.slot = s), 1).responses, 0L)"
        f" + cast(size(filter({counted}, h -> h.slot = s and not h.send)) as bigint)"
        f" as responses))"
    )


def fold(users, model):
    """Per-user summaries from `users` (user_id, `events`: the user's events
    in log order, `p`: the previous summary row or null)."""
    from pyspark.sql import functions as F

    value = sql_list(model["value_events"])
    satisfaction = sql_list(model["satisfaction_events"])
    channels = sql_list(CHANNELS)
    # e: struct(ts, day, kind, amount, channel, benefit_id, rating); amount 0 when absent
    # lives in `amt`, the logged one (or null) in `amount`.
    users = users.withColumn(
        "ev", F.expr("transform(events, e -> struct(e.ts as ts, to_date(e.ts) as day, "
                     "e.kind as kind, coalesce(e.amount, 0D) as amount, e.amount as logged, "
                     "e.channel as channel, e.benefit_id as benefit_id, e.rating as rating, "
                     f"array_contains({value}, e.kind) as value, "
                     f"array_contains({satisfaction}, e.kind) as satisfaction))"))
    other = "filter(ev, e -> not e.value)"
    purchases = series_sql("filter(ev, e -> e.value)", "p_purchases", (2, 0))
    columns = {
        "user_id": "user_id",
        "first_seen": "least(p.first_seen, array_min(transform(ev, e -> e.ts)))",
        "last_seen": "greatest(p.last_seen, array_max(transform(ev, e -> e.ts)))",
        "event_count": "coalesce(p.event_count, 0L) + cast(size(ev) as bigint)",
        "purchases": purchases,
        "rating_count": "coalesce(p.rating_count, 0L) + cast(size(filter(ev, e -> "
                        "e.satisfaction and e.rating is not null)) as bigint)",
        "rating_sum": "coalesce(p.rating_sum, 0L) + aggregate(filter(ev, e -> e.satisfaction "
                      "and e.rating is not null), 0L, (acc, e) -> acc + e.rating)",
        "review_count": "coalesce(p.review_count, 0L) + cast(size(filter(ev, e -> "
                        "e.satisfaction and e.kind != 'rating')) as bigint)",
        "add_to_cart_count": f"coalesce(p.add_to_cart_count, 0L) + cast(size(filter({other}, "
                             "e -> e.kind = 'add_to_cart')) as bigint)",
        "favorite_count": f"coalesce(p.favorite_count, 0L) + cast(size(filter({other}, "
                          "e -> e.kind = 'favorite')) as bigint)",
        # The latest share in 0..=1; ties at one millisecond keep the larger.
        "wallet": "array_max(concat("
                  "if(p.wallet_share is null, array(), array(struct(p.wallet_share_at as ts, "
                  "p.wallet_share as share))), "
                  f"transform(filter({other}, e -> e.kind = '{WALLET_SHARE}' and e.logged "
                  "is not null and e.logged >= 0D and e.logged <= 1D), "
                  "e -> struct(e.ts as ts, e.logged as share))))",
        # The newest RECENT_CONTACTS send times, oldest first.
        "recent_contacts": "reverse(slice(reverse(array_sort(concat(coalesce(p.recent_contacts, "
                           f"array()), transform(filter({other}, e -> e.kind = 'send'), "
                           f"e -> e.ts)))), 1, {RECENT_CONTACTS}))",
        "offers": "concat(coalesce(p.offers, array()), transform(filter("
                  f"{other}, e -> e.kind in ('offer_issued', 'offer_control') and "
                  "e.benefit_id is not null), e -> struct(e.ts as at, e.benefit_id as "
                  "benefit_id, e.kind = 'offer_issued' as treated)))",
        "redemptions": "concat(coalesce(p.redemptions, array()), transform(filter("
                       f"{other}, e -> e.kind = 'offer_redeemed' and e.benefit_id is not "
                       "null), e -> struct(e.ts as at, e.benefit_id as benefit_id, "
                       "if(isnan(e.logged) or abs(e.logged) = double('inf'), null, e.logged) "
                       "as amount)))",
    }
    for channel in CHANNELS:
        for kind, name in (("send", "sends"), ("response", "responses")):
            columns[f"{channel}_{name}"] = (
                f"coalesce(p.{channel}_{name}, 0L) + cast(size(filter({other}, e -> "
                f"e.kind = '{kind}' and e.channel = '{channel}')) as bigint)")
    columns["send_hours"] = send_hours_sql(
        f"filter({other}, e -> e.kind in ('send', 'response') and "
        f"array_contains({channels}, e.channel))", "p.send_hours")
    tracked = []
    for index, (events, minimum, retention) in enumerate(model["series"]):
        accepts = "" if minimum is None else \
            f" and e.logged is not null and e.logged >= {minimum!r}D"
        chosen = f"filter(ev, e -> array_contains({sql_list(events)}, e.kind){accepts})"
        tracked.append(series_sql(chosen, f"element_at(p.tracked_series, {index + 1})",
                                  retention))
    columns["tracked_series"] = "array(" + ", ".join(tracked) + ")" if tracked else \
        "cast(array() as array<struct<count:bigint,total:double,first_at:timestamp," \
        "last_at:timestamp,days:array<struct<day:date,events:bigint,amount:double>>>>)"
    users = users.withColumn(
        "p_purchases", F.expr(
            "if(p is null, null, named_struct('count', p.purchase_count, 'total', "
            "p.purchase_total, 'first_at', p.purchase_first_at, 'last_at', "
            "p.purchase_last_at, 'days', p.purchase_days))"))
    folded = users.select(*[F.expr(sql).alias(name) for name, sql in columns.items()])
    out = [
        "user_id", "first_seen", "last_seen", "event_count",
        F.col("purchases.count").alias("purchase_count"),
        F.col("purchases.total").alias("purchase_total"),
        F.col("purchases.first_at").alias("purchase_first_at"),
        F.col("purchases.last_at").alias("purchase_last_at"),
        F.col("purchases.days").alias("purchase_days"),
        "rating_count", "rating_sum", "review_count", "add_to_cart_count", "favorite_count",
        F.col("wallet.share").alias("wallet_share"),
        F.col("wallet.ts").alias("wallet_share_at"),
    ]
    for channel in CHANNELS:
        out += [f"{channel}_sends", f"{channel}_responses"]
    out += ["recent_contacts", "offers", "redemptions", "tracked_series", "send_hours"]
    return folded.select(*out)


# ---------------------------------------------------------------- output

def xxh3_hex(data):
    import xxhash
    return format(xxhash.xxh3_64_intdigest(data), "016x")


def time_text(at):
    moment = datetime.datetime.fromtimestamp(at / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at % 1000:03d}Z"


def parse_time(text):
    text = text.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text):
        value = int(text)
        return value if abs(value) >= EPOCH_MILLIS_THRESHOLD else value * 1000
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise Refused(f"--as-of {text}: give an offset (Z or +hh:mm)")
    return int(moment.timestamp() * 1000)


def read_manifest(directory):
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise Refused(f"{directory}: not a summary folder (no {MANIFEST})")
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise Refused(f"{path}: summary format {manifest.get('format_version')} is not "
                      f"{FORMAT_VERSION}")
    for entry in manifest["part_files"]:
        data = (Path(directory) / entry["name"]).read_bytes()
        if len(data) != entry["bytes"] or xxh3_hex(data) != entry["xxh3"]:
            raise Refused(f"{directory}/{entry['name']}: damaged (size or checksum differs "
                          "from the manifest); summarize again")
    return manifest


def write_parts(spark, summaries, parts, out):
    """Writes `summaries` (with a `part` column) to `out` as the N part
    files, each sorted by user id; returns the part files' manifest entries."""
    staging = out.parent / f".{out.name}.spark-{uuid.uuid4().hex[:8]}"
    written = staging / "written"
    (summaries.repartition(parts, "part")
     .sortWithinPartitions("part", "user_id")
     .write.option("compression", "snappy").partitionBy("part").parquet(str(written)))
    counts = {row["part"]: row["count"] for row in
              summaries.groupBy("part").count().collect()}
    entries = []
    for index in range(parts):
        name = f"part-{index:05d}-of-{parts:05d}.parquet"
        target = staging / name
        folder = written / f"part={index}"
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if len(files) > 1:
            raise RuntimeError(f"{folder}: {len(files)} files for one part")
        if not files:
            empty = staging / f"empty-{index}"
            (spark.createDataFrame([], summary_schema()).coalesce(1)
             .write.option("compression", "snappy").parquet(str(empty)))
            files = sorted(empty.glob("*.parquet"))
        shutil.move(str(files[0]), target)
        data = target.read_bytes()
        entries.append({"name": name, "users": counts.get(index, 0), "bytes": len(data),
                        "xxh3": xxh3_hex(data)})
    for leftover in staging.iterdir():
        if leftover.is_dir():
            shutil.rmtree(leftover)
    return staging, entries


# ---------------------------------------------------------------- the run

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--previous")
    parser.add_argument("--parts", type=int)
    parser.add_argument("--preset", default="retail")
    parser.add_argument("--model", help="a custom lifecycle model (TOML)")
    parser.add_argument("--config", help="models config: only [currency] is read")
    parser.add_argument("--as-of", required=True)
    parser.add_argument("--max-bad-fraction", type=float, default=0.01)
    parser.add_argument("--max-amount", type=float, default=DEFAULT_MAX_AMOUNT)
    parser.add_argument("--master", help="Spark master, e.g. local[2] (default: spark-submit's)")
    parser.add_argument("--shuffle-partitions", type=int,
                        help="spark.sql.shuffle.partitions (default: Spark's, 200); a few "
                             "per core for small inputs")
    args = parser.parse_args(argv)
    try:
        report = run(args)
    except Refused as refusal:
        print(f"summarize.py: {refusal}", file=sys.stderr)
        return 1
    print(json.dumps(report))
    return 0


def run(args):
    out = Path(args.out)
    if out.exists():
        raise Refused(f"{out}: already exists; summaries go to a new folder")
    as_of = parse_time(args.as_of)
    if not 0 <= as_of <= LATEST_AS_OF:
        raise Refused(f"--as-of {args.as_of} is outside 1970..2100")
    model_path = Path(args.model) if args.model else PRESETS / f"{args.preset}.toml"
    if not model_path.is_file():
        raise Refused(f"no lifecycle model at {model_path}")
    model = compile_model(model_path.read_text())
    currency = {}
    if args.config:
        currency = tomllib.loads(Path(args.config).read_text()).get("currency", {})
    base = currency.get("base")
    rates = {code: float(rate) for code, rate in currency.get("rates", {}).items()}
    previous = read_manifest(args.previous) if args.previous else None
    if previous:
        if previous["model"]["tracked_series"] != model["tracked_series"] \
                or previous["model"]["name"] != model["name"]:
            raise Refused(f"{args.previous}: folded for model {previous['model']['name']}, "
                          f"not this run's {model['name']}")
        if (previous["currency"]["base"], previous["currency"]["rates"]) != (base, rates):
            raise Refused(f"{args.previous}: summarized with another [currency]")
        if args.parts is not None and args.parts != previous["parts"]:
            raise Refused(f"{args.previous}: has {previous['parts']} parts and --parts is "
                          f"{args.parts}")
        if as_of <= previous["as_of"]:
            raise Refused(f"{args.previous}: describes {previous['as_of_text']}, and --as-of "
                          "is not later")
        if previous["input"]["ignored_after_as_of"] > 0:
            raise Refused(f"{args.previous}: left out events after its as-of time; "
                          "summarize every day again without --previous")
    parts = previous["parts"] if previous else (args.parts or 1)
    if not 1 <= parts <= MAX_PARTITIONS:
        raise Refused(f"--parts must be between 1 and {MAX_PARTITIONS}, got {parts}")
    files = log_files(args.events)
    now = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
    latest = max(as_of, now) + FUTURE_SLACK

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    # The executors' Python (the part hash) is the driver's, unless set.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("strata-summarize")
    if args.master:
        builder = builder.master(args.master)
    spark = (builder.config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MILLIS")
             .config("spark.sql.ansi.enabled", "false")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    if args.shuffle_partitions:
        spark.conf.set("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
    try:
        frames = [frame for frame in (read_file(spark, index, path)
                                      for index, path in enumerate(files)) if frame is not None]
        no_rows = (f"no event rows in {', '.join(str(path) for path in files)}: nothing to "
                   "compute from")
        if not frames:
            raise Refused(no_rows)
        raw = frames[0]
        for frame in frames[1:]:
            raw = raw.unionByName(frame)
        rows = rows_to_events(raw, latest, args.max_amount).cache()
        good = F.col("reason").isNull()
        after = good & (F.col("at") > as_of)
        totals = rows.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.when(good, 1).otherwise(0)).alias("events"),
            F.sum(F.when(after, 1).otherwise(0)).alias("ignored"),
            F.min(F.when(good & ~after, F.col("at"))).alias("earliest"),
        ).first()
        total_rows = totals["rows"]
        if total_rows == 0:
            # As strata: a run with no row at all would compute from nothing.
            raise Refused(no_rows)
        events_count = totals["events"] or 0
        bad_rows = total_rows - events_count
        if total_rows and bad_rows / total_rows > args.max_bad_fraction:
            samples = [f"{files[row['file_index']]}: {row['reason']}" for row in
                       rows.where(~good).orderBy("file_index", "row").limit(5).collect()]
            raise Refused(f"{bad_rows} of {total_rows} rows are bad, more than the budget "
                          f"--max-bad-fraction {args.max_bad_fraction}; first: "
                          + "; ".join(samples))
        if previous and totals["earliest"] is not None and totals["earliest"] <= previous["as_of"]:
            raise Refused(f"the new events start at {time_text(totals['earliest'])}, at or "
                          f"before the previous summaries' as-of time {previous['as_of_text']}")
        events = rows.where(good & ~after)
        # Currencies as `CurrencyTally::observe`: counted as written, converted to the base.
        money = F.col("amount").isNotNull() & F.col("currency").isNotNull() \
            & (F.col("kind") != WALLET_SHARE)
        seen = {row["currency"]: row["count"] for row in
                events.where(money).groupBy("currency").count().collect()}
        if previous:
            for code, count in previous["currency"]["seen"].items():
                seen[code] = seen.get(code, 0) + count
        if base:
            missing = sorted(code for code in seen if code != base and code not in rates)
            if missing:
                raise Refused(f"amounts in {', '.join(missing)} have no rate to {base}")
            rate = F.create_map(*[item for code, value in rates.items()
                                  for item in (F.lit(code), F.lit(value))]) if rates else None
            convert = money & (F.col("currency") != base)
            if rate is not None:
                events = events.withColumn(
                    "amount", F.when(convert & rate[F.col("currency")].isNotNull(),
                                     F.col("amount") * rate[F.col("currency")])
                    .otherwise(F.col("amount")))
        elif len(seen) > 1:
            raise Refused(f"amounts in several currencies ({', '.join(sorted(seen))}) and no "
                          "[currency] base to convert them to")
        users = events.groupBy("user_id").agg(F.sort_array(F.collect_list(F.struct(
            "file_index", "row", F.timestamp_millis("at").alias("ts"), "kind", "amount",
            "channel", "benefit_id", "rating"))).alias("events"))
        if previous:
            before = spark.read.parquet(*[str(Path(args.previous) / entry["name"])
                                          for entry in previous["part_files"]])
            before = before.select("user_id", F.struct(*before.columns).alias("p"))
            users = users.join(before, "user_id", "full_outer").withColumn(
                "events", F.coalesce("events", F.expr("array()").cast(
                    users.schema["events"].dataType)))
        else:
            users = users.withColumn("p", F.lit(None).cast(summary_schema()))
        summaries = fold(users, model)
        # The part of each user, by the hash `strata recompute --partition` uses.

        @F.udf(LongType())
        def part_of(user_id):
            import xxhash
            return xxhash.xxh3_64_intdigest(user_id.encode("utf-8")) % parts

        summaries = summaries.withColumn("part", part_of("user_id")).cache()
        window = summaries.agg(F.min(F.unix_millis("first_seen")).alias("first"),
                               F.max(F.unix_millis("last_seen")).alias("last")).first()
        staging, entries = write_parts(spark, summaries, parts, out)
    finally:
        spark.stop()

    this_run = {"files": len(files), "rows": total_rows, "events": events_count,
                "bad_rows": bad_rows, "bytes": sum(path.stat().st_size for path in files),
                "ignored_after_as_of": totals["ignored"] or 0}
    input_totals = dict(this_run)
    runs = []
    if previous:
        for key in input_totals:
            input_totals[key] += previous["input"][key]
        runs = list(previous["runs"])
    runs.append({"as_of": as_of, "previous_as_of": previous["as_of"] if previous else None,
                 "input": this_run})
    manifest = {
        "format_version": FORMAT_VERSION,
        "parts": parts,
        "as_of": as_of,
        "as_of_text": time_text(as_of),
        "model": {"name": model["name"], "tracked_series": model["tracked_series"]},
        "currency": {"base": base, "rates": dict(sorted(rates.items())),
                     "seen": dict(sorted(seen.items()))},
        "input": input_totals,
        "window": None if window["first"] is None else [window["first"], window["last"]],
        "users": sum(entry["users"] for entry in entries),
        "runs": runs,
        "part_files": entries,
    }
    with open(staging / MANIFEST, "w") as file:
        json.dump(manifest, file, indent=2)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.rename(staging, out)
    return {"users": manifest["users"], "parts": parts, "rows": total_rows,
            "events": events_count, "bad_rows": bad_rows,
            "ignored_after_as_of": this_run["ignored_after_as_of"]}


if __name__ == "__main__":
    sys.exit(main())
