"""Faults between ocb/ocbfs and the real RGW, injected by the proxy per
request: error statuses (503 SlowDown, 500, 429), connections reset,
response bodies cut or truncated, requests stalled forever.  Transient
faults are retried and the result is right to the byte; persistent ones
end in a clear error within the configured bound, leave nothing partial,
and the mount lives through them."""
import errno
import json
import os
import threading
import time

import pytest

from conftest import Ocb, write_config, objects
from test_mount import mounted  # noqa: F401 (fixture)
from treeutil import make_tree, assert_same_tree


@pytest.fixture
def setup(tmp_path, rgw, bucket, keyfile, proxy, ocb):
    src = make_tree(str(tmp_path / "src"))
    with open(os.path.join(src, "big.bin"), "wb") as f:     # multipart: 3 parts
        f.write(os.urandom(20 << 20))
    cfg = write_config(tmp_path / "c.json", {
        "instanceId": "i-test", "region": rgw.region,
        "s3": {"bucket": bucket, "endpoint": proxy.endpoint, "timeout": 4,
               "retryDeadline": 12},
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [src], "cache": {"dir": ""}})
    return src, Ocb(config=cfg, env=ocb.env)


def test_transient_faults_backup_verify_restore(setup, proxy, rgw, bucket, tmp_path):
    src, o = setup
    proxy.inject("status", b"partNumber=", count=2, arg=503)
    proxy.inject("reset", b"?uploads=", count=1)
    proxy.inject("status", b".ocb?uploadId=", count=1, arg=500)
    proxy.inject("status", b"PUT /", count=1, arg=429)
    o("backup")
    assert proxy.injected == {"status": 4, "reset": 1}
    assert rgw.uploads(bucket) == []
    proxy.clear()
    # reading it back through cut and truncated bodies, errors and resets
    proxy.inject("cut", b"GET /", count=3, arg=300000, every=2)
    proxy.inject("truncate", b"GET /", count=3, arg=70000, every=3)
    proxy.inject("status", b"GET /", count=2, arg=503, every=5)
    proxy.inject("reset", b"GET /", count=2, every=7)
    o("verify", "latest")
    o("restore", "latest", "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    assert sum(proxy.injected.values()) >= 1 + 4 + 5


def test_persistent_errors_fail_clearly_and_leave_nothing(setup, proxy, rgw, bucket):
    src, o = setup
    o("backup")
    before = objects(rgw, bucket)
    proxy.inject("status", b"partNumber=", count=-1, arg=503)
    p = o("backup", "--full", check=False)              # in parts, every one refused
    assert p.returncode == 6, p.stderr                  # network / server trouble
    assert "SlowDown" in p.stderr or "unavailable" in p.stderr or "busy" in p.stderr, p.stderr
    proxy.clear()
    assert objects(rgw, bucket) == before               # nothing partial
    assert rgw.uploads(bucket) == []                    # the upload was aborted
    o("verify", "--all")                                # the earlier one intact


def test_mount_reads_right_through_faults(setup, proxy, mounted):
    src, o = setup
    o("backup")
    m = mounted(o.config, o.env)
    tree = os.path.join(m.path, "latest", "src")
    proxy.inject("cut", b"GET /", count=4, arg=200000, every=2)
    proxy.inject("truncate", b"GET /", count=4, arg=40000, every=3)
    proxy.inject("status", b"GET /", count=3, arg=503, every=4)
    proxy.inject("reset", b"GET /", count=3, every=5)
    assert_same_tree(src, tree)                         # every byte compared
    s = m.stats()
    assert s["fuse_errors"] == 0 and s["retry_retries"] > 0
    assert sum(proxy.injected.values()) >= 6


def test_stalled_server_times_out_within_bound_then_recovers(setup, proxy, mounted):
    src, o = setup
    o("backup")
    m = mounted(o.config, o.env)
    tree = os.path.join(m.path, "latest", "src")
    assert open(os.path.join(tree, "openclaw.json"), "rb").read()   # catalog in memory
    proxy.inject("stall", b"GET /", count=-1)
    with pytest.raises(OSError) as e:
        open(os.path.join(tree, "big.bin"), "rb").read()
    # after s3.timeout per attempt, within s3.retryDeadline
    assert e.value.errno == errno.ETIMEDOUT
    assert os.listdir(tree)                             # the mount is alive
    proxy.clear()
    assert open(os.path.join(tree, "big.bin"), "rb").read() == \
        open(os.path.join(src, "big.bin"), "rb").read()


def test_wrong_lengths_and_dropped_requests_never_give_a_wrong_byte(
        setup, proxy, mounted, tmp_path):
    src, o = setup
    proxy.inject("drop", b"PUT /", count=2, every=2)   # empty replies
    o("backup")
    assert proxy.injected == {"drop": 2}
    proxy.clear()
    # bodies that claim more, or fewer, bytes than they carry
    proxy.inject("length", b"GET /", count=3, arg=-1000, every=3)
    proxy.inject("length", b"GET /", count=3, arg=5000, every=4)
    proxy.inject("drop", b"GET /", count=3, every=5)
    o("verify", "latest")
    o("restore", "latest", "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    m = mounted(o.config, o.env)
    assert_same_tree(src, os.path.join(m.path, "latest", "src"))
    assert m.stats()["fuse_errors"] == 0
    assert proxy.injected["length"] >= 4 and proxy.injected["drop"] >= 3 + 2


def test_blackholed_server_fails_within_bound_then_recovers(
        setup, proxy, mounted, rgw, bucket):
    """A server gone without a word (connections accepted, never
    answered): each operation ends within s3.retryDeadline with a clear
    error, nothing is written, the mount lives on and heals by itself."""
    src, o = setup
    o("backup")
    before = objects(rgw, bucket)
    m = mounted(o.config, o.env)
    tree = os.path.join(m.path, "latest", "src")
    assert open(os.path.join(tree, "openclaw.json"), "rb").read()   # catalog in memory
    proxy.blackhole()
    p = o("backup", check=False)
    assert p.returncode == 6 and "timed out" in p.stderr, p.stderr
    p = o("list", check=False)
    assert p.returncode == 6 and "timed out" in p.stderr, p.stderr
    t0 = time.monotonic()
    with pytest.raises(OSError) as e:
        open(os.path.join(tree, "big.bin"), "rb").read()
    spent = time.monotonic() - t0
    assert e.value.errno == errno.ETIMEDOUT
    # the documented bound: retryDeadline + timeout + min(5 s, timeout)
    assert spent <= 12 + 4 + 4 + 2, spent
    assert os.listdir(tree)                             # the mount is alive
    proxy.heal()
    assert open(os.path.join(tree, "big.bin"), "rb").read() == \
        open(os.path.join(src, "big.bin"), "rb").read()
    assert objects(rgw, bucket) == before               # nothing half-written
    assert rgw.uploads(bucket) == []
    o("backup")
    o("verify", "--all")


def test_refused_connections_are_retried_by_time(setup, proxy, mounted, tmp_path):
    """The server refusing connections (its port closed) for 15 s, less
    than s3.retryDeadline: a restore, a cold listing and a sequential read
    through the mount all wait it out and give every byte right.  Refusing
    for longer than the deadline: a clear error (exit 6, EIO) at the
    documented bound (ocb-config(5), "Retries"), no hang."""
    src, o = setup
    o("backup")
    with open(o.config) as f:
        cfg = json.load(f)
    cfg["s3"]["retryDeadline"] = 40
    cfg["s3"]["refusedDeadline"] = 40       # refused all along, yet waited for
    patient = Ocb(config=write_config(tmp_path / "patient.json", cfg), env=o.env)
    m = mounted(patient.config, patient.env)
    assert "latest" in os.listdir(m.path)                   # the backups listed
    tree = os.path.join(m.path, "latest", "src")
    out = {}

    def read_big():
        try:
            with open(os.path.join(tree, "big.bin"), "rb") as f:
                out["big"] = f.read()
        except OSError as e:
            out["big"] = e

    proxy.refuse()
    heal = threading.Timer(15, proxy.heal)      # the outage, not a wait for sync
    heal.start()
    t0 = time.monotonic()
    reader = threading.Thread(target=read_big)
    reader.start()                              # catalog and data: cold
    p = patient("list", check=False)
    assert p.returncode == 0, p.stderr
    patient("restore", "latest", "--target", str(tmp_path / "out"))
    reader.join(120)
    heal.join()
    assert time.monotonic() - t0 >= 14
    assert out["big"] == open(os.path.join(src, "big.bin"), "rb").read()
    assert_same_tree(src, str(tmp_path / "out" / "src"))

    # longer than s3.retryDeadline (12 s, s3.timeout 4 s): bound 12 + 4 + 4
    proxy.refuse()
    try:
        t0 = time.monotonic()
        p = o("list", check=False)
        spent = time.monotonic() - t0
        assert p.returncode == 6, p.stderr
        assert "refused" in p.stderr, p.stderr
        assert 12 - 5 <= spent <= 12 + 4 + 4 + 2, spent
        m2 = mounted(o.config, o.env)
        t0 = time.monotonic()
        with pytest.raises(OSError) as e:
            os.listdir(os.path.join(m2.path, "latest"))
        spent = time.monotonic() - t0
        assert e.value.errno in (errno.EIO, errno.ENOENT, errno.ECONNREFUSED), e.value
        assert spent <= 12 + 4 + 4 + 2, spent
        assert os.path.isdir(m2.path)                   # the mount is alive
    finally:
        proxy.heal()
    o("list")                                           # and heals
