-- clickedge: adds the `rule` column (docs/contract.md §5: the rule behind an
-- invalid click) to a clicks table made by an earlier
-- conf/clickhouse/schema.sql. Runs on ClickHouse 18.16 and later; run it
-- once, before edges that write the field ship to the table (an insert
-- naming columns the table lacks is refused, and the edge keeps the batch on
-- disk and retries):
--   clickhouse-client --multiquery < conf/clickhouse/migrations/002-rule.sql
-- Change the table name if yours is not clickedge.clicks.
-- Existing rows read the new column as ''.

ALTER TABLE clickedge.clicks ADD COLUMN rule String DEFAULT '' AFTER platform_click_id;
