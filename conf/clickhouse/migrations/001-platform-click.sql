-- clickedge: adds the template-click columns (docs/contract.md §5) to a
-- clicks table made by an earlier conf/clickhouse/schema.sql. Runs on
-- ClickHouse 18.16 and later; run it once, before edges that write the new
-- fields ship to the table (an insert naming columns the table lacks is
-- refused, and the edge keeps the batch on disk and retries):
--   clickhouse-client --multiquery < conf/clickhouse/migrations/001-platform-click.sql
-- Change the table name if yours is not clickedge.clicks.
-- Existing rows read the new columns as ''.

ALTER TABLE clickedge.clicks ADD COLUMN platform_click_param String DEFAULT '' AFTER ip_full;
ALTER TABLE clickedge.clicks ADD COLUMN platform_click_id String DEFAULT '' AFTER platform_click_param;
