"""ocb backup / list / cat: round trips through the real server and the
local directory for every key provider, tampering, crashes."""
import json
import os
import re
import signal
import subprocess
import threading

import pytest

from conftest import BOTH_SERVERS, Ocb, write_config, wait_for
from treeutil import make_tree, assert_same_tree


def extract(o, dest, spec="latest"):
    """ocb cat SPEC | tar -x: the standard tools must read the stream."""
    os.makedirs(dest, exist_ok=True)
    cat = subprocess.Popen([o.bin, "--config", o.config, "cat", spec], env=o.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "--xattrs", "--xattrs-include=user.*",
                          "-f", "-", "-C", str(dest)], stdin=cat.stdout,
                         capture_output=True)
    cat.stdout.close()
    err = cat.stderr.read().decode()
    assert cat.wait() == 0, err
    assert tar.returncode == 0, tar.stderr
    # GNU tar knows every pax keyword of the stream (no LIBARCHIVE.xattr.*)
    # but hdrcharset, which only an entry with a name that is not UTF-8
    # carries, for libarchive; GNU tar then keeps the name's bytes
    warn = [l for l in tar.stderr.splitlines()
            if l != b"tar: Ignoring unknown extended header keyword 'hdrcharset'"]
    assert warn == [], tar.stderr


def config_for(tmp_path, base, provider, keyfile):
    cfg = json.load(open(base))
    cfg["encryption"] = {"keyProvider": provider}
    if provider == "keyfile":
        cfg["encryption"]["keyFile"] = keyfile
    if provider == "passphrase":
        pf = tmp_path / "pass"
        pf.write_text("correct horse battery staple\n")
        os.chmod(pf, 0o600)
        cfg["encryption"]["passphraseFile"] = str(pf)
    return write_config(tmp_path / ("c-%s.json" % provider), cfg)


@BOTH_SERVERS
@pytest.mark.parametrize("provider", ["keyfile", "passphrase", "none"])
def test_roundtrip_rgw(tmp_path, rgw, bucket, s3_config, ocb, keyfile, provider):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=config_for(tmp_path, s3_config, provider, keyfile), env=ocb.env)
    res = json.loads(o("backup", "--json").stdout)
    assert res["entries"] > 40 and res["warnings"] == 0
    listing = o("list", "--json").stdout
    assert res["name"] in listing and provider in listing
    extract(o, tmp_path / "out")
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    # the object is where the old tool's layout says, readable by awscli
    head = rgw.aws("s3api", "head-object", "--bucket", bucket, "--key", res["key"])
    meta = json.loads(head.stdout)["Metadata"]
    assert meta["key-provider"] == provider and meta["instance"] == "i-test"


def test_roundtrip_local_directory(tmp_path, file_config, ocb_local):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup", "--label", "before-upgrade")
    names = o("list").stdout
    assert "before-upgrade" in names
    extract(o, tmp_path / "out")
    assert_same_tree(src, str(tmp_path / "out" / "src"))


def test_acls_are_not_stored_as_xattrs(tmp_path, file_config, ocb_local):
    """A POSIX ACL (an xattr to the kernel) is neither stored as an ACL
    nor as an xattr; the file's other xattrs are."""
    src = tmp_path / "src"
    src.mkdir()
    f = src / "f"
    f.write_text("x\n")
    # version 2; user::rw-, user:1234:r--, group::r--, mask::r--, other::r--
    acl = bytes.fromhex("02000000" "01000600ffffffff" "02000400d2040000"
                        "04000400ffffffff" "10000400ffffffff" "20000400ffffffff")
    try:
        os.setxattr(f, "system.posix_acl_access", acl)
    except OSError as e:
        pytest.skip("no POSIX ACLs here (%s)" % e)
    os.setxattr(f, "user.k", b"v")
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    tar = o("cat", "latest", text=False).stdout
    assert b"SCHILY.xattr.user.k=v" in tar
    assert b"posix_acl" not in tar and b"SCHILY.acl" not in tar


def test_hidden_source_becomes_visible_top_level(tmp_path, ocb_local, keyfile):
    src = tmp_path / ".openclaw"
    (src / "workspace").mkdir(parents=True)
    (src / "workspace" / "MEMORY.md").write_text("remember\n")
    (tmp_path / "store").mkdir()
    cfg = write_config(tmp_path / "c.json", {
        "instanceId": "i-test", "store": "file://%s" % (tmp_path / "store"),
        "sources": [str(src)], "encryption": {"keyProvider": "keyfile", "keyFile": keyfile}})
    o = Ocb(config=cfg, env=ocb_local.env)
    o("backup")
    names = subprocess.run("%s --config %s cat latest | tar -t" % (o.bin, cfg), shell=True,
                           env=o.env, capture_output=True, text=True).stdout.split()
    assert "openclaw/workspace/MEMORY.md" in names


def test_excludes_and_cache_dir_are_not_backed_up(tmp_path, file_config, ocb_local):
    src = tmp_path / "src"
    (src / "node_modules" / "x").mkdir(parents=True)
    (src / "node_modules" / "x" / "index.js").write_text("x")
    (src / "keep.md").write_text("k")
    (tmp_path / "cache").mkdir()
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    names = subprocess.run("%s --config %s cat latest | tar -t" % (o.bin, file_config),
                           shell=True, env=o.env, capture_output=True, text=True).stdout
    assert "src/keep.md" in names and "node_modules" not in names


def object_path(tmp_path, o):
    key = json.loads(o("list", "--json").stdout)[0]["key"]
    return tmp_path / "store" / key


def cat_bytes(o):
    return subprocess.run([o.bin, "--config", o.config, "cat", "latest"], env=o.env,
                          capture_output=True)


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x01]))


@pytest.mark.parametrize("where", ["frame", "catalog", "trailer", "header-copy",
                                   "swap", "truncate", "wrong-key"])
def test_tampering_is_detected(tmp_path, file_config, ocb_local, where):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(3 * 1024 * 1024))   # 3+ frames, incompressible
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    good = cat_bytes(o).stdout
    obj = object_path(tmp_path, o)
    size = obj.stat().st_size
    if where == "frame":
        flip(obj, 512 + 1000)
    elif where == "catalog":
        flip(obj, size - 64 - 512 - 20)
    elif where == "trailer":
        flip(obj, size - 64 + 20)
    elif where == "header-copy":
        flip(obj, size - 64 - 512 + 40)
    elif where == "swap":
        data = bytearray(obj.read_bytes())
        fl = 1024 * 1024 + 16          # incompressible frames are stored raw + tag
        f0, f1 = data[512:512 + fl], data[512 + fl:512 + 2 * fl]
        data[512:512 + fl], data[512 + fl:512 + 2 * fl] = f1, f0
        obj.write_bytes(bytes(data))
    elif where == "truncate":
        with open(obj, "r+b") as f:
            f.truncate(size - 100)
    elif where == "wrong-key":
        other = tmp_path / "other.key"
        fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
        cfg = json.load(open(file_config))
        cfg["encryption"]["keyFile"] = str(other)
        o = Ocb(config=write_config(tmp_path / "c2.json", cfg), env=o.env)
    p = cat_bytes(o)
    assert p.returncode in (4, 7), p.stderr
    assert b"damaged" in p.stderr or b"wrong key" in p.stderr or b"verification" in p.stderr
    # never a wrong byte: whatever came out is a prefix of the true stream
    assert good.startswith(p.stdout)
    assert len(p.stdout) < len(good)


def backup_until_upload_starts(rgw, bucket, config, ocb):
    """Start `ocb backup`; return once its multipart upload exists."""
    proc = subprocess.Popen([ocb.bin, "--config", config, "backup"], env=ocb.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def upload_started():
        return rgw.uploads(bucket) or proc.poll() is not None
    wait_for(upload_started, 60, "a multipart upload to start", interval=0.005)
    assert proc.poll() is None, "the backup ended before it could be interrupted"
    return proc


def test_kill_during_upload_leaves_nothing(tmp_path, rgw, bucket, s3_config, ocb):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / ("blob%d" % i)).write_bytes(os.urandom(40 * 1024 * 1024))
    o = Ocb(config=s3_config, env=ocb.env)
    proc = backup_until_upload_starts(rgw, bucket, s3_config, ocb)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads(o("list", "--json").stdout) == []
    # the next backup succeeds, and cleans up the killed one's upload
    cfg = json.load(open(s3_config))
    cfg["retention"] = {"staleUploadHours": 0}
    o = Ocb(config=write_config(tmp_path / "stale.json", cfg), env=ocb.env)
    res = json.loads(o("backup", "--json").stdout)
    p = rgw.aws("s3api", "list-multipart-uploads", "--bucket", bucket)
    assert b"UploadId" not in p.stdout
    assert [b["name"] for b in json.loads(o("list", "--json").stdout)] == [res["name"]]


def test_interrupted_backup_aborts_its_upload(tmp_path, rgw, bucket, s3_config, ocb):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / ("blob%d" % i)).write_bytes(os.urandom(40 * 1024 * 1024))
    proc = backup_until_upload_starts(rgw, bucket, s3_config, ocb)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    p = rgw.aws("s3api", "list-multipart-uploads", "--bucket", bucket)
    assert b"UploadId" not in p.stdout
    assert json.loads(Ocb(config=s3_config, env=ocb.env)("list", "--json").stdout) == []


@pytest.fixture
def kms(rgw):
    from kms_server import KmsServer
    k = KmsServer(rgw.access_key, rgw.secret_key)
    yield k
    k.close()


def kms_config(tmp_path, base, kms, key_id="alias/ocb-test"):
    cfg = json.load(open(base))
    cfg["encryption"] = {"keyProvider": "kms", "kmsKeyId": key_id,
                         "kmsEndpoint": kms.endpoint}
    return write_config(tmp_path / "kms.json", cfg)


def test_roundtrip_kms(tmp_path, rgw, bucket, s3_config, ocb, kms):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=kms_config(tmp_path, s3_config, kms), env=ocb.env)
    res = json.loads(o("backup", "--json").stdout)
    assert "kms" in o("list").stdout
    extract(o, tmp_path / "out")
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    # both calls were signed correctly, checked by botocore's SigV4
    assert kms.verified >= 2 and kms.rejected == 0
    # the data key is bound to the backup: KMS saw its name and instance
    ctxs = [k[1] for k in kms.keys.values()]
    assert {"ocb:name": res["name"], "ocb:instance": "i-test"}.items() <= ctxs[0].items()


def test_kms_transient_failures_are_retried(tmp_path, rgw, bucket, s3_config, ocb, kms):
    """A dropped connection, a 500 and throttling from KMS are retried (as
    the AWS SDKs do); a KMS that keeps failing ends the command when
    s3.retryDeadline has passed, with KMS's answer named."""
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=kms_config(tmp_path, s3_config, kms), env=ocb.env)
    kms.failures = ["drop", "internal", "throttle"]
    o("backup")
    assert kms.failed == 3 and kms.failures == []
    kms.failures = ["throttle", "drop"]
    extract(o, tmp_path / "out")
    assert kms.failed == 5
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    cfg = json.load(open(kms_config(tmp_path, s3_config, kms)))
    cfg["s3"]["retryDeadline"] = 2
    o = Ocb(config=write_config(tmp_path / "kms-short.json", cfg), env=ocb.env)
    kms.failures = ["internal"] * 10000
    p = o("backup", check=False)
    assert p.returncode != 0
    # the base's key is asked for until the deadline, and the command ends
    m = re.search(r"KMS Decrypt with key alias/ocb-test: KMSInternalException"
                  r".*; gave up after (\d+) attempts in ([\d.]+) s "
                  r"\(s3.retryDeadline 2 s\)", p.stderr)
    assert m, p.stderr
    # (the bound, with a margin for a busy machine's scheduling)
    assert int(m.group(1)) >= 2 and float(m.group(2)) <= 3.0
    assert kms.failed - 5 >= int(m.group(1))


def test_kms_errors_are_clear(tmp_path, rgw, bucket, s3_config, ocb, kms):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    # a missing or disabled key: KMS's answer named, with the key, exit 9
    # (not 5, the store's "not found"); ocb doctor makes the same calls
    for key, answer in (("alias/missing", "NotFoundException: no such key"),
                        ("alias/ocb-disabled", "DisabledException")):
        o = Ocb(config=kms_config(tmp_path, s3_config, kms, key_id=key), env=ocb.env)
        p = o("backup", check=False)
        assert p.returncode == 9, p.stderr
        assert "KMS GenerateDataKey with key %s: %s" % (key, answer) in p.stderr
        assert "KMS key is missing, disabled" in p.stderr
        assert "no such object or bucket" not in p.stderr
        p = o("doctor", check=False)
        assert p.returncode == 9
        assert "FAILED   KMS key %s: GenerateDataKey and Decrypt: the key is missing" % key in p.stdout
    o = Ocb(config=kms_config(tmp_path, s3_config, kms), env=ocb.env)
    p = o("doctor")
    assert "ok       KMS key alias/ocb-test: GenerateDataKey and Decrypt round trip" in p.stdout
    env = dict(ocb.env, AWS_SECRET_ACCESS_KEY="wrong")
    o = Ocb(config=kms_config(tmp_path, s3_config, kms), env=env)
    # a wrong secret: S3 refuses the backup's first request (exit 4)...
    p = o("backup", check=False)
    assert p.returncode == 4 and "access denied" in p.stderr, p.stderr
    # ...and KMS, which checks the signature too, refuses doctor's call
    p = o("doctor", check=False)
    assert p.returncode == 4 and kms.rejected >= 1, p.stdout


def test_file_changing_during_backup(tmp_path, file_config, ocb_local):
    """A file that grows while it is read: the backup completes with a
    warning (exit 8) and stores a consistent entry (the size first seen)."""
    src = tmp_path / "src"
    src.mkdir()
    grow = src / "growing.log"
    grow.write_bytes(os.urandom(64 * 1024 * 1024))
    stop = threading.Event()

    def writer():
        with open(grow, "ab") as f:
            while not stop.is_set():
                f.write(b"x" * 4096)
                f.flush()
    t = threading.Thread(target=writer)
    t.start()
    try:
        o = Ocb(config=file_config, env=ocb_local.env)
        p = o("backup", "--json", check=False)
    finally:
        stop.set()
        t.join()
    assert p.returncode == 8, p.stderr
    assert "changed while being read" in p.stderr
    assert json.loads(p.stdout)["warnings"] >= 1
    out = tmp_path / "out"
    extract(o, out)
    got = (out / "src" / "growing.log").read_bytes()
    assert got == grow.read_bytes()[:len(got)]        # a prefix of the file
    assert len(got) >= 64 * 1024 * 1024


def test_verify(tmp_path, file_config, ocb_local):
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    # full: an incremental one would read the first's bytes, and its
    # damage (below) too
    o("backup", "--label", "second", "--full")
    p = o("verify", "--all")
    assert p.stdout.count("ok ") == 2
    assert "files" in p.stdout
    backups = json.loads(o("list", "--json").stdout)
    flip(tmp_path / "store" / backups[0]["key"], 512 + 200)
    p = o("verify", "--all", check=False)
    assert p.returncode == 7
    assert "DAMAGED  " + backups[0]["name"] in p.stdout
    assert "ok       " + backups[1]["name"] in p.stdout
    assert o("verify", "latest").returncode == 0


def test_verify_sample_and_restore_test(tmp_path, file_config, ocb_local):
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(o.env, TMPDIR=str(tmp))
    p = o("verify", "--sample", "10%", "latest")
    assert p.stdout.startswith("ok ") and "sample of " in p.stdout
    p = o("verify", "--restore-test", "latest", env=env)
    assert "all as the catalog says; removed" in p.stdout
    assert os.listdir(tmp) == []                       # cleaned up
    for bad in ("0", "101", "5x", "-3"):
        assert o("verify", "--sample", bad, "latest", check=False).returncode == 2
    # damage inside a file's frame: the whole sample finds it, and so
    # does the restore test (which cleans up all the same)
    key = json.loads(o("list", "--json").stdout)[0]["key"]
    flip(tmp_path / "store" / key, 512 + 200)
    p = o("verify", "--sample", "100%", "latest", check=False)
    assert p.returncode == 7 and "DAMAGED" in p.stdout
    p = o("verify", "--restore-test", "latest", env=env, check=False)
    assert p.returncode == 7 and "DAMAGED" in p.stdout
    assert os.listdir(tmp) == []


@BOTH_SERVERS
def test_restore_full_selective_and_in_place(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    o("backup")
    # full, into a new directory
    o("restore", "latest", "--target", str(tmp_path / "full"))
    assert_same_tree(src, str(tmp_path / "full" / "src"))
    # selective: one file and one directory
    o("restore", "latest", "--target", str(tmp_path / "some"),
      "src/openclaw.json", "src/workspace/memory")
    got = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "some")
                 for d, _, fs in os.walk(tmp_path / "some") for f in fs)
    want = sorted(["src/openclaw.json"] + ["src/workspace/memory/" + f for f in
                                           os.listdir(os.path.join(src, "workspace/memory"))])
    assert got == want
    # a target that is not empty is refused
    assert o("restore", "latest", "--target", str(tmp_path / "full"), check=False).returncode != 0
    # in place: the current state is kept aside, the backup swapped in
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write("broken by an upgrade\n")
    os.remove(os.path.join(src, "workspace", "empty"))
    p = o("restore", "latest")
    assert "previous state is in" in p.stdout
    assert_same_tree(str(tmp_path / "full" / "src"), src)
    safety = [d for d in os.listdir(tmp_path) if d.startswith("src.pre-restore-")]
    assert len(safety) == 1
    assert open(tmp_path / safety[0] / "openclaw.json").read() == "broken by an upgrade\n"


def test_restore_dry_run_and_json(tmp_path, file_config, ocb_local):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    name = json.loads(o("backup", "--json").stdout)["name"]
    # change the original: one file edited, one added, one removed
    with open(os.path.join(src, "openclaw.json"), "a") as f:
        f.write("edited\n")
    os.mkdir(os.path.join(src, "extra"))
    open(os.path.join(src, "extra", "new.txt"), "w").close()
    os.remove(os.path.join(src, "workspace", "memory", "2026-11-01.md"))
    before = sorted(os.listdir(tmp_path))
    p = o("restore", "latest", "--dry-run")
    lines = p.stdout.splitlines()
    assert "changed src/openclaw.json (size)" in lines
    assert "deleted src/extra" in lines and "deleted src/extra/new.txt" in lines
    assert "new     src/workspace/memory/2026-11-01.md" in lines
    assert lines[-1].endswith("1 new, 1 changed, 2 deleted, %d unchanged (nothing written)"
                              % (int(lines[-1].split(", ")[3].split()[0])))
    # nothing was written or moved
    assert sorted(os.listdir(tmp_path)) == before
    assert open(os.path.join(src, "openclaw.json")).read().endswith("edited\n")
    j = json.loads(o("restore", "latest", "--dry-run", "--json").stdout)
    assert j["backup"] == name and j["dry_run"] is True
    assert (j["new"], j["changed"], j["deleted"]) == (1, 1, 2)
    assert {"change": "changed", "path": "src/openclaw.json", "why": "size"} in j["changes"]
    # against a target, for some paths
    p = o("restore", "latest", "--target", str(tmp_path / "t"), "--dry-run",
          "src/workspace/memory")
    assert p.stdout.splitlines()[0] == "new     src/workspace/memory"
    assert not os.path.exists(tmp_path / "t")
    # a path the backup does not have: exit 5, nothing written
    p = o("restore", "latest", "--target", str(tmp_path / "t"), "no/such", check=False)
    assert p.returncode == 5 and "no/such is not in" in p.stderr
    assert not os.path.exists(tmp_path / "t")
    # the real restore, with a JSON summary
    j = json.loads(o("restore", "latest", "--target", str(tmp_path / "t"), "--json").stdout)
    assert j["backup"] == name and j["verified"] is True and j["files"] > 30
    assert j["target"] == str(tmp_path / "t") and j["bytes"] >= 3_000_000
    j = json.loads(o("restore", "latest", "--json").stdout)
    assert j["target"] is None
    assert json.loads(o("restore", "latest", "--dry-run", "--json").stdout)["changes"] == []


def test_selective_restore_fetches_only_its_frames(tmp_path, rgw, bucket, keyfile, ocb):
    from gateproxy import GateProxy
    src = make_tree(str(tmp_path / "src"))
    with open(os.path.join(src, "aaa-big.bin"), "wb") as f:   # first in the stream
        f.write(os.urandom(24 << 20))
    with open(os.path.join(src, "zzz-big.bin"), "wb") as f:   # last
        f.write(os.urandom(24 << 20))
    proxy = GateProxy(rgw.endpoint)
    try:
        cfg = write_config(tmp_path / "proxied.json", {
            "instanceId": "i-test", "region": rgw.region,
            "s3": {"bucket": bucket, "endpoint": proxy.endpoint},
            "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
            "sources": [src], "cache": {"dir": ""}})
        o = Ocb(config=cfg, env=ocb.env)
        o("backup")
        stored = json.loads(o("list", "--json").stdout)[0]["size"]
        before = proxy.bytes_down
        o("restore", "latest", "--target", str(tmp_path / "one"),
          "src/openclaw.json", "src/workspace/memory")
        fetched = proxy.bytes_down - before
        assert fetched < 4 << 20 and fetched < stored / 10, (fetched, stored)
        got = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "one")
                     for d, _, fs in os.walk(tmp_path / "one") for f in fs)
        want = sorted(["src/openclaw.json"] + ["src/workspace/memory/" + f for f in
                                               os.listdir(os.path.join(src, "workspace/memory"))])
        assert got == want
        for f in want:      # (a hardlink to a file not selected: one link)
            assert open(tmp_path / "one" / f, "rb").read() == \
                open(os.path.join(tmp_path, f), "rb").read()
        # the big file at the end: its own frames, not the one at the start
        before = proxy.bytes_down
        o("restore", "latest", "--target", str(tmp_path / "big"), "src/zzz-big.bin")
        fetched = proxy.bytes_down - before
        assert (24 << 20) < fetched < (27 << 20), fetched
        assert open(tmp_path / "big" / "src" / "zzz-big.bin", "rb").read() == \
            open(os.path.join(src, "zzz-big.bin"), "rb").read()
    finally:
        proxy.close()


def test_restore_never_writes_through_symlinks(tmp_path, file_config, ocb_local):
    """Symlinks in a backup pointing out of it (absolute, and up with
    "..") are restored as symlinks: nothing outside the target is touched,
    and a backed-up directory holding them comes back the same."""
    src = tmp_path / "src"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("outside\n")
    (src / "d").mkdir(parents=True)
    (src / "d" / "abs").symlink_to(outside)
    (src / "d" / "up").symlink_to("../../outside/keep.txt")
    (src / "d" / "f.txt").write_text("inside\n")
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    before = {p: open(p, "rb").read() for p in (outside / "keep.txt",)}
    o("restore", "latest", "--target", str(tmp_path / "t"))
    o("restore", "latest")                             # in place, swapped
    assert os.readlink(tmp_path / "t" / "src" / "d" / "abs") == str(outside)
    assert os.readlink(tmp_path / "t" / "src" / "d" / "up") == "../../outside/keep.txt"
    assert sorted(os.listdir(outside)) == ["keep.txt"]
    assert {p: open(p, "rb").read() for p in before} == before
    assert_same_tree(str(src), str(tmp_path / "t" / "src"))


def test_restore_onto_a_full_disk(tmp_path, file_config, ocb_local):
    """A disk that fills up during a restore: a clear error, the original
    untouched, and the half-written copy removed (not left filling it)."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(small)], check=True)
    try:
        src = small / "src"
        src.mkdir()
        (src / "a.bin").write_bytes(os.urandom(5 << 20))
        (src / "note.txt").write_text("keep me\n")
        cfg = json.load(open(file_config))
        cfg["sources"] = [str(src)]
        o = Ocb(config=write_config(tmp_path / "small.json", cfg), env=ocb_local.env)
        o("backup")
        (src / "note.txt").write_text("newer\n")
        p = o("restore", "latest", check=False)          # needs 5 MiB more: no room
        assert p.returncode != 0 and "No space left on device" in p.stderr, p.stderr
        assert "left as it was" in p.stderr
        assert sorted(os.listdir(small)) == ["src"]       # no partial copy beside it
        assert (src / "note.txt").read_text() == "newer\n"
        p = o("restore", "latest", "--target", str(small / "t"), check=False)
        assert p.returncode != 0 and "No space left on device" in p.stderr
        # the partial tree and the target it made are removed
        assert "partial restore in" in p.stderr
        assert sorted(os.listdir(small)) == ["src"]
    finally:
        subprocess.run(["umount", "-l", str(small)])


def test_restore_killed_leaves_the_original(tmp_path, rgw, bucket, s3_config, ocb):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        (src / ("blob%d" % i)).write_bytes(os.urandom(40 * 1024 * 1024))
    o = Ocb(config=s3_config, env=ocb.env)
    o("backup")
    (src / "after-backup.txt").write_text("newer than the backup\n")
    before = sorted(os.listdir(src))
    proc = subprocess.Popen([o.bin, "--config", s3_config, "restore", "latest"],
                            env=ocb.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def staging_started():
        return proc.poll() is not None or any(
            d.startswith("src.ocb-restore-") and os.listdir(tmp_path / d)
            for d in os.listdir(tmp_path))
    wait_for(staging_started, 60, "the restore to start writing", interval=0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the original is untouched (never mixed): same names, same content
    assert sorted(os.listdir(src)) == before
    assert (src / "after-backup.txt").read_text() == "newer than the backup\n"
