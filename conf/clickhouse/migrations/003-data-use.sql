-- clickedge: adds the `data_use` column (docs/contract.md §5: what may be
-- done with the click's conversions) to a clicks table made by an earlier
-- conf/clickhouse/schema.sql. Runs on ClickHouse 18.16 and later; run it
-- once, before edges that write the field ship to the table (an insert
-- naming columns the table lacks is refused, and the edge keeps the batch on
-- disk and retries):
--   clickhouse-client --multiquery < conf/clickhouse/migrations/003-data-use.sql
-- Change the table name if yours is not clickedge.clicks.
-- Rows written before it read '' (not known: those edges wrote an opted-out
-- and a child-directed click alike), and their conversions are never
-- exported to an ad platform.

ALTER TABLE clickedge.clicks ADD COLUMN data_use String DEFAULT '' AFTER rule;
