"""A TCP proxy between ocb/ocbfs and the real RGW, for tests that need S3
to stall or fail at a chosen moment, or to misbehave the way networks and
servers do.

- forwarding (the default): bytes pass both ways untouched;
- hold(match, nth): the nth client request (1: the first) whose request
  line contains `match` (None: any) waits, and every client byte after
  it, until release();
  `held` is set once such a request is waiting, so a test knows where the
  client is without sleeping;
- gather(k, match, timeout): the next client requests whose request line
  contains `match` (a string, or any of a list of them; None: any) wait
  until k of them wait, then all go on together; when fewer come,
  `timeout` seconds after the first began to wait they go on anyway (a
  client that asks one after another is then seen as such: one in flight
  at a time).  One gathering at a time; it ends once they go on, and
  `gathered` is then how many went together;
- fail(): every connection, open or new, is reset (RST), as when the
  server's host goes away, and held requests are dropped unsent;
  heal() forwards again.
- blackhole(): the server as a host that is gone without a word: every
  connection, open or new, is accepted and never answered, and nothing
  the clients send is passed on; heal() ends it (the frozen connections
  are then reset, as a host coming back does).
- inject(kind, match, count, arg, every): per-request faults, for the
  next `count` requests (-1: all) whose request line contains `match`
  (None: any), every `every`-th of them:
    "status"     answer arg (503, 500, 429...) with an S3 error body
                 ourselves and close; the server never sees the request
    "reset"      reset the connection instead of forwarding the request
    "truncate"   forward; pass arg bytes of the response, then close
                 (a body shorter than its Content-Length)
    "cut"        forward; pass arg bytes of the response, then reset
    "stall"      accept the request and never answer
    "drop"       close the connection, without a reset and without an
                 answer (an empty reply)
    "length"     forward; the response's Content-Length is off by arg
                 bytes: more than the body (then the connection is closed
                 after the body, the client waits for bytes never sent)
                 or fewer (the rest of the body runs into the next
                 response on that connection)
  `injected` counts the faults applied by kind; clear() removes them.

- shape(delay, rate): the network between client and server as a
  distant one: every new connection (its handshake) and every request
  waits `delay` seconds before it reaches the server (one round trip),
  and each connection's responses flow at most `rate` bytes/s (a single
  S3 connection is limited like this; clients fill a link only with
  several in flight).  shape(0, None) is loopback again.
- refuse(): the server's port is closed: new connections are refused
  (ECONNREFUSED), open ones are reset; heal() listens again on the same
  port.
- `depths[i]` is the dependency depth of requests[i]: 1 + the largest
  depth among the requests fully answered before it arrived (1: none
  was), so the longest chain of requests each waiting for the one before
  (sequential round trips), without measuring time;
- `ranges[i]` is the Range header of requests[i] (None: it had none);
- `inflight` is the number of requests sent and not yet fully answered;
  `inflight_peak` its peak and inflight_mean() its time-weighted mean
  since the last stats_reset(), for benchmarks.

Run as a program (`python3 gateproxy.py ENDPOINT --delay-ms 30
--rate-mbps 40 --port-file F --stats-file S`), it forwards with that
shape until SIGTERM, then writes its counters as JSON to S.

Requests are not parsed beyond the request line of each client chunk that
starts one: the clients never pipeline, so a new request always starts a
chunk.
"""
import json
import signal
import socket
import struct
import sys
import threading
import time

METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ")


def _reset(sock):
    """RST the connection.  The shutdown wakes a pump thread blocked in
    recv() on it (a bare close() would not, and nothing would be sent
    until that recv returned)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class GateProxy:
    def __init__(self, endpoint):
        host, port = endpoint.split("//", 1)[1].rsplit(":", 1)
        self.target = (host, int(port))
        self.sock = self._listen(0)
        self.port = self.sock.getsockname()[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.delay = 0.0            # shape(): seconds per round trip
        self.rate = None            # shape(): bytes/s per connection
        self.refusing = False
        self.inflight = 0
        self.inflight_peak = 0
        self.t0 = self.t_last = time.monotonic()
        self.area = 0.0
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.match = None
        self.nth = 1
        self.gathering = None       # gather(): what waits, and for what
        self.gathered = 0
        self.failing = False
        self.dark = None            # set by blackhole(): what heal() sets
        self.epoch = 0              # fail() counts: a held request from
                                    # before a fail() is dropped, never sent
        self.socks = set()
        self.requests = []          # request lines seen, for assertions
        self.user_agents = []       # their User-Agent headers
        self.ranges = []            # their Range headers (None: none)
        self.bytes_down = 0         # bytes from the server to the clients
        self.depths = []            # per request: see depths above
        self.done_depth = 0         # the largest depth answered
        self.faults = []
        self.injected = {}
        self.stalled = threading.Event()    # set by close(): stalls end
        self.closed = False
        threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    @staticmethod
    def _listen(port):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
        return s

    def shape(self, delay=0.0, rate=None):
        """delay: seconds added per round trip; rate: bytes/s per connection"""
        with self.lock:
            self.delay = float(delay)
            self.rate = float(rate) if rate else None

    def refuse(self):
        with self.lock:
            self.refusing = True
            sock, self.sock = self.sock, None
        if sock:
            _reset(sock)
        self.fail()
        with self.lock:
            self.failing = False

    def stats_reset(self):
        with self.lock:
            self.t0 = self.t_last = time.monotonic()
            self.area = 0.0
            self.inflight_peak = self.inflight
            self.bytes_down = 0
            self.requests = []
            self.ranges = []
            self.depths = []
            self.done_depth = 0

    def _inflight(self, d):
        """lock held: count a request starting (+1) or answered (-1)"""
        now = time.monotonic()
        self.area += self.inflight * (now - self.t_last)
        self.t_last = now
        self.inflight += d
        self.inflight_peak = max(self.inflight_peak, self.inflight)

    def inflight_mean(self):
        with self.lock:
            self._inflight(0)
            t = self.t_last - self.t0
            return self.area / t if t > 0 else 0.0

    def inject(self, kind, match=None, count=1, arg=None, every=1):
        assert kind in ("status", "reset", "truncate", "cut", "stall", "drop",
                        "length", "denied")
        with self.lock:
            self.faults.append({"kind": kind, "match": match, "count": count,
                                "arg": arg, "every": every, "seen": 0})

    def clear(self):
        with self.lock:
            self.faults = []

    def _take(self, line):
        """the fault for this request, if one applies (lock held)"""
        for f in self.faults:
            if f["count"] == 0 or (f["match"] is not None and f["match"] not in line):
                continue
            f["seen"] += 1
            if f["seen"] % f["every"]:
                continue
            if f["count"] > 0:
                f["count"] -= 1
            self.injected[f["kind"]] = self.injected.get(f["kind"], 0) + 1
            return f
        return None

    def hold(self, match, nth=1):
        with self.lock:
            self.match = match
            self.nth = nth
            self.held.clear()
            self.gate.clear()

    def _holds(self, line):
        """does this request wait at the gate? (lock held)"""
        if self.gate.is_set() or (self.match is not None and self.match not in line):
            return False
        self.nth -= 1
        return self.nth <= 0

    def gather(self, k, match=None, timeout=10.0):
        if isinstance(match, str):
            match = [match]
        with self.lock:
            self.gathered = 0
            self.gathering = {"k": k, "match": match, "n": 0,
                              "go": threading.Event(), "timeout": timeout}

    def _gathers(self, line):
        """the gathering this request joins, if any (lock held)"""
        g = self.gathering
        if not g or (g["match"] is not None and
                     not any(m.encode() in line for m in g["match"])):
            return None
        g["n"] += 1
        if g["n"] >= g["k"]:
            self._gather_end(g)
        return g

    def _gather_end(self, g):
        """they go on (lock held)"""
        if self.gathering is g:
            self.gathering = None
            self.gathered = g["n"]
        g["go"].set()

    def release(self):
        with self.lock:
            self.match = None
            self.gate.set()

    def fail(self):
        with self.lock:
            self.failing = True
            self.epoch += 1
            socks, self.socks = self.socks, set()
        for s in socks:
            _reset(s)
        self.gate.set()

    def heal(self):
        with self.lock:
            self.failing = False
            frozen, self.dark = self.dark, None
            if self.refusing and not self.closed:
                self.refusing = False
                self.sock = self._listen(self.port)
                threading.Thread(target=self._accept, args=(self.sock,),
                                 daemon=True).start()
        if frozen:          # the frozen connections are reset
            frozen.set()

    def blackhole(self):
        with self.lock:
            if not self.dark:
                self.dark = threading.Event()

    def close(self):
        self.release()
        self.stalled.set()
        with self.lock:
            self.closed = True
            if self.gathering:
                self._gather_end(self.gathering)
            sock, self.sock = self.sock, None
        if self.dark:
            self.dark.set()
        if sock:
            sock.close()
        self.fail()

    def _accept(self, lsock):
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            if self.failing:
                _reset(c)
                continue
            dark = self.dark
            if dark:                    # accepted, never answered
                with self.lock:
                    self.socks.add(c)
                threading.Thread(target=self._silent, args=(c, dark), daemon=True).start()
                continue
            threading.Thread(target=self._connect, args=(c,), daemon=True).start()

    def _connect(self, c):
        if self.delay:                  # the handshake's round trip: the
            self.stalled.wait(self.delay)   # simulated distance, cut by close()
        try:
            s = socket.create_connection(self.target)
        except OSError:
            _reset(c)
            return
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.socks.update((c, s))
        # the response fault, and the request being answered
        conn = {"limit": None, "open": False, "left": None, "head": False}
        threading.Thread(target=self._pump, args=(c, s, True, conn), daemon=True).start()
        threading.Thread(target=self._pump, args=(s, c, False, conn), daemon=True).start()

    def _answered(self, conn):
        with self.lock:
            if conn["open"]:
                conn["open"] = False
                self._inflight(-1)
                self.done_depth = max(self.done_depth, conn.get("depth", 0))

    def _received(self, conn, data):
        """count response bytes; the request is answered once its head
        and Content-Length bytes of body have passed"""
        if not conn["open"]:
            return
        if conn["left"] is None:
            head, sep, _ = data.partition(b"\r\n\r\n")
            if not sep:
                return
            n = 0
            for l in head.split(b"\r\n")[1:]:
                k, _, v = l.partition(b":")
                if k.strip().lower() == b"content-length":
                    n = int(v)
            status = head[9:12]
            if conn["head"] or status in (b"204", b"304"):
                n = 0
            conn["left"] = len(head) + len(sep) + n
        conn["left"] -= len(data)
        if conn["left"] <= 0:
            self._answered(conn)

    def _paced(self, dst, data, pace):
        """send data no faster than the connection's rate"""
        rate = self.rate
        if not rate:
            dst.sendall(data)
            return
        for i in range(0, len(data), 16384):
            dst.sendall(data[i:i + 16384])
            pace[1] += len(data[i:i + 16384])
            ahead = pace[0] + pace[1] / rate - time.monotonic()
            if ahead > 0:               # the link's rate, cut by close()
                self.stalled.wait(ahead)
            elif ahead < -0.05:         # idle: the budget does not pile up
                pace[0], pace[1] = time.monotonic(), 0

    def _silent(self, client, dark):
        """a connection to the blackhole: read and drop until heal()"""
        client.settimeout(0.2)
        while not dark.is_set():
            try:
                if not client.recv(1 << 16):
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        _reset(client)

    def _length(self, data, delta):
        """the response head with its Content-Length off by delta, and the
        bytes the client may have (head and real body), or None when the
        head is not in this chunk"""
        head, sep, _ = data.partition(b"\r\n\r\n")
        if not sep:
            return None
        lines = head.split(b"\r\n")
        for i, l in enumerate(lines):
            k, _, v = l.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
                lines[i] = b"Content-Length: %d" % max(0, n + delta)
                new = b"\r\n".join(lines) + sep
                return data.replace(head + sep, new, 1), len(new) + n
        return None

    def _answer(self, client, status):
        body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                b"<Message>injected</Message></Error>" %
                {503: b"SlowDown", 500: b"InternalError", 429: b"SlowDown"}.get(
                    status, b"InternalError"))
        client.sendall(b"HTTP/1.1 %d Injected\r\nContent-Type: application/xml\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                       % (status, len(body), body))

    def _denied(self, client, action):
        """S3's answer to a request an IAM policy does not allow, as AWS
        sends it (403 AccessDenied; since 2023 the message names the
        action: "... is not authorized to perform: s3:ACTION on resource:
        ... because no identity-based policy allows the s3:ACTION action")"""
        body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied"
                b"</Code><Message>User: arn:aws:sts::123456789012:assumed-role/openclaw-"
                b"backup/i-0123456789abcdef0 is not authorized to perform: %s on resource: "
                b"\"arn:aws:s3:::bucket\" because no identity-based policy allows the %s "
                b"action</Message><RequestId>7Q8ZJ2K4XG9V3M1N</RequestId><HostId>h0st"
                b"</HostId></Error>" % (action.encode(), action.encode()))
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                       b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                       % (len(body), body))

    def _pump(self, src, dst, from_client, conn):
        holding = False
        gathering = None
        pace = [time.monotonic(), 0]    # start, bytes sent since
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if from_client and data.startswith(METHODS):
                    line = data.split(b"\r\n", 1)[0]
                    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]
                    ua = [h.split(b":", 1)[1].strip().decode(errors="replace")
                          for h in head if h.lower().startswith(b"user-agent:")]
                    rg = [h.split(b":", 1)[1].strip().decode(errors="replace")
                          for h in head if h.lower().startswith(b"range:")]
                    self._answered(conn)        # never pipelined
                    with self.lock:
                        depth = self.done_depth + 1
                    if self.delay:      # one round trip, cut by close()
                        self.stalled.wait(self.delay)
                    with self.lock:
                        if not conn["open"]:
                            conn["open"] = True
                            conn["left"] = None
                            conn["head"] = line.startswith(b"HEAD ")
                            self._inflight(1)
                        conn["depth"] = depth
                        self.depths.append(depth)
                        self.requests.append(line.decode(errors="replace"))
                        self.user_agents.append(ua[0] if ua else None)
                        self.ranges.append(rg[0] if rg else None)
                        holding = self._holds(line)
                        gathering = self._gathers(line)
                        fault = self._take(line)
                    if fault and fault["kind"] == "status":
                        self._answer(src, fault["arg"] or 503)
                        src.shutdown(socket.SHUT_RDWR)
                        raise OSError("answered")
                    if fault and fault["kind"] == "denied":
                        self._denied(src, fault["arg"])
                        src.shutdown(socket.SHUT_RDWR)
                        raise OSError("answered")
                    if fault and fault["kind"] == "reset":
                        raise OSError("reset")
                    if fault and fault["kind"] == "stall":
                        self.stalled.wait()
                        raise OSError("stalled")
                    if fault and fault["kind"] == "drop":
                        src.shutdown(socket.SHUT_RDWR)
                        dst.shutdown(socket.SHUT_RDWR)
                        return
                    conn["limit"] = (fault["kind"], fault["arg"] or 0) if fault else None
                dark = self.dark
                if dark:                            # frozen until heal()
                    dark.wait()
                    raise OSError("blackhole")
                if not from_client and conn["limit"] and conn["limit"][0] == "length":
                    got = self._length(data, conn["limit"][1])
                    if got:
                        data, total = got
                    # more announced than sent: the body ends early
                    conn["limit"] = ("truncate", total) if got and conn["limit"][1] > 0 else None
                if not from_client and conn["limit"]:
                    kind, left = conn["limit"]
                    if len(data) >= left:
                        dst.sendall(data[:left])
                        with self.lock:
                            self.bytes_down += left
                        if kind == "truncate":
                            dst.shutdown(socket.SHUT_RDWR)
                            src.shutdown(socket.SHUT_RDWR)
                            return
                        raise OSError("cut")
                    conn["limit"] = (kind, left - len(data))
                if from_client and gathering:
                    if not gathering["go"].wait(gathering["timeout"]):
                        with self.lock:     # fewer came: on anyway
                            self._gather_end(gathering)
                    gathering = None
                if holding:
                    epoch = self.epoch
                    self.held.set()
                    self.gate.wait()
                    if self.epoch != epoch:
                        raise OSError("dropped by fail()")
                if self.failing:
                    raise OSError("failing")
                if not from_client:
                    with self.lock:
                        self.bytes_down += len(data)
                    self._paced(dst, data, pace)
                    self._received(conn, data)
                    continue
                dst.sendall(data)
        except OSError:
            _reset(src)
            _reset(dst)
        finally:
            self._answered(conn)


def main():
    import argparse
    ap = argparse.ArgumentParser(description="a shaped TCP proxy to an S3 endpoint")
    ap.add_argument("endpoint")
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--rate-mbps", type=float, default=0, help="MB/s per connection, 0: no cap")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--stats-file", required=True)
    a = ap.parse_args()
    p = GateProxy(a.endpoint)
    p.shape(a.delay_ms / 1000, a.rate_mbps * 1e6 if a.rate_mbps else None)
    done = threading.Event()

    def stats(*_):
        with open(a.stats_file, "w") as f:
            json.dump({"bytes_down": p.bytes_down, "requests": len(p.requests),
                       "gets": sum(r.startswith("GET ") for r in p.requests),
                       "inflight_peak": p.inflight_peak,
                       "inflight_mean": round(p.inflight_mean(), 2)}, f)

    def reset(*_):
        p.stats_reset()

    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGUSR1, stats)
    signal.signal(signal.SIGUSR2, reset)
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % p.port)
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    while not done.wait(1):
        pass
    stats()
    p.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
