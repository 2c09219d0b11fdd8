-- clickedge's back end (docs/methodology.md): the tables `clickedge rescore`,
-- `freeze` and `strikes` write beside the click table. They create them when
-- missing, in the click table's database; to make them by hand:
--   clickhouse-client --multiquery < conf/clickhouse/backend.sql
-- Runs as it is on ClickHouse 18.16 and later.
--
-- Adjustments: clicks found invalid after the fact, one row per click and
-- run that found it; append-only (the click log is never rewritten). A
-- report takes the first adjustment of each click (argMin by time).

CREATE TABLE IF NOT EXISTS clickedge.clickedge_adjustments
(
    click_id String,
    reason   String,
    rule     String,
    run      String,
    time     UInt32
)
ENGINE = MergeTree()
ORDER BY (click_id, time);

-- State documents: frozen months (kind `frozen`, key YYYY-MM) and the strike
-- ladder (kind `strikes`, key `ladder`), JSON, a new version on each change;
-- the latest version of a key is in force (argMax by version).

CREATE TABLE IF NOT EXISTS clickedge.clickedge_state
(
    kind    String,
    key     String,
    version UInt64,
    body    String
)
ENGINE = MergeTree()
ORDER BY (kind, key, version);
