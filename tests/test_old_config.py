"""The old tool's real configuration files (tests/data/old-tool, byte for
byte what its setup wizard writes, mode 0644), used unchanged by every
command against the real RGW, and imported by `ocb setup --import`."""
import ctypes
import ctypes.util
import json
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import Ocb, TOP, write_config

DATA = os.path.join(TOP, "tests", "data", "old-tool")
NAMES = sorted(f for f in os.listdir(DATA) if f.endswith(".json"))
PREFIX = "openclaw-aws-backups/instance-i-0123456789abcdef0"


def test_the_fixtures_are_the_five_wizard_files():
    assert NAMES == ["backup-config.gpg-weekly.json", "backup-config.kms-6h.json",
                     "backup-config.kms-daily.json", "backup-config.none-custom-cron.json",
                     "backup-config.none-manual.json"]
    for n in NAMES:
        text = open(os.path.join(DATA, n)).read()
        assert not text.endswith("\n")                 # JSON.stringify, as written
        assert '"gpgRecipient"' in text and '"memoryProtection"' in text


@pytest.fixture
def kms(rgw):
    from kms_server import KmsServer
    k = KmsServer(rgw.access_key, rgw.secret_key, region="us-west-2")
    yield k
    k.close()


def machine(home):
    """a machine's home as the agent left it: ~/.openclaw, nothing else"""
    (home / ".openclaw" / "workspace").mkdir(parents=True)
    (home / ".openclaw" / "openclaw.json").write_text('{"agent": "x"}\n')
    (home / ".openclaw" / "workspace" / "MEMORY.md").write_text("remember\n")
    return home


def old_home(tmp_path, name):
    """a home with ~/.openclaw and the old config copied with mode 0644"""
    home = machine(tmp_path / "home")
    cfg = tmp_path / "backup-config.json"
    shutil.copyfile(os.path.join(DATA, name), cfg)
    os.chmod(cfg, 0o644)
    return home, str(cfg)


def old_env(rgw, home, kms=None):
    env = rgw.env()
    env.update(HOME=str(home), AWS_ENDPOINT_URL_S3=rgw.endpoint)
    if kms:
        env["AWS_ENDPOINT_URL_KMS"] = kms.endpoint
    env.pop("OCB_CONFIG", None)
    return env


def ensure_bucket(rgw, name):
    """the configs' bucket, with nothing under their prefix: each test's
    KMS server has its own keys, and a backup left by another test is one
    the retention after a backup refuses to count (exit 8)"""
    if rgw.aws("s3api", "head-bucket", "--bucket", name, check=False).returncode:
        rgw.aws("s3api", "create-bucket", "--bucket", name)
    rgw.aws("s3", "rm", "--recursive", "--quiet", "s3://%s/%s/" % (name, PREFIX))


def libcurl_version():
    """the libcurl ocb runs with (the shared library's own version)"""
    lib = ctypes.CDLL(ctypes.util.find_library("curl"))
    lib.curl_version.restype = ctypes.c_char_p
    v = lib.curl_version().decode().split()[0].split("/")[1]
    return tuple(int(x) for x in v.split(".")[:3])


def check_sse_kms(rgw, bucket, key, old, doctor, backup_err):
    """The old tool's SSE-KMS with its key: both headers from a libcurl
    that signs them right (8.10 and later), else the bucket's default
    encryption carries the key, and where the server has none (Ceph RGW
    before Quincy answers GetBucketEncryption with a listing) doctor and
    backup say the objects are stored without SSE-KMS."""
    want = old["encryption"]["kmsKeyAlias"]
    head = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket,
                              "--key", key).stdout)
    if libcurl_version() >= (8, 10, 0):
        assert head.get("ServerSideEncryption") == "aws:kms"
        assert head.get("SSEKMSKeyId") == want
        assert "SSE-KMS" not in doctor and "SSE-KMS" not in backup_err
        return
    enc = rgw.aws("s3api", "get-bucket-encryption", "--bucket", bucket, check=False)
    rules = (json.loads(enc.stdout).get("ServerSideEncryptionConfiguration", {})
             .get("Rules", []) if enc.returncode == 0 else [])
    if rules:
        d = rules[0]["ApplyServerSideEncryptionByDefault"]
        assert (d["SSEAlgorithm"], d.get("KMSMasterKeyID")) == ("aws:kms", want)
        assert head.get("ServerSideEncryption") == "aws:kms"
        assert head.get("SSEKMSKeyId") == want
        assert ("ok       SSE-KMS with %s by the bucket's default" % want) in doctor
        return
    # this RGW (Pacific) stores the object without SSE: said, not hidden
    assert "ServerSideEncryption" not in head
    for out in (doctor, backup_err):
        assert "the server has no bucket default encryption" in out, out
        assert "stored without SSE-KMS %s" % want in out


@pytest.mark.parametrize("name", NAMES)
def test_old_config_works_unchanged(tmp_path, rgw, kms, name):
    home, cfg = old_home(tmp_path, name)
    before = open(cfg, "rb").read()
    bucket = json.loads(before)["s3"]["bucket"]
    ensure_bucket(rgw, bucket)
    o = Ocb(config=cfg, env=old_env(rgw, home, kms))
    if "gpg" in name:
        # the old tool never applied gpg; ocb encrypts with a key file
        o("key", "generate")
    p = o("doctor")
    assert "FAILED" not in p.stdout and PREFIX in p.stdout
    assert "readable by group or others" in p.stdout          # the 0644 note
    if "memoryProtection\": {\n    \"enabled\": true" in before.decode():
        assert "memoryProtection: kept, not acted on" in p.stdout
    bp = o("backup", "--json")
    res = json.loads(bp.stdout)
    assert res["key"].startswith(PREFIX + "/")
    if "kms" in name:
        check_sse_kms(rgw, bucket, res["key"], json.loads(before), p.stdout, bp.stderr)
    assert res["name"] in o("list").stdout
    o("restore", res["name"], "--target", str(tmp_path / "out"))
    assert (tmp_path / "out" / "openclaw" / "workspace" / "MEMORY.md").read_text() == "remember\n"
    assert open(cfg, "rb").read() == before                   # unchanged


def test_config_writable_by_others_refused_readable_accepted(tmp_path, ocb_local):
    cfg = write_config(tmp_path / "c.json", {"instanceId": "x",
                                              "store": "file://" + str(tmp_path / "s")})
    for mode in (0o664, 0o646, 0o666):
        os.chmod(cfg, mode)
        p = ocb_local("--config", cfg, "list", check=False)
        assert p.returncode == 3 and "writable by group or others" in p.stderr
        assert "chmod 600" in p.stderr
    os.chmod(cfg, 0o644)
    (tmp_path / "s").mkdir()
    assert ocb_local("--config", cfg, "list").returncode == 0


def test_typos_still_named(tmp_path, ocb_local):
    old = json.loads(open(os.path.join(DATA, "backup-config.none-manual.json")).read())
    old["encryption"]["gpgRecipent"] = None
    cfg = write_config(tmp_path / "c.json", old)
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3 and "unknown field encryption.gpgRecipent" in p.stderr
    old = json.loads(open(os.path.join(DATA, "backup-config.none-manual.json")).read())
    old["memoryProtection"]["memoryMx"] = "1G"
    cfg = write_config(tmp_path / "d.json", old)
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3 and "unknown field memoryProtection.memoryMx" in p.stderr
    old["memoryProtection"] = {"enabled": "yes"}
    cfg = write_config(tmp_path / "e.json", old)
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3 and "memoryProtection.enabled: expected true or false" in p.stderr


EXPECT = {
    "backup-config.none-manual.json": ("manual", None, "none"),
    "backup-config.none-custom-cron.json": ("custom", "15 */4 * * *", "none"),
    "backup-config.kms-daily.json": ("daily", None, "kms"),
    "backup-config.kms-6h.json": ("6h", None, "kms"),
    "backup-config.gpg-weekly.json": ("weekly", None, "keyfile"),
}


@pytest.mark.parametrize("name", NAMES)
def test_import_keeps_the_settings(tmp_path, rgw, kms, name):
    home, old = old_home(tmp_path, name)
    env = old_env(rgw, home, kms)    # setup's doctor asks KMS for a key
    env["OCB_SCHEDULER"] = "cron"
    new = str(tmp_path / "new.json")
    p = Ocb(env=env)("--config", new, "setup", "--yes", "--import", old,
                     "--no-test", "--no-schedule", "--print-schedule")
    sched, cron, provider = EXPECT[name]
    line = p.stdout.splitlines()[-1]
    want = {"manual": None, "custom": "15 */4 * * *", "daily": "0 0 * * *",
            "6h": "0 */6 * * *", "weekly": "0 0 * * 0"}[sched]
    if want:
        assert line.startswith(want + " ")
    else:
        assert "manual: no schedule" in p.stdout
    # the written config (with the endpoint of this server) loads and keeps it
    bucket = json.loads(open(old).read())["s3"]["bucket"]
    ensure_bucket(rgw, bucket)
    Ocb(env=env)("--config", new, "setup", "--yes", "--import", old,
                 "--endpoint", rgw.endpoint, "--no-test", "--no-schedule")
    cfg = json.load(open(new))
    assert oct(os.stat(new).st_mode & 0o777) == "0o600"
    assert cfg["backupFrequency"] == sched and cfg.get("customCron") == cron
    assert cfg["region"] == "us-west-2"
    assert "role" not in cfg                       # never forced
    assert cfg["encryption"]["keyProvider"] == provider
    assert cfg["memoryProtection"] == json.loads(open(old).read())["memoryProtection"]
    assert cfg["s3"]["prefix"] == PREFIX
    Ocb(config=new, env=env)("list")


def test_import_role_given_and_region_from_environment(tmp_path, rgw):
    home, old = old_home(tmp_path, "backup-config.none-manual.json")
    doc = json.loads(open(old).read())
    del doc["region"]
    write_config(old, doc)
    env = old_env(rgw, home)
    env["AWS_REGION"] = "eu-north-1"
    ensure_bucket(rgw, doc["s3"]["bucket"])
    new = str(tmp_path / "new.json")
    Ocb(env=env)("--config", new, "setup", "--yes", "--import", old, "--role", "librarian",
                 "--endpoint", rgw.endpoint, "--no-test", "--no-schedule")
    cfg = json.load(open(new))
    assert cfg["role"] == "librarian" and cfg["region"] == "eu-north-1"


def test_custom_schedule_as_systemd_timer(tmp_path, rgw):
    home, old = old_home(tmp_path, "backup-config.none-custom-cron.json")
    env = dict(old_env(rgw, home), OCB_SCHEDULER="systemd")
    p = Ocb(env=env)("--config", str(tmp_path / "n.json"), "setup", "--yes", "--import",
                     old, "--print-schedule")
    assert "OnCalendar=*-*-* 0/4:15:00" in p.stdout
    # six elapses in a row, whatever the time now: a quarter past every
    # fourth hour of the day, each of them once
    v = subprocess.run(["systemd-analyze", "calendar", "--iterations=6", "*-*-* 0/4:15:00"],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stderr
    times = [re.search(r" (\d\d):(\d\d):(\d\d) ", line).groups()
             for line in v.stdout.splitlines() if "elapse:" in line or "Iter. #" in line]
    assert sorted(times) == [("%02d" % h, "15", "00") for h in range(0, 24, 4)], v.stdout
    p = Ocb(env=env)("--config", str(tmp_path / "n.json"), "setup", "--yes",
                     "--schedule", "custom", "--cron", "0 3 * * 1-5", "--print-schedule")
    assert "OnCalendar=Mon..Fri *-*-* 3:0:00" in p.stdout
    assert subprocess.run(["systemd-analyze", "calendar", "Mon..Fri *-*-* 3:0:00"],
                          capture_output=True).returncode == 0
    p = Ocb(env=env)("--config", str(tmp_path / "n.json"), "setup", "--yes",
                     "--schedule", "custom", "--cron", "0 3 1 * 1", "--print-schedule",
                     check=False)
    assert p.returncode == 1 and "OCB_SCHEDULER=cron" in p.stderr
    p = Ocb(env=env)("--config", str(tmp_path / "n.json"), "setup", "--yes",
                     "--schedule", "custom", "--cron", "every day", "--print-schedule",
                     check=False)
    assert p.returncode == 2 and "5-field cron expression" in p.stderr


def test_old_role_denies_direct_kms(tmp_path, rgw, kms):
    """The old tool's role allows KMS only through S3 (kms:ViaService):
    ocb's own GenerateDataKey and Decrypt are refused as AWS KMS refuses
    them (tests/kms_server.py says where the error comes from); backup,
    restore and doctor name the denied action and the statement to add."""
    name = "backup-config.kms-daily.json"
    home, cfg = old_home(tmp_path, name)
    ensure_bucket(rgw, json.loads(open(cfg).read())["s3"]["bucket"])
    o = Ocb(config=cfg, env=old_env(rgw, home, kms))
    res = json.loads(o("backup", "--json").stdout)     # allowed: a backup to restore

    kms.deny = {"GenerateDataKey", "Decrypt"}
    p = o("backup", check=False)
    assert p.returncode == 4, p.stderr
    assert "AccessDeniedException" in p.stderr
    assert "kms:GenerateDataKey is denied to these credentials" in p.stderr
    assert "kms:ViaService" in p.stderr and "docs/iam/ocb-kms-policy.json" in p.stderr
    d = o("doctor", check=False)
    assert d.returncode == 4
    assert "FAILED   KMS key alias/openclaw-aws-backup-i-0123456789abcdef0: " \
           "GenerateDataKey and Decrypt: kms:GenerateDataKey is denied" in d.stdout
    assert "fix: add to the role the statement of docs/iam/ocb-kms-policy.json" in d.stdout

    kms.deny = {"Decrypt"}
    d = o("doctor", check=False)
    assert "Decrypt: kms:Decrypt is denied" in d.stdout and d.returncode == 4
    p = o("restore", res["name"], "--target", str(tmp_path / "out"), check=False)
    assert p.returncode == 4, p.stderr
    assert "kms:Decrypt is denied to these credentials" in p.stderr
    assert kms.denied >= 4

    kms.deny = set()                                   # the statement added
    o("restore", res["name"], "--target", str(tmp_path / "out"))
    assert (tmp_path / "out" / "openclaw" / "workspace" / "MEMORY.md").read_text() == "remember\n"


def old_tool_restore(tarball, home, scratch):
    """What the old tool's restore (bin/backup-restore.js of
    genedragon/openclaw-aws-backup-skill at f921ee2, restoreFiles) makes
    of ~/.openclaw, by the commands it runs: `tar -xzf` in a scratch
    directory, `cp -r` of ~/.openclaw to .pre-restore-<ms> beside it, `mv`
    aside, `cp -r openclaw-config ~/.openclaw`, the aside openclaw.json
    copied back when the backup has none, the aside removed, then
    `rm -rf ~/.openclaw/workspace` and `cp -r workspace` in its place."""
    os.makedirs(scratch)
    subprocess.run(["tar", "-xzf", tarball, "-C", scratch], check=True)
    top = os.path.join(scratch, os.listdir(scratch)[0])
    state = str(home / ".openclaw")
    sh = lambda *a: subprocess.run(list(a), check=True)
    sh("cp", "-r", state, state + ".pre-restore-1")
    sh("mv", state, state + ".temp-1")
    sh("cp", "-r", os.path.join(top, "openclaw-config"), state)
    if not os.path.exists(os.path.join(state, "openclaw.json")):
        sh("cp", state + ".temp-1/openclaw.json", os.path.join(state, "openclaw.json"))
    sh("rm", "-rf", state + ".temp-1")
    sh("rm", "-rf", os.path.join(state, "workspace"))
    sh("cp", "-r", os.path.join(top, "workspace"), os.path.join(state, "workspace"))
    return state


def same_content(a, b):
    """the same paths, types, modes, bytes and symlink targets; `cp -r`
    keeps no mtimes, hard links or xattrs, which ocb restores"""
    from treeutil import snapshot
    sa, sb = snapshot(a), snapshot(b)
    assert sorted(sa) == sorted(sb), set(sa) ^ set(sb)
    for rel in sa:
        fa, fb = ({k: v for k, v in f.items() if k not in ("mtime", "nlink", "xattrs")}
                  for f in (sa[rel], sb[rel]))
        assert fa == fb, (rel, fa, fb)


def test_old_bucket_migrates_on_a_fresh_machine(tmp_path, rgw, kms):
    """The old tool's bucket with a backup in each of its encryption states
    (plain, SSE-KMS, tagged gpg but plain gzip), migrated and restored with
    its KMS config unchanged on a machine with no ~/.cache yet; then each
    old backup and its migrated one restored in place, each on a fresh
    machine, give the ~/.openclaw the old tool's own restore gave."""
    from test_legacy import make_old
    from treeutil import assert_same_tree
    name = "backup-config.kms-6h.json"
    home, cfg = old_home(tmp_path, name)
    bucket = json.loads(open(cfg).read())["s3"]["bucket"]
    ensure_bucket(rgw, bucket)
    o = Ocb(config=cfg, env=old_env(rgw, home, kms))
    work = tmp_path / "work"
    work.mkdir()
    # distinct names in this shared bucket: a random day of 2025
    day = "2025-%02d-%02d" % (random.randrange(1, 13), random.randrange(1, 29))
    made = {}
    for i, (sse, tag) in enumerate([(False, None), (True, None), (False, "gpg")]):
        n = "openclaw-aws-backup-%sT0%d-%02d-%02d" % (day, i, random.randrange(60),
                                                      random.randrange(60))
        # the last one without openclaw.json: the current one is kept
        made[n] = make_old(rgw, bucket, str(work), n, sse=sse, tag=tag, prefix=PREFIX,
                           without=("openclaw-config/openclaw.json",) if tag else ())
    assert not (home / ".cache").exists()
    for n, (top, _) in made.items():
        out = o("migrate", n).stdout
        assert "migrated %s -> %sZ" % (n, n) in out and "verified" in out
        assert "ok" in o("verify", n + "Z").stdout
        tgt = tmp_path / ("r-" + n)
        o("restore", n + "Z", "--target", str(tgt))
        assert_same_tree(str(tgt), top)

    for n, (_, tarball) in made.items():
        want = old_tool_restore(tarball, machine(tmp_path / ("old-" + n)),
                                str(tmp_path / ("x-" + n)))
        plans = []
        for b in (n, n + "Z"):
            fresh = machine(tmp_path / ("fresh-" + b))
            # a dry run compares the same trees in the same places, and
            # writes nothing
            def disk():
                return sorted((d, sorted(set(ds) - {".cache"}), fs)
                              for d, ds, fs in os.walk(fresh)
                              if not d.startswith(str(fresh / ".cache")))
            before = disk()
            dry = Ocb(config=cfg, env=old_env(rgw, fresh, kms))(
                "restore", "--dry-run", b).stdout
            assert disk() == before
            plans.append(dry.strip().splitlines()[-1].split(": ", 1)[1])
            p = Ocb(config=cfg, env=old_env(rgw, fresh, kms))("restore", b)
            assert "previous state is in" in p.stdout, p.stdout
            state = fresh / ".openclaw"
            same_content(str(state), want)
            if b == n:
                # the old restore's openclaw.json is the backup's or the current one
                kept = "openclaw.json" not in os.listdir(made[n][0] + "/openclaw-config")
                assert ((state / "openclaw.json").read_text() == '{"agent": "x"}\n') == kept
            inside = [os.path.join(d, x) for d, ds, fs in os.walk(state)
                      for x in ds + fs if ".pre-restore-" in x or ".ocb-restore-" in x]
            assert not inside, inside
            aside = [x for x in os.listdir(fresh) if x != ".openclaw"]
            assert [x for x in aside if not x.startswith(".openclaw.pre-restore-")] \
                in ([], [".cache"]), aside
            pre = [x for x in aside if x.startswith(".openclaw.pre-restore-")]
            assert len(pre) == 1
            assert (fresh / pre[0] / "workspace" / "MEMORY.md").read_text() == "remember\n"
        assert plans[0] == plans[1], plans
