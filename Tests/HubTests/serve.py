#!/usr/bin/env python3
"""Loopback HTTP server for HubTests (Python 3 standard library only).

Serves the files under --root at their relative paths, with Range requests (206), and logs one
line per request to --log: "GET <path> range=<Range header or ->".  Options:
  --cut PATH=N     on the first request of PATH, send the headers and N bytes of the body, then
                   drop the connection (the client sees a cut-off download).
  --ignore-range   answer every request with 200 and the whole file, whatever the Range.
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--cut", action="append", default=[])
    ap.add_argument("--ignore-range", action="store_true")
    args = ap.parse_args()

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
