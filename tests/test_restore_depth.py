"""A full restore to a target, counted at a proxy: what comes before the
data flows, in round trips one after another, not in time.  The listing
(depth 1), the suffix read (2), then the catalog's details together with
the stream's first range reads, one from each of the pipeline's six
workers (3): the details are not a round trip of their own before the
data, nor does the pipeline wait for its first answer before it puts
more than two requests in flight."""
import json
import os
import subprocess
import sys

from conftest import Ocb, write_config

GENTREE = os.path.join(os.path.dirname(__file__), "..", "bench", "gentree.py")
WORKERS = 6     # CAT_WORKERS, archive_read.c


def backup_far(tmp_path, rgw, bucket, keyfile, ocb, proxy):
    """A backup whose details lie outside the suffix read: (source, its
    object's size, ocb, a config that reaches the store through proxy)."""
    src = str(tmp_path / "src")
    # the details of 12,000 entries (64 bytes each before compression)
    # lie outside the 256 KiB suffix; 24 MiB that do not compress make
    # more batches than workers
    subprocess.run([sys.executable, GENTREE, src, "--entries", "12000"], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(src, "big.bin"), "wb") as f:
        f.write(os.urandom(24 << 20))
    cfg = {"instanceId": "i-test", "region": rgw.region,
           "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
           "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
           "sources": [src], "cache": {"dir": str(tmp_path / "cache")}}
    o = Ocb(config=write_config(tmp_path / "direct.json", cfg), env=ocb.env)
    o("backup")
    size = json.loads(o("list", "--json").stdout)[0]["size"]
    cfg["s3"]["endpoint"] = proxy.endpoint
    return src, size, o, write_config(tmp_path / "far.json", cfg)


def test_restore_reads_details_beside_the_first_data(tmp_path, rgw, bucket, keyfile,
                                                     ocb, proxy):
    src, size, o, far = backup_far(tmp_path, rgw, bucket, keyfile, ocb, proxy)
    out = tmp_path / "out"
    # a round trip on every request and connection: the pipeline's own
    # wait for a first answer (20 ms) ends before one can come
    proxy.shape(delay=0.05)
    proxy.stats_reset()
    proxy.hold(b".ocb", 1)                              # the suffix read
    p = subprocess.Popen([o.bin, "--config", far, "restore", "latest", "--target", str(out)],
                         env=ocb.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proxy.held.wait(120), proxy.requests
        # the object's reads after the suffix: those sent before any of
        # them is answered go on together (a client that waits for one
        # answer before the next request is seen as such: after the
        # timeout, fewer go)
        proxy.gather(1 + WORKERS, ".ocb", timeout=10)
        proxy.release()
        _, err = p.communicate(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    proxy.shape(delay=0)
    assert p.returncode == 0, err
    subprocess.run(["diff", "-r", src, str(out / "src")], check=True)
    seen = list(zip(proxy.depths, proxy.requests, proxy.ranges))
    assert proxy.gathered == 1 + WORKERS, seen

    gets = [(d, rg) for d, q, rg in seen if q.startswith("GET /%s/" % bucket) and ".ocb" in q]
    listings = [d for d, q, _ in seen if q.startswith("GET /%s?" % bucket)]
    assert listings == [1], seen                        # `latest`: one listing
    assert [d for d, rg in gets if rg.startswith("bytes=-")] == [2], seen
    ranges = [(d, [int(x) for x in rg[len("bytes="):].split("-")])
              for d, rg in gets if not rg.startswith("bytes=-")]
    assert len(gets) == 1 + len(ranges), seen
    # the details lie right before the index, at the end: the range that
    # starts last; the frames' from offset 512 (after the header) on
    details = max(ranges, key=lambda x: x[1][0])
    data = sorted((x for x in ranges if x is not details), key=lambda x: x[1][0])
    assert details[1][1] < size and details[1][0] > data[-1][1][1], seen
    assert data[0][1][0] == 512 and len(data) > WORKERS, seen
    # three round trips in sequence before the data flows: the details
    # and the first batch of every worker go on the third
    assert details[0] == 3, seen
    assert sum(1 for d, _ in data if d == 3) == WORKERS, seen
    assert data[0][0] == 3, seen


def test_cat_reads_no_details(tmp_path, rgw, bucket, keyfile, ocb, proxy):
    """`ocb cat` streams the frames and needs none of the catalog's details
    (the files' SHA-256s): it reads the suffix and the data, nothing
    between the data's end and the index."""
    src, size, o, far = backup_far(tmp_path, rgw, bucket, keyfile, ocb, proxy)
    proxy.stats_reset()
    tar = tmp_path / "stream.tar"
    with open(tar, "wb") as f:
        subprocess.run([o.bin, "--config", far, "cat", "latest"], env=ocb.env,
                       stdout=f, check=True, timeout=600)
    seen = list(zip(proxy.requests, proxy.ranges))
    gets = [rg for q, rg in seen if q.startswith("GET /%s/" % bucket) and ".ocb" in q]
    assert sum(1 for rg in gets if rg.startswith("bytes=-")) == 1, seen
    ranges = sorted([int(x) for x in rg[len("bytes="):].split("-")]
                    for rg in gets if not rg.startswith("bytes=-"))
    assert ranges and ranges[0][0] == 512, seen
    # the frames, back to back, and nothing after them: the details
    # follow the last frame and run into the suffix (its last 256 KiB);
    # a read of them would end there
    for a, b in zip(ranges, ranges[1:]):
        assert b[0] == a[1] + 1, seen
    assert ranges[-1][1] < size - (256 << 10), seen
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xf", str(tar), "-C", str(out)], check=True)
    subprocess.run(["diff", "-r", src, str(out / "src")], check=True)
