#!/usr/bin/env bash
# Shipping rate from the spool to a local ClickHouse (Debian's
# clickhouse-server, started here on a free loopback port with its data in a
# temporary directory). Usage: bash benches/ship/run.sh [EVENTS] [BATCH_EVENTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/deps
cargo build -q --release --example ship_rate
events=${1:-1000000}
batch=${2:-50000}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tcp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>$port</http_port>
  <tcp_port>$tcp</tcp_port>
  <path>$work/data/</path>
  <tmp_path>$work/tmp/</tmp_path>
  <user_files_path>$work/user_files/</user_files_path>
  <format_schema_path>$work/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
</yandex>
XML
cat > "$work/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
XML
server=$(command -v clickhouse-server || echo /usr/sbin/clickhouse-server)
"$server" --config-file="$work/config.xml" > "$work/server.log" 2>&1 &
ch=$!
trap 'kill $ch 2>/dev/null; wait $ch 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$port/?query=SELECT%201" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/?query=SELECT%201" >/dev/null || { cat "$work/server.log"; exit 1; }
grep -v '^--' conf/clickhouse/schema.sql | tr '\n' ' ' | tr ';' '\n' | while read -r stmt; do
  if [ -n "${stmt// }" ]; then curl -sS "http://127.0.0.1:$port/" --data-binary "$stmt"; fi
done
/usr/bin/time -f "ship_rate process: %U s user, %S s sys, %e s wall" ./target/release/examples/ship_rate "clickhouse://127.0.0.1:$port/clickedge.clicks" "$events" "$batch"
echo "rows in ClickHouse: $(curl -s "http://127.0.0.1:$port/" --data-binary 'SELECT count() FROM clickedge.clicks')"
