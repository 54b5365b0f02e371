"""kill -9 at chosen points of the S3 conversation: of `ocb backup`, of
the mount during `snapshots/now`, of `ocb prune`.  The points are
requests held by a proxy in front of the real RGW, so each test kills the
process exactly there, every run.  Afterwards the store holds only
complete backups (`ocb verify --all` passes), the next backup cleans up
what the killed one left, and nothing else is lost."""
import json
import os
import signal
import subprocess

import pytest

from conftest import Ocb, write_config, objects
from test_mount import Mount
from treeutil import make_tree

PFX = "openclaw-aws-backups/instance-i-test/"


@pytest.fixture
def setup(tmp_path, rgw, bucket, keyfile, proxy, ocb):
    src = make_tree(str(tmp_path / "src"))
    with open(os.path.join(src, "big.bin"), "wb") as f:   # 4 parts of 8 MiB
        f.write(os.urandom(26 << 20))

    def config(name, **retention):
        return write_config(tmp_path / name, {
            "instanceId": "i-test", "region": rgw.region,
            "s3": {"bucket": bucket, "endpoint": proxy.endpoint, "timeout": 10,
                   "retryDeadline": 10},
            "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
            "sources": [src], "cache": {"dir": str(tmp_path / "cache")},
            "retention": retention})
    o = Ocb(config=config("c.json"), env=ocb.env)
    o("backup")                                   # one good backup first
    # the cleaning run aborts any unfinished upload, whatever its age
    clean = Ocb(config=config("clean.json", staleUploadHours=0), env=ocb.env)
    return src, o, clean


def all_complete(o, clean, rgw, bucket, n):
    """the store: n backups, each whole and verified, no stray keys; then
    a new backup cleans up the unfinished uploads and works"""
    listed = json.loads(o("list", "--json").stdout)
    assert len(listed) == n, listed
    o("verify", "--all")
    assert all(k.endswith(".ocb") for k in objects(rgw, bucket))
    clean("backup")
    assert rgw.uploads(bucket) == []
    assert len(json.loads(o("list", "--json").stdout)) == n + 1


def cut(proxy):
    """the held request never reaches the server: as if the process died
    before sending it"""
    proxy.fail()
    proxy.heal()
    proxy.release()


# the requests at which the backup is killed (held, then dropped)
POINTS = [
    b"&uploads=",                   # the check for stale uploads
    b"?uploads=",                   # CreateMultipartUpload
    b"?partNumber=1&",              # the first part
    b"?partNumber=3&",              # a later part
    b".ocb?uploadId=",              # CompleteMultipartUpload
]


@pytest.mark.parametrize("point", POINTS,
                         ids=["list-uploads", "create", "part1", "part3", "complete"])
def test_backup_killed(setup, proxy, rgw, bucket, point):
    src, o, clean = setup
    proxy.hold(point)
    p = subprocess.Popen([o.bin, "--config", o.config, "backup"], env=o.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert proxy.held.wait(120), "the backup never reached " + repr(point)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    cut(proxy)
    all_complete(o, clean, rgw, bucket, 1)


def test_daemon_killed_during_a_snapshot(setup, proxy, rgw, bucket, tmp_path):
    src, o, clean = setup
    m = Mount(o.config, o.env, tmp_path)
    proxy.hold(b"partNumber=2&")
    os.mkdir(os.path.join(m.path, "snapshots", "now"))
    assert proxy.held.wait(120)
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait()
    subprocess.run(["fusermount3", "-uz", m.path], check=True)
    cut(proxy)
    all_complete(o, clean, rgw, bucket, 1)


def test_prune_killed(setup, proxy, rgw, bucket):
    src, o, clean = setup
    key = json.loads(o("list", "--json").stdout)[0]["key"]
    for d in ("01", "02", "03", "04", "05"):
        rgw.aws("s3api", "copy-object", "--bucket", bucket, "--copy-source",
                "%s/%s" % (bucket, key), "--key",
                PFX + "openclaw-aws-backup-2026-10-%sT00-00-00Z.ocb" % d)
    assert len(json.loads(o("list", "--json").stdout)) == 6
    proxy.hold(b"DELETE /")                     # the first deletion
    p = subprocess.Popen([o.bin, "--config", o.config, "prune", "--keep-last", "2"],
                         env=o.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert proxy.held.wait(120)
        p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    cut(proxy)
    # some deleted or none, never the kept ones; all that is left is whole
    left = json.loads(o("list", "--json").stdout)
    assert 5 <= len(left) <= 6
    o("verify", "--all")
    # run again: the plan is finished
    o("prune", "--keep-last", "2")
    assert len(json.loads(o("list", "--json").stdout)) == 2
    o("verify", "--all")
