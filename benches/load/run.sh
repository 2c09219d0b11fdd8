#!/usr/bin/env bash
# The load harness: clickedge against a bare Pingora server and nginx, on one
# machine, in one run.
#
# Usage:
#   bash benches/load/run.sh [--mix valid|mix|unique|all] [--connections 50] [--duration 10]
#                            [--workers 1|2]
#
# Defaults: every mix in turn, 50 connections, 10 s, one worker. Needs 2 cores; installs
# nginx-light and wrk (and what the build needs) with apt-get when missing.
#
# What it does, for each mix, for each server, one after another (never two
# at once): starts the server pinned to core 0 with one worker, runs
#   taskset -c 1 wrk -t1 -cCONNECTIONS -dDURATION --latency -s benches/load/urls.lua
# on core 1, and stops the server. The servers:
#   clickedge  `clickedge serve` with benches/load/clickedge.yaml: the full
#              pipeline (signature check, every filter, events to the spool),
#              server.threads 1;
#   floor      benches/load/floor.rs: bare Pingora, the same proxy service
#              and the same redirect headers, a fixed 302 for every request;
#   nginx      Debian's nginx, benches/load/nginx.conf: one worker,
#              `return 302` and a buffered JSON access log.
# All three get the same request lines (so the same bytes on the wire); the
# floor and nginx answer 302 to all of them.
#
# --workers 2: each server runs two workers (clickedge `server.threads`, the
# floor's threads, nginx `worker_processes`) pinned to cores 0 and 1, and wrk
# shares core 1 with them. req/s then says little; the per-CPU columns still
# compare what a request costs each server when two workers share its state.
#
# The mixes (lines minted with `clickedge sign --count N`):
#   valid   one signed URL and a browser's User-Agent, again and again: every
#           click passes the signature and the filters and is redirected
#           (after the first, clickedge logs them as `duplicate`, flagged).
#   mix     per 20 requests: 15 browser clicks (5 browsers' user agents),
#           1 double click (the previous URL again: `duplicate`, 302),
#           2 known bots (Googlebot, bingbot, ...: 403), 1 prefetch
#           (`Sec-Purpose: prefetch` or `Purpose: prefetch` of the next
#           click's URL: 503), 1 test click (`sign --test`: 302).
#   unique  a fresh impression on every request, browser user agents: every
#           click is `valid`, and each one is a new entry in the duplicate
#           window.
# The mix and unique files hold DURATION x 60,000 lines; a run that walks
# past the end of its file sends URLs again (clickedge then logs duplicates):
# clickedge's row then says "(wrapped)". The floor and nginx keep no state,
# so their wrapping changes nothing.
#
# The table (markdown):
#   req/s         requests answered per second while clicks were sent (wrk's
#                 script stops clicking 0.2 s before wrk's end, see urls.lua)
#   p50/p99/p99.9 wrk's latency percentiles, in ms (all requests of the run,
#                 including the /healthz tail: a few per cent of them)
#   server CPU    CPU time of the server's process(es) / wall time of the run
#                 (from wrk's first request to its exit): ~100% means core 0
#                 was the limit
#   wrk core      how busy core 1 (wrk's) was: ~100% means the load tool was
#                 the limit, and the req/s is the tool's, not the server's
#   CPU µs/req    the server's CPU time divided by the requests it answered:
#                 its cost per request, which holds whether or not wrk could
#                 keep its core busy
#   vs floor, vs nginx   clickedge's req/s divided by theirs, same mix
#   ..., per CPU  their CPU µs/req divided by clickedge's: the share of their
#                 requests per CPU-second clickedge serves. When wrk's core
#                 is full and a server's is not, wrk (one core) was the limit
#                 for it and its req/s understates it; the per-CPU ratio
#                 does not depend on wrk keeping up, though a core left
#                 partly idle pays somewhat more per request (wake-ups). The
#                 script names such runs under the table
# Then for each run: the answers per HTTP status, and for clickedge the check
# that the events on disk (lines of data/clicks/*.ndjson after SIGTERM, which
# drains the queue) equal the click answers wrk counted (302+204+403+503),
# and redirected/blocked events equal the 302s and the 403+503s.
# Exit status 0 only if every check passed and nothing failed.
#
# Environment: SERVER_CPU (0), WRK_CPU (1), KEEP=1 keeps the temporary
# directory (configs, logs, spools, request lines), PROFILE (production: the
# cargo profile clickedge and the floor are built with, LTO on; `release`
# builds faster), CLICKEDGE_BIN (a clickedge binary to measure instead of the
# one built, to compare two builds).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/benches/load

MIXES="valid mix unique"
CONNECTIONS=50
DURATION=10
WORKERS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --mix) case "$2" in all) MIXES="valid mix unique" ;; valid|mix|unique) MIXES="$2" ;;
             *) echo "--mix: valid, mix, unique or all" >&2; exit 2 ;; esac; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --workers) case "$2" in 1|2) WORKERS=$2 ;; *) echo "--workers: 1 or 2" >&2; exit 2 ;; esac; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$HERE/run.sh" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$DURATION" -ge 2 ] 2>/dev/null || { echo "--duration: whole seconds, at least 2" >&2; exit 2; }
if [ "$WORKERS" = 2 ]; then SERVER_CPU=${SERVER_CPU:-0,1}; else SERVER_CPU=${SERVER_CPU:-0}; fi
PROFILE=${PROFILE:-production}
WRK_CPU=${WRK_CPU:-1}
[ "$(nproc)" -ge 2 ] || echo "warning: fewer than 2 cores: server and wrk share one" >&2

log() { echo "== $*" >&2; }

# --- tools -------------------------------------------------------------------
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v taskset >/dev/null || need+=(util-linux)
for tool in cmake:cmake cc:gcc c++:g++ make:make; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  # Debian starts a packaged nginx on port 80; the harness runs its own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  if command -v systemctl >/dev/null && systemctl is-active -q nginx 2>/dev/null; then
    $SUDO systemctl stop nginx || true
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

log "building (cargo profile $PROFILE)"
cargo build --profile "$PROFILE" --bin clickedge --example floor
CE=${CLICKEDGE_BIN:-$ROOT/target/$PROFILE/clickedge}
FLOOR=$ROOT/target/$PROFILE/examples/floor

# --- temporary directory, cleanup ----------------------------------------------
TMP=$(mktemp -d /tmp/clickedge-load.XXXXXX)
SERVER_PID=""
WRK_PID=""
cleanup() {
  if [ -n "$WRK_PID" ]; then kill -TERM "$WRK_PID" 2>/dev/null || true; fi
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A loopback port nothing answers on, from $1 up.
free_port() {
  local p=$1
  while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

# 0 when 127.0.0.1:$1 answers GET /healthz with 200.
healthy() {
  local status
  status=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
    printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3 &&
    head -c 12 <&3) 2>/dev/null) || return 1
  [[ $status == "HTTP/1.1 200" ]]
}

wait_ready() { # PORT PID NAME
  for _ in $(seq 100); do
    healthy "$1" && return 0
    kill -0 "$2" 2>/dev/null || { echo "$3 exited at start:" >&2; tail -20 "$TMP/$3.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$3 did not answer /healthz on port $1 within 10 s" >&2; exit 1
}

# CPU ticks (user + system) of a process and its children (nginx's worker).
cpu_ticks() {
  local total=0 pid t
  for pid in "$1" $(pgrep -P "$1" || true); do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}
# Busy and total ticks of the cores listed ("0" or "0,1"), from /proc/stat.
core_ticks() {
  awk -v cores="$1" 'BEGIN { n = split(cores, c, ","); for (i = 1; i <= n; i++) want["cpu" c[i]] = 1 }
    $1 in want { b += $2+$3+$4+$7+$8; t += $2+$3+$4+$5+$6+$7+$8 } END { print b, t }' /proc/stat
}

PORT=$(free_port 18080)
METRICS_PORT=$(free_port $((PORT + 1)))
CE_CONF=$TMP/clickedge.yaml
sed -e "s#@DIR@#$TMP/clickedge#g" -e "s#@PORT@#$PORT#g" -e "s#@METRICS_PORT@#$METRICS_PORT#g" \
  -e "s#threads: 1 \# BENCH#threads: $WORKERS \# BENCH#" "$HERE/clickedge.yaml" >"$CE_CONF"
mkdir -p "$TMP/clickedge" "$TMP/nginx"
sed -e "s#@DIR@#$TMP/nginx#g" -e "s#@PORT@#$PORT#g" -e "s#^worker_processes 1;#worker_processes $WORKERS;#" \
  "$HERE/nginx.conf" >"$TMP/nginx/nginx.conf"
"$CE" check --config "$CE_CONF" >/dev/null
"$NGINX" -t -q -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"

# Anything else using the CPU skews every figure: say so.
read -r b0 t0 < <(awk '$1 == "cpu" { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
sleep 1
read -r b1 t1 < <(awk '$1 == "cpu" { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat)
BUSY=$(( t1 > t0 ? 100 * (b1 - b0) / (t1 - t0) : 0 ))
if [ "$BUSY" -gt 5 ]; then
  log "warning: the machine is ${BUSY}% busy before the runs: other processes will skew the figures"
fi

# --- request lines ---------------------------------------------------------------
LANDING=https://shop.example/p
LINES=$((DURATION * 60000))
BROWSERS='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36
Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1
Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36
Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0
Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0'
BOTS='Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)
Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)
facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)
Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)
python-requests/2.31.0'
printf '%s\n' "$BROWSERS" >"$TMP/browsers.txt"
printf '%s\n' "$BOTS" >"$TMP/bots.txt"

log "minting $LINES signed click URLs"
"$CE" sign --config "$CE_CONF" --landing "$LANDING" --campaign c1 --count "$LINES" >"$TMP/signed.txt"
"$CE" sign --config "$CE_CONF" --landing "$LANDING" --campaign c1 --test --count $((LINES / 20 + 1)) >"$TMP/signed-test.txt"

# valid: one URL, one browser.
printf '%s\t%s\n' "$(head -1 "$TMP/signed.txt")" "$(head -1 "$TMP/browsers.txt")" >"$TMP/valid.lines"
# unique: every URL once, browsers in turn.
awk -v OFS='\t' 'NR == FNR { ua[n++] = $0; next } { print $0, ua[(FNR - 1) % n] }' \
  "$TMP/browsers.txt" "$TMP/signed.txt" >"$TMP/unique.lines"
# mix: a 20-request pattern. B browser click (fresh URL), D the previous
# browser click again, K known bot (fresh URL), P prefetch of the URL the
# next browser click uses, T test click.
awk -v OFS='\t' -v total="$LINES" -v pattern="BBBKBBDBBPBBBBTBBKBB" \
  -v browsers="$TMP/browsers.txt" -v bots="$TMP/bots.txt" -v tests="$TMP/signed-test.txt" '
  BEGIN {
    while ((getline l < browsers) > 0) ua[nua++] = l
    while ((getline l < bots) > 0) bot[nbot++] = l
    for (i = 0; i < total; i++) {
      kind = substr(pattern, i % 20 + 1, 1)
      if (kind == "B") {
        if (pending != "") { url = pending; pending = "" } else if ((getline url) <= 0) exit
        last = url OFS ua[nb++ % nua]; print last
      } else if (kind == "D") {
        print last
      } else if (kind == "K") {
        if ((getline url) <= 0) exit
        print url, bot[nk++ % nbot]
      } else if (kind == "P") {
        if ((getline pending) <= 0) exit
        print pending, ua[0], (np++ % 2 ? "Purpose: prefetch" : "Sec-Purpose: prefetch")
      } else if (kind == "T") {
        if ((getline url < tests) <= 0) exit
        print url, ua[nt++ % nua]
      }
    }
  }' <"$TMP/signed.txt" >"$TMP/mix.lines"

# --- one run -------------------------------------------------------------------
CLICK_SECONDS=$(awk -v d="$DURATION" 'BEGIN { printf "%.1f", d - 0.2 }')
declare -A RPS P50 P99 P999 CPU WCORE NOTE USREQ BUSYC BUSYW
UNFILLED=""
FAILED=0
DETAILS=""

start_server() { # NAME
  case "$1" in
    clickedge)
      rm -rf "$TMP/clickedge/data"
      taskset -c "$SERVER_CPU" "$CE" serve --config "$CE_CONF" >"$TMP/clickedge.log" 2>&1 &
      ;;
    floor)
      taskset -c "$SERVER_CPU" "$FLOOR" "$PORT" proxy "$WORKERS" >"$TMP/floor.log" 2>&1 &
      ;;
    nginx)
      rm -f "$TMP/nginx/access.log"
      taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" \
        -c "$TMP/nginx/nginx.conf" -g 'daemon off;' >"$TMP/nginx.log" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  wait_ready "$PORT" "$SERVER_PID" "$1"
}

# SIGTERM (SIGQUIT for nginx: its graceful stop) and wait for the exit.
stop_server() { # NAME
  local sig=TERM
  [ "$1" = nginx ] && sig=QUIT
  kill -"$sig" "$SERVER_PID"
  for _ in $(seq 300); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "$1 did not exit within 30 s of SIG$sig; killed" >&2
    kill -KILL "$SERVER_PID"
    FAILED=1
  fi
  local rc=0
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  if [ "$rc" -ne 0 ] && [ "$1" != floor ]; then
    echo "$1 exited with status $rc" >&2
    tail -5 "$TMP/$1.log" >&2
    FAILED=1
  fi
}

run_one() { # SERVER MIX
  local server=$1 mix=$2 key="$1/$2" out=$TMP/wrk-$1-$2.txt
  log "$server, $mix: wrk -t1 -c$CONNECTIONS -d${DURATION}s"
  start_server "$server"
  # wrk loads the request lines first (a few seconds for big files); the
  # CPU figures are taken from "bench ready" (urls.lua) to wrk's exit.
  local c0 b0 t0 sb0 st0 s0 c1 b1 t1 sb1 st1 s1
  taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$HERE/urls.lua" "http://127.0.0.1:$PORT" -- "$TMP/$mix.lines" "$CLICK_SECONDS" >"$out" &
  WRK_PID=$!
  until grep -q '^bench ready' "$out" 2>/dev/null || ! kill -0 "$WRK_PID" 2>/dev/null; do sleep 0.01; done
  c0=$(cpu_ticks "$SERVER_PID"); s0=$(date +%s.%N)
  read -r b0 t0 < <(core_ticks "$WRK_CPU"); read -r sb0 st0 < <(core_ticks "$SERVER_CPU")
  wait "$WRK_PID" || { echo "wrk failed:" >&2; cat "$out" >&2; exit 1; }
  WRK_PID=""
  c1=$(cpu_ticks "$SERVER_PID"); s1=$(date +%s.%N)
  read -r b1 t1 < <(core_ticks "$WRK_CPU"); read -r sb1 st1 < <(core_ticks "$SERVER_CPU")
  stop_server "$server"

  local hz; hz=$(getconf CLK_TCK)
  CPU[$key]=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.0f%%", 100 * c / hz / (s1 - s0) }')
  WCORE[$key]=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  RPS[$key]=$(awk '$2 == "click_rps" { print $3 }' "$out")
  # Server CPU time per request answered (every request of the run, /healthz
  # tail included): the cost, whether or not wrk could fill the server's core.
  USREQ[$key]=$(awk -v c=$((c1 - c0)) -v hz="$hz" '$2 == "status" { n += $4 } END { printf "%.1f", n ? 1e6 * c / hz / n : 0 }' "$out")
  BUSYC[$key]=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.0f", 100 * c / hz / (s1 - s0) }')
  BUSYW[$key]=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }')
  read -r p50 p99 p999 _ < <(awk '$2 == "latency_us" { print $3, $4, $5, $6 }' "$out")
  P50[$key]=$p50; P99[$key]=$p99; P999[$key]=$p999

  local statuses answered unexpected errors lines s302 sblock
  statuses=$(awk '$2 == "status" { printf "%s%s: %s", sep, $3, $4; sep = ", " }' "$out")
  answered=$(awk '$2 == "clicks_answered" { print $3 }' "$out")
  unexpected=$(awk '$2 == "unexpected" { print $3 }' "$out")
  errors=$(awk '$2 == "errors" { print "connect " $3 ", read " $4 ", write " $5 ", timeout " $6 }' "$out")
  lines=$(awk '$2 == "lines" { print $3 " lines, " $5 " sent, wrapped: " $7 }' "$out")
  s302=$(awk '$2 == "status" && $3 == 302 { print $4 }' "$out"); s302=${s302:-0}
  sblock=$(awk '$2 == "status" && ($3 == 403 || $3 == 503) { n += $4 } END { print n + 0 }' "$out")
  local core0
  core0=$(awk -v b=$((sb1 - sb0)) -v t=$((st1 - st0)) 'BEGIN { printf "%.0f%%", t ? 100 * b / t : 0 }')
  local tail
  tail=$(awk '$2 == "status" { n += $4; if ($3 == 200) h = $4 } END { printf "%.1f%%", n ? 100 * h / n : 0 }' "$out")
  local detail="- $server, $mix: answers by status {$statuses}; unexpected $unexpected; errors $errors; /healthz tail $tail of the latency samples; request lines: $lines; core $SERVER_CPU busy $core0 (server ${CPU[$key]})"
  if [ "$unexpected" != 0 ] || [[ $errors != "connect 0, read 0, write 0, timeout 0" ]]; then
    FAILED=1
  fi
  if [ "$server" = clickedge ] && [ "$mix" != valid ] && [[ $lines == *"wrapped: yes" ]]; then
    NOTE[$key]=" (wrapped)"
  fi

  if [ "$server" = clickedge ]; then
    local events redirected blocked verdict
    events=$(cat "$TMP"/clickedge/data/clicks/*.ndjson 2>/dev/null | wc -l)
    redirected=$(cat "$TMP"/clickedge/data/clicks/*.ndjson 2>/dev/null | grep -c '"action":"redirected"' || true)
    blocked=$(cat "$TMP"/clickedge/data/clicks/*.ndjson 2>/dev/null | grep -c '"action":"blocked"' || true)
    verdict=$(cat "$TMP"/clickedge/data/clicks/*.ndjson 2>/dev/null |
      grep -o '"verdict":"[a-z]*","reason":"[a-z_]*"' | sort | uniq -c | sort -rn |
      awk '{ split($2, a, "\""); printf "%s%s %s/%s", sep, $1, a[4], (a[8] == "" ? "-" : a[8]); sep = ", " }')
    if [ "$events" -eq "$answered" ] && [ "$redirected" -eq "$s302" ] && [ "$blocked" -eq "$sblock" ]; then
      detail="$detail
  events check PASSED: $events events on disk = $answered click answers ($redirected redirected = 302s, $blocked blocked = 403s + 503s); verdict/reason: $verdict"
    else
      detail="$detail
  events check FAILED: $events events on disk, $answered click answers counted by wrk ($redirected redirected vs $s302 302s, $blocked blocked vs $sblock 403s + 503s)"
      FAILED=1
    fi
  fi
  DETAILS="$DETAILS$detail
"
}

for mix in $MIXES; do
  for server in clickedge floor nginx; do
    run_one "$server" "$mix"
  done
done

# --- report -----------------------------------------------------------------------
ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b : 0 }'; }
echo
echo "clickedge vs a bare Pingora floor vs nginx: each server on core(s) $SERVER_CPU with $WORKERS worker(s), wrk -t1 -c$CONNECTIONS -d${DURATION}s on core $WRK_CPU ($(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo))"
echo
echo "| server | mix | req/s | p50 ms | p99 ms | p99.9 ms | server CPU | wrk core | CPU µs/req | vs floor | vs nginx | vs floor, per CPU | vs nginx, per CPU |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for mix in $MIXES; do
  for server in clickedge floor nginx; do
    k="$server/$mix"
    vf="" vn="" cf="" cn=""
    if [ "$server" = clickedge ]; then
      vf="$(ratio "${RPS[$k]}" "${RPS[floor/$mix]}")x"
      vn="$(ratio "${RPS[$k]}" "${RPS[nginx/$mix]}")x"
      cf="$(ratio "${USREQ[floor/$mix]}" "${USREQ[$k]}")x"
      cn="$(ratio "${USREQ[nginx/$mix]}" "${USREQ[$k]}")x"
    fi
    if [ "${BUSYC[$k]}" -lt 90 ] && [ "${BUSYW[$k]}" -ge 95 ]; then
      UNFILLED="$UNFILLED $server/$mix"
    fi
    echo "| $server | $mix${NOTE[$k]:-} | ${RPS[$k]} | $(ms "${P50[$k]}") | $(ms "${P99[$k]}") | $(ms "${P999[$k]}") | ${CPU[$k]} | ${WCORE[$k]} | ${USREQ[$k]} | $vf | $vn | $cf | $cn |"
  done
done
echo
if [ -n "$UNFILLED" ]; then
  echo "note: wrk's core was busy (95% or more) and the server's was not (under 90%) in$UNFILLED: there the load tool set the req/s; the per-CPU ratios do not depend on it (but a core left partly idle pays more per request in wake-ups)"
  echo
fi
[ "$BUSY" -gt 5 ] && echo "warning: the machine was ${BUSY}% busy before the runs (other processes): figures are skewed" && echo
printf '%s' "$DETAILS"
if [ "$FAILED" -ne 0 ]; then
  echo "SOME CHECKS FAILED (see above)"
  exit 1
fi
echo "all checks passed"
