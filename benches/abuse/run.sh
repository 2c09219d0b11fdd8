#!/usr/bin/env bash
# Abuse checks: the release binary against abusive clients, on loopback.
#
# Usage:
#   bash benches/abuse/run.sh [path/to/clickedge]
#
# Default binary: target/release/clickedge of this repository (it is not
# built here). Needs python3 and curl; openssl for the self-signed
# certificate (else Python's cryptography); installs the PyPI package h2 with
# pip when it is missing. Takes about three minutes.
#
# It starts `clickedge serve` on free 127.0.0.1 ports with temporary configs
# and data directories (removed at exit; KEEP=1 keeps them), one server at a
# time:
#   main  TLS listener (HTTP/2 by ALPN, a certificate made at run time),
#         limits.body_timeout_seconds: 2, limits.header_timeout_seconds: 2,
#         --origin pointing at a closed port: attacks a, d, e, f, g, h
#   cap   server.max_connections: 50: attack b
#   mem   the default limits: attack c
# and runs, each bounded in count and time:
#   a  POST /b?... with Transfer-Encoding: chunked, a 1-byte chunk every
#      0.5 s (at most 12 s): contained if the edge closes the connection
#      within 6 s (body_timeout 2 s and slack).
#   b  a keep-alive connection and a click, then 100 idle connections: at
#      least 46 of the 101 must be closed at once (51 over the cap of 50,
#      less 5 of slack for closes still in flight), the kept-alive
#      connection's next click and, after 60 idle ones are closed, a fresh
#      connection's click must be answered 302.
#   c  1000 idle connections: RSS growth per connection (figure only).
#      Then 200 connections each sending a 1 MiB header line with no end:
#      VmRSS before, at peak (sampled every 50 ms), and 30 s after they are
#      closed. Contained if the edge closes all 200 and the peak stays
#      within 64 KiB a connection (12.5 MiB) of the start: room for a
#      request header of limits.max_header_bytes (16 KiB) and buffers.
#   d  a click with X-Forwarded-For: 6.6.6.6 from loopback (no trusted
#      proxies): the event's "ip" must be 127.0.0.0, not 6.6.6.0.
#   e  GET /account?email=jane.doe@example.com, the origin refusing
#      connections: "jane" must not be in the server's stdout or stderr.
#   f  two signed clicks pipelined in one write: two 302s, two events.
#   g  the metrics listener, sent a request header one byte a second:
#      contained if cut within 5 s (header_timeout 2 s and slack).
#   h  benches/abuse/h2_floods.py over TLS: rapid_reset, continuation,
#      streams, hpack: each must leave GET /healthz answering 200 on a
#      fresh connection, and the server's VmRSS (sampled every 50 ms) must
#      stay below its value before the floods plus 64 MiB.
# Then a table (markdown): attack | what was sent | what the edge did |
# contained (yes/no), and the RSS figures.
#
# A config key the binary does not know (an older build) is left out of its
# config, named under the table, and the attack runs all the same: its row
# then shows what the edge does without that limit.
# Exit status: 0 when every attack was contained, 1 otherwise, 2 when the
# run could not start.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ $# -ge 1 ]; then
  BIN=$1
  [[ $BIN == /* ]] || BIN=$PWD/$BIN
else
  BIN=$ROOT/target/release/clickedge
fi
[ -x "$BIN" ] || { echo "no clickedge binary at $BIN (it is not built here)" >&2; exit 2; }
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "run.sh needs $tool" >&2; exit 2; }
done
python3 -c 'import h2' 2>/dev/null || pip install -q h2 >&2 ||
  { echo "run.sh needs the PyPI package h2 (pip install h2)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/clickedge-abuse.XXXXXX)
declare -A PID PORT MPORT TPORT
WATCHER=""

cleanup() {
  [ -n "$WATCHER" ] && kill "$WATCHER" 2>/dev/null
  for name in "${!PID[@]}"; do
    kill -KILL "${PID[$name]}" 2>/dev/null
  done
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept: $TMP" >&2
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

H1=(python3 "$HERE/h1_abuse.py")
H2=(python3 "$HERE/h2_floods.py")

# N free loopback ports, distinct (all bound at once, then released).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# j JSON KEY: one field of a JSON object; null when absent.
j() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
v = json.loads(sys.argv[1]).get(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))
EOF
}

# A self-signed certificate for localhost.
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
    -days 1 -subj /CN=localhost 2>/dev/null
else
  python3 -c 'import cryptography' 2>/dev/null || pip install -q cryptography >&2
  python3 - "$TMP" <<'EOF'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
now = datetime.datetime.now(datetime.timezone.utc)
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256()))
open(sys.argv[1] + "/cert.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[1] + "/key.pem", "wb").write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.NoEncryption()))
EOF
fi
[ -s "$TMP/cert.pem" ] || { echo "could not make a certificate" >&2; exit 2; }

UNSUPPORTED=""

# make_config NAME SERVER_LINES LIMITS_LINES TLS(yes|no): writes
# $TMP/NAME/clickedge.yaml, then drops each key `clickedge check` does not
# know (at most 10), noting it in UNSUPPORTED.
make_config() {
  local name=$1 server=$2 limits=$3 tls=$4 dir=$TMP/$1
  mkdir -p "$dir/data"
  read -r PORT[$name] MPORT[$name] TPORT[$name] <<<"$(free_ports 3)"
  {
    cat <<EOF
edge_id: abuse-$name
listen: ["127.0.0.1:${PORT[$name]}"]
data_dir: "$dir/data"
signing:
  keys:
    - {id: k1, secret: "abuse-bench-secret-0123456789abcdef"}
events:
  flush_interval_ms: 50
metrics:
  listen: "127.0.0.1:${MPORT[$name]}"
server:
  threads: 2
  grace_period_seconds: 1
  graceful_shutdown_timeout_seconds: 1
  keepalive_drain_seconds: 0
  pid_file: "$dir/clickedge.pid"
  upgrade_sock: "$dir/upgrade.sock"
  log_level: info
EOF
    [ -n "$server" ] && printf '%s\n' "$server"
    echo "limits:"
    echo "  max_headers: 64"
    [ -n "$limits" ] && printf '%s\n' "$limits"
    if [ "$tls" = yes ]; then
      cat <<EOF
tls:
  listen: ["127.0.0.1:${TPORT[$name]}"]
  cert_file: "$TMP/cert.pem"
  key_file: "$TMP/key.pem"
  http2: true
EOF
    fi
  } >"$dir/clickedge.yaml"
  local out key
  for _ in $(seq 10); do
    out=$("$BIN" check --config "$dir/clickedge.yaml" 2>&1) && return 0
    key=$(grep -o 'unknown field `[a-z_]*`' <<<"$out" | head -1 | tr -d '`' | awk '{print $3}')
    if [ -z "$key" ]; then
      echo "config for $name refused:" >&2; echo "$out" >&2; exit 2
    fi
    sed -i "/^  $key:/d" "$dir/clickedge.yaml"
    [[ " $UNSUPPORTED " == *" $key "* ]] || UNSUPPORTED="$UNSUPPORTED $key"
  done
  echo "config for $name: too many unknown keys" >&2; exit 2
}

# has_key NAME KEY: whether the key made it into NAME's config.
has_key() { grep -q "^  $2:" "$TMP/$1/clickedge.yaml"; }

# start_edge NAME [serve args]: starts it and waits (at most 20 s) for /healthz.
start_edge() {
  local name=$1; shift
  "$BIN" serve --config "$TMP/$name/clickedge.yaml" "$@" \
    >"$TMP/$name/stdout" 2>"$TMP/$name/stderr" &
  PID[$name]=$!
  for _ in $(seq 200); do
    curl -sf -o /dev/null "http://127.0.0.1:${PORT[$name]}/healthz" && return 0
    kill -0 "${PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "clickedge ($name) did not start:" >&2; tail -20 "$TMP/$name/stderr" >&2; exit 2
}

# stop_edge NAME: SIGTERM, then SIGKILL after 10 s.
stop_edge() {
  local pid=${PID[$1]}
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  unset "PID[$1]"
}

# metric NAME SERIES: its value, or "absent".
metric() {
  curl -s --max-time 5 "http://127.0.0.1:${MPORT[$1]}/metrics" |
    awk -v k="$2" '$1 == k {print $2; found = 1} END {if (!found) print "absent"}'
}
limit_hits() { metric "$1" "clickedge_limit_hits_total{limit=\"$2\"}"; }
delta() { # delta BEFORE AFTER
  if [ "$1" = absent ] || [ "$2" = absent ]; then echo "n/a (no such counter)"; else echo $(($2 - $1)); fi
}

rss() { awk '/^VmRSS/ {print $2}' "/proc/${PID[$1]}/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

sign() { # sign NAME CAMPAIGN [COUNT]
  "$BIN" sign --config "$TMP/$1/clickedge.yaml" --landing "https://shop.example/p" \
    --campaign "$2" --count "${3:-1}"
}
# events NAME CAMPAIGN: the NDJSON events of a campaign.
events() { cat "$TMP/$1"/data/clicks/*.ndjson 2>/dev/null | grep "\"campaign\":\"$2\"" || true; }

ROWS=()
FAILED=0
row() { # row ATTACK SENT DID CONTAINED
  ROWS+=("| $1 | $2 | $3 | $4 |")
  [ "$4" = yes ] || FAILED=1
}
FIGURES=()

echo "clickedge abuse checks, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "host: nproc $(nproc), CPU $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
echo "binary: $BIN ($("$BIN" --version 2>/dev/null), built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M:%S UTC'))"
echo

# ---------------------------------------------------------------- main --
CLOSED_PORT=$(free_ports 1)
make_config main "" "  body_timeout_seconds: 2
  header_timeout_seconds: 2" yes
start_edge main --origin "127.0.0.1:$CLOSED_PORT"
echo "main edge up (pid ${PID[main]}), attacks a, d, e, f, g, h ..." >&2

# a. A beacon body dripped a byte every 0.5 s.
q=$(sign main drip); q=${q#/c\?}
hits0=$(limit_hits main body_timeout)
r=$("${H1[@]}" drip-body --port "${PORT[main]}" --path "/b?$q" --interval 0.5 --seconds 12)
hits1=$(limit_hits main body_timeout)
after=$(j "$r" closed_after)
did="answers $(j "$r" statuses); "
if [ "$after" != null ]; then did+="closed after ${after} s"; else did+="still open after 12 s"; fi
did+="; body_timeout hits +$(delta "$hits0" "$hits1")"
has_key main body_timeout_seconds || did+=" (binary lacks limits.body_timeout_seconds)"
ok=no
[ "$after" != null ] && awk -v t="$after" 'BEGIN {exit !(t <= 6)}' && ok=yes
row "a. dripped chunked beacon body" "POST /b, chunked, 1-byte chunk / 0.5 s ($(j "$r" pieces_sent) sent)" "$did" $ok

# d. A forged X-Forwarded-For from an untrusted (loopback) peer.
u=$(sign main xff)
r=$("${H1[@]}" get --port "${PORT[main]}" --path "$u" --header "X-Forwarded-For: 6.6.6.6")
sleep 0.5
ip=$(events main xff | head -1 | python3 -c 'import json,sys; l=sys.stdin.readline(); print(json.loads(l).get("ip") if l else "no event")')
ok=no; [ "$ip" = 127.0.0.0 ] && ok=yes
row "d. forged X-Forwarded-For" "click from 127.0.0.1, X-Forwarded-For: 6.6.6.6" \
  "$(j "$r" status); event ip \"$ip\"" $ok

# e. Personal data in a failed proxy's log.
r=$("${H1[@]}" get --port "${PORT[main]}" --path "/account?email=jane.doe@example.com")
sleep 0.5
n=$(cat "$TMP/main/stdout" "$TMP/main/stderr" | grep -c jane)
ok=no; [ "$n" = 0 ] && ok=yes
row "e. personal data in a proxy error" "GET /account?email=jane.doe@example.com, origin refusing" \
  "$(j "$r" status); \"jane\" on $n log lines" $ok
[ "$n" = 0 ] || FIGURES+=("e: log line: $(grep -m1 jane "$TMP/main/stderr" "$TMP/main/stdout" | cut -c1-300)")

# f. Two clicks pipelined in one write.
mapfile -t urls < <(sign main pipe 2)
r=$("${H1[@]}" pipeline --port "${PORT[main]}" --path "${urls[0]}" --path "${urls[1]}")
sleep 0.5
n=$(events main pipe | wc -l)
st=$(j "$r" statuses)
ok=no; [ "$st" = "[302, 302]" ] && [ "$n" = 2 ] && ok=yes
row "f. two pipelined clicks" "2 signed clicks in one write, one connection" "answers $st; $n events" $ok

# g. The metrics listener, a request header dripped a byte a second.
hits0=$(limit_hits main header_timeout)
r=$("${H1[@]}" drip-header --port "${MPORT[main]}" --interval 1 --seconds 12)
hits1=$(limit_hits main header_timeout)
after=$(j "$r" closed_after)
if [ "$after" != null ]; then did="closed after ${after} s"; else did="still open after 12 s"; fi
did+=", answers $(j "$r" statuses); header_timeout hits +$(delta "$hits0" "$hits1")"
ok=no
[ "$after" != null ] && awk -v t="$after" 'BEGIN {exit !(t <= 5)}' && ok=yes
row "g. slow header to metrics" "GET /metrics header 1 byte/s ($(j "$r" pieces_sent) of $(j "$r" header_bytes) bytes)" "$did" $ok

# h. HTTP/2 floods over TLS.
base=$(rss main)
bound=$((base + 64 * 1024))
FIGURES+=("h: main edge VmRSS before the HTTP/2 floods $(mib "$base"); bound $(mib "$bound")")
for spec in "rapid_reset 100000 15 2" "continuation 10000 15 2" "streams 20000 20 3" "hpack 2000 15 2"; do
  read -r attack count seconds hold <<<"$spec"
  rm -f "$TMP/peak"
  "${H1[@]}" rss-watch --pid "${PID[main]}" --out "$TMP/peak" --seconds 60 >/dev/null &
  WATCHER=$!
  r=$("${H2[@]}" --host 127.0.0.1 --port "${TPORT[main]}" --attack "$attack" \
    --count "$count" --seconds "$seconds" --hold "$hold")
  sleep 0.3
  kill "$WATCHER" 2>/dev/null; wait "$WATCHER" 2>/dev/null; WATCHER=""
  peak=$(cat "$TMP/peak" 2>/dev/null); peak=${peak:-0}
  hz=$(j "$r" healthz_after)
  did="GOAWAY $(j "$r" goaway), closed by server: $(j "$r" closed_by_server) after $(j "$r" seconds) s"
  did+="; RST_STREAM $(j "$r" rst_received); answers $(j "$r" statuses)"
  did+="; healthz after: $hz; peak RSS $(mib "$peak")"
  ok=no; [ "$hz" = 200 ] && [ "$peak" -lt "$bound" ] && ok=yes
  row "h. h2 $attack" "$(j "$r" sent) of $count units, at most $seconds s" "$did" $ok
  FIGURES+=("h: $attack: $r")
done
stop_edge main

# ----------------------------------------------------------------- cap --
make_config cap "  max_connections: 50" "" no
start_edge cap
echo "cap edge up (pid ${PID[cap]}), attack b ..." >&2
hits0=$(limit_hits cap connections)
r=$("${H1[@]}" cap --port "${PORT[cap]}" --path "$(sign cap cap)" --idle 100 --release 60)
hits1=$(limit_hits cap connections)
closed=$(j "$r" closed_at_once)
did="$closed of 101 closed at once; kept-alive click $(j "$r" keepalive_click_during)"
did+=", fresh click after closing 60: $(j "$r" fresh_click_after_release)"
did+="; connections hits +$(delta "$hits0" "$hits1")"
has_key cap max_connections || did+=" (binary lacks server.max_connections)"
ok=no
[[ $closed =~ ^[0-9]+$ ]] && [ "$closed" -ge 46 ] && [ "$(j "$r" keepalive_click_during)" = 302 ] &&
  [ "$(j "$r" fresh_click_after_release)" = 302 ] && ok=yes
row "b. connections over the cap" "1 keep-alive click, then 100 idle connections (cap 50)" "$did" $ok
stop_edge cap

# ----------------------------------------------------------------- mem --
make_config mem "" "" no
start_edge mem
echo "mem edge up (pid ${PID[mem]}), attack c (about a minute) ..." >&2
idle=$("${H1[@]}" idle-conns --port "${PORT[mem]}" --pid "${PID[mem]}" --conns 1000)
sleep 2
big=$("${H1[@]}" big-headers --port "${PORT[mem]}" --pid "${PID[mem]}" --conns 200 \
  --bytes 1048576 --seconds 20 --settle 30)
before=$(j "$big" rss_before_kib); peak=$(j "$big" rss_peak_kib); after=$(j "$big" rss_after_kib)
closed=$(j "$big" closed_by_server)
did="clients wrote $(j "$big" min_sent_one)..$(j "$big" max_sent_one) bytes each; answers $(j "$big" answers)"
did+="; $closed of 200 closed by the edge within $(j "$big" held_seconds) s"
did+="; VmRSS $(mib "$before") -> peak $(mib "$peak") -> $(mib "$after") 30 s later"
did+="; idle connection $(j "$idle" bytes_per_conn) bytes"
ok=no
[ "$closed" = 200 ] && [[ $peak =~ ^[0-9]+$ && $before =~ ^[0-9]+$ ]] && [ $((peak - before)) -le $((200 * 64)) ] && ok=yes
row "c. unterminated 1 MiB headers" "200 connections x 1 MiB header line, no blank line" "$did" $ok
FIGURES+=("c: 1000 idle connections: $idle")
FIGURES+=("c: 200 x 1 MiB headers: $big")
stop_edge mem

# --------------------------------------------------------------- table --
echo
echo "| attack | what was sent | what the edge did | contained |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}" | sort -s -k2,2  # by letter, h's in the order run
echo
[ -n "$UNSUPPORTED" ] && echo "keys this binary does not know (left out of its configs):$UNSUPPORTED" && echo
echo "figures:"
printf '  %s\n' "${FIGURES[@]}"
exit $FAILED
