"""Live SQLite databases and files changing while a backup reads them:
a real writer process (Python's sqlite3, i.e. the system libsqlite3)
commits continuously, with checkpoints, while `ocb backup` and `mkdir
snapshots/<label>` run against the real RGW; every stored database is
restored and opened through the mount, checked with PRAGMA integrity_check
and must hold a committed prefix of the rows."""
import json
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from conftest import Ocb
from test_mount import Mount, mounted  # noqa: F401 (fixture)

WRITER = textwrap.dedent("""
    import sqlite3, sys
    path, mode = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(path, isolation_level=None, timeout=60)
    db.execute("PRAGMA journal_mode=" + mode)
    db.execute("PRAGMA wal_autocheckpoint=50")     # checkpoints happen
    db.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pad BLOB)")
    n = db.execute("SELECT coalesce(max(n), 0) FROM t").fetchone()[0]
    print("ready", flush=True)
    while True:
        n += 1
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, randomblob(3000))", (n,))
        if n % 7 == 0:        # updates and deletes move pages around
            db.execute("UPDATE t SET pad = randomblob(500) WHERE n = ?", (n - 3,))
        db.execute("COMMIT")
""")

REWRITER = textwrap.dedent("""
    import os, random, sys
    path = sys.argv[1]
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, os.urandom(32 << 20))     # reading it takes many clock ticks
    print("ready", flush=True)
    while True:                           # and it changes all the time
        os.pwrite(fd, os.urandom(4096), random.randrange(0, 32 << 20, 4096))
""")


class Writer:
    def __init__(self, script, *args):
        self.p = subprocess.Popen([sys.executable, "-c", script, *args],
                                  stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline() == "ready\n"

    def stop(self):
        self.p.kill()
        self.p.wait()


def check_db(path, uri=False):
    """integrity_check ok and rows 1..k for some k >= 1: a committed state"""
    db = sqlite3.connect(path, uri=uri)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ns = [r[0] for r in db.execute("SELECT n FROM t ORDER BY n")]
    finally:
        db.close()
    assert ns and ns == list(range(1, len(ns) + 1))
    return len(ns)


@pytest.fixture
def live(tmp_path, rgw, s3_config, ocb):
    src = tmp_path / "src"
    (src / "state").mkdir(parents=True)
    (src / "agents" / "main").mkdir(parents=True)
    wal = Writer(WRITER, str(src / "state" / "openclaw.sqlite"), "wal")
    # named like no database: found by its header
    journal = Writer(WRITER, str(src / "agents" / "main" / "store.data"), "delete")
    (src / "openclaw.json").write_text('{"gateway": {}}\n')
    yield src, Ocb(config=s3_config, env=ocb.env)
    wal.stop()
    journal.stop()


def stored_names(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def test_live_databases_are_snapshotted(live, tmp_path, mounted):
    src, o = live
    cache = tmp_path / "cache"
    cache.mkdir()
    # a spool file left by a backup killed with -9: removed by the next run
    (cache / "ocb-spool-0badf00d").write_bytes(b"x" * 4096)
    names = []
    for i in range(3):
        res = json.loads(o("backup", "--json").stdout)
        assert res["warnings"] == 0 and res["sqlite_snapshots"] == 2, res
        names.append(res["name"])
    assert not any(f.startswith("ocb-spool-") for f in os.listdir(cache))

    m = mounted(o.config, o.env)
    snaps = os.path.join(m.path, "snapshots")
    for i in range(2):
        os.mkdir(os.path.join(snaps, "live%d" % i))
        with open(os.path.join(snaps, "live%d" % i, "wait")) as f:
            assert f.read() == "done\n"
        with open(os.path.join(snaps, "live%d" % i, "log")) as f:
            assert "SQLite snapshots 2, changed while read 0" in f.read()
        names.append(os.path.basename(os.readlink(os.path.join(snaps, "live%d" % i, "backup"))))
    assert not any(f.startswith("ocb-spool-") for f in os.listdir(cache))

    inst = os.path.join(m.path, "i-test")
    listed = {b["name"]: b for b in json.loads(o("list", "--json").stdout)}
    for k, name in enumerate(names):
        tree = os.path.join(inst, name, "src")
        # recorded in the catalog: the backup clean, the databases snapshots
        assert os.getxattr(os.path.join(inst, name), "user.ocb.warnings") == b"0"
        assert listed[name]["warnings"] in (0, None)     # None: stored in parts
        for db in ("state/openclaw.sqlite", "agents/main/store.data"):
            assert os.getxattr(os.path.join(tree, db), "user.ocb.snapshot") == b"sqlite"
            assert os.getxattr(os.path.join(tree, db), "user.ocb.flags") == b"1"
            assert "user.ocb.warning" not in os.listxattr(os.path.join(tree, db))
        assert "user.ocb.flags" not in os.listxattr(os.path.join(tree, "openclaw.json"))
        # the sidecars of the snapshotted databases are not stored
        assert stored_names(tree) == ["agents/main/store.data", "openclaw.json",
                                      "state/openclaw.sqlite"]
        # opened where it is, through the mount
        for db in ("state/openclaw.sqlite", "agents/main/store.data"):
            assert check_db("file:%s?immutable=1" % os.path.join(tree, db), uri=True) > 0
        # and restored
        out = tmp_path / ("restored%d" % k)
        o("restore", name, "--target", str(out))
        for db in ("state/openclaw.sqlite", "agents/main/store.data"):
            assert check_db(str(out / "src" / db)) > 0
        assert sorted(f for f in os.listdir(out / "src" / "state")) == ["openclaw.sqlite"]


def test_database_that_cannot_be_snapshotted_is_copied_raw_with_a_warning(tmp_path, s3_config, ocb):
    src = tmp_path / "src"
    src.mkdir()
    # a SQLite header, then garbage: SQLite refuses it
    (src / "broken.db").write_bytes(b"SQLite format 3\0" + b"\xff" * 8000)
    os.utime(src / "broken.db", (1_600_000_000, 1_600_000_000))
    o = Ocb(config=s3_config, env=ocb.env)
    p = o("backup", "--json", check=False)
    assert p.returncode == 8, p.stderr
    res = json.loads(p.stdout)
    assert res["sqlite_copied_raw"] == 1 and res["sqlite_snapshots"] == 0
    assert "broken.db: SQLite database not snapshotted (" in p.stderr
    assert "copied raw" in p.stderr
    o("restore", "latest", "--target", str(tmp_path / "out"))
    assert (tmp_path / "out" / "src" / "broken.db").read_bytes() == \
        (src / "broken.db").read_bytes()
    # the warning stays with the backup: list (a hint in the metadata of a
    # backup stored by one put) and verify (from the catalog)
    [b] = json.loads(o("list", "--json").stdout)
    assert b["warnings"] == 1 and b["name"] == res["name"]
    assert o("list").stdout.rstrip("\n").endswith("WARNINGS 1")
    v = o("verify", "latest", check=False)
    assert v.returncode == 8, v.stdout + v.stderr
    assert v.stdout.splitlines() == [
        v.stdout.splitlines()[0],
        "warning  %s: src/broken.db: SQLite snapshot failed, copied raw" % res["name"]]
    assert v.stdout.startswith("ok       " + res["name"])
    # damage still wins over warnings
    assert o("verify", "--all", check=False).returncode == 8


def test_file_that_never_holds_still_is_recorded(tmp_path, s3_config, ocb, mounted):
    src = tmp_path / "src"
    src.mkdir()
    (src / "quiet.txt").write_text("quiet\n")
    w = Writer(REWRITER, str(src / "busy.bin"))
    try:
        o = Ocb(config=s3_config, env=ocb.env)
        p = o("backup", "--json", check=False)
        assert p.returncode == 8, p.stderr
        res = json.loads(p.stdout)
        assert res["changed_while_read"] == 1 and res["warnings"] >= 1
        assert "busy.bin: file changed while being read (4 attempts)" in p.stderr
        # recorded with the backup: verify reports it apart from damage
        v = o("verify", res["name"], check=False)
        assert v.returncode == 8, v.stdout + v.stderr
        assert v.stdout.startswith("ok       " + res["name"])
        assert "warning  %s: src/busy.bin: changed while read\n" % res["name"] in v.stdout
        # the count in the metadata is a hint for a backup stored by one put;
        # this one (32 MiB of random bytes) went up in parts: only the
        # catalog has it
        [b] = json.loads(o("list", "--json").stdout)
        assert b["warnings"] is None
        # list --open reads it from the authenticated catalog
        [b] = json.loads(o("list", "--json", "--open").stdout)
        assert b["warnings"] == 1 and "refused" not in b
        assert o("list", "--open").stdout.rstrip("\n").endswith(" WARNINGS 1")
        m = mounted(o.config, o.env)
        top = os.path.join(m.path, "i-test", res["name"])
        assert os.getxattr(top, "user.ocb.warnings") == b"1"
        assert os.getxattr(os.path.join(top, "src", "busy.bin"), "user.ocb.warning") == \
            b"changed while read"
        assert os.getxattr(os.path.join(top, "src", "busy.bin"), "user.ocb.flags") == b"2"
        assert "user.ocb.flags" not in os.listxattr(os.path.join(top, "src", "quiet.txt"))
        snap = os.path.join(m.path, "snapshots", "busy")
        os.mkdir(snap)
        with open(os.path.join(snap, "wait")) as f:
            assert f.read() == "done-with-warnings\n"
        with open(os.path.join(snap, "status")) as f:
            assert f.read() == "done-with-warnings\n"
        with open(os.path.join(snap, "log")) as f:
            log = f.read()
        assert "busy.bin: file changed while being read (4 attempts)" in log
        assert os.path.islink(os.path.join(snap, "backup"))
    finally:
        w.stop()


def test_own_xattrs_are_not_stored(tmp_path, s3_config, ocb, mounted):
    src = tmp_path / "src"
    src.mkdir()
    o = Ocb(config=s3_config, env=ocb.env)
    (src / "a.txt").write_text("hello\n")
    o("backup")
    m = mounted(o.config, o.env)
    # cp -a out of the mount copies ocbfs's attributes onto the source
    subprocess.run(["cp", "-a", os.path.join(m.path, "latest", "src", "a.txt"),
                    str(src / "b.txt")], check=True)
    assert "user.ocb.sha256" in os.listxattr(src / "b.txt")
    os.setxattr(src / "b.txt", "user.mine", b"kept")
    (src / "b.txt").write_text("changed\n")     # its old sha256 is now wrong
    os.utime(src / "b.txt", (1_600_000_000, 1_600_000_000))
    name = json.loads(o("backup", "--json").stdout)["name"]
    m.unmount()
    m = mounted(o.config, o.env)
    f = os.path.join(m.path, "i-test", name, "src", "b.txt")
    import hashlib
    assert os.getxattr(f, "user.ocb.sha256").decode() == \
        hashlib.sha256(b"changed\n").hexdigest()
    assert os.getxattr(f, "user.mine") == b"kept"
    out = tmp_path / "out"
    o("restore", name, "--target", str(out))
    assert sorted(x for x in os.listxattr(out / "src" / "b.txt")) == ["user.mine"]


def test_dry_run_says_what_would_be_stored(tmp_path, file_config, ocb_local):
    """`ocb backup --dry-run` on a tree shaped like OpenClaw's state
    directory (2026.9: state/openclaw.sqlite in WAL mode, plugin-skills/,
    tmp/, cache/, workspace/): each entry and why; nothing stored."""
    src = tmp_path / "src"
    for d in ("state", "plugin-skills", "tmp", "cache", "workspace/tmp",
              "extensions/x/node_modules"):
        (src / d).mkdir(parents=True)
    db = sqlite3.connect(str(src / "state" / "openclaw.sqlite"))
    db.execute("PRAGMA journal_mode=wal")
    db.execute("CREATE TABLE t (n)")
    db.execute("INSERT INTO t VALUES (1)")
    db.commit()                       # open: -wal and -shm exist
    (src / "cache" / "c.bin").write_bytes(b"c" * 100)
    (src / "workspace" / "tmp" / "notes.md").write_text("kept\n")
    o = Ocb(config=file_config, env=ocb_local.env)
    try:
        out = json.loads(o("backup", "--dry-run", "--json").stdout)
        what = {e["path"]: e["what"] for e in out["entries"]}
        assert what["src/state/openclaw.sqlite"] == "SQLite database, stored as a snapshot"
        assert what["src/state/openclaw.sqlite-wal"].startswith("not stored: ")
        assert what["src/state/openclaw.sqlite-shm"].startswith("not stored: ")
        assert what["src/plugin-skills"] == 'excluded by "*/plugin-skills"'
        assert what["src/tmp"] == 'excluded by "*/tmp"'
        assert what["src/extensions/x/node_modules"] == 'excluded by "node_modules"'
        assert what["src/cache/c.bin"] == "file"
        assert what["src/workspace/tmp/notes.md"] == "file"
        assert out["count"] == sum(1 for w in what.values()
                                   if not w.startswith(("excluded", "not stored", "source")))
        assert what[str(src)] == "source, stored as src"
        text = o("backup", "--dry-run").stdout
        assert "src/state/openclaw.sqlite\tSQLite database, stored as a snapshot" in text
        assert os.listdir(tmp_path / "store") == []
        # "excludes": [] turns every default off
        cfg = json.load(open(file_config))
        cfg["excludes"] = []
        from conftest import write_config
        o2 = Ocb(config=write_config(tmp_path / "noex.json", cfg), env=ocb_local.env)
        what = {e["path"]: e["what"] for e in
                json.loads(o2("backup", "--dry-run", "--json").stdout)["entries"]}
        assert what["src/tmp"] == "directory" and what["src/plugin-skills"] == "directory"
    finally:
        db.close()


def test_spool_file_of_a_killed_backup_is_removed_by_the_next(tmp_path, s3_config, ocb):
    """kill -9 of `ocb backup` while it snapshots a database leaves its
    temporary copy in the cache directory; the next backup removes it."""
    from conftest import wait_for
    src = tmp_path / "src"
    src.mkdir()
    db = sqlite3.connect(str(src / "big.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, pad BLOB)")
    db.execute("BEGIN")
    for _ in range(40_000):                       # about 160 MB
        db.execute("INSERT INTO t (pad) VALUES (randomblob(4000))")
    db.execute("COMMIT")
    db.close()
    cache = tmp_path / "cache"
    o = Ocb(config=s3_config, env=ocb.env)
    p = subprocess.Popen([o.bin, "--config", o.config, "backup"], env=o.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: cache.exists() and any(f.startswith("ocb-spool-")
                                                for f in os.listdir(cache)),
                 120, "a spool file")
    finally:
        p.kill()
        p.wait()
    left = [f for f in os.listdir(cache) if f.startswith("ocb-spool-")]
    assert left and os.stat(cache / left[0]).st_mode & 0o777 == 0o600
    res = json.loads(o("backup", "--json").stdout)
    assert res["sqlite_snapshots"] == 1
    assert not any(f.startswith("ocb-spool-") for f in os.listdir(cache))


# waits until the backup (pid argv[1]) has the file argv[2] open and has
# read argv[3] bytes more since (/proc/PID/io rchar: the tree holds only
# this file), then changes one block of it once and prints its new SHA-256
MIDREAD = textwrap.dedent("""
    import hashlib, os, sys, time
    pid, path, after = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    def rchar():
        with open("/proc/%d/io" % pid) as f:
            return int(dict(l.split(": ") for l in f.read().splitlines())["rchar"])
    def has_open():
        d = "/proc/%d/fd" % pid
        for n in os.listdir(d):
            try:
                if os.readlink(os.path.join(d, n)) == path:
                    return True
            except OSError:
                pass
        return False
    deadline = time.monotonic() + 300
    while not has_open():
        assert time.monotonic() < deadline
    start = rchar()
    while rchar() - start < after:
        assert time.monotonic() < deadline
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, b"changed!" * 512, 100 << 20)
    os.close(fd)
    with open(path, "rb") as f:
        print(hashlib.sha256(f.read()).hexdigest(), flush=True)
""")


@pytest.mark.timeout(1800)   # 200 MiB backed up, restored twice, verified, mounted, cat
def test_file_that_starts_changing_while_read_is_read_again(tmp_path, s3_config, ocb,
                                                           mounted):
    """A file last modified long ago that a writer changes while the backup
    reads it: read again and stored again later in the stream, no warning;
    restore, verify, the mount and `ocb cat | tar -x` all give the copy
    after the change."""
    import hashlib
    src = tmp_path / "src"
    src.mkdir()
    big = src / "big.bin"
    with open(big, "wb") as f:
        for _ in range(200):                          # 200 MiB, read in place
            f.write(os.urandom(1 << 20))
    os.utime(big, (1_600_000_000, 1_600_000_000))      # quiet for years
    o = Ocb(config=s3_config, env=ocb.env)
    p = subprocess.Popen([o.bin, "--config", o.config, "backup", "--json"], env=o.env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    w = subprocess.run([sys.executable, "-c", MIDREAD, str(p.pid), str(big),
                        str(60 << 20)], capture_output=True, text=True, timeout=600)
    out, err = p.communicate(timeout=600)
    assert w.returncode == 0, w.stderr
    assert p.returncode == 0, err
    res = json.loads(out)
    assert res["warnings"] == 0 and res["changed_while_read"] == 0, res
    assert "changed while being read" not in err
    o("restore", res["name"], "--target", str(tmp_path / "out"))
    with open(tmp_path / "out" / "src" / "big.bin", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == w.stdout.strip()
    assert o("verify", res["name"]).returncode == 0
    o("restore", res["name"], "--target", str(tmp_path / "one"), "src/big.bin")
    with open(tmp_path / "one" / "src" / "big.bin", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == w.stdout.strip()
    m = mounted(o.config, o.env)
    with open(os.path.join(m.path, "latest", "src", "big.bin"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == w.stdout.strip()
    # the stream holds the file twice; tar keeps the last
    tar = tmp_path / "tar"
    tar.mkdir()
    cat = subprocess.Popen([o.bin, "--config", o.config, "cat", res["name"]],
                           env=o.env, stdout=subprocess.PIPE)
    t = subprocess.run(["tar", "-tv", "-f", "-"], stdin=cat.stdout,
                       capture_output=True, text=True, timeout=600)
    cat.stdout.close()
    assert cat.wait(timeout=600) == 0 and t.returncode == 0, t.stderr
    assert sum(l.endswith("src/big.bin") for l in t.stdout.splitlines()) == 2
    cat = subprocess.Popen([o.bin, "--config", o.config, "cat", res["name"]],
                           env=o.env, stdout=subprocess.PIPE)
    t = subprocess.run(["tar", "-x", "-f", "-", "-C", str(tar)], stdin=cat.stdout,
                       capture_output=True, text=True, timeout=600)
    cat.stdout.close()
    assert cat.wait(timeout=600) == 0 and t.returncode == 0, t.stderr
    with open(tar / "src" / "big.bin", "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == w.stdout.strip()


def home_and_wal_db(tmp_path):
    """An empty HOME, and src/state.sqlite in WAL mode holding rows
    1..1000 (its connection open)"""
    home = tmp_path / "home"
    home.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    db = sqlite3.connect(str(src / "state.sqlite"))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (n)")
    db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1, 1001)])
    db.commit()
    return home, db


def ocb_with_cache(s3_config, ocb, home, cache):
    """ocb on s3_config with "cache" set to cache (None: left out, the
    default) and HOME=home"""
    from conftest import write_config
    cfg = json.load(open(s3_config))
    del cfg["cache"]
    if cache is not None:
        cfg["cache"] = cache
    os.unlink(s3_config)
    write_config(s3_config, cfg)
    return Ocb(config=s3_config, env=dict(ocb.env, HOME=str(home)))


def test_fresh_machine_without_a_cache_directory_still_snapshots(tmp_path, s3_config, ocb):
    """The default cache directory (~/.cache/ocbfs) is where snapshots are
    spooled; on a fresh machine neither it nor ~/.cache exists, and the
    backup makes both instead of copying the database raw."""
    home, db = home_and_wal_db(tmp_path)
    o = ocb_with_cache(s3_config, ocb, home, None)  # the default, under HOME
    res = json.loads(o("backup", "--json").stdout)
    db.close()
    assert res["warnings"] == 0 and res["sqlite_snapshots"] == 1, res
    assert stat_mode(home / ".cache" / "ocbfs") == 0o700
    out = tmp_path / "restored"
    o("restore", res["name"], "--target", str(out))
    assert check_db(str(out / "src" / "state.sqlite")) == 1000


def test_disk_cache_off_still_snapshots_and_keeps_the_high_water_mark(tmp_path, s3_config, ocb):
    """`cache.dir` "" turns the disk cache off, not the machine's own
    files: SQLite snapshots are spooled, and the newest backup seen kept,
    in the default directory (~/.cache/ocbfs), never in / (where "" + path
    would put them) and never skipped (a raw copy of a live database)."""
    home, db = home_and_wal_db(tmp_path)
    o = ocb_with_cache(s3_config, ocb, home, {"dir": ""})
    first = json.loads(o("backup", "--json").stdout)
    res = json.loads(o("backup", "--json").stdout)
    db.close()
    assert res["warnings"] == 0 and res["sqlite_snapshots"] == 1, res
    marks = list((home / ".cache" / "ocbfs" / "highwater").iterdir())
    assert len(marks) == 1 and res["name"] in marks[0].read_text()
    out = tmp_path / "restored"
    o("restore", first["name"], "--target", str(out))
    assert check_db(str(out / "src" / "state.sqlite")) == 1000
    o("store", "rm", res["key"])
    p = o("verify", "latest")
    assert "WARNING: latest is %s, older than %s" % (first["name"], res["name"]) in p.stderr, p.stderr


def stat_mode(p):
    return os.stat(p).st_mode & 0o777
