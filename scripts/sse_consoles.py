#!/usr/bin/env python3
"""Holds COUNT open operator consoles: COUNT console sessions, each with its live-update stream
(GET /console/events, Server-Sent Events) open, until SIGTERM or SIGINT.

    scripts/sse_consoles.py http://127.0.0.1:8080 "$IVSP_KEY" 100

Signs in COUNT times with the key (POST /console/sign-in; one session each, as COUNT browsers
would), opens the COUNT streams, then declares a channel through the API (`--tenant`, default
sse-bench) and waits until every stream has heard its `channel` event: the streams are live
and the fan-out reaches all of them. Then prints one line, `READY <count> ...`, and holds. On
SIGTERM it prints `HELD <open> of <count> open, <events> events, <closed> closed by the server`
and exits 1 if any stream was closed while held. Used by scripts/bench-console-sse.sh.
Standard library only (asyncio streams; the key needs channels:read and channels:write).
"""
import argparse
import asyncio
import http.client
import json
import signal
import sys
import time
import urllib.parse


def sign_in(host, port, origin, key):
    """One console session: its cookie header value."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    body = urllib.parse.urlencode({"api_key": key})
    conn.request("POST", "/console/sign-in", body, {
        "Content-Type": "application/x-www-form-urlencoded", "Origin": origin})
    response = conn.getresponse()
    response.read()
    cookies = [v.split(";", 1)[0] for k, v in response.getheaders() if k.lower() == "set-cookie"]
    conn.close()
    session = [c for c in cookies if c.startswith("ivsp_console=")]
    if response.status != 303 or not session:
        raise SystemExit(f"sign-in answered {response.status} without a session cookie")
    return session[0]


def declare_channel(host, port, key, tenant):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    name = f"sse-{int(time.time() * 1000)}"
    conn.request("POST", "/v1/channels", json.dumps({"tenant": tenant, "name": name}), {
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status not in (200, 202):
        raise SystemExit(f"POST /v1/channels answered {response.status}: {data[:200]!r}")
    return json.loads(data)["id"]


class Stream:
    def __init__(self, host, port, cookie):
        self.host, self.port, self.cookie = host, port, cookie
        self.events = 0
        self.heard = asyncio.Event()
        self.channel = None
        self.closed = False

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write((f"GET /console/events HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                           f"Accept: text/event-stream\r\nCookie: {self.cookie}\r\n\r\n").encode())
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" " or b"text/event-stream" not in head.lower():
            raise SystemExit(f"GET /console/events: {head[:300]!r}")

    async def read(self):
        """Counts `channel` events; notes the one about the channel this run declared."""
        try:
            while line := await self.reader.readline():
                if line.startswith(b"event: channel"):
                    self.events += 1
                elif line.startswith(b"data:") and self.channel and self.channel.encode() in line:
                    self.heard.set()
        except (ConnectionError, OSError):
            pass
        self.closed = True


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="http://host:port of the service")
    parser.add_argument("key", help="an API key with channels:read and channels:write")
    parser.add_argument("count", type=int, nargs="?", default=100)
    parser.add_argument("--tenant", default="sse-bench")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.base)
    host, port = url.hostname, url.port or 80
    origin = f"{url.scheme}://{url.netloc}"

    started = time.monotonic()
    cookies = [sign_in(host, port, origin, args.key) for _ in range(args.count)]
    streams = [Stream(host, port, c) for c in cookies]
    await asyncio.gather(*(s.open() for s in streams))
    readers = [asyncio.create_task(s.read()) for s in streams]
    opened = time.monotonic()

    channel = await asyncio.to_thread(declare_channel, host, port, args.key, args.tenant)
    for s in streams:
        s.channel = channel
    try:
        await asyncio.wait_for(asyncio.gather(*(s.heard.wait() for s in streams)), args.timeout)
    except TimeoutError:
        deaf = sum(not s.heard.is_set() for s in streams)
        raise SystemExit(f"{deaf} of {args.count} streams did not hear channel {channel}")
    heard = time.monotonic()
    print(f"READY {args.count} streams open (sign-in and open {opened - started:.1f} s); "
          f"all heard channel {channel} within {1000 * (heard - opened):.0f} ms", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    closed = sum(s.closed for s in streams)
    events = sum(s.events for s in streams)
    print(f"HELD {args.count - closed} of {args.count} open, {events} events, "
          f"{closed} closed by the server", flush=True)
    for task in readers:
        task.cancel()
    for s in streams:
        s.writer.close()
    return 1 if closed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
