#!/usr/bin/env bash
# Resident memory of clickedge with N distinct impressions in its duplicate
# window (default 1,000,000): starts `clickedge serve` with the load
# harness's config (one worker, full pipeline), sends N signed clicks with
# distinct impressions through wrk, and prints the process's resident size
# (VmRSS) and peak (VmHWM) before and after, with the count of `valid`
# events (each one a new entry in the window). The window is set to an hour
# so that no entry ages out during the run.
#
# Usage: bash benches/load/rss.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/benches/load
N=${1:-1000000}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --bin clickedge
CE=$ROOT/target/release/clickedge
TMP=$(mktemp -d /tmp/clickedge-rss.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$TMP"' EXIT
PORT=18480
METRICS_PORT=18481
sed -e "s#@DIR@#$TMP/clickedge#g" -e "s#@PORT@#$PORT#g" -e "s#@METRICS_PORT@#$METRICS_PORT#g" \
  -e "s#duplicate_window_seconds: 60#duplicate_window_seconds: 3600#" \
  "$HERE/clickedge.yaml" >"$TMP/clickedge.yaml"
"$CE" sign --config "$TMP/clickedge.yaml" --landing "https://shop.example/p" --campaign c1 \
  --count "$N" |
  awk -v ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36" \
    '{print $0 "\t" ua}' >"$TMP/urls.txt"
"$CE" serve --config "$TMP/clickedge.yaml" >"$TMP/serve.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
rss() { awk '/^VmRSS|^VmHWM/ {printf "%s %.1f MiB  ", $1, $2 / 1024}' "/proc/$PID/status"; echo; }
echo "before: $(rss)"
# One pass over the file at 12,000 clicks/s or more, then a margin; a wrap
# only repeats impressions (duplicates), which add nothing to the window.
SECS=$((N / 12000 + 10))
wrk -t1 -c50 -d"${SECS}s" -s "$HERE/urls.lua" "http://127.0.0.1:$PORT" -- "$TMP/urls.txt" $((SECS - 1)) |
  grep -E "^bench (click_rps|wrapped)|Requests/sec" || true
echo "after:  $(rss)"
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | grep -E "^clickedge_clicks_total.*redirected" | grep -v " 0$" || true
kill -TERM "$PID"; wait "$PID" || true; PID=""
echo "distinct impressions counted valid: $(cat "$TMP"/clickedge/data/clicks/*.ndjson | grep -c '"verdict":"valid"')"
