-- clickedge: the table conversions are shipped to (docs/contract.md §9),
-- beside the click table, in its database. Runs as it is on ClickHouse
-- 18.16 and later:
--   clickhouse-client --multiquery < conf/clickhouse/conversions.sql
--
-- One row per conversion record as the edge wrote it; every value is a
-- string (`value` an exact decimal, never a float; `txn_hash` the keyed hash
-- of the transaction id, never the id). conversion_id is the same for every
-- repeat of (click_id, event, txn), from any edge: the engine collapses
-- repeats when it merges, and reports and exports count each id once
-- whether or not it has merged yet.
--
-- No comment sits inside a statement: benches/ship/run.sh joins each
-- statement onto one line, where a `--` would swallow the rest of it.

CREATE DATABASE IF NOT EXISTS clickedge;

CREATE TABLE IF NOT EXISTS clickedge.clickedge_conversions
(
    ts            String,
    conversion_id String,
    click_id      String,
    click_ts      String,
    event         String,
    category      String,
    time          String,
    value         String,
    currency      String,
    txn_hash      String,
    consent       String,
    source        String,
    edge          String
)
ENGINE = ReplacingMergeTree()
ORDER BY (click_id, conversion_id);
