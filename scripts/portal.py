#!/usr/bin/env python3
"""A small reference fleet portal for Berth's heartbeat protocol (docs/heartbeat.md).

Python stdlib only. It is a reference for portal teams and the fixture the demo
and the tests use, not a product: state lives in memory and in a directory.

    scripts/portal.py --port 8808 --dir /tmp/portal [--token SECRET]
        [--tls-cert cert.pem --tls-key key.pem]   (HTTPS)

Device side: daemon.json {"fleet": {"portal": "http://127.0.0.1:8808", ...}}.

Endpoints
  POST /api/v1/devices/<id>/heartbeat   the protocol: records the report, answers
                                        200 + the desired state when its revision
                                        differs from If-None-Match, else 304
  PUT  /admin/desired                   body: the desired-state document for all
                                        devices ({} clears it)
  POST /admin/mode                      {"mode": "ok" | "fail" | "drop" |
                                        "delay:SECONDS" | "busy:RETRY_AFTER"}
  GET  /admin/heartbeats                every heartbeat received, one JSON per line
                                        ({"t":..., "device":..., "req_bytes":...,
                                        "resp_bytes":..., "status":..., "body":...})
"""
import argparse
import json
import os
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"desired": None, "mode": "ok", "log": []}


class Portal(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token = None
    store = None

    def log_message(self, fmt, *args):  # quiet
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body=b"", ctype="application/json", extra=None):
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)
        return len(body)

    def do_PUT(self):
        if self.path == "/admin/desired":
            doc = json.loads(self._body() or b"{}")
            with LOCK:
                STATE["desired"] = doc or None
            return self._send(204)
        return self._send(404, b'{"message":"not found"}')

    def do_GET(self):
        if self.path == "/admin/heartbeats":
            with LOCK:
                text = "".join(json.dumps(e) + "\n" for e in STATE["log"])
            return self._send(200, text.encode(), "application/x-ndjson")
        return self._send(404, b'{"message":"not found"}')

    def do_POST(self):
        if self.path == "/admin/mode":
            mode = json.loads(self._body() or b"{}").get("mode", "ok")
            with LOCK:
                STATE["mode"] = mode
            return self._send(204)
        parts = self.path.split("/")
        # /api/v1/devices/<id>/heartbeat
        if len(parts) != 6 or parts[1:4] != ["api", "v1", "devices"] or parts[5] != "heartbeat":
            return self._send(404, b'{"message":"not found"}')
        device = parts[4]
        raw = self._body()
        with LOCK:
            mode, desired = STATE["mode"], STATE["desired"]
        entry = {"t": time.time(), "device": device, "req_bytes": len(raw),
                 "if_none_match": self.headers.get("If-None-Match", "")}
        try:
            entry["body"] = json.loads(raw)
        except ValueError:
            entry["body"] = None
        if self.token and self.headers.get("Authorization") != "Bearer " + self.token:
            entry["status"] = 401
            entry["resp_bytes"] = self._send(401, b'{"message":"bad token"}')
        elif mode == "drop":
            entry["status"] = 0
            entry["resp_bytes"] = 0
            self.close_connection = True
            self.connection.shutdown(2)
        elif mode == "fail":
            entry["status"] = 500
            entry["resp_bytes"] = self._send(500, b'{"message":"portal down"}')
        elif mode.startswith("busy:"):
            entry["status"] = 429
            entry["resp_bytes"] = self._send(429, b'{"message":"busy"}',
                                             extra={"Retry-After": mode[5:]})
        else:
            if mode.startswith("delay:"):
                time.sleep(float(mode[6:]))
            seen = self.headers.get("If-None-Match", "").strip('"')
            if desired and desired.get("revision") != seen:
                body = json.dumps(desired, separators=(",", ":")).encode()
                entry["status"] = 200
                entry["resp_bytes"] = self._send(200, body, extra={"ETag": '"%s"' % desired.get("revision")})
            else:
                entry["status"] = 304
                entry["resp_bytes"] = self._send(304)
        with LOCK:
            STATE["log"].append(entry)
            if self.store:
                with open(os.path.join(self.store, "heartbeats.jsonl"), "a") as f:
                    f.write(json.dumps(entry) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8808)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--dir", help="keep heartbeats.jsonl here")
    ap.add_argument("--token", help="bearer token devices must send")
    ap.add_argument("--desired", help="a desired-state file to serve from the start")
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain)")
    ap.add_argument("--tls-key", help="the certificate's PEM private key")
    args = ap.parse_args()
    Portal.token = args.token
    Portal.store = args.dir
    if args.dir:
        os.makedirs(args.dir, exist_ok=True)
    if args.desired:
        with open(args.desired) as f:
            STATE["desired"] = json.load(f)
    srv = ThreadingHTTPServer((args.bind, args.port), Portal)
    srv.daemon_threads = True
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    print("portal listening on %s://%s:%d" % (scheme, args.bind, srv.server_address[1]), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
