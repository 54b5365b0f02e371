"""ocbfs memory through the real kernel mount: the daemon's peak RSS stays
within its RAM cache plus 64 MiB whatever the read pattern (sequential,
parallel, random), near the store and at a distance, where read-ahead
keeps the most requests in flight; for a full backup, and for the newest
of a short incremental series, whose frames are assembled from the
frames of every day's object (kept across reads in the same bound)."""
import hashlib
import json
import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Ocb, build_path, wait_for, write_config

OCBFS = build_path("fs", "ocbfs")
MIB = 1 << 20
BIG = 96 * MIB
RAM_CACHE = 16 * MIB
SLACK = 64 * MIB


def sanitized(path):
    """an AddressSanitizer build: its shadow memory and quarantine are in
    the RSS, which then measures the sanitizer"""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def daemon():
    """the ocbfs whose memory is measured: the build under test, or when
    that is the sanitizer build, the release build beside it
    (OCB_RELEASE_BUILD_DIR, else build/ in the source tree; tests/run-all.sh
    builds both)"""
    if not sanitized(OCBFS):
        return OCBFS
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rel = os.path.join(os.environ.get("OCB_RELEASE_BUILD_DIR") or os.path.join(top, "build"),
                       "fs", "ocbfs")
    assert os.path.exists(rel) and not sanitized(rel), \
        "peak RSS is measured on a release build of ocbfs: none at %s " \
        "(meson setup build && ninja -C build, or set OCB_RELEASE_BUILD_DIR)" % rel
    return rel


def big_file(path):
    """BIG bytes that compress about as backups do (half of each MiB
    random, half zeros), and their sha256"""
    h = hashlib.sha256()
    rnd = random.Random(7)
    with open(path, "wb") as f:
        for _ in range(BIG // MIB):
            chunk = rnd.randbytes(MIB // 2) + bytes(MIB // 2)
            h.update(chunk)
            f.write(chunk)
    return h.hexdigest()


@pytest.fixture
def backed_up_big(tmp_path, rgw, bucket, keyfile):
    src = tmp_path / "src"
    src.mkdir()
    digest = big_file(str(src / "big.bin"))
    cfg = {
        "instanceId": "i-mem",
        "region": rgw.region,
        "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [str(src)],
        "cache": {"dir": ""},
    }
    o = Ocb(config=write_config(tmp_path / "config.json", cfg), env=rgw.env())
    o("backup")
    return cfg, o.env, digest


DAYS = 3


def change_a_little(path, day):
    """a day's change of the big file: a few 4 KiB writes at random
    places (about 1% of its 64 KiB blocks), and the file's new sha256"""
    rnd = random.Random(100 + day)
    block = 64 * 1024
    with open(path, "r+b") as f:
        for _ in range(BIG // block // 100):
            f.seek(rnd.randrange(BIG // block) * block + rnd.randrange(block - 4096))
            f.write(rnd.randbytes(4096))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture
def backed_up_series(backed_up_big, tmp_path):
    """the big file backed up, then changed a little and backed up again
    on each of DAYS days: the newest backup is incremental, its bytes in
    DAYS + 1 objects"""
    cfg, env, digest = backed_up_big
    o = Ocb(config=str(tmp_path / "config.json"), env=env)
    for day in range(1, DAYS + 1):
        digest = change_a_little(str(tmp_path / "src" / "big.bin"), day)
        o("backup")
    return cfg, env, digest


def peak_rss(pid):
    """the process's peak resident set (VmHWM), in bytes"""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def check_rss(pid, what):
    rss = peak_rss(pid)
    print("%s: peak RSS %d KiB" % (what, rss >> 10))
    assert rss <= RAM_CACHE + SLACK, "%s: peak RSS %d KiB" % (what, rss >> 10)


def read_range(path, off, length, bs=MIB):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(off)
        while length > 0:
            b = f.read(min(bs, length))
            assert b, "short read at %d" % f.tell()
            h.update(b)
            length -= len(b)
    return h.hexdigest()


def drop_pages(path):
    """forget the file's pages in the kernel: the next read goes to the
    daemon again"""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.mark.parametrize("backup", ["full", "incremental"])
@pytest.mark.parametrize("distance", ["near", "far"])
def test_peak_rss_within_ram_cache_plus_64_mib(request, tmp_path, proxy, distance, backup):
    """a sequential read, eight parallel readers of an eighth each and
    random reads of a file six times the RAM cache: every byte right, and
    the daemon's peak RSS within ram_cache + 64 MiB"""
    cfg, env, digest = request.getfixturevalue(
        "backed_up_big" if backup == "full" else "backed_up_series")
    if distance == "far":   # 30 ms per round trip, 40 MB/s per connection
        proxy.shape(0.03, 40e6)
    cfg = dict(cfg, s3=dict(cfg["s3"], endpoint=proxy.endpoint))
    config = write_config(tmp_path / "mount.json", cfg)
    mnt = str(tmp_path / "mnt")
    os.makedirs(mnt)
    log = open(str(tmp_path / "ocbfs.log"), "ab")
    proc = subprocess.Popen([daemon(), "-f", "-o", "config=" + config,
                             "-o", "ram_cache=%dM" % (RAM_CACHE // MIB), mnt],
                            env=env, stdout=log, stderr=log)
    try:
        wait_for(lambda: os.path.ismount(mnt) or proc.poll() is not None, 30, "the mount")
        assert proc.poll() is None, "ocbfs exited early"
        path = os.path.join(mnt, "i-mem", "latest", "src", "big.bin")
        depth = os.getxattr(os.path.join(mnt, "i-mem", "latest"), "user.ocb.depth")
        assert int(depth) == (0 if backup == "full" else DAYS)

        assert read_range(path, 0, BIG) == digest
        check_rss(proc.pid, "sequential")

        drop_pages(path)
        eighth = BIG // 8
        with ThreadPoolExecutor(8) as ex:
            parts = list(ex.map(lambda i: read_range(path, i * eighth, eighth), range(8)))
        src = os.path.join(str(tmp_path), "src", "big.bin")
        expect = [read_range(src, i * eighth, eighth) for i in range(8)]
        assert parts == expect
        check_rss(proc.pid, "parallel")

        drop_pages(path)
        rnd = random.Random(3)
        with open(path, "rb") as f, open(src, "rb") as g:
            for _ in range(64):
                off = rnd.randrange(BIG - 65536)
                n = rnd.choice([4096, 65536])
                f.seek(off)
                g.seek(off)
                assert f.read(n) == g.read(n)
        check_rss(proc.pid, "random")

        with open(os.path.join(mnt, ".ocbfs", "stats")) as f:
            stats = {k: int(v) for k, v in (l.split() for l in f)}
        assert stats["fuse_errors"] == 0
        assert stats["cache_ram_limit"] == RAM_CACHE
        assert stats["phys_cache_limit"] == RAM_CACHE // 4
        if backup == "incremental":     # frames kept across reads serve
            assert stats["phys_cache_hits"] > 0
        print(json.dumps({k: v for k, v in stats.items() if k.startswith("cache_")}))
    finally:
        if proc.poll() is None:
            subprocess.run(["fusermount3", "-u", mnt], check=True)
        rc = proc.wait(timeout=60)
        log.close()
        text = open(log.name, "rb").read().decode(errors="replace")
        assert "runtime error" not in text and "Sanitizer" not in text, text
        assert rc == 0, "ocbfs exited with %d:\n%s" % (rc, text[-3000:])
