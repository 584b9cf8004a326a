#!/usr/bin/env python3
"""Half-sent requests against a running service, and /healthz measured while they are held.

Opens COUNT connections that each send the start of a request head and never finish it, then
asks /healthz on a fresh connection every 0.5 s for SECONDS, prints how many answered and how
fast, how many of the held connections the server has closed, and /healthz once they are
released. Reproduces "Slow clients and open files" in docs/operations.md; for example, against
dev mode started under the common soft limit:

    (ulimit -n 1024; exec ivs-provisioner dev --bind 127.0.0.1:8080) &
    scripts/slowloris.py 127.0.0.1:8080 1100 25

The client itself needs COUNT + a few open files (`ulimit -n`). Standard library only.
"""
import socket
import sys
import time

HALF_SENT = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def healthz(host, port, limit=30.0):
    """Seconds until a 200 from GET /healthz on a new connection, or None."""
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=limit) as s:
            s.settimeout(limit)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return time.monotonic() - started if data.startswith(b"HTTP/1.1 200") else None
    except OSError:
        return None


def closed_by_server(s):
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    host, port = sys.argv[1].rsplit(":", 1)
    port, count, seconds = int(port), int(sys.argv[2]), float(sys.argv[3])
    print(f"/healthz before: {healthz(host, port)}")
    started = time.monotonic()
    held = []
    for i in range(count):
        try:
            s = socket.create_connection((host, port), timeout=30)
            s.sendall(HALF_SENT)
        except OSError as error:
            print(f"connection {i} failed after {time.monotonic() - started:.1f} s: {error}")
            break
        held.append(s)
    print(f"{len(held)} half-sent requests held after {time.monotonic() - started:.2f} s")
    answers = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answers.append(healthz(host, port))
        time.sleep(0.5)
    answered = sorted(a for a in answers if a is not None)
    if answered:
        print(f"/healthz during: {len(answered)}/{len(answers)} answered; first "
              f"{answers[0]}, median {answered[len(answered) // 2]:.4f} s, max {answered[-1]:.3f} s")
    else:
        print(f"/healthz during: 0/{len(answers)} answered")
    closed = sum(closed_by_server(s) for s in held)
    print(f"closed by the server {time.monotonic() - started:.1f} s after the first: {closed}/{len(held)}")
    for s in held:
        s.close()
    print(f"/healthz after release: {healthz(host, port)}")


if __name__ == "__main__":
    main()
