"""Incremental backups (formats 3 and 4, docs/FORMAT.md): a backup builds on the
newest one and stores only what changed, yet restores, mounts and
verifies on its own; a referenced object that is replaced makes it fail
as damaged, never give other bytes."""
import io
import json
import os
import random
import sqlite3
import stat
import subprocess
import tarfile
import time

from conftest import Ocb, wait_for, write_config
from test_mount import Mount
from treeutil import make_tree, assert_same_tree


def backup(o, *args):
    return json.loads(o("backup", "--json", *args).stdout)


def settle(root):
    """Wait until every change under root is older than the window in which
    a backup takes a file as racily clean (its ctime within two clock ticks
    of the backup's start: recorded so that the next backup reads it
    again), so that the next backup records the tree as unchanged."""
    def settled():
        newest = max(os.lstat(os.path.join(d, n)).st_ctime_ns
                     for d, dirs, files in os.walk(root) for n in dirs + files + ["."])
        return time.time_ns() >= newest + 100_000_000    # 100 ms: ticks of 10 ms
    wait_for(settled, 30, "the changes under %s to be 100 ms old" % root, interval=0.01)


def object_size(rgw, bucket, key):
    head = rgw.aws("s3api", "head-object", "--bucket", bucket, "--key", key)
    return json.loads(head.stdout)["ContentLength"]


def test_unchanged_and_one_changed(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    first = backup(o)
    assert first["base"] == "" and first["bytes_new"] == first["bytes_total"]

    # nothing changed: (almost) nothing new is stored
    second = backup(o)
    assert second["base"] == first["name"]
    assert second["bytes_total"] == first["bytes_total"]
    assert second["bytes_new"] * 20 < second["bytes_total"]
    assert second["bytes_in"] < 100_000          # files were not read
    assert object_size(rgw, bucket, second["key"]) * 10 < \
        object_size(rgw, bucket, first["key"])
    # the object: its catalog, and frames and the header for the rest
    for b in first, second:
        assert b["bytes_stored"] == object_size(rgw, bucket, b["key"])
        assert 0 < b["bytes_catalog"] < b["bytes_stored"]
    assert first["bytes_stored"] - first["bytes_catalog"] > 1_000_000
    assert second["bytes_stored"] - second["bytes_catalog"] < 100_000

    # one file changed: only that one is stored again
    changed = os.path.join(src, "workspace", "text.log")
    with open(changed, "wb") as f:
        f.write(b"another line\n" * 150_000)
    third = backup(o)
    assert third["base"] == second["name"]
    # (the second stored the headers of directories whose atime the
    # first backup's listing moved; the third references them)
    assert 150_000 * 13 <= third["bytes_new"] < 150_000 * 13 + 100_000
    meta = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket,
                              "--key", third["key"]).stdout)["Metadata"]
    assert meta["base"] == second["name"]
    assert meta["ocb-format"] == "4"            # the current format

    # restore, verify and mount the incremental: the source, byte for byte
    o("restore", third["name"], "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    p = o("verify", third["name"])
    assert p.stdout.startswith("ok"), p.stdout
    extract = tmp_path / "second"
    o("restore", second["name"], "--target", str(extract))
    with open(extract / "src" / "workspace" / "text.log", "rb") as f:
        assert f.read() == b"log line\n" * 200_000
    m = Mount(o.config, o.env, tmp_path)
    try:
        # the second backup's text.log lives in the first backup's object:
        # read through the mount, the frames fetched from there are counted
        # (sealed bytes, once per fetch: at most that object, and nothing
        # more when read again)
        assert m.stats()["ref_bytes_read"] == 0
        log = os.path.join(m.path, "i-test", second["name"], "src",
                           "workspace", "text.log")
        with open(log, "rb") as f:
            assert f.read() == b"log line\n" * 200_000
        ref = m.stats()["ref_bytes_read"]
        assert 0 < ref <= object_size(rgw, bucket, first["key"])
        with open(log, "rb") as f:
            assert f.read() == b"log line\n" * 200_000
        assert m.stats()["ref_bytes_read"] == ref
        assert_same_tree(src, os.path.join(m.path, "i-test", third["name"], "src"))
    finally:
        m.unmount()


def exact_meta(root):
    """path -> every fact a tar header carries that restore gives back,
    exactly: mode, owner, mtime in ns, size and content, symlink target,
    extended attributes, and which paths are one hard-linked file."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            f = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                 "mtime": st.st_mtime_ns}
            if stat.S_ISLNK(st.st_mode):
                f["target"] = os.readlink(p)
                f.pop("mtime")
            else:
                f["xattrs"] = {k: os.getxattr(p, k) for k in os.listxattr(p)
                               if k.startswith("user.")}
            if stat.S_ISREG(st.st_mode):
                fd = os.open(p, os.O_RDONLY | os.O_NOATIME)  # its header
                with os.fdopen(fd, "rb") as fh:
                    f["data"] = fh.read()
                if st.st_nlink > 1:
                    inodes.setdefault(st.st_ino, []).append(rel)
            out[rel] = f
    return out, sorted(sorted(g) for g in inodes.values())


def pax_members(o, name):
    """path -> (pax records, mode, uid, gid) of each member of the logical
    stream of backup name (`ocb cat`)."""
    raw = o("cat", name, text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as t:
        return raw, {m.name: (m.pax_headers, m.mode, m.uid, m.gid)
                     for m in t.getmembers()}


def test_unchanged_headers_referenced(tmp_path, rgw, bucket, s3_config, ocb):
    """An unchanged entry's tar headers are referenced in the base with its
    data, never stored again; an entry whose header changed in any field
    (mode, mtime, owner, an xattr) gets its new header: every restore
    gives the source's metadata exactly.  Access times are not stored, so
    a file that was only read keeps its header."""
    src = make_tree(str(tmp_path / "src"))
    ws = os.path.join(src, "workspace")
    os.chown(os.path.join(ws, "memory", "2026-11-03.md"), 1234, 5678)
    os.setxattr(os.path.join(ws, "big.bin"), "user.bin", bytes(range(256)))
    # several, in an order of the file system's own: an unchanged file's
    # are taken from the base's catalog, and must come out the same (the
    # stream of a full backup is compared with the last one's, below)
    for k in ("user.z", "user.a", "user.m"):
        os.setxattr(os.path.join(ws, "big.bin"), k, k.encode() * 3)
        os.setxattr(os.path.join(ws, "memory", "2026-11-09.md"), k, b"")
    os.utime(os.path.join(ws, "text.log"), ns=(1_000_000_000_000_000_007,
                                               1_700_000_000_987_654_321))
    for _ in os.walk(src):      # directories' atimes move on a first read
        pass
    settle(src)
    o = Ocb(config=s3_config, env=ocb.env)
    first = backup(o)

    # nothing changed: headers, data and padding all referenced; what is
    # stored is the end of the tar stream and the hard link's header
    # (a link's catalog entry points at its first link's data)
    second = backup(o)
    assert second["base"] == first["name"]
    assert second["bytes_new"] <= 1024 + 2 * 1536, second
    meta, links = exact_meta(src)
    o("restore", second["name"], "--target", str(tmp_path / "r2"))
    assert exact_meta(str(tmp_path / "r2" / "src")) == (meta, links)

    # only metadata changes, each in one file
    os.chmod(os.path.join(ws, "memory", "2026-11-04.md"), 0o600)
    mt = os.path.join(ws, "memory", "2026-11-05.md")
    os.utime(mt, ns=(os.lstat(mt).st_atime_ns, os.lstat(mt).st_mtime_ns + 1))
    os.chown(os.path.join(ws, "memory", "2026-11-06.md"), 4321, 8765)
    os.setxattr(os.path.join(ws, "memory", "2026-11-07.md"), "user.new", b"v")
    os.setxattr(os.path.join(src, "openclaw.json"), "user.origin", b"other")
    # an atime that a read moves (on file systems that keep atimes)
    rd = os.path.join(ws, "memory", "2026-11-08.md")
    os.utime(rd, ns=(1_500_000_000_000_000_000, os.lstat(rd).st_mtime_ns))
    settle(src)
    third = backup(o)           # (the utime above made it changed here)
    open(rd, "rb").read()
    fourth = backup(o)
    assert fourth["base"] == third["name"]
    assert fourth["bytes_in"] < 100_000          # files were not read
    assert fourth["bytes_new"] <= 1024 + 2 * 1536, fourth
    meta, links = exact_meta(src)
    for b, d in ((third, "r3"), (fourth, "r4")):
        o("restore", b["name"], "--target", str(tmp_path / d))
        assert exact_meta(str(tmp_path / d / "src")) == (meta, links)
    _, members = pax_members(o, fourth["name"])
    assert members["src/workspace/memory/2026-11-06.md"][2:] == (4321, 8765)
    assert members["src/workspace/memory/2026-11-04.md"][1] == 0o600
    assert members["src/openclaw.json"][0]["SCHILY.xattr.user.origin"] == "other"
    assert not [m for m, f in members.items() if "atime" in f[0]]

    # the logical stream of a backup built on referenced headers is the
    # stream a full backup of the same tree holds, byte for byte
    full = backup(o, "--full")
    assert full["base"] == ""
    assert pax_members(o, fourth["name"])[0] == pax_members(o, full["name"])[0]


def test_many_references_checked(tmp_path, rgw, bucket, s3_config, ocb):
    """A backup referencing several objects: all checked (at once) before
    the next builds on it, and a missing one in the middle of the chain
    gives a full backup that names it."""
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    chain = [backup(o)]
    for day in range(2, 6):     # each backup holds one file's new content
        with open(os.path.join(src, "workspace", "memory",
                               "2026-11-%02d.md" % day), "ab") as f:
            f.write(b"day %d\n" % day)
        chain.append(backup(o))
        assert chain[-1]["base"] == chain[-2]["name"]
    top = backup(o)             # references the full backup and all four
    assert top["base"] == chain[-1]["name"] and top["warnings"] == 0
    o("restore", top["name"], "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    rgw.aws("s3", "rm", "s3://%s/%s" % (bucket, chain[2]["key"]))
    p = o("backup", "--json")
    after = json.loads(p.stdout)
    assert after["base"] == "" and after["bytes_new"] == after["bytes_total"]
    assert chain[2]["name"] in p.stderr and "not in the store" in p.stderr


def test_replaced_reference_is_damaged(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    full = backup(o)
    inc = backup(o)
    assert inc["base"] == full["name"]
    other = backup(o, "--full", "--label", "other")
    assert other["base"] == "" and other["bytes_new"] == other["bytes_total"]
    # the object the incremental reads from, replaced by another backup's
    rgw.aws("s3", "cp", "s3://%s/%s" % (bucket, other["key"]),
            "s3://%s/%s" % (bucket, full["key"]))
    p = o("verify", inc["name"], check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "damaged" in (p.stdout + p.stderr)
    p = o("restore", inc["name"], "--target", str(tmp_path / "out"), check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    # whatever was written before the failure is the source's
    out = tmp_path / "out" / "src"
    for dirpath, _, files in os.walk(out):
        for n in files:
            got = open(os.path.join(dirpath, n), "rb").read()
            want = open(os.path.join(src, os.path.relpath(os.path.join(dirpath, n), out)),
                        "rb").read()
            assert got == want[:len(got)]


def test_full_every(tmp_path, rgw, bucket, s3_config, ocb):
    make_tree(str(tmp_path / "src"))
    cfg = json.load(open(s3_config))
    cfg["backup"] = {"fullEvery": 2}
    o = Ocb(config=write_config(tmp_path / "c2.json", cfg), env=ocb.env)
    a = backup(o)
    b = backup(o)
    c = backup(o)
    assert a["base"] == "" and b["base"] == a["name"]
    assert c["base"] == "" and c["bytes_new"] == c["bytes_total"]
    # a format 2 or 3 backup beside: the listing opens them all
    listing = json.loads(o("list", "--json", "--open").stdout)
    assert len(listing) == 3

    # never by count nor by age: every backup builds on the last, unless
    # --full; the default takes none by count either
    cfg["backup"] = {"fullEvery": 0, "fullAfterDays": 0}
    for c2 in (cfg, {k: v for k, v in cfg.items() if k != "backup"}):
        o = Ocb(config=write_config(tmp_path / "c3.json", c2), env=ocb.env)
        d = backup(o)
        e = backup(o)
        f = backup(o, "--full")
        g = backup(o)
        assert d["base"] == c["name"] and e["base"] == d["name"], (d, e)
        assert f["base"] == "" and g["base"] == f["name"]
        c = g


def test_sqlite_changed_pages_only(tmp_path, rgw, bucket, s3_config, ocb):
    """A 20 MB SQLite database in WAL mode, 1% of its rows updated: the
    incremental backup stores about the changed pages (its snapshot is
    hashed in blocks of the page size), and restores to the database as
    the snapshot had it."""
    src = tmp_path / "src"
    src.mkdir()
    path = str(src / "state.sqlite")
    rows, size = 20_000, 1000
    rnd = random.Random(7)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA page_size=4096")
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO t VALUES (?, ?)",
                   ((i, rnd.randbytes(size)) for i in range(1, rows + 1)))
    db.execute("COMMIT")
    o = Ocb(config=s3_config, env=ocb.env)
    first = backup(o)
    assert first["sqlite_snapshots"] == 1

    changed = rnd.sample(range(1, rows + 1), rows // 100)
    db.execute("BEGIN")
    db.executemany("UPDATE t SET v = ? WHERE id = ?",
                   ((rnd.randbytes(size), i) for i in changed))
    db.execute("COMMIT")
    second = backup(o)      # the database is still open, its -wal live
    assert second["base"] == first["name"] and second["sqlite_snapshots"] == 1
    db_bytes = db.execute("PRAGMA page_count").fetchone()[0] * 4096
    assert db_bytes > 20_000_000
    # at most the changed rows' pages (4 rows a page), with room to spare
    assert second["bytes_new"] < 3 * len(changed) * 4096 + 65536
    assert second["bytes_new"] < db_bytes * 15 // 100

    o("restore", second["name"], "--target", str(tmp_path / "out"))
    out = sqlite3.connect(str(tmp_path / "out" / "src" / "state.sqlite"))
    assert out.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    want = db.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    assert out.execute("SELECT id, v FROM t ORDER BY id").fetchall() == want
    out.close()
    db.close()
    p = o("verify", second["name"])
    assert p.stdout.startswith("ok"), p.stdout


def wal_db(tmp_path):
    """src/state.sqlite in WAL mode, 2000 rows, its connection open
    (autocommit): src, the database's path, the connection"""
    src = tmp_path / "src"
    src.mkdir()
    path = str(src / "state.sqlite")
    db = sqlite3.connect(path, isolation_level=None)
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    db.executemany("INSERT INTO t (v) VALUES (?)",
                   (("row %d" % i,) for i in range(2000)))
    return src, path, db


def test_sqlite_unchanged_referenced(tmp_path, rgw, bucket, s3_config, ocb):
    """A database whose file, -wal and WAL-index are as the base saw them
    is not snapshotted again: the backup references the base's snapshot
    (sqlite_unchanged, nothing read).  A commit to the -wal, a checkpoint
    (the file and the -wal move, not the content) and a commit in
    rollback mode each make the next backup snapshot it again, and each
    backup restores the database as it was."""
    src, path, db = wal_db(tmp_path)
    o = Ocb(config=s3_config, env=ocb.env)

    def settled_backup():
        # a file changed in the last 20 ms is read again anyway (racily
        # clean): wait until the clock has passed it
        settle(str(src))
        return backup(o)

    def check_restore(b, rows):
        out = tmp_path / ("out-" + b["name"])
        o("restore", b["name"], "--target", str(out))
        r = sqlite3.connect(str(out / "src" / "state.sqlite"))
        assert r.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert r.execute("SELECT id, v FROM t ORDER BY id").fetchall() == rows
        r.close()

    def rows():
        return db.execute("SELECT id, v FROM t ORDER BY id").fetchall()

    first = settled_backup()    # the connection open: -wal and -shm live
    assert os.path.exists(path + "-wal") and os.path.exists(path + "-shm")
    assert first["sqlite_snapshots"] == 1 and first["sqlite_unchanged"] == 0
    same = settled_backup()
    assert same["base"] == first["name"]
    assert same["sqlite_snapshots"] == 1 and same["sqlite_unchanged"] == 1
    assert same["bytes_in"] == 0
    check_restore(same, rows())

    db.execute("UPDATE t SET v = 'changed' WHERE id = 7")   # into the -wal
    changed = settled_backup()
    assert changed["sqlite_unchanged"] == 0 and changed["bytes_in"] > 0
    check_restore(changed, rows())
    again = settled_backup()
    assert again["sqlite_unchanged"] == 1
    check_restore(again, rows())

    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")   # same content
    ckpt = settled_backup()
    assert ckpt["sqlite_unchanged"] == 0 and ckpt["sqlite_snapshots"] == 1
    check_restore(ckpt, rows())

    # closed and back to rollback mode: a commit rewrites the file
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    db = sqlite3.connect(path, isolation_level=None)
    settled_backup()
    quiet = settled_backup()
    assert quiet["sqlite_unchanged"] == 1
    db.execute("DELETE FROM t WHERE id > 1500")
    rollback = settled_backup()
    assert rollback["sqlite_unchanged"] == 0
    check_restore(rollback, rows())
    db.close()
    p = o("verify", rollback["name"])
    assert p.stdout.startswith("ok"), p.stdout


def test_sqlite_closed_by_its_application_unchanged(tmp_path, rgw, bucket, s3_config, ocb):
    """A WAL database its application has closed (no -wal, no -shm: the
    agent not running) is snapshotted once; the snapshot's read-only
    connection leaves an empty -wal and a -shm behind, which hold no frame,
    so the next backup references that snapshot instead of reading the
    database again (it did, once, for that alone: a 50 MB database made
    the first backup with nothing changed 0.52 s instead of 0.34)."""
    src, path, db = wal_db(tmp_path)
    want = db.execute("SELECT id, v FROM t ORDER BY id").fetchall()
    db.close()                          # the last connection: both removed
    assert not os.path.exists(path + "-wal") and not os.path.exists(path + "-shm")
    o = Ocb(config=s3_config, env=ocb.env)
    settle(str(src))
    first = backup(o)
    assert first["sqlite_snapshots"] == 1 and first["sqlite_unchanged"] == 0
    assert os.path.getsize(path + "-wal") == 0 and os.path.exists(path + "-shm")
    settle(str(src))
    same = backup(o)
    assert same["sqlite_unchanged"] == 1 and same["bytes_in"] == 0, same
    out = tmp_path / "out"
    o("restore", same["name"], "--target", str(out))
    r = sqlite3.connect(str(out / "src" / "state.sqlite"))
    assert r.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert r.execute("SELECT id, v FROM t ORDER BY id").fetchall() == want
    r.close()
    # the application back: a commit into the -wal is a change again
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE t SET v = 'changed' WHERE id = 7")
    settle(str(src))
    changed = backup(o)
    assert changed["sqlite_unchanged"] == 0 and changed["bytes_in"] > 0
    db.close()


def test_reference_deleted_during_the_backup(tmp_path, rgw, bucket, keyfile,
                                             proxy, ocb):
    """The object an incremental backup references deleted right after its
    commit (a prune running meanwhile): the HEAD the writer sends for each
    ref finds it gone, the backup warns loudly and exits 8."""
    make_tree(str(tmp_path / "src"))
    cfg = write_config(tmp_path / "c.json", {
        "instanceId": "i-test", "region": rgw.region,
        "s3": {"bucket": bucket, "endpoint": proxy.endpoint},
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [str(tmp_path / "src")],
        "cache": {"dir": str(tmp_path / "cache")}})
    o = Ocb(config=cfg, env=ocb.env)
    full = backup(o)
    proxy.hold(("HEAD /%s/%s" % (bucket, full["key"])).encode())
    p = subprocess.Popen([o.bin, "--config", o.config, "backup", "--json"],
                         env=o.env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert proxy.held.wait(120), "the backup never checked its ref"
        rgw.aws("s3", "rm", "s3://%s/%s" % (bucket, full["key"]))
    finally:
        proxy.release()
        out, err = p.communicate(timeout=120)
    assert p.returncode == 8, out + err
    res = json.loads(out)
    assert res["base"] == full["name"] and res["warnings"] == 1
    assert full["key"] in err and "NOT complete" in err, err


def test_spread_read_fetches_each_object_once_at_once(tmp_path, rgw, bucket,
                                                      s3_config, ocb, proxy):
    """A file whose 64 KiB blocks changed one a day: the newest backup's
    copy lies in five objects.  Read far from the store (200 ms a round
    trip), its frames cost one range request per object, all in flight
    together: one round trip, not one per object, and no object asked
    twice for the same frames."""
    src = tmp_path / "src"
    src.mkdir()
    rnd = random.Random(5)
    data = bytearray(rnd.randbytes(2 << 20))
    path = src / "spread.bin"
    o = Ocb(config=s3_config, env=ocb.env)
    names = []
    for day in range(5):
        if day:
            off = day * 65536 * 3 + 100
            data[off:off + 16] = rnd.randbytes(16)
        path.write_bytes(bytes(data))
        os.utime(path, (1_600_000_000 + day, 1_600_000_000 + day))
        names.append(backup(o))
    newest = names[-1]
    assert newest["base"] == names[-2]["name"]

    cfg = json.load(open(s3_config))
    cfg["s3"]["endpoint"] = proxy.endpoint
    far = Ocb(config=write_config(tmp_path / "far.json", cfg), env=ocb.env)
    proxy.shape(0.2)
    proxy.stats_reset()
    # the older objects' requests wait until all four are in flight (or,
    # asked one after another, each alone: 10 s after the first), so the
    # peak does not depend on how fast a loaded machine sends them
    proxy.gather(4, ["/%s.ocb" % n["name"] for n in names[:-1]], 10.0)
    out = far("cat", newest["name"], text=False).stdout
    gets = [r.split()[1] for r in proxy.requests
            if r.startswith("GET ") and ".ocb" in r.split()[1]]
    peak = proxy.inflight_peak
    print("GETs by key %s, in flight at most %d, %d gathered" %
          (gets, peak, proxy.gathered))
    proxy.shape(0)
    with tarfile.open(fileobj=io.BytesIO(out)) as t:
        member = [m for m in t.getmembers() if m.name.endswith("spread.bin")][0]
        assert t.extractfile(member).read() == bytes(data)
    # the newest object: its suffix and its frames; each older one: once
    per_key = {k: gets.count(k) for k in set(gets)}
    assert len(per_key) == 5, per_key
    assert sorted(per_key.values()) == [1, 1, 1, 1, 2], per_key
    # (one after another: 1, each alone when the gathering ends; together:
    # the four older objects' requests at least)
    assert proxy.gathered == 4, "the objects were read one after another"
    assert peak >= 4, "the objects were read one after another: %d" % peak


def test_cold_small_file_reads_only_its_own_object(tmp_path, rgw, bucket,
                                                   s3_config, ocb, proxy):
    """A small unchanged file of an incremental backup shares its logical
    frame with a changed file, whose bytes lie in the newer object: a cold
    read of it fetches only the segment holding its bytes (one GET of the
    older object), not the whole logical frame (one GET per object)."""
    src = tmp_path / "src"
    src.mkdir()
    rnd = random.Random(7)
    (src / "a.bin").write_bytes(rnd.randbytes(8192))
    (src / "b.txt").write_bytes(b"unchanged small file\n" * 10)
    os.utime(src / "b.txt", (1_600_000_000, 1_600_000_000))
    os.utime(src / "a.bin", (1_600_000_000, 1_600_000_000))
    o = Ocb(config=s3_config, env=ocb.env)
    full = backup(o)
    (src / "a.bin").write_bytes(rnd.randbytes(8192))
    os.utime(src / "a.bin", (1_600_000_001, 1_600_000_001))
    settle(src)
    inc = backup(o)
    assert inc["base"] == full["name"]

    cfg = json.load(open(s3_config))
    cfg["s3"]["endpoint"] = proxy.endpoint
    cfg["cache"] = {"dir": ""}                 # every read goes to the store
    m = Mount(write_config(tmp_path / "m.json", cfg), ocb.env, tmp_path)
    try:
        path = os.path.join(m.path, "latest", "src", "b.txt")
        with open(path, "rb") as f:
            n = len(proxy.requests)
            data = f.read()
        gets = [r.split()[1] for r in proxy.requests[n:]
                if r.startswith("GET ") and ".ocb" in r.split()[1]]
        assert data == b"unchanged small file\n" * 10
        assert len(gets) == 1 and gets[0].endswith("/%s.ocb" % full["name"]), gets
    finally:
        m.unmount()
