"""snapshots/: backups started from the mount with mkdir, followed through
its files, cancelled with rmdir or by unmounting; through the real kernel
mount, against the real RGW (behind a proxy that can hold or reset the
connections at a chosen request)."""
import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

from conftest import BOTH_SERVERS, Ocb, wait_for, write_config, objects
from test_mount import Mount, mounted  # noqa: F401 (fixture)
from treeutil import make_tree, assert_same_tree


def read(path):
    with open(path) as f:
        return f.read()


def progress(snap):
    return dict(l.split(" ", 1) for l in read(os.path.join(snap, "progress")).splitlines())


@pytest.fixture
def setup(tmp_path, rgw, bucket, keyfile, proxy, ocb):
    """A source tree, one earlier backup, and a config whose S3 endpoint is
    the proxy (short timeouts, so that failures are quick)."""
    src = make_tree(str(tmp_path / "src"))
    cfg = {
        "instanceId": "i-test",
        "region": rgw.region,
        "s3": {"bucket": bucket, "endpoint": proxy.endpoint, "timeout": 5,
               "retryDeadline": 3},
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [src],
        "cache": {"dir": str(tmp_path / "cache")},
    }
    config = write_config(tmp_path / "config.json", cfg)
    o = Ocb(config=config, env=ocb.env)
    first = json.loads(o("backup", "--json").stdout)["name"]
    return src, o, first


def test_mkdir_now_backs_up_in_the_background(setup, mounted, proxy, rgw, bucket):
    src, o, first = setup
    m = mounted(o.config, o.env)
    snaps = os.path.join(m.path, "snapshots")
    assert os.listdir(snaps) == []
    before = objects(rgw, bucket)

    proxy.hold(b"PUT /")                 # the new backup's upload waits
    os.mkdir(os.path.join(snaps, "now"))  # returns while the backup runs
    snap = os.path.join(snaps, "now")
    assert read(os.path.join(snap, "status")) == "running\n"
    assert os.listdir(snaps) == ["now"]
    assert sorted(os.listdir(snap)) == ["log", "progress", "status", "wait"]
    proxy.held.wait(60)
    p = progress(snap)
    assert p["state"] == "running" and int(p["entries_total"]) > 30
    assert int(p["bytes_total"]) >= 3_000_000
    # one backup at a time
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(snaps, "second"))
    assert e.value.errno == errno.EBUSY
    proxy.release()

    assert read(os.path.join(snap, "wait")) == "done\n"
    assert read(os.path.join(snap, "status")) == "done\n"
    p = progress(snap)
    assert p["entries_done"] == p["entries_total"] and p["eta_seconds"] == "0"
    log = read(os.path.join(snap, "log"))
    assert log.startswith("started ") and "\ndone: openclaw-aws-backup-" in log
    # the new backup: in the store, in the tree at once, `latest` on it
    after = objects(rgw, bucket)
    assert len(after) == len(before) + 1
    new = os.readlink(os.path.join(snap, "backup"))
    assert new.startswith("../../i-test/openclaw-aws-backup-")
    name = os.path.basename(new)
    assert name != first and any(k.endswith(name + ".ocb") for k in after)
    inst = os.path.join(m.path, "i-test")
    assert name in os.listdir(inst)
    assert os.readlink(os.path.join(inst, "latest")) == name
    assert_same_tree(src, os.path.join(snap, "backup", "src"))
    assert_same_tree(src, os.path.join(m.path, "latest", "src"))
    # the same name again: taken
    with pytest.raises(OSError) as e:
        os.mkdir(snap)
    assert e.value.errno == errno.EEXIST
    # rmdir of a finished entry forgets it; the backup stays
    os.rmdir(snap)
    assert os.listdir(snaps) == []
    assert objects(rgw, bucket) == after


@BOTH_SERVERS
def test_labelled_snapshot_and_bad_names(setup, mounted):
    src, o, first = setup
    m = mounted(o.config, o.env)
    snaps = os.path.join(m.path, "snapshots")
    for bad in ("has space", "x" * 65, "semi;colon", "tab\tname"):
        with pytest.raises(OSError) as e:
            os.mkdir(os.path.join(snaps, bad))
        assert e.value.errno == errno.EINVAL, bad
    assert os.listdir(snaps) == []
    snap = os.path.join(snaps, "before-upgrade")
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "done\n"
    name = os.path.basename(os.readlink(os.path.join(snap, "backup")))
    assert name.endswith("-before-upgrade")
    listed = json.loads(o("list", "--json").stdout)
    assert [b.get("label") for b in listed if b["name"] == name] == ["before-upgrade"]
    # everything else in snapshots/ is refused
    for attempt in (lambda: open(os.path.join(snaps, "file"), "w"),
                    lambda: open(os.path.join(snap, "status"), "w"),
                    lambda: os.rename(snap, os.path.join(snaps, "other")),
                    lambda: os.symlink("x", os.path.join(snaps, "link")),
                    lambda: os.unlink(os.path.join(snap, "log"))):
        with pytest.raises(OSError) as e:
            attempt()
        assert e.value.errno in (errno.EROFS, errno.EPERM, errno.EACCES)
    # and nothing else in the mount takes a mkdir
    with pytest.raises(OSError) as e:
        os.mkdir(os.path.join(m.path, "i-test", "new"))
    assert e.value.errno == errno.EROFS


def test_rmdir_cancels_a_running_backup(setup, mounted, proxy, rgw, bucket):
    src, o, first = setup
    with open(os.path.join(src, "big.bin"), "wb") as f:   # several parts
        f.write(os.urandom(26 << 20))
    m = mounted(o.config, o.env)
    before = objects(rgw, bucket)
    snap = os.path.join(m.path, "snapshots", "now")
    proxy.hold(b"partNumber=")          # the first part upload waits
    os.mkdir(snap)
    assert proxy.held.wait(60)
    assert len(rgw.uploads(bucket)) == 1    # a multipart upload is open

    # an open status file renders again at each read from offset 0 (the
    # name cannot be looked up while rmdir holds the directory)
    fd = os.open(os.path.join(snap, "status"), os.O_RDONLY)
    assert os.pread(fd, 100, 0) == b"running\n"
    done = []
    t = threading.Thread(target=lambda: done.append(os.rmdir(snap)))
    t.start()
    wait_for(lambda: os.pread(fd, 100, 0) == b"cancelling\n", 30,
             "the entry to show the cancel")
    proxy.release()
    t.join(120)
    assert done == [None] and not t.is_alive()
    with pytest.raises(OSError) as e:     # the entry is gone
        os.pread(fd, 100, 0)
    assert e.value.errno == errno.ENOENT
    os.close(fd)
    assert os.listdir(os.path.join(m.path, "snapshots")) == []
    # nothing left: no new object, no unfinished upload (awscli agrees)
    assert objects(rgw, bucket) == before
    assert rgw.uploads(bucket) == []
    out = rgw.aws("s3api", "list-multipart-uploads", "--bucket", bucket).stdout
    assert not json.loads(out or b"{}").get("Uploads")
    assert sorted(os.listdir(os.path.join(m.path, "i-test"))) == sorted([first, "latest"])


def test_unmount_cancels_a_running_backup(setup, tmp_path, proxy, rgw, bucket):
    src, o, first = setup
    with open(os.path.join(src, "big.bin"), "wb") as f:
        f.write(os.urandom(26 << 20))
    m = Mount(o.config, o.env, tmp_path)
    before = objects(rgw, bucket)
    proxy.hold(b"partNumber=")
    os.mkdir(os.path.join(m.path, "snapshots", "now"))
    assert proxy.held.wait(60)
    subprocess.run(["fusermount3", "-u", m.path], check=True)
    proxy.release()
    m.finish()                           # exits 0, no sanitizer report
    assert objects(rgw, bucket) == before
    assert rgw.uploads(bucket) == []


def test_store_down_fails_the_snapshot_and_the_mount_lives(setup, mounted, proxy, rgw, bucket):
    src, o, first = setup
    m = mounted(o.config, o.env)
    before = objects(rgw, bucket)
    tree = os.path.join(m.path, "latest", "src")
    assert read(os.path.join(tree, "openclaw.json"))      # catalog now in memory
    proxy.fail()
    snap = os.path.join(m.path, "snapshots", "now")
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "failed\n"
    log = read(os.path.join(snap, "log"))
    assert "failed: " in log and "nothing was stored" in log
    proxy.heal()
    assert objects(rgw, bucket) == before
    assert rgw.uploads(bucket) == []
    # the mount is alive and reads what it has
    assert_same_tree(os.path.join(src, "workspace"), os.path.join(tree, "workspace"))
    assert m.stats()["uptime_seconds"] >= 0
    # and a new snapshot works once the store is back
    os.rmdir(snap)
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "done\n"


def test_only_the_owner_starts_backups(setup, tmp_path):
    src, o, first = setup
    # a mountpoint other users can reach (the test's own tmp dir is 0700)
    top = tempfile.mkdtemp(prefix="ocb-allow-", dir="/tmp")
    os.chmod(top, 0o755)
    m = Mount(o.config, o.env, tmp_path, opts=("-o", "allow_other"),
              path=os.path.join(top, "mnt"))
    try:
        owner_only(m)
    finally:
        m.unmount()
        shutil.rmtree(top)


def owner_only(m):
    """with allow_other, others may not start a backup, nor list
    snapshots/ or read a snapshot's log (0700, docs/SECURITY.md); the
    owner may do all three"""
    snaps = os.path.join(m.path, "snapshots")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

    def denied(*argv):
        p = subprocess.run(nobody + list(argv), capture_output=True, text=True)
        assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr
    denied("mkdir", os.path.join(snaps, "now"))
    denied("ls", snaps)
    assert os.listdir(snaps) == []                       # the owner may look
    os.mkdir(os.path.join(snaps, "now"))                 # and start
    assert read(os.path.join(snaps, "now", "wait")) == "done\n"
    assert os.listdir(snaps) == ["now"]
    denied("cat", os.path.join(snaps, "now", "log"))


def test_snapshot_never_includes_the_mount_or_the_cache(tmp_path, file_config, ocb_local):
    home = tmp_path / "src"                 # the configured source
    make_tree(str(home))
    cfg = json.load(open(file_config))
    cfg["cache"] = {"dir": str(home / "cache")}
    config = write_config(tmp_path / "inside.json", cfg)
    o = Ocb(config=config, env=ocb_local.env)
    o("backup")
    m = Mount(config, o.env, tmp_path, path=str(home / "mnt"))
    try:
        assert os.listdir(os.path.join(m.path, "latest", "src"))   # fills the cache
        snap = os.path.join(m.path, "snapshots", "now")
        os.mkdir(snap)
        assert read(os.path.join(snap, "wait")) == "done\n", read(os.path.join(snap, "log"))
        top = os.listdir(os.path.join(snap, "backup", "src"))
        assert "openclaw.json" in top and "workspace" in top
        assert "mnt" not in top and "cache" not in top
    finally:
        m.unmount()


def test_repeated_snapshots_and_prune(setup, mounted, rgw, bucket):
    """a small soak: snapshots taken and forgotten in a row while the
    mount serves reads, pruned as they go; everything stays whole"""
    src, o, first = setup
    m = mounted(o.config, o.env)
    snaps = os.path.join(m.path, "snapshots")
    for i in range(5):
        snap = os.path.join(snaps, "s%d" % i)
        os.mkdir(snap)
        assert read(os.path.join(m.path, "latest", "src", "openclaw.json"))
        assert read(os.path.join(snap, "wait")) == "done\n"
        os.rmdir(snap)
        o("prune", "--keep-last", "2")
    assert os.listdir(snaps) == []
    left = json.loads(o("list", "--json").stdout)
    # labelled (s0..s4) or not, the newest two stay (snapshots taken in
    # the same second are named one second apart: which two is theirs)
    assert {b["label"] for b in left[-2:]} <= {"s1", "s2", "s3", "s4"}
    # and so do the backups they are built on (incremental): each "needed
    # by" a kept one, nothing else
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2").stdout)
    assert [b["name"] for b in plan["backups"]] == [b["name"] for b in left]
    assert all(b["keep"] for b in plan["backups"])
    assert all("needed by" in b["why"] for b in plan["backups"][:-2]), plan
    o("verify", "--all")
    assert m.stats()["fuse_errors"] == 0
