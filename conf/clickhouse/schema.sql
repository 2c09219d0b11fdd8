-- clickedge: the click table in ClickHouse. Runs as it is on ClickHouse 18.16
-- and later (no DateTime64, TTL, IPv4/IPv6 or LowCardinality needed):
--   clickhouse-client --multiquery < conf/clickhouse/schema.sql
-- or over HTTP, one statement per request.
--
-- Every field of the click event (docs/contract.md §5) is a column of the
-- same name, as the edge writes it. `time` is derived from `ts` (RFC 3339
-- with milliseconds) for partitioning and reports.
--
-- Replays: the edge ships at least once (a batch the sink acknowledged may be
-- sent again after a crash). The engine is a ReplacingMergeTree whose sorting
-- key ends with click_id, unique per event, so replayed rows collapse into
-- one when parts merge, and reports read with FINAL (or count
-- uniqExact(click_id)) are exact before that.
--
-- ip_full is filled only in the `full` privacy mode: the whole client
-- address, for fraud analysis. Reports never read it; `clickedge retention`
-- clears it after privacy.retention.ip_full_days.
--
-- platform_click_param and platform_click_id are filled only for template
-- clicks (an ad platform's click id, e.g. gclid). A table made before they
-- existed gets them with conf/clickhouse/migrations/001-platform-click.sql.
--
-- rule names the rule behind an invalid click (docs/contract.md §5). A table
-- made before it existed gets it with conf/clickhouse/migrations/002-rule.sql,
-- which must run before edges of this version ship to it.
--
-- data_use says what may be done with the click's conversions
-- (docs/contract.md §5, §9): standard, opted_out or child_directed. A table
-- made before it existed gets it with
-- conf/clickhouse/migrations/003-data-use.sql; rows from before it read ''
-- (not known), and their conversions are never exported.
--
-- No comment sits inside a statement: benches/ship/run.sh joins each
-- statement onto one line, where a `--` would swallow the rest of it.

CREATE DATABASE IF NOT EXISTS clickedge;

CREATE TABLE IF NOT EXISTS clickedge.clicks
(
    ts            String,
    click_id      String,
    campaign      String,
    impression    String,
    publisher     String,
    landing_host  String,
    verdict       String,
    reason        String,
    action        String,
    method        String,
    ip            String,
    user_agent    String,
    device        String,
    country       String,
    referrer_host String,
    edge          String,
    ip_full       String DEFAULT '',
    platform_click_param String DEFAULT '',
    platform_click_id    String DEFAULT '',
    rule          String DEFAULT '',
    data_use      String DEFAULT '',
    time          DateTime MATERIALIZED parseDateTimeBestEffort(ts)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (campaign, toDate(time), click_id);
