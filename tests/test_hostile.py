"""Hostile objects in the store: whoever can write the bucket (another
agent, a CI job with a stolen key) builds each attack with the real tools
against a local store, and each one must fail safely: refused with its
reason and exit code, never becoming `latest`, never restored."""
import errno
import json
import os
import shutil
import subprocess

import pytest

from conftest import Ocb, wait_for, write_config
from test_backup import kms, kms_config  # noqa: F401 (fixture)
from test_group import fleet  # noqa: F401 (fixture)
from test_mount import Mount, mounted  # noqa: F401 (fixture)
from treeutil import make_tree

PREFIX = "openclaw-aws-backups/instance-i-test"


def attacker(tmp_path, file_config, provider="none"):
    """The attacker's config: the victim's store and instance, its own
    (public) key provider and its own sources."""
    cfg = json.load(open(file_config))
    cfg["encryption"] = {"keyProvider": provider}
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "authorized_keys").write_text("ssh-ed25519 AAAA attacker\n")
    cfg["sources"] = [str(evil)]
    cfg["cache"] = {"dir": str(tmp_path / "evil-cache")}
    return write_config(tmp_path / "evil.json", cfg)


def test_provider_downgrade_is_refused(tmp_path, file_config, ocb_local, mounted):
    """A backup whose header says key provider `none`, made by someone who
    can write the store, under a config that names keyfile: refused before
    any unwrap (exit 7), `verify` says DAMAGED, `latest` stays on the
    genuine backup in the mount, a restore never writes the forged files."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    good = json.loads(o("backup", "--json").stdout)["name"]
    evil = Ocb(config=attacker(tmp_path, file_config), env=ocb_local.env)
    forged = json.loads(evil("backup", "--json").stdout)["name"]
    assert forged > good

    listed = {b["name"]: b for b in json.loads(o("list", "--json").stdout)}
    assert "refused" in listed[forged] and "refused" not in listed[good]
    assert "REFUSED" in [l for l in o("list").stdout.splitlines() if forged in l][0]

    p = o("verify", forged, check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "DAMAGED" in p.stdout and "key provider none" in p.stderr
    p = o("verify", "--all", check=False)
    assert p.returncode == 7 and ("ok       %s" % good) in p.stdout

    dest = tmp_path / "restored"
    p = o("restore", forged, "--target", str(dest), check=False)
    assert p.returncode == 7 and "forged" in p.stderr
    assert not (dest / "evil" / "authorized_keys").exists()
    p = o("cat", "latest", check=False, text=False)
    assert p.returncode == 7 and not p.stdout

    m = mounted(file_config, o.env)
    inst = os.path.join(m.path, "i-test")
    assert sorted(os.listdir(inst)) == sorted([good, forged, "latest"])
    assert os.readlink(os.path.join(inst, "latest")) == good
    assert os.path.isdir(os.path.join(m.path, "latest", "src"))
    assert os.getxattr(os.path.join(inst, good), "user.ocb.bound") == b"yes"
    with pytest.raises(OSError):
        os.listdir(os.path.join(inst, forged))
    before = m.stats()["archive_opens"]
    for _ in range(3):
        with pytest.raises(OSError):
            os.listdir(os.path.join(inst, forged))
    assert m.stats()["archive_opens"] == before   # the failure is remembered
    why = os.getxattr(os.path.join(inst, forged), "user.ocb.error").decode()
    assert why.startswith("refused: it fails authentication"), why
    assert "user.ocb.error" in os.listxattr(os.path.join(inst, forged))
    assert "user.ocb.error" not in os.listxattr(os.path.join(inst, good))
    opened = {b["name"]: b for b in json.loads(o("list", "--open", "--json").stdout)}
    assert opened[forged]["refused"].startswith("refused: it fails authentication")
    assert "refused" not in opened[good]


def test_none_still_reads_under_none(tmp_path, file_config, ocb_local):
    """A config that says `none` reads its own `none` backups."""
    evil = Ocb(config=attacker(tmp_path, file_config), env=ocb_local.env)
    name = json.loads(evil("backup", "--json").stdout)["name"]
    p = evil("verify", name)
    assert "ok" in p.stdout


def obj_path(tmp_path, name, prefix=PREFIX):
    return tmp_path / "store" / prefix / (name + ".ocb")


def plant(tmp_path, src_name, dst_key):
    """Copy a stored backup to another key, as a bucket writer can (the
    file store keeps its metadata beside it: copied too)."""
    store = tmp_path / "store"
    for base in (store, store / ".ocb-store" / "meta"):
        s = base / PREFIX / (src_name + ".ocb")
        if s.exists():
            d = base / dst_key
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(s, d)


def test_rollback_and_relabelling_are_refused(tmp_path, file_config, ocb_local):
    """Format 2 binds the name, the prefix and the time: an old backup
    copied under a newer name does not become `latest`, a copy into
    another instance's prefix is refused there."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    old = json.loads(o("backup", "--json").stdout)["name"]
    newer = "openclaw-aws-backup-2098-01-01T00-00-00Z"
    plant(tmp_path, old, PREFIX + "/" + newer + ".ocb")
    p = o("verify", newer, check=False)
    assert p.returncode == 7 and "rolled back" in p.stderr, p.stderr
    assert "says it is %s/%s.ocb" % (PREFIX, old) in p.stderr
    p = o("restore", "latest", "--target", str(tmp_path / "r"), check=False)
    assert p.returncode == 7

    other = "openclaw-aws-backups/instance-i-other"
    plant(tmp_path, old, other + "/" + old + ".ocb")
    cfg = json.load(open(file_config))
    cfg["instanceId"] = "i-other"
    ob = Ocb(config=write_config(tmp_path / "other.json", cfg), env=ocb_local.env)
    p = ob("verify", old, check=False)
    assert p.returncode == 7 and "another instance" in p.stderr
    # the genuine one still verifies, as format 2
    p = o("verify", old)
    assert "format 1" not in p.stdout


FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "format-v1")


def test_format1_backup_stays_readable(tmp_path, ocb_local):
    """A backup written by ocb in format 1 (tests/fixtures/format-v1) is
    read, verified and restored, and said to be unbound."""
    shutil.copytree(os.path.join(FIXTURE, "store"), tmp_path / "store")
    key = tmp_path / "master.key"
    shutil.copyfile(os.path.join(FIXTURE, "master.key"), key)
    os.chmod(key, 0o600)
    cfg = write_config(tmp_path / "c.json", {
        "instanceId": "i-v1", "store": "file://" + str(tmp_path / "store"),
        "encryption": {"keyProvider": "keyfile", "keyFile": str(key)},
        "sources": [str(tmp_path / "src")],
        "cache": {"dir": str(tmp_path / "cache")}})
    o = Ocb(config=cfg, env=ocb_local.env)
    p = o("verify", "latest")
    assert p.stdout.startswith("ok") and "format 1" in p.stdout
    o("restore", "latest", "--target", str(tmp_path / "r"))
    assert (tmp_path / "r" / "src" / "a.txt").read_text() == "hello v1\n"
    assert (tmp_path / "r" / "src" / "sub" / "b.txt").read_text() == "nested\n"
    assert os.readlink(tmp_path / "r" / "src" / "link") == "a.txt"


def test_retention_ignores_future_and_planted_names(tmp_path, file_config, ocb_local):
    """A future-dated copy of a backup and a planted old-tool `.tar.gz`
    with a later date are not "newest": `--keep-last` and `--keep-within`
    keep the genuine newest backups, and the future-dated one is kept
    (its date is not acted upon), not counted."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    # full backups: the second does not need the first
    names = [json.loads(o("backup", "--json", "--full").stdout)["name"] for i in range(2)]
    future = "openclaw-aws-backup-2099-01-01T00-00-00Z"
    plant(tmp_path, names[0], PREFIX + "/" + future + ".ocb")
    tgz = tmp_path / "store" / PREFIX / "openclaw-aws-backup-2098-01-01T00-00-00.tar.gz"
    subprocess.run(["tar", "-czf", str(tgz), "-C", str(tmp_path), "src"], check=True)
    for pol in (["--keep-last", "1"], ["--keep-within", "1h"]):
        p = o("prune", "--dry-run", "--json", *pol)
        plan = {b["name"]: b for b in json.loads(p.stdout)["backups"]}
        assert plan[names[1]]["keep"] and "newest" in plan[names[1]]["why"], plan
        assert plan[future]["keep"] and plan[future]["why"] == "future-dated"
        assert "dated in the future" in p.stderr
        assert plan[names[0]]["keep"] == (pol[0] == "--keep-within")


def patch(path, off, data):
    """Overwrite bytes of a stored object in place (off < 0: from the end)."""
    with open(path, "r+b") as f:
        f.seek(off, os.SEEK_END if off < 0 else os.SEEK_SET)
        f.write(data)


def test_hostile_scrypt_parameters_cost_nothing(tmp_path, file_config, ocb_local):
    """A passphrase backup whose header asks for scrypt N = 2^22, r = 32
    (4 GiB and tens of seconds per open) is refused before scrypt runs."""
    make_tree(str(tmp_path / "src"))
    cfg = json.load(open(file_config))
    pf = tmp_path / "pass"
    pf.write_text("correct horse battery staple\n")
    os.chmod(pf, 0o600)
    cfg["encryption"] = {"keyProvider": "passphrase", "passphraseFile": str(pf)}
    o = Ocb(config=write_config(tmp_path / "pp.json", cfg), env=ocb_local.env)
    name = json.loads(o("backup", "--json").stdout)["name"]
    o("verify", name)
    path = obj_path(tmp_path, name)
    for off in (56, -576 + 56):
        patch(path, off, bytes([22, 32, 1]))
    import time
    t0 = time.monotonic()
    p = o("verify", name, check=False)
    assert p.returncode == 7 and "scrypt parameters" in p.stderr, p.stderr
    assert time.monotonic() - t0 < 10


def run_measured(o, args, cap):
    """run ocb with args, unable to allocate cap bytes at once, and return
    (exit code, stderr, its own peak RSS in KiB: os.wait4 reports this
    child's, not the maximum over every child this test run has had).  The
    cap is RLIMIT_AS in a release build; under AddressSanitizer (whose
    shadow memory makes RLIMIT_AS useless) it is max_allocation_size_mb."""
    import resource
    import tempfile
    with open(o.bin, "rb") as f:
        asan = b"__asan_init" in f.read()
    env = dict(o.env)
    if asan:
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            env.get("ASAN_OPTIONS"), "max_allocation_size_mb=%d" % (cap >> 20)]))

    def limit():
        if not asan:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    with open(os.devnull, "wb") as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen([o.bin, "--config", o.config] + list(args), env=env,
                             stdout=out, stderr=err, preexec_fn=limit)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, err.read().decode(errors="replace"), usage.ru_maxrss


def test_catalog_bomb_is_refused_before_allocation(tmp_path, file_config, ocb_local):
    """A trailer claiming 1 GiB of catalog for a few hundred sealed bytes
    (a catalog bomb) is refused before anything is allocated or
    decompressed: refused as it is when no allocation of half its claim
    can succeed, and the reader's peak memory is no more than verifying
    the genuine backup takes in the same build (release or ASan)."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    name = json.loads(o("backup", "--json").stdout)["name"]
    cap = 512 << 20
    rc, err, genuine = run_measured(o, ["verify", name], cap)
    assert rc == 0, err
    patch(obj_path(tmp_path, name), -64 + 32, (1 << 30).to_bytes(8, "little"))
    rc, err, bomb = run_measured(o, ["verify", name], cap)
    assert rc == 7 and "trailer" in err, err
    assert bomb <= genuine + 16 * 1024, (genuine, bomb)   # KiB: not 1 GiB


def test_entry_bomb_old_backup_is_not_indexed(tmp_path, file_config, ocb_local, mounted):
    """An old-tool archive of 60,000 identical empty members (a few hundred
    KB gzip'd: an index would cost ~30 MB) is not indexed: the mount and
    `restore --dry-run` say why, and the mount does not try again."""
    import io
    import tarfile
    name = "openclaw-aws-backup-2026-01-01T00-00-00"
    tgz = tmp_path / "store" / PREFIX / (name + ".tar.gz")
    tgz.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(str(tgz), "w:gz") as t:
        for i in range(60000):
            ti = tarfile.TarInfo("%s/workspace/%d" % (name, i))
            t.addfile(ti, io.BytesIO(b""))
    assert tgz.stat().st_size < 2 << 20
    o = Ocb(config=file_config, env=ocb_local.env)
    p = o("restore", name, "--dry-run", "--target", str(tmp_path / "r"), check=False)
    assert p.returncode != 0 and "not browsed" in p.stderr, p.stderr
    m = mounted(file_config, o.env)
    d = os.path.join(m.path, "i-test", name)
    for _ in range(3):
        with pytest.raises(OSError):
            os.listdir(d)
    assert m.stats()["legacy_indexes_opened"] == 0
    assert m.stats()["archive_opens"] == 1        # remembered, not retried


def test_kms_backup_renamed_is_refused_before_kms(tmp_path, file_config, ocb, kms):
    """KMS: a backup copied under a newer name is refused before KMS is
    asked (the name its key was made for is not the one it is stored
    under); Decrypt carries the KeyId (the test KMS checks it, as AWS)."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=kms_config(tmp_path, file_config, kms), env=ocb.env)
    name = json.loads(o("backup", "--json").stdout)["name"]
    o("verify", name)
    decrypts = kms.verified
    newer = "openclaw-aws-backup-2097-01-01T00-00-00Z"
    plant(tmp_path, name, PREFIX + "/" + newer + ".ocb")
    p = o("verify", newer, check=False)
    assert p.returncode == 7 and "made for the name" in p.stderr, p.stderr
    assert kms.verified == decrypts


def test_lesser_items(tmp_path, file_config, ocb_local):
    """Names with terminal escapes are printed escaped by `ocb list`; a
    passphrase file owned by another user is refused; a KMS endpoint in
    plain http to another machine is refused."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    name = json.loads(o("backup", "--json").stdout)["name"]
    evil = "openclaw-aws-backup-2026-01-02T00-00-00Z-\x1b]0;pwned\x07\x1b[2J"
    plant(tmp_path, name, PREFIX + "/" + evil + ".ocb")
    out = o("list").stdout
    assert "\x1b" not in out and "\x07" not in out and "pwned" in out
    assert json.loads(o("list", "--json").stdout)      # JSON still parses

    cfg = json.load(open(file_config))
    pf = tmp_path / "pass"
    pf.write_text("correct horse battery staple\n")
    os.chmod(pf, 0o600)
    if os.geteuid() == 0:
        os.chown(pf, 65534, 65534)                     # nobody's
        cfg["encryption"] = {"keyProvider": "passphrase", "passphraseFile": str(pf)}
        pp = Ocb(config=write_config(tmp_path / "pp.json", cfg), env=ocb_local.env)
        p = pp("verify", "latest", check=False)
        assert p.returncode != 0 and "not yours" in p.stderr, p.stderr

    cfg["encryption"] = {"keyProvider": "kms", "kmsKeyId": "alias/x",
                         "kmsEndpoint": "http://192.0.2.1:9"}
    k = Ocb(config=write_config(tmp_path / "k.json", cfg), env=ocb_local.env)
    p = k("verify", "latest", check=False, timeout=60)
    assert p.returncode != 0 and "plain http" in p.stderr, p.stderr


def test_latest_going_back_in_time_is_said_loudly(tmp_path, file_config, ocb_local):
    """Each client keeps the newest authenticated backup it has seen; when
    `latest` is older (the newer ones deleted by someone who can write the
    bucket), restore, cat and verify warn."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    old = json.loads(o("backup", "--json").stdout)["name"]
    new = json.loads(o("backup", "--json").stdout)["name"]
    p = o("verify", "latest")
    assert "WARNING" not in p.stderr
    os.unlink(obj_path(tmp_path, new))
    p = o("verify", "latest")
    assert "WARNING: latest is %s, older than %s" % (old, new) in p.stderr, p.stderr
    p = o("restore", "latest", "--target", str(tmp_path / "r"))
    assert "rolled back" in p.stderr
    assert "WARNING" not in o("verify", old).stderr   # asked for by name


def test_migrate_all_skips_planted_old_backups(tmp_path, file_config, ocb_local):
    """`ocb migrate --all` does not turn an old-tool `.tar.gz` dated after
    the instance's first native backup (planted: the old tool was no longer
    in use) into a sealed native backup; naming it still works."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    name = "openclaw-aws-backup-2099-01-01T00-00-00"
    tgz = obj_path(tmp_path, name).with_suffix("").with_suffix("")
    tgz = tgz.parent / (name + ".tar.gz")
    subprocess.run(["tar", "-czf", str(tgz), "-C", str(tmp_path), "src"], check=True)
    p = o("migrate", "--all")
    assert "skipped by --all" in p.stderr and name in p.stderr
    assert len(json.loads(o("list", "--json").stdout)) == 2


def test_snapshot_files_are_the_owners_only(tmp_path, file_config, ocb_local, mounted):
    """snapshots/ is 0700, a snapshot 0500 and its files 0400 (their log
    holds hook output), so allow_other does not show them to others."""
    import stat
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    m = mounted(file_config, o.env)
    snaps = os.path.join(m.path, "snapshots")
    assert stat.S_IMODE(os.stat(snaps).st_mode) == 0o700
    os.mkdir(os.path.join(snaps, "now"))
    snap = os.path.join(snaps, "now")
    assert open(os.path.join(snap, "wait")).read() == "done\n"
    assert stat.S_IMODE(os.stat(snap).st_mode) == 0o500
    for f in ("log", "status", "progress", "wait"):
        assert stat.S_IMODE(os.stat(os.path.join(snap, f)).st_mode) == 0o400


def test_downgrade_and_rollback_on_rgw(tmp_path, rgw, bucket, s3_config, ocb):
    """The same attacks on the real S3 server: a forged `none` backup and a
    genuine one copied (server-side) under a newer name are refused; the
    genuine backup stays `latest` for restore."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    good = json.loads(o("backup", "--json").stdout)
    evil = Ocb(config=attacker(tmp_path, s3_config), env=ocb.env)
    forged = json.loads(evil("backup", "--json").stdout)["name"]
    p = o("verify", forged, check=False)
    assert p.returncode == 7 and "key provider none" in p.stderr
    newer = "openclaw-aws-backup-2096-01-01T00-00-00Z"
    rgw.aws("s3api", "copy-object", "--bucket", bucket, "--copy-source",
            "%s/%s" % (bucket, good["key"]), "--key", PREFIX + "/" + newer + ".ocb")
    p = o("verify", newer, check=False)
    assert p.returncode == 7 and "rolled back" in p.stderr
    p = o("verify", "--all", check=False)
    assert p.returncode == 7 and ("ok       %s" % good["name"]) in p.stdout


def test_planted_group_request_is_not_answered_by_default(tmp_path, file_config, ocb_local,
                                                          mounted):
    """A group request is an object anyone who can write the bucket can
    put there; a mount answers requests only when `group.answerRequests`
    is true, so by default a planted one starts no backup and no hook."""
    make_tree(str(tmp_path / "src"))
    cfg = json.load(open(file_config))
    marker = tmp_path / "hook-ran"
    cfg["hooks"] = {"preBackup": "touch %s" % marker}
    o = Ocb(config=write_config(tmp_path / "h.json", cfg), env=ocb_local.env)
    evil = Ocb(config=attacker(tmp_path, file_config), env=ocb_local.env)
    evil("group", "request", "pwn")
    m = mounted(o.config, o.env, ("-o", "refresh=1"))
    n0 = m.stats()["listings"]
    wait_for(lambda: m.stats()["listings"] >= n0 + 2, 30, "two listings")
    assert os.listdir(os.path.join(m.path, "snapshots")) == []
    assert not marker.exists()
    assert len(json.loads(o("list", "--json").stdout)) == 0


def refused_plan(o, *args):
    p = o("prune", "--dry-run", "--json", *args, check=False)
    assert p.returncode == 8, p.stdout + p.stderr      # done, with warnings
    return {b["name"]: b for b in json.loads(p.stdout)["backups"]}, p.stderr


def test_prune_counts_only_backups_that_open(tmp_path, file_config, ocb_local):
    """`ocb prune` opens what a rule would count: a forged `none` backup,
    one sealed with another key and a genuine one copied under a newer
    (current, not future) name all fail to open, so none of them is
    newest or takes a `--keep-last` slot; they are kept and listed as
    refused; `--delete-refused` deletes them, never a genuine one, and
    not at all when nothing opens (a wrong key, not a forgery)."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    good = [json.loads(o("backup", "--json").stdout)["name"] for _ in range(2)]
    evil_cfg = attacker(tmp_path, file_config)
    forged = json.loads(Ocb(config=evil_cfg,
                            env=ocb_local.env)("backup", "--json").stdout)["name"]
    cfg = json.load(open(evil_cfg))
    key = tmp_path / "evil.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o600)
    cfg["encryption"] = {"keyProvider": "keyfile", "keyFile": str(key)}
    cfg["cache"] = {"dir": str(tmp_path / "evil-cache2")}
    other = Ocb(config=write_config(tmp_path / "evil2.json", cfg), env=ocb_local.env)
    otherkey = json.loads(other("backup", "--json").stdout)["name"]
    import time
    t = time.gmtime(time.time() + 1800)          # ahead, within the skew
    copy = time.strftime("openclaw-aws-backup-%Y-%m-%dT%H-%M-%SZ", t)
    plant(tmp_path, good[0], PREFIX + "/" + copy + ".ocb")
    hostile = [forged, otherkey, copy]
    assert all(h > good[1] for h in hostile)

    plan, err = refused_plan(o, "--keep-last", "2")
    for h in hostile:
        assert plan[h]["keep"] and plan[h]["why"] == "refused", plan[h]
        assert "refused" in plan[h] and ("%s refused" % h) in err
    assert "newest" in plan[good[1]]["why"] and "last 2" in plan[good[0]]["why"]
    assert "3 backups refused" in err and "--delete-refused" in err
    plan, _ = refused_plan(o, "--keep-within", "1h")
    assert "newest" in plan[good[1]]["why"] and plan[good[0]]["keep"]

    p = o("prune", "--keep-last", "2", check=False)
    assert p.returncode == 8
    assert all(obj_path(tmp_path, n).exists() for n in good + hostile)
    text = o("prune", "--dry-run", "--keep-last", "2", check=False).stdout
    assert "keep    %s (refused) [refused: failed authentication" % forged in text

    # nothing opens under a wrong key: nothing refused is deleted
    wrong = json.load(open(file_config))
    wk = tmp_path / "wrong.key"
    wk.write_bytes(os.urandom(32))
    os.chmod(wk, 0o600)
    wrong["encryption"] = {"keyProvider": "keyfile", "keyFile": str(wk)}
    w = Ocb(config=write_config(tmp_path / "wrong.json", wrong), env=ocb_local.env)
    p = w("prune", "--keep-last", "1", "--delete-refused", check=False)
    assert p.returncode == 8 and "no backup opened" in p.stderr, p.stderr
    assert all(obj_path(tmp_path, n).exists() for n in good + hostile)

    p = o("prune", "--keep-last", "2", "--delete-refused", "--json")
    gone = sorted(b["name"] for b in json.loads(p.stdout)["backups"] if b["deleted"])
    assert gone == sorted(hostile)
    assert all(obj_path(tmp_path, n).exists() for n in good)
    assert o("prune", "--keep-last", "2").returncode == 0


def test_prune_counts_only_backups_that_open_on_rgw(tmp_path, rgw, bucket, s3_config, ocb):
    """The same on the real S3 server: a forged `none` backup and a
    genuine one copied (server-side) under a newer, current name take no
    `--keep-last` slot; the genuine ones all stay."""
    import time
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    good = [json.loads(o("backup", "--json").stdout) for _ in range(2)]
    forged = json.loads(Ocb(config=attacker(tmp_path, s3_config),
                            env=ocb.env)("backup", "--json").stdout)["name"]
    copy = time.strftime("openclaw-aws-backup-%Y-%m-%dT%H-%M-%SZ",
                         time.gmtime(time.time() + 1800))
    rgw.aws("s3api", "copy-object", "--bucket", bucket, "--copy-source",
            "%s/%s" % (bucket, good[0]["key"]), "--key", PREFIX + "/" + copy + ".ocb")

    def stored():
        out = rgw.aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix",
                      PREFIX + "/").stdout
        return sorted(c["Key"].rsplit("/", 1)[1][:-4]
                      for c in json.loads(out)["Contents"] if c["Key"].endswith(".ocb"))

    everything = sorted([g["name"] for g in good] + [forged, copy])
    p = o("prune", "--keep-last", "2", check=False)
    assert p.returncode == 8 and "2 backups refused" in p.stderr, p.stdout + p.stderr
    assert stored() == everything
    o("prune", "--keep-last", "2", "--delete-refused")
    assert stored() == sorted(g["name"] for g in good)


def test_group_restore_takes_only_the_groups_own_backup(fleet, tmp_path, rgw, bucket,
                                                        mounted):
    """A group's manifest (and the object metadata it was collected from)
    is anyone's word: the catalog of a group backup says its group and
    role (shown by the mount as user.ocb.group / user.ocb.role). A
    manifest rewritten to send this agent back to an older backup of its
    own, outside the group, is refused by `ocb group restore` (exit 7),
    nothing restored."""
    src, mgr, _ = fleet["mgr"]
    old = json.loads(mgr("backup", "--json").stdout)["name"]
    for inst, (_, o, _) in fleet.items():
        o("backup", "--group", "g1")
    mgr("group", "finalize", "g1")
    m = json.loads(mgr("group", "show", "g1").stdout)
    mine = [a for a in m["agents"] if a["instance"] == "mgr"][0]
    mt = mounted(mgr.config, mgr.env)
    d = os.path.join(mt.path, "mgr", mine["backup"])
    assert os.getxattr(d, "user.ocb.group") == b"g1"
    assert os.getxattr(d, "user.ocb.role") == b"manager"
    with pytest.raises(OSError):
        os.getxattr(os.path.join(mt.path, "mgr", old), "user.ocb.group")

    mine["backup"] = old
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(m))
    rgw.aws("s3api", "put-object", "--bucket", bucket, "--key",
            "openclaw-aws-backups/.manifests/g1.json", "--body", str(forged))
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write("current\n")
    p = mgr("group", "restore", "g1", check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "is not a backup of group g1" in p.stderr
    assert open(os.path.join(src, "openclaw.json")).read() == "current\n"
    assert not any(x.startswith("state.pre-restore-")
                   for x in os.listdir(os.path.dirname(src)))
    # the mount's groups/ links: the lying one is EIO, the others stand
    g = os.path.join(mounted(mgr.config, mgr.env).path, "groups", "g1")
    with pytest.raises(OSError) as e:
        os.readlink(os.path.join(g, "mgr"))
    assert e.value.errno == errno.EIO
    for inst in ("w1", "lib"):
        assert os.readlink(os.path.join(g, inst)).startswith("../../%s/" % inst)


def test_mount_says_why_a_backup_is_refused_on_rgw(tmp_path, rgw, bucket, s3_config, ocb,
                                                    mounted):
    """Through the mount on the real S3 server: a forged `none` backup and
    a genuine one copied (server-side) under a newer name are EIO to
    browse, never `latest`, and their directories say why
    (user.ocb.error)."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    good = json.loads(o("backup", "--json").stdout)
    forged = json.loads(Ocb(config=attacker(tmp_path, s3_config),
                            env=ocb.env)("backup", "--json").stdout)["name"]
    newer = "openclaw-aws-backup-2095-01-01T00-00-00Z"
    rgw.aws("s3api", "copy-object", "--bucket", bucket, "--copy-source",
            "%s/%s" % (bucket, good["key"]), "--key", PREFIX + "/" + newer + ".ocb")
    m = mounted(s3_config, o.env)
    inst = os.path.join(m.path, "i-test")
    assert sorted(os.listdir(inst)) == sorted([good["name"], forged, newer, "latest"])
    for bad in (forged, newer):
        with pytest.raises(OSError):
            os.listdir(os.path.join(inst, bad))
        why = os.getxattr(os.path.join(inst, bad), "user.ocb.error").decode()
        assert why.startswith("refused: it fails authentication"), why
    assert os.readlink(os.path.join(inst, "latest")) == good["name"]
    assert os.path.isdir(os.path.join(m.path, "latest", "src"))
    out = o("list", "--open").stdout
    for bad in (forged, newer):
        line = [l for l in out.splitlines() if bad in l][0]
        assert "REFUSED (refused: it fails authentication" in line, line
    assert "REFUSED" not in [l for l in out.splitlines() if good["name"] in l][0]


def test_keys_live_in_the_locked_secure_heap(tmp_path, file_config, ocb_local, mounted):
    """The mount starts OpenSSL's secure heap (64 KiB, locked in memory,
    out of core dumps) before it reads the key file: the process has at
    least that much locked memory, and reads still work."""
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    m = mounted(file_config, o.env)
    assert os.path.isdir(os.path.join(m.path, "latest", "src"))
    status = open("/proc/%d/status" % m.proc.pid).read()
    locked = int([l for l in status.splitlines() if l.startswith("VmLck:")][0].split()[1])
    assert locked >= 64, status                    # kB


# ---- incremental backups (format 3): the objects a backup references ----

def _restored_is_source(out, src):
    """every file a failed restore left is the source's, or a prefix of it
    (never other bytes)"""
    for dirpath, _, files in os.walk(out):
        for n in files:
            p = os.path.join(dirpath, n)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            got = open(p, "rb").read()
            want = open(os.path.join(src, os.path.relpath(p, out)), "rb").read()
            assert got == want[:len(got)], p


def _chain(tmp_path, o):
    """an older full, then full -> inc (inc reads the unchanged files from
    full's object)"""
    src = make_tree(str(tmp_path / "src"))
    older = json.loads(o("backup", "--json", "--full", "--label", "older").stdout)
    with open(os.path.join(src, "workspace", "big.bin"), "wb") as f:
        f.write(os.urandom(2_000_000))
    full = json.loads(o("backup", "--json", "--full").stdout)
    with open(os.path.join(src, "openclaw.json"), "a") as f:
        f.write("changed\n")
    inc = json.loads(o("backup", "--json").stdout)
    assert inc["base"] == full["name"] and inc["bytes_new"] * 10 < inc["bytes_total"]
    return src, older, full, inc


@pytest.mark.parametrize("how", ["replaced", "deleted"])
def test_referenced_object_replaced_or_deleted_on_rgw(tmp_path, rgw, bucket, s3_config,
                                                       ocb, how):
    """A bucket writer replaces the object an incremental backup reads from
    with an older backup's object (rolled back), or deletes it: verify and
    restore of the incremental fail as damaged (exit 7) and nothing
    restored differs from the source; `ocb list --open` says why; prune
    warns (exit 8) and keeps the incremental."""
    o = Ocb(config=s3_config, env=ocb.env)
    src, older, full, inc = _chain(tmp_path, o)
    if how == "replaced":
        rgw.aws("s3api", "copy-object", "--bucket", bucket, "--copy-source",
                "%s/%s" % (bucket, older["key"]), "--key", full["key"])
    else:
        rgw.aws("s3api", "delete-object", "--bucket", bucket, "--key", full["key"])
    p = o("verify", inc["name"], check=False)
    assert p.returncode == 7 and "damaged" in (p.stdout + p.stderr).lower(), \
        p.stdout + p.stderr
    out = tmp_path / "out"
    p = o("restore", inc["name"], "--target", str(out), check=False)
    assert p.returncode == 7 and "damaged" in (p.stdout + p.stderr).lower(), \
        p.stdout + p.stderr
    _restored_is_source(str(out / "src"), src)
    # the listing says why
    listing = {b["name"]: b for b in json.loads(o("list", "--open", "--json").stdout)}
    if how == "replaced":
        assert "fails authentication" in listing[full["name"]]["refused"]
        assert listing[inc["name"]]["damaged"] == \
            "needs %s, which does not open" % full["name"]
    else:
        assert full["name"] not in listing
        assert listing[inc["name"]]["damaged"] == \
            "needs %s, which is not in the store" % full["name"]
    assert "damaged" not in listing[older["name"]]
    text = o("list", "--open").stdout
    assert "DAMAGED (needs %s, " % full["name"] in text
    # prune keeps the incremental, and says it cannot be read whole
    p = o("prune", "--dry-run", "--keep-last", "1", check=False)
    assert p.returncode == 8 and "WARNING: backup %s needs backup %s" % (
        inc["name"], full["name"]) in p.stderr, p.stdout + p.stderr
    assert "keep    %s (newest" % inc["name"] in p.stdout
    # a new backup does not take on what cannot be read (its base's
    # references must be there and be the objects named): restores whole
    p = o("backup", "--json")
    nxt = json.loads(p.stdout)
    # a full backup, complete (exit 0, no warning of its own), and the
    # user is told which object of the old chain is damaged
    assert nxt["base"] == "" and nxt["bytes_new"] == nxt["bytes_total"], nxt
    assert nxt["warnings"] == 0, nxt
    assert "backup %s is needed by the newest backup, %s, but %s" % (
        full["name"], inc["name"], "it is not in the store" if how == "deleted"
        else "its object is not the one it names") in p.stderr, p.stderr
    assert "taking a full backup" in p.stderr, p.stderr
    out2 = tmp_path / "out2"
    o("restore", nxt["name"], "--target", str(out2))
    from treeutil import assert_same_tree
    assert_same_tree(src, str(out2 / "src"))
    o("verify", nxt["name"])


def full_and_whole(o, src, out, change):
    """after a change, this instance's next backup: a full one (it does
    not build on what was planted), restoring to the source; verified"""
    from treeutil import assert_same_tree
    with open(os.path.join(src, "openclaw.json"), "a") as f:
        f.write(change + "\n")
    b = json.loads(o("backup", "--json").stdout)
    assert b["base"] == "" and b["bytes_new"] == b["bytes_total"], b
    o("restore", b["name"], "--target", str(out))
    assert_same_tree(src, str(out / "src"))
    o("verify", b["name"])
    return b


def test_forged_incrementals_are_refused_and_never_a_base_on_rgw(tmp_path, rgw, bucket,
                                                                 s3_config, ocb):
    """A bucket writer copies another instance's incremental backup and
    the backup it references (same bucket, even the same key) into this
    instance's prefix, under newer names: both are refused (exit 7: the
    catalog binds its prefix, and the writer cannot re-seal it without
    the key).  Then one writes a chain with ANOTHER key into this prefix:
    refused too.  Each time this instance's next backup does not build on
    the planted newest one (its base must open under our key): it is a
    full backup, and it restores to the source and verifies."""
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    ours = json.loads(o("backup", "--json").stdout)

    cfg = json.load(open(s3_config))
    cfg["instanceId"] = "i-other"
    cfg["sources"] = [make_tree(str(tmp_path / "other"))]
    cfg["cache"] = {"dir": str(tmp_path / "other-cache")}
    other = Ocb(config=write_config(tmp_path / "other.json", cfg), env=ocb.env)
    # its names must be newer than ours once copied here: its prefix has
    # none of ours to step past, so its first backup waits for the clock
    # to pass our backup's second
    import re
    import time
    ours_at = re.search(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d", ours["name"]).group(0)
    wait_for(lambda: time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime()) > ours_at, 10,
             "the second after our backup's")
    ofull = json.loads(other("backup", "--json").stdout)
    oinc = json.loads(other("backup", "--json").stdout)
    assert oinc["base"] == ofull["name"] and ofull["name"] > ours["name"]
    for b in (ofull, oinc):
        rgw.aws("s3api", "copy-object", "--bucket", bucket, "--copy-source",
                "%s/%s" % (bucket, b["key"]), "--key", PREFIX + "/" + b["name"] + ".ocb")
    for b in (ofull, oinc):
        p = o("verify", b["name"], check=False)
        assert p.returncode == 7 and "copied from another instance" in p.stderr, p.stderr
    listing = {b["name"]: b for b in json.loads(o("list", "--open", "--json").stdout)}
    assert listing[oinc["name"]].get("refused") and listing[ofull["name"]].get("refused")
    assert "refused" not in listing[ours["name"]]
    full_and_whole(o, src, tmp_path / "out1", "after the copy")

    # a chain sealed with another key, written into our prefix
    key = tmp_path / "evil.key"
    key.write_bytes(os.urandom(32))
    os.chmod(key, 0o600)
    ecfg = json.load(open(attacker(tmp_path, s3_config)))
    ecfg["encryption"] = {"keyProvider": "keyfile", "keyFile": str(key)}
    evil = Ocb(config=write_config(tmp_path / "evil-key.json", ecfg), env=ocb.env)
    # in our prefix: its names step past ours and the copies
    efull = json.loads(evil("backup", "--json").stdout)
    assert efull["base"] == ""                     # ours do not open under its key
    einc = json.loads(evil("backup", "--json").stdout)
    assert einc["base"] == efull["name"]
    for b in (efull, einc):                        # the key error's exit code
        p = o("verify", b["name"], check=False)
        assert p.returncode == 4 and "wrong key file" in p.stderr, p.stdout + p.stderr
    last = full_and_whole(o, src, tmp_path / "out2", "after the other key")
    # the one after builds on ours again
    again = json.loads(o("backup", "--json").stdout)
    assert again["base"] == last["name"]
    o("verify", again["name"])


FIXTURE3 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "format-v3")
BIG_SHA = "a188160a267a34942d044aec5d122d7be040675dbea07be014a65d6304ae4992"
RAND_SHA = "b7a8cdedc6f7b0e3f213c0928963d41dcfa255e140b8aead96a60bd2dd8f0522"


def object_version(path):
    """the format version in a backup object's header"""
    with open(path, "rb") as f:
        head = f.read(12)
    assert head[:8] == b"OCBACKUP"
    return int.from_bytes(head[8:12], "little")


def check_v3_tree(root, incremental=True):
    """the fixture's source tree (tests/fixtures/format-v3/README) at root"""
    import hashlib
    assert open(os.path.join(root, "a.txt")).read() == "hello v3\n"
    assert open(os.path.join(root, "sub", "b.txt")).read() == "nested\n"
    assert os.readlink(os.path.join(root, "link")) == "a.txt"
    for name, sha in (("sub/big.txt", BIG_SHA), ("rand.bin", RAND_SHA)):
        with open(os.path.join(root, name), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == sha, name
    assert os.path.exists(os.path.join(root, "c.txt")) == incremental


def test_format3_backups_stay_readable(tmp_path, ocb_local):
    """Backups written by ocb in format 3 (tests/fixtures/format-v3: a full
    one and an incremental on it) are listed, verified, restored and read
    through a mount by this ocb, and an incremental in the current format
    builds on them."""
    shutil.copytree(os.path.join(FIXTURE3, "store"), tmp_path / "store")
    key = tmp_path / "master.key"
    shutil.copyfile(os.path.join(FIXTURE3, "master.key"), key)
    os.chmod(key, 0o600)
    src = tmp_path / "src"
    cfg = write_config(tmp_path / "c.json", {
        "instanceId": "i-v3", "store": "file://" + str(tmp_path / "store"),
        "encryption": {"keyProvider": "keyfile", "keyFile": str(key)},
        "sources": [str(src)], "cache": {"dir": str(tmp_path / "cache")}})
    o = Ocb(config=cfg, env=ocb_local.env)
    listed = json.loads(o("list", "--json").stdout)
    names = [b["name"] for b in listed]
    assert len(names) == 2 and names[0].endswith("-v3") and names[1].endswith("-v3i"), listed
    for name in names:
        assert object_version(obj_path(tmp_path, name, "openclaw-aws-backups/instance-i-v3")) == 3
        assert o("verify", name).stdout.startswith("ok")
    o("restore", names[0], "--target", str(tmp_path / "r0"))
    check_v3_tree(str(tmp_path / "r0" / "src"), incremental=False)
    o("restore", "latest", "--target", str(tmp_path / "r1"))
    check_v3_tree(str(tmp_path / "r1" / "src"))

    # through a mount, with the disk cache on
    m = Mount(cfg, ocb_local.env, tmp_path)
    try:
        check_v3_tree(os.path.join(m.path, "latest", "src"))
        check_v3_tree(os.path.join(m.path, "i-v3", names[0], "src"), incremental=False)
    finally:
        m.unmount()

    # an incremental in the current format on the format-3 chain
    shutil.copytree(str(tmp_path / "r1" / "src"), str(src), symlinks=True)
    with open(src / "d.txt", "w") as f:
        f.write("written by the current format\n")
    new = json.loads(o("backup", "--json").stdout)
    assert new["base"] == names[1], new
    assert object_version(obj_path(tmp_path, new["name"], "openclaw-aws-backups/instance-i-v3")) >= 4
    assert new["bytes_new"] < new["bytes_total"] / 4, new    # the rest referred to
    assert o("verify", new["name"]).stdout.startswith("ok")
    o("restore", "latest", "--target", str(tmp_path / "r2"))
    check_v3_tree(str(tmp_path / "r2" / "src"))
    assert (tmp_path / "r2" / "src" / "d.txt").read_text() == "written by the current format\n"
