#!/usr/bin/env python3
"""graft serve's fault figures for `make serve-check` (stdlib only): garbage bodies, truncated
uploads, a slow client, clients that vanish mid-request. Each kind must be answered as the README
says (or the connection closed where there is no request to answer) and the server must go on
serving: a normal request after each kind answers 200.

    python3 scripts/serve_faults.py PORT IMAGE
"""
import json
import random
import socket
import sys
import time

PORT = int(sys.argv[1])
IMAGE = open(sys.argv[2], "rb").read()


def connect(timeout=30):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.settimeout(timeout)
    return s


def answer(s):
    """The status and body of one answer, or (None, b"") when the server closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split()[1]), body


def post(body, ctype="image/jpeg", length=None):
    s = connect()
    try:
        head = (f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n")
        s.sendall(head.encode() + body)
        return answer(s)
    finally:
        s.close()


def serving():
    status, body = post(IMAGE)
    assert status == 200, f"a normal request after the faults answered {status}: {body[:200]}"


rng = random.Random(20261207)
results = []

# Garbage bodies: random bytes, a cut JPEG, a JPEG header followed by noise. Each 400 with a reason.
codes = {}
for i in range(60):
    kind = i % 3
    if kind == 0:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
    elif kind == 1:
        body = IMAGE[: rng.randrange(1, len(IMAGE))]
    else:
        body = IMAGE[:600] + bytes(rng.randrange(256) for _ in range(3000))
    status, text = post(body)
    codes[status] = codes.get(status, 0) + 1
    assert status in (200, 400), f"garbage body answered {status}: {text[:200]}"
    if status == 400:
        detail = json.loads(text)
        assert detail["error"] == "unreadable image" and detail["detail"], text
serving()
results.append(f"garbage bodies: 60 sent, answered {dict(sorted(codes.items()))}")

# Truncated uploads: Content-Length says more than is sent, then the client closes its side.
t0 = time.time()
for i in range(20):
    s = connect()
    cut = rng.randrange(1, len(IMAGE))
    s.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {len(IMAGE)}\r\n\r\n".encode()
              + IMAGE[:cut])
    s.shutdown(socket.SHUT_WR)
    status, _ = answer(s)
    assert status in (None, 400), f"truncated upload answered {status}"
    s.close()
serving()
results.append(f"truncated uploads: 20, each closed or refused in {(time.time() - t0) / 20 * 1000:.0f} ms on average")

# Clients that vanish mid-request (headers only, half a body, half the headers), 50 of them.
for i in range(50):
    s = connect()
    msg = (f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {len(IMAGE)}\r\n\r\n".encode()
           + IMAGE)
    s.sendall(msg[: rng.randrange(1, len(msg))])
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
    s.close()
serving()
results.append("vanishing clients: 50 reset mid-request; still serving")

# A slow client: a byte a second of body. --read-timeout (5 s in serve-check, 30 by default) answers 408; meanwhile
# a normal request is served at once.
s = connect(timeout=60)
s.sendall(f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {len(IMAGE)}\r\n\r\n".encode())
t0 = time.time()
served_meanwhile = None
status = None
s.settimeout(1)
for i in range(45):
    try:
        s.sendall(IMAGE[i : i + 1])
    except OSError:
        break
    if i == 2:
        t1 = time.time()
        serving()
        served_meanwhile = time.time() - t1
    try:
        status, body = answer(s)
        break
    except socket.timeout:
        continue
s.close()
assert status == 408, f"the slow client got {status}"
results.append(f"slow client (a byte a second): 408 after {time.time() - t0:.0f} s; a normal request meanwhile took {served_meanwhile * 1000:.0f} ms")
serving()

print("\n".join("faults: " + r for r in results))
