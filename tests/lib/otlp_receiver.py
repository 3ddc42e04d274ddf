#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""otlp_receiver.py - a scriptable OTLP/HTTP endpoint for the metrics tests.

  otlp_receiver.py serve DIR [--respond SPEC] [--retry-after VALUE]
                             [--watch-pid-file FILE] [--lifetime S]
                             [--port N]
      Listen on 127.0.0.1 on an ephemeral port, or N (a collector coming
      back where a client has been trying; written to DIR/port once
      listening), answer every request as SPEC says, and append JSON lines
      to DIR/requests.jsonl: one per request as soon as its body is read,
        seq (arrival order), t_start (time.time() when the request line
        arrived), t_body (body read), method, path, headers [[name,
        value]...], body (base64 of the raw body), decoded (base64 of the
        body, gunzipped when Content-Encoding: gzip; null if that failed),
        decode_error, status and sleep (the answer planned), and with
        --watch-pid-file the watched process's pid and VmRSS in bytes read
        right after the body (vmrss_bytes, null when unreadable);
      and one {seq, event: "answered", t_end, client_gone} once the answer
      is written (client_gone: it could not be, the client had hung up).
      SPEC: comma-separated STATUS[@SECONDS][xCOUNT] items used in arrival
      order, the last one for every later request: "503x1,200" answers the
      first request 503 and the rest 200; "200@2" sleeps 2 s before every
      200. 2xx answers carry an empty ExportMetricsServiceResponse, others a
      google.rpc.Status; 429 and 503 get Retry-After: VALUE when given.
      Threaded: a sleeping answer does not hold up the next request. Exits
      by itself after --lifetime seconds (default 300).

  otlp_receiver.py freeport
      Print a loopback TCP port nothing listens on (bound, then closed): an
      endpoint that refuses connections.
"""
import argparse
import base64
import gzip
import http.server
import json
import os
import socket
import sys
import threading
import time

STATUS_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 429: 8, 500: 13, 502: 14,
                503: 14, 504: 4}  # google.rpc.Code for the Status body


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def rpc_status(code, message):
    """google.rpc.Status{code = 1, message = 2}."""
    msg = message.encode()
    return b"\x08" + varint(code) + b"\x12" + varint(len(msg)) + msg


def parse_spec(spec):
    items = []
    for item in spec.split(","):
        item = item.strip()
        count = None
        if "x" in item:
            item, c = item.split("x", 1)
            count = int(c)
        sleep = 0.0
        if "@" in item:
            item, s = item.split("@", 1)
            sleep = float(s)
        items.append([int(item), sleep, count])
    if not items:
        raise ValueError("empty --respond")
    return items


def vmrss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.seq = 0
        self.plan = parse_spec(args.respond)
        self.retry_after = args.retry_after
        self.watch = args.watch_pid_file
        self.log = open(os.path.join(args.dir, "requests.jsonl"), "a")

    def next_answer(self):
        """(seq, status, sleep) for a new request, in arrival order."""
        with self.lock:
            seq = self.seq
            self.seq += 1
            item = self.plan[0]
            if item[2] is not None and len(self.plan) > 1:
                item[2] -= 1
                if item[2] <= 0:
                    self.plan.pop(0)
            return seq, item[0], item[1]

    def watched_pid(self):
        if not self.watch:
            return None
        try:
            with open(self.watch) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def record(self, rec):
        line = json.dumps(rec, sort_keys=True)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "otlp-test-receiver"
    state = None

    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if not size:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        st = self.state
        t_start = self.t_start
        body = self.read_body()
        t_body = time.time()
        seq, status, sleep = st.next_answer()
        rec = {"seq": seq, "t_start": t_start, "t_body": t_body,
               "method": self.command, "path": self.path,
               "headers": [[k, v] for k, v in self.headers.items()],
               "body": base64.b64encode(body).decode(),
               "status": status, "sleep": sleep, "decode_error": None}
        pid = st.watched_pid()
        if pid is not None:
            rec["pid"] = pid
            rec["vmrss_bytes"] = vmrss(pid)
            rec["vmrss_t"] = time.time()
        decoded = body
        if "gzip" in self.headers.get("Content-Encoding", "").lower():
            try:
                decoded = gzip.decompress(body)
            except (OSError, EOFError) as e:
                decoded = None
                rec["decode_error"] = "gunzip: %s" % e
        rec["decoded"] = base64.b64encode(decoded).decode() \
            if decoded is not None else None
        # recorded now, not after the answer: a test may stop the receiver
        # while it sleeps over a request the client gave up on
        st.record(rec)
        done = {"seq": seq, "event": "answered", "client_gone": False}
        if sleep:
            time.sleep(sleep)
        if 200 <= status < 300:
            payload = b""  # an empty ExportMetricsServiceResponse
        else:
            payload = rpc_status(STATUS_CODES.get(status, 2),
                                 "test receiver answers %d" % status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            if status in (429, 503) and st.retry_after is not None:
                self.send_header("Retry-After", st.retry_after)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            done["client_gone"] = True
            self.close_connection = True
        done["t_end"] = time.time()
        st.record(done)

    def parse_request(self):
        self.t_start = time.time()
        return super().parse_request()

    do_POST = do_PUT = do_GET = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a client that hung up mid-request is not the receiver's problem
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    Handler.state = State(args)
    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, os.path.join(args.dir, "port"))
    sys.stderr.write("receiver: listening on 127.0.0.1:%d\n" % port)
    timer = threading.Timer(args.lifetime, srv.shutdown)
    timer.daemon = True
    timer.start()
    srv.serve_forever(poll_interval=0.1)
    sys.stderr.write("receiver: lifetime over, exiting\n")


def freeport(_):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("dir")
    s.add_argument("--respond", default="200")
    s.add_argument("--retry-after")
    s.add_argument("--watch-pid-file")
    s.add_argument("--lifetime", type=float, default=300)
    s.add_argument("--port", type=int, default=0)
    s.set_defaults(fn=serve)
    f = sub.add_parser("freeport")
    f.set_defaults(fn=freeport)
    args = ap.parse_args()
    parse_spec(getattr(args, "respond", "200"))
    args.fn(args)


if __name__ == "__main__":
    main()
