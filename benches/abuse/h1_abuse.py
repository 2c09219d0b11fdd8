#!/usr/bin/env python3
"""HTTP/1 abuse clients for benches/abuse/run.sh, one attack a run.

Usage (run.sh calls these; each prints one JSON line of what it saw):
    python3 benches/abuse/h1_abuse.py drip-body  --port P --path '/b?...' [--interval 0.5] [--seconds 12]
    python3 benches/abuse/h1_abuse.py drip-header --port P [--interval 1] [--seconds 12]
    python3 benches/abuse/h1_abuse.py cap        --port P --path '/c?...' [--idle 100] [--release 60]
    python3 benches/abuse/h1_abuse.py big-headers --port P --pid PID [--conns 200] [--bytes 1048576]
                                                  [--seconds 20] [--settle 30]
    python3 benches/abuse/h1_abuse.py idle-conns --port P --pid PID [--conns 1000]
    python3 benches/abuse/h1_abuse.py get        --port P --path PATH [--header 'Name: value' ...]
    python3 benches/abuse/h1_abuse.py pipeline   --port P --path '/c?...' --path '/c?...'
    python3 benches/abuse/h1_abuse.py rss-watch  --pid PID --out FILE [--seconds 120]

Only 127.0.0.1 is spoken to. Every loop is bounded by a count and a time
limit. Exit status 0 whatever the server did; 2 for bad arguments.
"""

import argparse
import json
import select
import socket
import sys
import time

HOST = "127.0.0.1"
BROWSER_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")


def rss_kib(pid):
    """VmRSS of a process, KiB (None if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def request(method, path, headers=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: localhost",
             "User-Agent: " + BROWSER_UA]
    lines += list(headers)
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def statuses(data):
    """The status codes of the HTTP/1 responses in `data`."""
    out = []
    for line in data.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12:
            try:
                out.append(int(line[9:12]))
            except ValueError:
                pass
    return out


def read_for(sock, seconds, until=None):
    """Reads for up to `seconds` (stops early on close, or when `until(data)`
    holds). Returns (data, closed)."""
    data = b""
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return data, False
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return data, False
        try:
            chunk = sock.recv(65536)
        except OSError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
        if until and until(data):
            return data, False


def drain(sock):
    """What the peer has sent, without blocking, and whether it has closed
    (or reset) the connection: (closed, data)."""
    data = b""
    blocking = sock.getblocking()
    sock.setblocking(False)
    try:
        for _ in range(64):  # at most 4 MiB a call
            chunk = sock.recv(65536)
            if not chunk:
                return True, data
            data += chunk
        return False, data
    except BlockingIOError:
        return False, data
    except OSError:
        return True, data
    finally:
        try:
            sock.setblocking(blocking)
        except OSError:
            pass


def is_closed(sock):
    """True if the peer has closed (or reset) the connection; never blocks."""
    return drain(sock)[0]


def drip(port, head, piece, interval, seconds):
    """Sends `head`, then `piece` every `interval` s until the server closes
    the connection or `seconds` pass. What the server answered, and when it
    closed, from the first byte."""
    start = time.monotonic()
    sock = connect(port)
    answer, closed, sent = b"", False, 0
    try:
        sock.sendall(head)
        while not closed and time.monotonic() - start < seconds:
            data, closed = read_for(sock, interval)
            answer += data
            if closed:
                break
            try:
                sock.sendall(piece)
                sent += 1
            except OSError:
                closed = True
    except OSError:
        closed = True
    finally:
        sock.close()
    return {"pieces_sent": sent, "closed": closed,
            "closed_after": round(time.monotonic() - start, 2) if closed else None,
            "statuses": statuses(answer)}


def cmd_drip_body(a):
    head = request("POST", a.path, ["Transfer-Encoding: chunked"])
    return drip(a.port, head, b"1\r\nx\r\n", a.interval, a.seconds)


def cmd_drip_header(a):
    text = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nUser-Agent: drip\r\n\r\n"
    # "GET " first, then the rest a byte at a time. A run that reaches the
    # end of the header without a cut waits out the time left.
    out = {"pieces_sent": 0}
    start = time.monotonic()
    sock = connect(a.port)
    closed, answer = False, b""
    try:
        sock.sendall(text[:4])
        for b in text[4:]:
            if time.monotonic() - start >= a.seconds:
                break
            data, closed = read_for(sock, a.interval)
            answer += data
            if closed:
                break
            try:
                sock.sendall(bytes([b]))
                out["pieces_sent"] += 1
            except OSError:
                closed = True
                break
        if not closed:
            data, closed = read_for(sock, max(0.0, a.seconds - (time.monotonic() - start)))
            answer += data
    except OSError:
        closed = True
    finally:
        sock.close()
    out.update({"closed": closed,
                "closed_after": round(time.monotonic() - start, 2) if closed else None,
                "statuses": statuses(answer), "header_bytes": len(text)})
    return out


def one_click(sock, path):
    """A click on a kept-alive connection: the status, or None."""
    try:
        sock.sendall(request("GET", path))
        data, _ = read_for(sock, 5.0, until=lambda d: b"\r\n\r\n" in d)
        s = statuses(data)
        return s[0] if s else None
    except OSError:
        return None


def cmd_cap(a):
    # A keep-alive connection opened (and used) before the flood.
    first = connect(a.port)
    before = one_click(first, a.path)
    idle = []
    for _ in range(a.idle):
        try:
            idle.append(connect(a.port))
        except OSError:
            idle.append(None)
    time.sleep(1.0)
    closed = sum(1 for s in idle if s is None or is_closed(s))
    during = one_click(first, a.path)  # the early connection, still served?
    # Free some places, then a fresh connection.
    released = 0
    for s in idle:
        if released >= a.release:
            break
        if s is not None:
            s.close()
            released += 1
    time.sleep(0.5)
    fresh_sock = connect(a.port)
    fresh = one_click(fresh_sock, a.path)
    fresh_sock.close()
    first.close()
    for s in idle:
        if s is not None:
            s.close()
    return {"idle_opened": a.idle, "closed_at_once": closed,
            "keepalive_click_before": before, "keepalive_click_during": during,
            "released": released, "fresh_click_after_release": fresh}


def cmd_big_headers(a):
    """`conns` connections each sending `bytes` of one header line with no
    end; RSS before, at peak (sampled every 50 ms), and `settle` s after
    the last connection is closed."""
    pid = a.pid
    before = rss_kib(pid)
    peak = before or 0
    socks = []
    for _ in range(a.conns):
        try:
            s = connect(a.port)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            pass
    head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: "
    chunk = b"a" * 65536
    sent = [0] * len(socks)
    pending = [head] * len(socks)
    closed = [False] * len(socks)
    start = time.monotonic()
    last_sample = 0.0
    # Sending: round robin, non-blocking, until every connection has sent
    # its bytes or been closed, or the time is up.
    while time.monotonic() - start < a.seconds:
        active = [i for i, s in enumerate(socks)
                  if not closed[i] and sent[i] < a.bytes]
        if not active:
            break
        _, writable, _ = select.select([], [socks[i] for i in active], [], 0.05)
        writable = set(writable)
        for i in active:
            if socks[i] not in writable:
                continue
            if not pending[i]:
                pending[i] = chunk[:a.bytes - sent[i]]
            try:
                n = socks[i].send(pending[i])
                sent[i] += n
                pending[i] = pending[i][n:]
            except BlockingIOError:
                pass
            except OSError:
                closed[i] = True
        now = time.monotonic()
        if now - last_sample >= 0.05:
            peak = max(peak, rss_kib(pid) or 0)
            last_sample = now
    all_sent = time.monotonic() - start
    # Holding: until the server has closed them all, or the time is up.
    answers = {}
    while time.monotonic() - start < a.seconds and not all(closed):
        for i, s in enumerate(socks):
            if not closed[i]:
                closed[i], data = drain(s)
                for st in statuses(data):
                    answers[st] = answers.get(st, 0) + 1
        peak = max(peak, rss_kib(pid) or 0)
        time.sleep(0.05)
    closed_by_server = sum(closed)
    held = time.monotonic() - start
    for s in socks:
        s.close()
    time.sleep(a.settle)
    after = rss_kib(pid)
    return {"conns": len(socks), "bytes_each": a.bytes,
            "bytes_sent_total": sum(sent),
            "min_sent_one": min(sent) if sent else 0,
            "max_sent_one": max(sent) if sent else 0,
            "answers": answers,
            "closed_by_server": closed_by_server,
            "send_phase_seconds": round(all_sent, 2),
            "held_seconds": round(held, 2),
            "rss_before_kib": before, "rss_peak_kib": peak,
            "rss_after_kib": after, "settle_seconds": a.settle}


def cmd_idle_conns(a):
    """RSS growth over `conns` idle connections (nothing sent), per connection."""
    before = rss_kib(a.pid)
    socks = []
    for _ in range(a.conns):
        try:
            socks.append(connect(a.port))
        except OSError:
            break
    time.sleep(1.0)
    during = rss_kib(a.pid)
    alive = sum(1 for s in socks if not is_closed(s))
    for s in socks:
        s.close()
    per = None
    if before is not None and during is not None and socks:
        per = round((during - before) * 1024 / len(socks))
    return {"conns": len(socks), "alive_when_measured": alive,
            "rss_before_kib": before, "rss_with_conns_kib": during,
            "bytes_per_conn": per}


def cmd_get(a):
    sock = connect(a.port)
    try:
        sock.sendall(request("GET", a.path, a.header or []))
        data, closed = read_for(sock, 10.0, until=lambda d: b"\r\n\r\n" in d)
    except OSError:
        data, closed = b"", True
    finally:
        sock.close()
    s = statuses(data)
    return {"status": s[0] if s else None}


def cmd_pipeline(a):
    """Every request of --path in ONE write on one connection."""
    wire = b"".join(request("GET", p) for p in a.path)
    sock = connect(a.port)
    try:
        sock.sendall(wire)
        data, _ = read_for(
            sock, 5.0, until=lambda d: len(statuses(d)) >= len(a.path))
        # A little longer, for anything past the answers expected.
        more, _ = read_for(sock, 0.3)
        data += more
    except OSError:
        data = b""
    finally:
        sock.close()
    return {"requests": len(a.path), "statuses": statuses(data)}


def cmd_rss_watch(a):
    """Writes the highest VmRSS seen (KiB) to --out after every sample, so
    that the file is valid whenever the watcher is stopped."""
    peak = 0
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        r = rss_kib(a.pid)
        if r is None:
            break
        if r > peak:
            peak = r
            with open(a.out, "w") as f:
                f.write("%d\n" % peak)
        time.sleep(0.05)
    return {"rss_peak_kib": peak}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn, port=True):
        p = sub.add_parser(name)
        if port:
            p.add_argument("--port", type=int, required=True)
        p.set_defaults(fn=fn)
        return p

    p = add("drip-body", cmd_drip_body)
    p.add_argument("--path", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--seconds", type=float, default=12.0)
    p = add("drip-header", cmd_drip_header)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--seconds", type=float, default=12.0)
    p = add("cap", cmd_cap)
    p.add_argument("--path", required=True)
    p.add_argument("--idle", type=int, default=100)
    p.add_argument("--release", type=int, default=60)
    p = add("big-headers", cmd_big_headers)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--conns", type=int, default=200)
    p.add_argument("--bytes", type=int, default=1 << 20)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--settle", type=float, default=30.0)
    p = add("idle-conns", cmd_idle_conns)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--conns", type=int, default=1000)
    p = add("get", cmd_get)
    p.add_argument("--path", required=True)
    p.add_argument("--header", action="append")
    p = add("pipeline", cmd_pipeline)
    p.add_argument("--path", action="append", required=True)
    p = add("rss-watch", cmd_rss_watch, port=False)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float, default=120.0)
    a = ap.parse_args()

    # Bounds on every loop.
    for name, lo, hi in [("seconds", 0.1, 600), ("interval", 0.01, 10),
                         ("idle", 1, 5000), ("release", 0, 5000),
                         ("conns", 1, 5000), ("bytes", 1, 16 << 20),
                         ("settle", 0, 120)]:
        v = getattr(a, name, None)
        if v is not None and not lo <= v <= hi:
            ap.error("--%s must be %s to %s" % (name, lo, hi))
    if getattr(a, "path", None) and isinstance(a.path, list) and len(a.path) > 100:
        ap.error("at most 100 --path")
    print(json.dumps(a.fn(a)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
