"""kill -9 at chosen points of the S3 conversation: of `ocb backup`, of
the mount during `snapshots/now`, of `ocb restore`, of `ocb prune`.  The points are
requests held by a proxy in front of the real RGW, so each test kills the
process exactly there, every run.  Afterwards the store holds only
complete backups (`ocb verify --all` passes), the next backup cleans up
what the killed one left, and nothing else is lost."""
import json
import os
import random
import signal
import subprocess

import pytest

from conftest import Ocb, write_config, objects, wait_for
from dated import dated_backups
from test_mount import Mount
from treeutil import make_tree


def make_setup(tmp_path, rgw, bucket, keyfile, proxy, ocb, full):
    src = make_tree(str(tmp_path / "src"))
    with open(os.path.join(src, "big.bin"), "wb") as f:   # 4 parts of 8 MiB
        f.write(os.urandom(26 << 20))

    def config(name, **retention):
        cfg = {
            "instanceId": "i-test", "region": rgw.region,
            "s3": {"bucket": bucket, "endpoint": proxy.endpoint, "timeout": 10,
                   "retryDeadline": 10},
            "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
            "sources": [src], "cache": {"dir": str(tmp_path / "cache")},
            "retention": retention}
        if full:
            cfg["backup"] = {"fullEvery": 1}
        return write_config(tmp_path / name, cfg)
    o = Ocb(config=config("c.json"), env=ocb.env)
    o("backup")                                   # one good backup first
    # the cleaning run aborts any unfinished upload, whatever its age
    clean = Ocb(config=config("clean.json", staleUploadHours=0), env=ocb.env)
    return src, o, clean


@pytest.fixture
def setup(tmp_path, rgw, bucket, keyfile, proxy, ocb):
    """every backup full (backup.fullEvery 1): the kill points are the
    requests of a multipart upload, and an incremental backup of a tree
    that did not change is one small put"""
    return make_setup(tmp_path, rgw, bucket, keyfile, proxy, ocb, True)


@pytest.fixture
def incremental_setup(tmp_path, rgw, bucket, keyfile, proxy, ocb):
    """backups incremental, as by default"""
    return make_setup(tmp_path, rgw, bucket, keyfile, proxy, ocb, False)


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


POINT_IDS = ["list-uploads", "create", "part1", "part3", "complete"]


# every point on RGW; on Swift (whose multipart uploads are its own SLO
# segments) the two that leave an upload with parts, or a whole one not
# yet completed
@pytest.mark.parametrize("rgw,point", [("rgw", p) for p in POINTS] +
                         [("swift", POINTS[2]), ("swift", POINTS[4])],
                         ids=["rgw-" + i for i in POINT_IDS] + ["swift-part1", "swift-complete"],
                         indirect=["rgw"])
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


def test_prune_killed(setup, proxy, rgw, bucket, tmp_path):
    src, o, clean = setup
    dated_backups(o, rgw, bucket, tmp_path / "work",
                  ["2026-10-%sT00-00-00Z" % d for d in ("01", "02", "03", "04", "05")])
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


# ---- kill -9 at random points: the nth request, n drawn at random ----
# OCB_LONG=1 runs many more rounds; OCB_SEED replays one run.
ROUNDS = int(os.environ.get("OCB_CRASH_ROUNDS", 40 if os.environ.get("OCB_LONG") else 4))
# the per-test timeout grows with the rounds: 3 minutes for each (a killed
# run and the checks after it), and 10 for the setup
ROUNDS_TIMEOUT = pytest.mark.timeout(600 + 180 * ROUNDS)


def rounds(name):
    seed = int(os.environ.get("OCB_SEED", random.randrange(1 << 30)))
    print("%s: OCB_SEED=%d, %d rounds" % (name, seed, ROUNDS))   # shown on failure
    return random.Random(seed), range(ROUNDS)


def kill_at(proxy, nth, argv, env, match=None):
    """run argv, kill -9 it at its nth request (matching match), which
    never reaches the server; True if it was killed, False if it finished
    before that request"""
    proxy.hold(match, nth)
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: proxy.held.is_set() or p.poll() is not None, 300,
                 "request %d or the end" % nth, interval=0.01)
        killed = proxy.held.is_set()
        if killed:
            p.send_signal(signal.SIGKILL)
    finally:
        p.wait()
    cut(proxy)
    return killed


def requests_of(proxy, fn, match=None):
    n = len(proxy.requests)
    fn()
    return sum(1 for r in proxy.requests[n:] if match is None or match.decode() in r)


@ROUNDS_TIMEOUT
def test_backup_killed_at_random_requests(setup, proxy, rgw, bucket):
    src, o, clean = setup
    total = requests_of(proxy, lambda: o("backup"))
    rnd, rs = rounds("backup")
    n, kills = 2, 0
    for _ in rs:
        nth = rnd.randint(1, total)
        if kill_at(proxy, nth, [o.bin, "--config", o.config, "backup"], o.env):
            kills += 1
        else:
            n += 1
        assert len(json.loads(o("list", "--json").stdout)) == n
        assert all(k.endswith(".ocb") for k in objects(rgw, bucket))
    assert kills
    o("verify", "--all")
    all_complete(o, clean, rgw, bucket, n)


@ROUNDS_TIMEOUT
def test_daemon_killed_at_random_points_of_snapshots(setup, proxy, rgw, bucket, tmp_path):
    src, o, clean = setup
    rnd, rs = rounds("snapshots/now")
    for i in rs:
        m = Mount(o.config, o.env, tmp_path)
        proxy.hold(b"PUT /", rnd.randint(1, 4))           # a part, or the upload
        os.mkdir(os.path.join(m.path, "snapshots", "now"))
        wait_for(proxy.held.is_set, 120, "the snapshot's upload")
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait()
        m.log.close()
        subprocess.run(["fusermount3", "-uz", m.path], check=True)
        cut(proxy)
        assert len(json.loads(o("list", "--json").stdout)) == 1
    all_complete(o, clean, rgw, bucket, 1)


@ROUNDS_TIMEOUT
def test_restore_killed_at_random_points(setup, proxy, tmp_path):
    """the original at the restore's place is as it was or wholly the
    backup, never a mix; the partial copies are cleaned up by the next
    restore"""
    src, o, clean = setup
    from treeutil import snapshot
    backed = snapshot(src)
    with open(os.path.join(src, "after-backup.txt"), "w") as f:
        f.write("newer than the backup\n")
    os.remove(os.path.join(src, "openclaw.json"))
    newer = snapshot(src)
    total = requests_of(proxy, lambda: o("restore", "latest", "--target",
                                         str(tmp_path / "ref")), b"GET /")
    rnd, rs = rounds("restore")
    kills = 0
    for _ in rs:
        nth = rnd.randint(1, total)
        killed = kill_at(proxy, nth, [o.bin, "--config", o.config, "restore", "latest"],
                         o.env, b"GET /")
        kills += killed
        now = snapshot(src)
        assert now == (newer if killed else backed)
        if not killed:                                    # put the newer one back
            subprocess.run(["rm", "-rf", src], check=True)
            old = [d for d in os.listdir(tmp_path) if d.startswith("src.pre-restore-")]
            os.rename(str(tmp_path / sorted(old)[-1]), src)
            assert snapshot(src) == newer
    assert kills
    o("restore", "latest")
    assert snapshot(src) == backed
    assert not [d for d in os.listdir(tmp_path) if ".ocb-restore-" in d]


@ROUNDS_TIMEOUT
def test_prune_killed_at_random_deletions(setup, proxy, rgw, bucket, tmp_path):
    src, o, clean = setup
    key = json.loads(o("list", "--json").stdout)[0]["key"]
    rnd, rs = rounds("prune")
    day = 0
    for i in rs:
        dates = []
        for _ in range(6 - len(json.loads(o("list", "--json").stdout))):
            day += 1
            dates.append("2026-%02d-%02dT00-00-00Z" % (1 + day // 28, 1 + day % 28))
        dated_backups(o, rgw, bucket, tmp_path / ("work%d" % i), dates)
        kill_at(proxy, rnd.randint(1, 4),
                [o.bin, "--config", o.config, "prune", "--keep-last", "2"], o.env,
                b"DELETE /")
        left = json.loads(o("list", "--json").stdout)
        assert 2 <= len(left) <= 6 and key in [b["key"] for b in left]
        o("verify", "--all")
    o("prune", "--keep-last", "2")
    assert len(json.loads(o("list", "--json").stdout)) == 2
    o("verify", "--all")


# ---- incremental backups: a kill never costs a kept backup its bases ----

def change(src, i, size=10 << 20):
    """a new version of a file (10 MiB: a multipart upload of its own)"""
    with open(os.path.join(src, "workspace", "changing.bin"), "wb") as f:
        f.write(os.urandom(size))
    with open(os.path.join(src, "workspace", "memory", "2026-11-07.md"), "a") as f:
        f.write("round %d\n" % i)


def restores_as(o, name, tree, out):
    """name restores to exactly tree (a copy of the source when taken)"""
    from treeutil import assert_same_tree
    subprocess.run(["rm", "-rf", str(out)], check=True)
    o("restore", name, "--target", str(out))
    assert_same_tree(tree, str(out / "src"))


def keep_copy(src, dst):
    subprocess.run(["rm", "-rf", str(dst)], check=True)
    os.makedirs(os.path.dirname(str(dst)), exist_ok=True)
    subprocess.run(["cp", "-a", src, str(dst)], check=True)


@ROUNDS_TIMEOUT
def test_incremental_backup_killed_at_random_requests(incremental_setup, proxy, rgw, bucket,
                                                     tmp_path):
    """kill -9 at random requests of incremental backups: each backup that
    completed builds on the newest complete one, and every backup listed
    restores (the newest to the source as it was) and verifies"""
    src, o, clean = incremental_setup
    change(src, 0)
    total = requests_of(proxy, lambda: o("backup"))
    listed = json.loads(o("list", "--json", "--open").stdout)
    assert listed[-1]["base"] == listed[0]["name"], listed
    copies = {listed[-1]["name"]: tmp_path / "copy-first"}
    keep_copy(src, copies[listed[-1]["name"]] / "src")
    rnd, rs = rounds("incremental backup")
    n, kills = 2, 0
    for i in rs:
        change(src, i + 1)
        keep_copy(src, tmp_path / "copy-now" / "src")
        if kill_at(proxy, rnd.randint(1, total), [o.bin, "--config", o.config, "backup"],
                   o.env):
            kills += 1
        else:
            n += 1
        listed = json.loads(o("list", "--json", "--open").stdout)
        assert len(listed) == n and not any(b.get("refused") for b in listed), listed
        assert all(k.endswith(".ocb") for k in objects(rgw, bucket))
        if listed[-1]["name"] not in copies:                  # it completed
            copies[listed[-1]["name"]] = tmp_path / ("copy-%d" % i)
            os.rename(tmp_path / "copy-now", copies[listed[-1]["name"]])
            assert listed[-1]["base"] == listed[-2]["name"]    # the newest complete one
        o("verify", "--all")
    assert kills
    for name, copy in copies.items():
        restores_as(o, name, str(copy / "src"), tmp_path / "out")
    # the next one builds on the newest, and cleans up after the killed ones
    change(src, 99)
    last = json.loads(clean("backup", "--json").stdout)
    assert last["base"] == listed[-1]["name"]
    assert rgw.uploads(bucket) == []
    restores_as(o, last["name"], src, tmp_path / "out")
    o("verify", "--all")


@ROUNDS_TIMEOUT
def test_prune_of_a_chain_killed_at_random_deletions(incremental_setup, proxy, rgw, bucket,
                                                      tmp_path):
    """kill -9 at a random deletion of a prune of incremental chains:
    every backup the policy keeps, and every one it needs, restores and
    verifies; so does every backup left (deleted newest first, none
    left behind lacks its base); the prune run again finishes the plan"""
    src, o, clean = incremental_setup
    rnd, rs = rounds("prune of a chain")
    for i in rs:
        # a new chain: a full, two incrementals on it
        change(src, i)
        o("backup", "--full")
        for k in range(2):
            change(src, 10 * i + k, 1 << 20)
            o("backup")
        newest = tmp_path / "copy-newest"
        keep_copy(src, newest / "src")
        plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "1").stdout)
        kept = [b["name"] for b in plan["backups"] if b["keep"]]
        gone = [b["name"] for b in plan["backups"] if not b["keep"]]
        assert len(kept) >= 2 and gone, plan        # the newest and what it needs
        assert any("needed by" in b["why"] for b in plan["backups"])
        kill_at(proxy, rnd.randint(1, len(gone)),
                [o.bin, "--config", o.config, "prune", "--keep-last", "1"], o.env,
                b"DELETE /")
        left = [b["name"] for b in json.loads(o("list", "--json").stdout)]
        assert set(kept) <= set(left) and set(left) <= set(kept + gone), (kept, left)
        for name in kept:
            o("verify", name)
        o("verify", "--all")
        restores_as(o, kept[-1], str(newest / "src"), tmp_path / "out")
        # the same plan, run to its end
        o("prune", "--keep-last", "1")
        assert [b["name"] for b in json.loads(o("list", "--json").stdout)] == kept
        o("verify", "--all")
