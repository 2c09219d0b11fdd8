#!/usr/bin/env python3
"""What acknowledging a conversion durably costs (docs/benchmarks.md).

Against a running edge with conversions on: a disk's own fdatasync of a
small append (the floor), postbacks one after another on one connection
(the cost of one conversion alone: its write, its fsync, its answer), and
bursts of N postbacks sent at once on N connections (how concurrent
callers share fsyncs). Prints latencies, the edge's CPU time per
conversion, conversions per fsync (the edge's own counter), and checks
that every 202 is a record on disk, once.

usage: load.py PORT METRICS_PORT PID DATA_DIR CLICK_ID KEY [BURST] [ROUNDS]
"""
import asyncio, json, os, statistics, sys, time, uuid

port, mport, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
data, click_id, key = sys.argv[4], sys.argv[5], sys.argv[6]
burst = int(sys.argv[7]) if len(sys.argv) > 7 else 1000
rounds = int(sys.argv[8]) if len(sys.argv) > 8 else 3
TICK = os.sysconf("SC_CLK_TCK")


class Cpu:
    """The edge's user and system CPU seconds."""
    def __init__(self, user, sys):
        self.user, self.sys = user, sys

    def __sub__(self, o):
        return Cpu(self.user - o.user, self.sys - o.sys)

    def per(self, n):
        return f"{(self.user + self.sys) / n * 1e6:.0f} us (user {self.user / n * 1e6:.0f}, system {self.sys / n * 1e6:.0f})"


def cpu_seconds():
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return Cpu(int(parts[11]) / TICK, int(parts[12]) / TICK)


def metric(name):
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise SystemExit(f"no metric {name}")


def request(txn):
    body = json.dumps({"click_id": click_id, "event": "purchase", "value": "9.99",
                       "currency": "EUR", "txn": txn}).encode()
    head = (f"POST /v1/conversions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {key}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def read_answer(reader):
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
    body = await reader.readexactly(length)
    return status, body


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def floor_fdatasync(n=500):
    path = os.path.join(data, "fsync-floor.tmp")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    line = b"x" * 360 + b"\n"
    t = []
    for _ in range(n):
        s = time.perf_counter()
        os.write(fd, line)
        os.fdatasync(fd)
        t.append(time.perf_counter() - s)
    os.close(fd)
    os.unlink(path)
    return t


async def sequential(n):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lat = []
    cpu0, sync0 = cpu_seconds(), metric("clickedge_conversions_spool_syncs_total")
    for _ in range(n):
        s = time.perf_counter()
        writer.write(request(uuid.uuid4().hex))
        status, _ = await read_answer(reader)
        lat.append(time.perf_counter() - s)
        assert status == 202, status
    cpu = cpu_seconds() - cpu0
    syncs = metric("clickedge_conversions_spool_syncs_total") - sync0
    writer.close()
    return lat, cpu, syncs


async def one_burst(n):
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    go = asyncio.Event()
    cpu0, sync0 = cpu_seconds(), metric("clickedge_conversions_spool_syncs_total")
    written0 = metric("clickedge_conversions_accepted_total")

    async def one(r, w):
        req = request(uuid.uuid4().hex)
        await go.wait()
        s = time.perf_counter()
        w.write(req)
        status, body = await read_answer(r)
        return time.perf_counter() - s, status

    tasks = [asyncio.create_task(one(r, w)) for r, w in conns]
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    go.set()
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    for _, w in conns:
        w.close()
    lat = [r[0] for r in results]
    ok = sum(1 for r in results if r[1] == 202)
    cpu = cpu_seconds() - cpu0
    syncs = metric("clickedge_conversions_spool_syncs_total") - sync0
    written = metric("clickedge_conversions_accepted_total") - written0
    return lat, wall, ok, cpu, syncs, written


def records_on_disk():
    ids = []
    d = os.path.join(data, "conversions")
    for name in sorted(os.listdir(d)):
        if name.endswith(".ndjson"):
            with open(os.path.join(d, name)) as f:
                ids += [json.loads(l)["conversion_id"] for l in f if l.endswith("\n")]
    return ids


def ms(x):
    return f"{x * 1000:.2f} ms"


async def main():
    f = floor_fdatasync()
    print(f"disk floor: write+fdatasync of a 361-byte append: median {ms(statistics.median(f))}, p99 {ms(pct(f, 99))}")
    lat, cpu, syncs = await sequential(1000)
    print(f"one at a time, 1000 postbacks on one connection: median {ms(statistics.median(lat))}, "
          f"p99 {ms(pct(lat, 99))}, edge CPU {cpu.per(1000)} a conversion, "
          f"{1000 / max(syncs, 1):.2f} conversions per fsync")
    for i in range(rounds):
        lat, wall, ok, cpu, syncs, written = await one_burst(burst)
        print(f"burst {i + 1}: {burst} at once: all answered in {ms(wall)}, {ok} x 202, "
              f"latency median {ms(statistics.median(lat))}, p99 {ms(pct(lat, 99))}, max {ms(max(lat))}; "
              f"{syncs:.0f} fsyncs ({written / max(syncs, 1):.0f} conversions each), "
              f"edge CPU {cpu.per(burst)} a conversion")
    ids = records_on_disk()
    expected = 1000 + burst * rounds
    print(f"records on disk: {len(ids)}, distinct {len(set(ids))}, acknowledged {expected}")
    assert len(ids) == len(set(ids)) == expected, "every 202 is one record"


asyncio.run(main())
