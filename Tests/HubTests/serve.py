#!/usr/bin/env python3
"""Loopback HTTP server for HubTests (Python 3 standard library only).

Serves the files under --root at their relative paths, with Range requests (206), and logs one
line per request to --log: "GET <path> range=<Range header or ->".  Options:
  --cut PATH=N     on the first request of PATH, send the headers and N bytes of the body, then
                   drop the connection (the client sees a cut-off download).
  --ignore-range   answer every request with 200 and the whole file, whatever the Range.
  --status PATH=CODE   answer every request of PATH with CODE and an empty body (any path,
                   whether a file is there or not).
  --header PATH=NAME:VALUE   add this header to --status's answers for PATH (repeatable), e.g.
                   WWW-Authenticate:Basic realm="m" or Location:file:///etc/passwd.
  --stall PATH=N   send the headers and N bytes of PATH's body, then nothing more (the
                   connection stays open for up to 30 s): the client sees a stall.
Binds 127.0.0.1 on a free port and prints the port as the first line of stdout.  Exits when
stdin closes (so a test that dies does not leave it behind) or when killed.
"""
import argparse
import http.server
import os
import re
import socket
import sys
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cut", action="append", default=[])
    ap.add_argument("--ignore-range", action="store_true")
    ap.add_argument("--status", action="append", default=[])
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--stall", action="append", default=[])
    args = ap.parse_args()

    statuses = {}
    for c in args.status:
        path, n = c.rsplit("=", 1)
        statuses[path] = int(n)
    headers = {}
    for c in args.header:
        path, h = c.split("=", 1)
        name, value = h.split(":", 1)
        headers.setdefault(path, []).append((name, value))
    stalls = {}
    for c in args.stall:
        path, n = c.rsplit("=", 1)
        stalls[path] = int(n)

    cuts = {}
    for c in args.cut:
        path, n = c.rsplit("=", 1)
        cuts[path] = int(n)
    seen = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            rng = self.headers.get("Range")
            with lock:
                with open(args.log, "a") as f:
                    f.write("GET %s range=%s\n" % (path, rng or "-"))
                first = path not in seen
                seen.add(path)
            if path in statuses:
                self.send_response(statuses[path])
                for name, value in headers.get(path, []):
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            root = os.path.abspath(args.root)
            file = os.path.normpath(os.path.join(root, path.lstrip("/")))
            if not file.startswith(root + os.sep) or not os.path.isfile(file):
                self.send_error(404, "Not Found")
                return
            with open(file, "rb") as f:
                data = f.read()
            size = len(data)
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and not args.ignore_range:
                start = int(m.group(1))
                if start >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if path in stalls:
                self.wfile.write(body[: stalls[path]])
                self.wfile.flush()
                for _ in range(300):
                    time.sleep(0.1)
                self.close_connection = True
                return
            if first and path in cuts:
                self.wfile.write(body[: cuts[path]])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
