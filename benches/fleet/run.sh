#!/usr/bin/env bash
# A fleet against one ClickHouse: inserts per second and parts written with
# 1 and 8 edges, with and without sink.min_insert_interval_ms and the
# Buffer table of conf/clickhouse/fleet.sql (benches/fleet/main.rs).
# Each edge is sent 50 clicks a second for FLEET_SECONDS (default 20).
# Needs clickhouse-server (installed by .ci/deps) and a release build.
#   bash benches/fleet/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked --bin clickedge
cargo bench --locked --bench fleet
