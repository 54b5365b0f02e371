"""A TCP proxy between ocb/ocbfs and the real RGW, for tests that need S3
to stall or fail at a chosen moment.

- forwarding (the default): bytes pass both ways untouched;
- hold(match): the first client request whose request line contains
  `match` (and every client byte after it) waits until release();
  `held` is set once such a request is waiting, so a test knows where the
  client is without sleeping;
- fail(): every connection, open or new, is reset (RST), as when the
  server's host goes away, and held requests are dropped unsent;
  heal() forwards again.

Requests are not parsed beyond the request line of each client chunk that
starts one: the clients never pipeline, so a new request always starts a
chunk.
"""
import socket
import struct
import threading

METHODS = (b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ")


def _reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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
        self.failing = False
        self.epoch = 0              # fail() counts: a held request from
                                    # before a fail() is dropped, never sent
        self.socks = set()
        self.requests = []          # request lines seen, for assertions
        self.bytes_down = 0         # bytes from the server to the clients
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self, match):
        with self.lock:
            self.match = match
            self.held.clear()
            self.gate.clear()

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

    def close(self):
        self.release()
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
            try:
                s = socket.create_connection(self.target)
            except OSError:
                _reset(c)
                continue
            with self.lock:
                self.socks.update((c, s))
            threading.Thread(target=self._pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()

    def _pump(self, src, dst, from_client):
        holding = False
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if from_client and data.startswith(METHODS):
                    line = data.split(b"\r\n", 1)[0]
                    with self.lock:
                        self.requests.append(line.decode(errors="replace"))
                        holding = self.match is not None and self.match in line
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
