"""The old tool's .tar.gz backups, made exactly as it made them (tar -czf of
<name>/openclaw-config + <name>/workspace, uploaded by awscli with its
metadata, with and without SSE-KMS), read through the real mount and the
real tools against RGW: browse, random reads, damaged objects, restore,
verify, prune with native backups, migrate, GPG."""
import json
import os
import random
import shutil
import subprocess

import pytest

from conftest import BOTH_SERVERS, Ocb, objects
from test_mount import mounted  # noqa: F401  (the fixture)
from treeutil import assert_same_tree, make_tree

PREFIX = "openclaw-aws-backups/instance-i-test"


def words_file(path, size):
    """compressible but not trivial: random words"""
    rnd = random.Random(path)
    words = [b"agent", b"memory", b"tool", b"session", b"{\"id\":", b"skill", b"\n"]
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) + b" " + str(rnd.randrange(10 ** 6)).encode()
    with open(path, "wb") as f:
        f.write(bytes(out[:size]))


def old_layout(work, name, xattrs=False, without=()):
    """the directory the old tool tarred: <name>/openclaw-config and
    <name>/workspace, times in whole seconds (gnu tar keeps no more);
    without: paths under <name>/ left out"""
    top = os.path.join(work, name)
    make_tree(os.path.join(top, "openclaw-config"), big=1_000_000)
    for rel in without:
        os.remove(os.path.join(top, rel))
    # no fifo: an old archive's special files are never restored
    # (test_restore_safety.py)
    os.remove(os.path.join(top, "openclaw-config", "workspace", "fifo"))
    os.makedirs(os.path.join(top, "workspace", "memory"))
    words_file(os.path.join(top, "workspace", "agent.sqlite"), 10_000_000)
    with open(os.path.join(top, "workspace", "memory", "today.md"), "w") as f:
        f.write("what the agent remembered\n")
    for d, dirs, files in os.walk(top):
        for n in dirs + files:
            p = os.path.join(d, n)
            if not xattrs and not os.path.islink(p):
                for k in os.listxattr(p):
                    os.removexattr(p, k)
            st = os.lstat(p)
            os.utime(p, (int(st.st_mtime), int(st.st_mtime)), follow_symlinks=False)
    return top


def make_old_file(work, name):
    """tar -czf of the old layout, as the old tool made it: the tree and
    the file"""
    top = old_layout(work, name)
    out = os.path.join(work, name + ".tar.gz")
    subprocess.run(["tar", "-czf", out, "-C", work, name], check=True)
    return top, out


def make_old(rgw, bucket, work, name, how="tar", sse=False, gpg_home=None, tag=None,
             prefix=PREFIX, without=()):
    """tar -czf as the old tool did (or pigz, or several gzip members),
    uploaded with its metadata; returns the local tree and the file"""
    top = old_layout(work, name, xattrs=(how == "tar-xattrs"), without=without)
    out = os.path.join(work, name + ".tar.gz")
    if how == "tar":
        subprocess.run(["tar", "-czf", out, "-C", work, name], check=True)
    elif how == "tar-xattrs":
        subprocess.run(["tar", "--format=posix", "--xattrs", "-czf", out, "-C", work, name],
                       check=True)
    elif how == "pigz":
        subprocess.run("tar -cf - -C %s %s | pigz -p 2 -b 256 > %s" % (work, name, out),
                       shell=True, check=True)
    elif how == "members":
        # three gzip members of one tar stream, concatenated
        tar = subprocess.run(["tar", "-cf", "-", "-C", work, name], check=True,
                             capture_output=True).stdout
        third = len(tar) // 3
        with open(out, "wb") as f:
            for part in (tar[:third], tar[third:2 * third], tar[2 * third:]):
                f.write(subprocess.run(["gzip", "-c"], input=part, check=True,
                                       capture_output=True).stdout)
    method = tag or ("gpg" if gpg_home else ("kms" if sse else "none"))
    if gpg_home:
        subprocess.run(["gpg", "--batch", "--yes", "-e", "-r", "ocb-test@example.com",
                        "-o", out + ".gpg", out], check=True,
                       env=dict(os.environ, GNUPGHOME=gpg_home))
        os.replace(out + ".gpg", out)
    ts = name[len("openclaw-aws-backup-"):]
    args = ["s3api", "put-object", "--bucket", bucket, "--key",
            "%s/%s.tar.gz" % (prefix, name), "--body", out, "--metadata",
            "backup-version=2.0,instance-id=i-test,timestamp=%s,encrypted=%s,"
            "encryption-method=%s" % (ts, "true" if method != "none" else "false", method)]
    if sse:
        args += ["--server-side-encryption", "aws:kms", "--ssekms-key-id",
                 "alias/openclaw-backup"]
    rgw.aws(*args)
    return top, out


@pytest.fixture
def o(s3_config, ocb):
    return Ocb(config=s3_config, env=ocb.env)


def test_old_backups_browse_and_read(tmp_path, rgw, bucket, o, mounted):
    work = str(tmp_path / "work")
    os.makedirs(work)
    made = {}
    for i, (how, sse) in enumerate([("tar", False), ("tar-xattrs", True),
                                    ("pigz", False), ("members", False)]):
        name = "openclaw-aws-backup-2026-11-2%dT10-00-00" % i
        made[name] = make_old(rgw, bucket, work, name, how, sse)[0]
    head = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket, "--key",
                              PREFIX + "/openclaw-aws-backup-2026-11-21T10-00-00.tar.gz").stdout)
    assert head["ServerSideEncryption"] == "aws:kms"     # stored encrypted by RGW

    listed = o("list").stdout
    for name in made:
        assert name in listed and "tar.gz" in listed

    m = mounted(o.config, o.env)
    inst = os.path.join(m.path, "i-test")
    assert sorted(n for n in os.listdir(inst) if n != "latest") == sorted(made)
    for name, top in made.items():
        # the top directory <name>/ is the backup's root
        assert sorted(os.listdir(os.path.join(inst, name))) == ["openclaw-config", "workspace"]
        assert_same_tree(os.path.join(inst, name), top)
    st = m.stats()
    assert st["legacy_indexes_opened"] == 4
    total = sum(os.path.getsize(os.path.join(work, n + ".tar.gz")) for n in made)
    assert st["legacy_bytes_indexed"] == total    # each object streamed once

    # random reads at random offsets, against the source
    rnd = random.Random(7)
    for name, top in made.items():
        rel = "workspace/agent.sqlite"
        want = open(os.path.join(top, rel), "rb").read()
        with open(os.path.join(inst, name, rel), "rb") as f:
            for _ in range(40):
                off = rnd.randrange(len(want))
                n = rnd.randrange(1, 600_000)
                f.seek(off)
                assert f.read(n) == want[off:off + n]
    # one small file after indexing: about one restart interval fetched
    m.unmount()
    m2 = mounted(o.config, o.env)
    name = "openclaw-aws-backup-2026-11-20T10-00-00"
    os.listdir(os.path.join(m2.path, "i-test", name))      # index from the disk cache
    s0 = m2.stats()
    assert s0["legacy_bytes_indexed"] == 0
    with open(os.path.join(m2.path, "i-test", name, "workspace/memory/today.md")) as f:
        assert f.read() == "what the agent remembered\n"
    s1 = m2.stats()
    assert s1["retry_requests"] - s0["retry_requests"] == 1
    assert s1["retry_bytes_in"] - s0["retry_bytes_in"] <= (4 << 20) + (1 << 20)
    # no byte of an old backup reached the disk cache (it is not encrypted)
    cache = str(tmp_path / "cache")
    for d, _, files in os.walk(cache):
        for n in files:
            with open(os.path.join(d, n), "rb") as f:
                assert b"what the agent remembered" not in f.read()


def test_damaged_old_backups(tmp_path, rgw, bucket, o, mounted):
    work = str(tmp_path / "work")
    os.makedirs(work)
    good = "openclaw-aws-backup-2026-11-20T10-00-00"
    top, _ = make_old(rgw, bucket, work, good)
    for name, cut in (("openclaw-aws-backup-2026-11-21T10-00-00", "truncate"),
                      ("openclaw-aws-backup-2026-11-22T10-00-00", "corrupt")):
        _, path = make_old(rgw, bucket, work, name)
        data = bytearray(open(path, "rb").read())
        if cut == "truncate":
            data = data[:len(data) * 2 // 3]
        else:
            for k in range(64):
                data[len(data) // 2 + k] ^= 0x5A
        with open(path, "wb") as f:
            f.write(data)
        rgw.aws("s3api", "put-object", "--bucket", bucket, "--key",
                "%s/%s.tar.gz" % (PREFIX, name), "--body", path)

    m = mounted(o.config, o.env)
    inst = os.path.join(m.path, "i-test")
    for name, cut in (("openclaw-aws-backup-2026-11-21T10-00-00", "truncate"),
                      ("openclaw-aws-backup-2026-11-22T10-00-00", "corrupt")):
        with pytest.raises(OSError) as e:
            os.listdir(os.path.join(inst, name))
        assert e.value.errno == 5          # EIO, for that backup only
        with pytest.raises(OSError):       # not streamed again: still EIO
            os.listdir(os.path.join(inst, name))
        p = o("verify", name, check=False)
        assert p.returncode == 7 and "DAMAGED" in p.stdout
        assert "damaged" in p.stderr
        if cut == "truncate":
            assert "truncated" in p.stderr
        r = o("restore", name, "--target", str(tmp_path / ("r-" + name)), check=False)
        assert r.returncode != 0 and "damaged" in r.stderr
    assert m.stats()["legacy_indexes_opened"] == 0
    # the good one still browses; the mount is alive
    assert_same_tree(os.path.join(inst, good), top)


@BOTH_SERVERS
def test_restore_verify_cat_old_backup(tmp_path, rgw, bucket, o):
    work = str(tmp_path / "work")
    os.makedirs(work)
    name = "openclaw-aws-backup-2026-11-20T10-00-00"
    # Swift's s3api has no SSE-KMS: the object is stored as sent there
    top, _ = make_old(rgw, bucket, work, name, "tar", sse=(rgw.kind == "rgw"))
    tgt = tmp_path / "full"
    out = o("restore", name, "--target", str(tgt)).stdout
    assert "gzip CRC checked" in out
    assert_same_tree(str(tgt), top)
    sel = tmp_path / "sel"
    o("restore", name, "--target", str(sel), "workspace/memory")
    assert os.listdir(sel) == ["workspace"]
    assert_same_tree(str(sel / "workspace" / "memory"), os.path.join(top, "workspace", "memory"))
    p = o("restore", name, "--target", str(tmp_path / "none"), "no/such", check=False)
    assert p.returncode == 5
    # a path in place: workspace/... into the state directory's workspace/
    # (the one configured source), the directories above it made
    o("restore", name, "workspace/memory")
    assert_same_tree(str(tmp_path / "src" / "workspace" / "memory"),
                     os.path.join(top, "workspace", "memory"))
    # a dry run compares the index with the disk
    os.remove(str(tgt / "workspace" / "memory" / "today.md"))
    dry = o("restore", "--dry-run", name, "--target", str(tgt)).stdout
    assert "new     workspace/memory/today.md" in dry
    assert "ok" in o("verify", name).stdout
    names = subprocess.run("%s --config %s cat %s | tar -tf -" % (o.bin, o.config, name),
                           shell=True, env=o.env, capture_output=True, text=True, check=True)
    assert name + "/workspace/memory/today.md" in names.stdout.splitlines()


def test_prune_counts_old_and_native_together(tmp_path, rgw, bucket, o):
    work = str(tmp_path / "work")
    os.makedirs(work)
    olds = ["openclaw-aws-backup-2026-11-0%dT10-00-00" % d for d in (1, 2, 3)]
    for n in olds:
        make_old(rgw, bucket, work, n)
    os.makedirs(tmp_path / "src")
    with open(tmp_path / "src" / "f", "w") as f:
        f.write("native\n")
    native = json.loads(o("backup", "--json").stdout)["name"]
    plan = o("prune", "--keep-last", "2", "--dry-run").stdout
    assert plan.count("delete  ") == 2 and "2 to delete" in plan, plan
    o("prune", "--keep-last", "2")
    keys = objects(rgw, bucket)
    assert "%s/%s.tar.gz" % (PREFIX, olds[2]) in keys
    assert "%s/%s.ocb" % (PREFIX, native) in keys
    assert not any(olds[0] in k or olds[1] in k for k in keys)


@BOTH_SERVERS
def test_migrate(tmp_path, rgw, bucket, o):
    work = str(tmp_path / "work")
    os.makedirs(work)
    name = "openclaw-aws-backup-2026-11-20T10-00-00"
    top, _ = make_old(rgw, bucket, work, name, "pigz")
    out = o("migrate", "--all").stdout
    assert "migrated %s -> %sZ" % (name, name) in out and "verified" in out
    keys = objects(rgw, bucket)
    assert "%s/%s.tar.gz" % (PREFIX, name) in keys     # kept without --delete-original
    assert "%s/%sZ.ocb" % (PREFIX, name) in keys
    lst = json.loads(o("list", "--json").stdout)
    new = [b for b in lst if b["name"] == name + "Z"][0]
    assert new["created"] == "2026-11-20T10:00:00Z"     # the original time
    assert "skipped" in o("migrate", name).stdout
    out = o("migrate", "--all", "--delete-original").stdout
    assert "deleted" in out
    assert "%s/%s.tar.gz" % (PREFIX, name) not in objects(rgw, bucket)
    assert "ok" in o("verify", name + "Z").stdout
    tgt = tmp_path / "back"
    o("restore", name + "Z", "--target", str(tgt))
    assert_same_tree(str(tgt), top)
    p = o("migrate", name + "Z", check=False)
    assert p.returncode == 2


def test_gpg_old_backup(tmp_path, rgw, bucket, o, mounted):
    home = str(tmp_path / "gnupg")
    os.makedirs(home, mode=0o700)
    env = dict(os.environ, GNUPGHOME=home)
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "ocb test <ocb-test@example.com>", "default", "default", "never"],
                   check=True, env=env, capture_output=True)
    work = str(tmp_path / "work")
    os.makedirs(work)
    name = "openclaw-aws-backup-2026-11-20T10-00-00"
    top, _ = make_old(rgw, bucket, work, name, gpg_home=home)
    assert "gpg" in o("list").stdout
    m = mounted(o.config, o.env)
    with pytest.raises(PermissionError):
        os.listdir(os.path.join(m.path, "i-test", name))
    m.unmount()
    log = open(str(tmp_path / "ocbfs.log")).read()
    assert "encrypted with GPG" in log and "ocb restore" in log
    genv = dict(o.env, GNUPGHOME=home)
    tgt = tmp_path / "r"
    o("restore", name, "--target", str(tgt), env=genv)
    assert_same_tree(str(tgt), top)
    assert "ok" in o("verify", name, env=genv).stdout
    # without the key: a clear error, nothing left behind
    empty = str(tmp_path / "nokeys")
    os.makedirs(empty, mode=0o700)
    p = o("restore", name, "--target", str(tmp_path / "r2"), check=False,
          env=dict(o.env, GNUPGHOME=empty))
    assert p.returncode != 0 and "gpg could not decrypt" in p.stderr
    shutil.rmtree(empty)


@BOTH_SERVERS
def test_old_backups_have_the_instance_of_native_ones(tmp_path, rgw, bucket, o, mounted):
    """one notion of instance: an old-tool backup without instance-id
    metadata takes the id its prefix names, in list --json, list --all
    and the mount's user.ocb.instance, as a native backup does"""
    work = tmp_path / "work"
    (work / "openclaw-aws-backup-2026-11-20T10-00-00" / "workspace").mkdir(parents=True)
    (work / "openclaw-aws-backup-2026-11-20T10-00-00" / "workspace" / "f").write_text("x\n")
    tgz = str(tmp_path / "old.tar.gz")
    subprocess.run(["tar", "-czf", tgz, "-C", str(work),
                    "openclaw-aws-backup-2026-11-20T10-00-00"], check=True)
    rgw.aws("s3api", "put-object", "--bucket", bucket, "--key",
            PREFIX + "/openclaw-aws-backup-2026-11-20T10-00-00.tar.gz", "--body", tgz)
    src = tmp_path / "src"
    src.mkdir()
    (src / "g").write_text("y\n")
    o("backup")
    listed = json.loads(o("list", "--json").stdout)
    assert len(listed) == 2 and {b["instance"] for b in listed} == {"i-test"}
    assert {b["kind"] for b in listed} == {"ocb", "tar.gz"}
    rows = o("list", "--all").stdout.splitlines()
    assert len(rows) == 2 and all(r.split()[0] == "i-test" for r in rows)
    m = mounted(o.config, o.env)
    inst = os.path.join(m.path, "i-test")
    for name in os.listdir(inst):
        if name != "latest":
            assert os.getxattr(os.path.join(inst, name), "user.ocb.instance") == b"i-test"


def test_gpg_tagged_plain_gzip_is_read_by_its_bytes(tmp_path, rgw, bucket, o, mounted):
    # the old tool with method gpg: a plain gzip tar tagged
    # encryption-method gpg (FACTS of openclaw-aws-backup 2.0.0)
    work = str(tmp_path / "work")
    os.makedirs(work)
    name = "openclaw-aws-backup-2026-11-22T10-00-00"
    top, out = make_old(rgw, bucket, work, name, tag="gpg")
    head = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket, "--key",
                              "%s/%s.tar.gz" % (PREFIX, name)).stdout)
    assert head["Metadata"]["encryption-method"] == "gpg"
    assert open(out, "rb").read(2) == b"\x1f\x8b"
    p = o("list")
    assert name in p.stdout and "none (tagged gpg)" in p.stdout
    # no gpg anywhere: an empty GNUPGHOME
    nokeys = str(tmp_path / "nokeys")
    os.makedirs(nokeys, mode=0o700)
    env = dict(o.env, GNUPGHOME=nokeys)
    m = mounted(o.config, env)
    assert_same_tree(os.path.join(m.path, "i-test", name), top)
    m.unmount()
    o("restore", name, "--target", str(tmp_path / "r"), env=env)
    assert_same_tree(str(tmp_path / "r"), top)
    p = o("verify", name, env=env)
    assert "ok" in p.stdout
    tar = o("cat", name, text=False, env=env).stdout
    want = subprocess.run(["gzip", "-dc", out], check=True, capture_output=True).stdout
    assert tar == want
    p = o("restore", name, "--target", str(tmp_path / "r2"), env=env)
    assert "never encrypted" in p.stderr
    # and it migrates like any other
    out = o("migrate", name, env=env).stdout
    assert "migrated %s -> %sZ" % (name, name) in out and "verified" in out
    tgt = tmp_path / "m"
    o("restore", name + "Z", "--target", str(tgt), env=env)
    assert_same_tree(str(tgt), top)


def test_migrate_on_a_fresh_machine(tmp_path, rgw, bucket, s3_config, ocb):
    # no ~/.cache yet: migrate makes the directories it needs
    cfg = json.load(open(s3_config))
    cfg["cache"]["dir"] = str(tmp_path / "fresh-home" / ".cache" / "ocbfs")
    path = str(tmp_path / "fresh.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        json.dump(cfg, f)
    o = Ocb(config=path, env=ocb.env)
    work = str(tmp_path / "work")
    os.makedirs(work)
    name = "openclaw-aws-backup-2026-11-23T10-00-00"
    top, _ = make_old(rgw, bucket, work, name)
    assert not os.path.exists(tmp_path / "fresh-home")
    out = o("migrate", name).stdout
    assert "migrated %s -> %sZ" % (name, name) in out
    o("restore", name + "Z", "--target", str(tmp_path / "r"))
    assert_same_tree(str(tmp_path / "r"), top)


def test_the_way_back_to_the_old_layout(tmp_path, rgw, bucket, s3_config, ocb):
    """README's recipe, run as written (bash, tar, awscli): an ocb backup
    turned into the old tool's .tar.gz layout and upload"""
    src = tmp_path / "home" / ".openclaw"
    make_tree(str(src / "workspace"))
    # no fifo: an old archive's special files are never restored
    # (test_restore_safety.py), and the way back is checked by a restore
    os.remove(str(src / "workspace" / "workspace" / "fifo"))
    (src / "openclaw.json").write_text('{"agent": "x"}\n')
    for d, dirs, files in os.walk(src):     # tar -czf keeps no xattrs
        for n in dirs + files:
            p = os.path.join(d, n)
            if not os.path.islink(p):
                for k in os.listxattr(p):
                    os.removexattr(p, k)
    cfg = json.load(open(s3_config))
    cfg["sources"] = [str(src)]
    path = str(tmp_path / "back.json")
    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        json.dump(cfg, f)
    o = Ocb(config=path, env=ocb.env)
    o("backup")
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    recipe = readme.split("layout from `ocb cat`", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    recipe = (recipe.replace("/tmp/back", str(tmp_path / "back"))
              .replace("s3://BUCKET/", "s3://%s/" % bucket).replace("instance-ID", "instance-i-test")
              .replace("instance-id=ID", "instance-id=i-test"))
    env = dict(ocb.env, PATH=os.path.dirname(o.bin) + ":" + ocb.env["PATH"],
               OCB_CONFIG=path, AWS_ENDPOINT_URL=rgw.endpoint)
    subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], env=env, check=True)
    olds = [k for k in objects(rgw, bucket) if k.endswith(".tar.gz")]
    assert len(olds) == 1
    # the old layout: <name>/openclaw-config (all of ~/.openclaw) and
    # <name>/workspace (the workspace again)
    name = olds[0].rsplit("/", 1)[1][:-len(".tar.gz")]
    tgt = tmp_path / "r"
    o("restore", name, "--target", str(tgt))
    # (gnu tar keeps whole seconds: content, modes, links compared)
    assert_same_tree(str(tgt / "openclaw-config"), str(src), mtimes=False)
    assert_same_tree(str(tgt / "workspace"), str(src / "workspace"), mtimes=False)


def test_decode_errors_are_damage_in_every_command(tmp_path, file_config, ocb_local):
    """an old backup that is gzip but no tar, and one cut short: every
    command that decodes it says damaged (exit 7), once, never that the
    store is unreachable (6); cat streams the gzip's bytes as they are"""
    o = Ocb(config=file_config, env=ocb_local.env)
    notar = tmp_path / "notar.tar.gz"
    notar.write_bytes(subprocess.run(["gzip", "-c"], input=os.urandom(300_000),
                                     capture_output=True, check=True).stdout)
    work = str(tmp_path / "work")
    os.makedirs(work)
    _, good = make_old_file(work, "openclaw-aws-backup-2026-11-02T10-00-00")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(open(good, "rb").read()[:os.path.getsize(good) * 2 // 3])
    for name, path in (("openclaw-aws-backup-2026-11-01T10-00-00", notar),
                       ("openclaw-aws-backup-2026-11-02T10-00-00", cut)):
        o("store", "put", str(path), "%s/%s.tar.gz" % (PREFIX, name))
    for name in ("openclaw-aws-backup-2026-11-01T10-00-00",
                 "openclaw-aws-backup-2026-11-02T10-00-00"):
        runs = [("verify", name), ("restore", name, "--target", str(tmp_path / "r")),
                ("migrate", name)]
        if name.endswith("02T10-00-00"):
            runs.append(("cat", name))
        for args in runs:
            p = o(*args, check=False, text=False)
            err = p.stderr.decode()
            assert p.returncode == 7, "%s: %d\n%s" % (args, p.returncode, err)
            assert "damaged" in err and "unreachable" not in err and "retries" not in err
            lines = err.splitlines()
            assert len(lines) == len(set(lines)), err
        assert not os.path.exists(tmp_path / "r")
    # gzip that is no tar: cat is a byte stream, and gives the bytes
    p = o("cat", "openclaw-aws-backup-2026-11-01T10-00-00", text=False)
    assert p.stdout == subprocess.run(["gzip", "-dc", str(notar)], capture_output=True,
                                      check=True).stdout
