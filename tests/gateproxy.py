"""A TCP proxy between ocb/ocbfs and the real RGW, for tests that need S3
to stall or fail at a chosen moment, or to misbehave the way networks and
servers do.

- forwarding (the default): bytes pass both ways untouched;
- hold(match, nth): the nth client request (1: the first) whose request
  line contains `match` (None: any) waits, and every client byte after
  it, until release();
  `held` is set once such a request is waiting, so a test knows where the
  client is without sleeping;
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

Requests are not parsed beyond the request line of each client chunk that
starts one: the clients never pipeline, so a new request always starts a
chunk.
"""
import socket
import struct
import threading

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
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.endpoint = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.match = None
        self.nth = 1
        self.failing = False
        self.dark = None            # set by blackhole(): what heal() sets
        self.epoch = 0              # fail() counts: a held request from
                                    # before a fail() is dropped, never sent
        self.socks = set()
        self.requests = []          # request lines seen, for assertions
        self.user_agents = []       # their User-Agent headers
        self.bytes_down = 0         # bytes from the server to the clients
        self.faults = []
        self.injected = {}
        self.stalled = threading.Event()    # set by close(): stalls end
        threading.Thread(target=self._accept, daemon=True).start()

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
        if frozen:          # the frozen connections are reset
            frozen.set()

    def blackhole(self):
        with self.lock:
            if not self.dark:
                self.dark = threading.Event()

    def close(self):
        self.release()
        self.stalled.set()
        if self.dark:
            self.dark.set()
        self.sock.close()
        self.fail()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
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
            try:
                s = socket.create_connection(self.target)
            except OSError:
                _reset(c)
                continue
            with self.lock:
                self.socks.update((c, s))
            conn = {"limit": None}      # the response fault of this connection
            threading.Thread(target=self._pump, args=(c, s, True, conn), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False, conn), daemon=True).start()

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
                    with self.lock:
                        self.requests.append(line.decode(errors="replace"))
                        self.user_agents.append(ua[0] if ua else None)
                        holding = self._holds(line)
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
                dst.sendall(data)
        except OSError:
            _reset(src)
            _reset(dst)
