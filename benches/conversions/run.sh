#!/usr/bin/env bash
# What a durable 202 costs: a conversion alone, and bursts of 1,000
# concurrent postbacks (docs/benchmarks.md, "Conversions").
#   bash benches/conversions/run.sh [BURST] [ROUNDS]
# Builds the release binary if needed, runs an edge with conversions on
# over a data dir on this machine's disk (not tmpfs: the fsync is the
# point), and runs benches/conversions/load.py against it.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked --bin clickedge >/dev/null
BIN=target/release/clickedge
DIR=$(mktemp -d -p "${BENCH_DIR:-target}" conversions-bench.XXXXXX)
trap 'kill "$EDGE" 2>/dev/null || true; rm -rf "$DIR"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); M=$(port)
KEY=bench-conversion-key-0123456789
ulimit -n 8192
cat > "$DIR/c.yaml" <<YAML
edge_id: bench
listen: ["127.0.0.1:$P"]
data_dir: "$DIR/data"
signing:
  keys: [{id: k1, secret: "bench-signing-secret-0123456789abcdef"}]
metrics: {listen: "127.0.0.1:$M"}
server: {pid_file: "$DIR/pid", upgrade_sock: "$DIR/up.sock"}
conversions:
  keys: {bench: "$KEY"}
  txn_hash_key: "bench-txn-hash-key-0123456789"
  actions: {purchase: {category: purchase}}
YAML
"$BIN" serve --config "$DIR/c.yaml" 2>"$DIR/serve.log" &
EDGE=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P/healthz" >/dev/null && break; sleep 0.1; done
URL=$("$BIN" sign --config "$DIR/c.yaml" --landing https://shop.example/ --campaign bench)
LOC=$(curl -s -o /dev/null -w '%{redirect_url}' -A 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' "http://127.0.0.1:$P$URL")
CLICK=$(python3 -c 'import sys,urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["clickid"][0])' "$LOC")
echo "machine: $(nproc) cores, $(df -T "$DIR" | awk 'NR==2{print $2}') at $DIR"
python3 benches/conversions/load.py "$P" "$M" "$EDGE" "$DIR/data" "$CLICK" "$KEY" "${1:-1000}" "${2:-3}"
