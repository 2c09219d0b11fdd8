-- clickedge: the ClickHouse layout for a fleet of edges (docs/storage.md,
-- "A fleet"). Runs as it is on ClickHouse 18.16 and later, after schema.sql:
--   clickhouse-client --multiquery < conf/clickhouse/schema.sql
--   clickhouse-client --multiquery < conf/clickhouse/fleet.sql
--
-- Every insert is a new part that ClickHouse merges in the background; past
-- a few hundred parts in a partition it refuses inserts ("too many parts").
-- Two things keep a fleet well below that:
--   1. each edge inserts at most once per sink.min_insert_interval_ms (1000
--      or more for a fleet), in batches of up to sink.batch_max_events;
--   2. on a single server, this Buffer table in front of the click table:
--      the edges insert into clickedge.clicks_buffer, which gathers rows in
--      memory and writes them to clickedge.clicks in large blocks (here
--      every 10 to 60 seconds, or at 100,000 rows or 64 MB per layer).
-- Reports, rescore and retention read clickedge.clicks as before (FINAL); a
-- row still in the buffer shows in clicks_buffer, not yet in clicks.
--
-- The Buffer table's rows are in memory until they are flushed: a server
-- that crashes loses them, after the edges deleted their spooled copies.
-- A clean stop (or DETACH / DROP of the Buffer table) flushes them. Where
-- that risk is not acceptable, leave the Buffer out and rely on (1) alone:
-- 100 edges inserting once every 5 seconds are 20 inserts a second, which a
-- MergeTree takes (docs/benchmarks.md, "A fleet against one ClickHouse").
-- ClickHouse 21.11 and later offer asynchronous inserts instead
-- (SETTINGS async_insert = 1, wait_for_async_insert = 1: the server gathers
-- small inserts itself and acknowledges once they are written); give the
-- edges' sink URL those settings and skip the Buffer.
--
-- No comment sits inside a statement.

CREATE TABLE IF NOT EXISTS clickedge.clicks_buffer AS clickedge.clicks
ENGINE = Buffer(clickedge, clicks, 4, 10, 60, 10000, 100000, 1000000, 67108864);

-- Several servers: the click table on every shard (schema.sql on each, under
-- a cluster named in the servers' remote_servers config), and a Distributed
-- table the reports read and the edges insert into, sharded by campaign so a
-- campaign's clicks (and their replays, which collapse on click_id) meet on
-- one shard. Uncomment and set the cluster's name:
-- CREATE TABLE IF NOT EXISTS clickedge.clicks_all AS clickedge.clicks
-- ENGINE = Distributed(clickedge_cluster, clickedge, clicks, cityHash64(campaign));
