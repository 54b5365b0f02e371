"""The first read of a small file from a fresh mount of a never-opened
backup of 30,000 files beside incompressible data, counted at a proxy:
the listings, one suffix read of the backup (the catalog's index, format
4) and the file's frame; the catalog's details are not read (FORMAT.md,
"Version 4"); three round trips in sequence (the proxy's dependency
depths), with the disk cache on or off.  Then the first byte of the
incompressible file: a frame per request (1 MiB of plaintext, stored
about as large), which the disk cache fetches rounded to its 64 KiB
pieces at most, not as the 1 MiB blocks the frame straddles."""
import errno
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import Ocb, build_path, write_config
from test_mount import Mount
from treeutil import disk_cache_files, flip_a_byte

GENTREE = os.path.join(os.path.dirname(__file__), "..", "bench", "gentree.py")


def object_gets(proxy, bucket):
    """the GETs of backup objects (not listings) the proxy saw"""
    return [r for r in proxy.requests
            if r.startswith("GET /%s/" % bucket) and ".ocb" in r]


@pytest.mark.parametrize("disk_cache", [False, True], ids=["nocache", "diskcache"])
def test_first_byte_of_30000_files_reads_the_index_only(tmp_path, rgw, bucket, keyfile,
                                                         ocb, proxy, disk_cache):
    src = str(tmp_path / "src")
    subprocess.run([sys.executable, GENTREE, src, "--entries", "30000"], check=True)
    with open(os.path.join(src, "random.bin"), "wb") as fh:   # incompressible
        fh.write(os.urandom(6 << 20))
    # the disk cache on or off: the same requests either way (small reads
    # fetch the pieces they need, not the megabyte blocks around them)
    cache_dir = str(tmp_path / "disk-cache") if disk_cache else ""
    cfg = {"instanceId": "i-test", "region": rgw.region,
           "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
           "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
           "sources": [src], "cache": {"dir": cache_dir}}
    o = Ocb(config=write_config(tmp_path / "direct.json", cfg), env=ocb.env)
    o("backup")
    size = json.loads(o("list", "--json").stdout)[0]["size"]
    cfg["s3"]["endpoint"] = proxy.endpoint
    mcfg = write_config(tmp_path / "mount.json", cfg)
    proxy.stats_reset()
    # a round trip's worth of delay on every request, so that requests
    # made together overlap at the proxy whatever the scheduling: the
    # depths it records are the client's, not the machine's load
    proxy.shape(delay=0.03)
    t0 = time.monotonic()
    m = Mount(mcfg, ocb.env, tmp_path)
    try:
        f = os.path.join(m.path, "latest", "src", "d000", "e000", "f000000.json")
        with open(f, "rb") as fh:
            assert fh.read(1) == b"{"
        elapsed = time.monotonic() - t0              # printed, not asserted
        proxy.shape(delay=0)
        gets = object_gets(proxy, bucket)
        depth = max(proxy.depths)
        print("first byte: %.0f ms from the mount's start at 30 ms per round trip, "
              "%d requests, %d bytes, depth %d: %s" % (
            elapsed * 1000, len(proxy.requests), proxy.bytes_down, depth,
            list(zip(proxy.depths, proxy.requests))))
        listings = [r for r in proxy.requests if r.startswith("GET ") and r not in gets]
        # one suffix read (the trailer, the header copy and the catalog's
        # index), one range read of the file's frame: nothing else of the
        # object, and under 512 KiB from the mount on
        assert len(gets) == 2, proxy.requests
        # the listings: instances, the instance's backups, group manifests
        assert len(listings) == 3, proxy.requests
        # three round trips in sequence: the listings together, the
        # suffix read (beside the groups' listing), the frame
        assert depth <= 3, list(zip(proxy.depths, proxy.requests))
        assert proxy.bytes_down < 512 * 1024, (proxy.bytes_down, size)
        # the hash is in the details: one more range read, on demand
        n = len(proxy.requests)
        sha = os.getxattr(f, "user.ocb.sha256").decode()
        import hashlib
        assert sha == hashlib.sha256(open(os.path.join(src, "d000", "e000", "f000000.json"),
                                          "rb").read()).hexdigest()
        assert len(object_gets(proxy, bucket)) == 3, proxy.requests[n:]
        os.getxattr(f, "user.ocb.sha256")
        assert len(object_gets(proxy, bucket)) == 3
        # the first byte of the incompressible file: the frame it starts
        # in and the next (the kernel's first read of 128 KiB may cross
        # into it), 1 MiB of plaintext each, stored about as large, in one
        # or two requests, rounded to 64 KiB pieces at most with the disk
        # cache on (the three 1 MiB blocks they straddle before)
        n, down = len(object_gets(proxy, bucket)), proxy.bytes_down
        with open(os.path.join(m.path, "latest", "src", "random.bin"), "rb") as fh:
            assert len(fh.read(1)) == 1
        k, got = len(object_gets(proxy, bucket)) - n, proxy.bytes_down - down
        print("random.bin first byte: %d requests, %d bytes" % (k, got))
        assert 1 <= k <= 2, proxy.requests
        # two frames with headers and slack, and per request its edges'
        # pieces
        assert got <= 2 * ((1 << 20) + 16384) + k * 2 * 65536, (k, got)
    finally:
        m.unmount()


def test_small_reads_cached_in_pieces_are_never_wrong(tmp_path, keyfile, ocb_local):
    """A small read with the disk cache on leaves 64 KiB pieces, not 1 MiB
    blocks; a piece damaged on disk (same size, a byte flipped) fails
    authentication and is fetched again from the store, which replaces it
    (never other bytes, never EIO for the cache's fault), and one cut short
    is fetched again."""
    src = tmp_path / "src"
    src.mkdir()
    big = bytes(range(256)) * 8192                 # 2 MiB: a few frames
    (src / "big.bin").write_bytes(big)
    (src / "small.txt").write_text("small\n")
    store = tmp_path / "store"
    store.mkdir()
    cache = tmp_path / "cache"
    cfg = write_config(tmp_path / "c.json", {
        "instanceId": "i-test", "store": "file://" + str(store),
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [str(src)], "cache": {"dir": str(cache)}})
    o = Ocb(config=cfg, env=ocb_local.env)
    o("backup")

    def read_small():
        m = Mount(cfg, ocb_local.env, tmp_path)
        try:
            with open(os.path.join(m.path, "latest", "src", "small.txt")) as f:
                return f.read()
        except OSError as e:
            return e.errno
        finally:
            m.unmount()

    assert read_small() == "small\n"
    files = disk_cache_files(cache)
    assert files and all(os.path.basename(p)[0] == "g" for p in files), files
    assert sum(os.path.getsize(p) for p in files) <= 4 * 64 * 1024
    good = flip_a_byte(files)
    assert read_small() == "small\n"
    for p in files:                                # replaced by the store's
        assert open(p, "rb").read() == good[p], p
    for p in files:                                # cut short: fetched again
        os.truncate(p, 100)
    assert read_small() == "small\n"
