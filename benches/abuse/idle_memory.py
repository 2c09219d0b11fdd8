#!/usr/bin/env python3
"""Memory per idle connection: starts clickedge (one worker) on loopback, opens
N kept-alive HTTP/1 connections that each made one request, and prints the
resident size before, with them open, and 2 s after they closed.
Usage: python3 benches/abuse/idle_memory.py target/release/clickedge [N]
(raise `ulimit -n` above N first)."""
import socket, subprocess, sys, time, os, tempfile
binary = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
d=tempfile.mkdtemp()
def free():
    s=socket.socket(); s.bind(("127.0.0.1",0)); p=s.getsockname()[1]; s.close(); return p
port,mport=free(),free()
cfg=f"""listen: ["127.0.0.1:{port}"]
data_dir: "{d}/data"
signing:
  keys: [{{id: k1, secret: "0123456789abcdef0123456789abcdef"}}]
metrics:
  listen: "127.0.0.1:{mport}"
server:
  threads: 1
  pid_file: "{d}/pid"
  upgrade_sock: "{d}/up.sock"
"""
open(f"{d}/c.yaml","w").write(cfg)
p=subprocess.Popen([binary,"serve","--config",f"{d}/c.yaml"],stderr=subprocess.DEVNULL)
def rss():
    for l in open(f"/proc/{p.pid}/status"):
        if l.startswith("VmRSS"): return int(l.split()[1])
for _ in range(100):
    try: socket.create_connection(("127.0.0.1",port),timeout=1).close(); break
    except OSError: time.sleep(0.05)
time.sleep(0.5)
before=rss()
conns=[]
for i in range(n):
    s=socket.create_connection(("127.0.0.1",port)); s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); conns.append(s)
time.sleep(1.0)
for s in conns: s.recv(4096)
time.sleep(0.5)
after=rss()
print(f"{binary}: rss before {before} KiB, with {n} idle kept-alive connections {after} KiB, per connection {(after-before)*1024/n:.0f} bytes")
for s in conns: s.close()
time.sleep(2); print(f"  after close {rss()} KiB")
p.terminate(); p.wait()
