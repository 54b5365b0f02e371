"""ocb setup: non-interactive and through a pseudo-terminal, against the
real RGW; import of the old tool's config; the schedule it installs."""
import json
import os
import pty
import select
import stat
import subprocess
import uuid

import pytest

from conftest import Ocb, build_path
from test_cli import old_tool_config

MARK = "# ocb-backup"


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    (h / ".openclaw" / "workspace").mkdir(parents=True)
    (h / ".openclaw" / "openclaw.json").write_text('{"agent": "x"}\n')
    (h / ".openclaw" / "workspace" / "MEMORY.md").write_text("remember\n")
    return h


@pytest.fixture
def env(rgw, home):
    e = rgw.env()
    e["HOME"] = str(home)
    e.pop("OCB_CONFIG", None)
    return e


@pytest.fixture
def crontab():
    """root's crontab as it was; the test's line is taken out afterwards."""
    before = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
    yield
    now = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
    kept = "".join(l + "\n" for l in now.splitlines() if MARK not in l)
    subprocess.run(["crontab", "-"], input=kept, text=True, check=True)
    assert MARK not in before


def new_bucket():
    return "setup-%s" % uuid.uuid4().hex[:12]


def test_setup_non_interactive(rgw, home, env, crontab):
    bucket = new_bucket()
    env = dict(env, OCB_SCHEDULER="cron")
    p = Ocb(env=env)("setup", "--yes", "--store", "s3://" + bucket,
                     "--endpoint", rgw.endpoint, "--instance", "agent-1",
                     "--role", "worker", "--keep", "12", "--versioning")
    out = p.stdout
    cfg_path = home / ".config" / "ocb" / "config.json"
    key_path = home / ".config" / "ocb" / "key"
    # config and key file, private
    assert stat.S_IMODE(os.stat(cfg_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600 and os.path.getsize(key_path) == 32
    cfg = json.load(open(cfg_path))
    assert cfg["s3"] == {"bucket": bucket, "endpoint": rgw.endpoint}
    assert cfg["instanceId"] == "agent-1" and cfg["role"] == "worker"
    assert cfg["backupFrequency"] == "weekly" and cfg["retention"]["keep"] == 12
    assert cfg["encryption"] == {"keyProvider": "keyfile", "keyFile": str(key_path)}
    # the default is not written: a backup takes what OpenClaw backs up
    assert "sources" not in cfg
    assert "sources (from its openclaw.json; no openclaw command on PATH): %s\n" % (
        home / ".openclaw") in out
    # the bucket exists, with versioning; the probes passed; nothing left
    rgw.aws("s3api", "head-bucket", "--bucket", bucket)
    v = json.loads(rgw.aws("s3api", "get-bucket-versioning", "--bucket", bucket).stdout)
    assert v["Status"] == "Enabled"
    assert "ok       put, get, head, list and delete" in out and "test: a backup" in out
    # RGW ignores If-None-Match: * on a versioned bucket: said, not fatal
    assert "WARNING  create-only writes: the server ignored If-None-Match: *" in out
    listed = json.loads(rgw.aws("s3api", "list-objects-v2", "--bucket", bucket).stdout or b"{}")
    assert listed.get("KeyCount", 0) == 0
    # the schedule: weekly, with this config
    tab = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
    line = [l for l in tab.splitlines() if MARK in l]
    assert len(line) == 1 and line[0].startswith("0 0 * * 0 ")
    assert "--config %s" % cfg_path in line[0] and line[0].split()[5] == build_path("tools", "ocb")
    # and it works: a backup with the new config (found through $HOME)
    o = Ocb(env=env)
    o("backup")
    assert len(json.loads(o("list", "--json").stdout)) == 1
    # a second setup refuses to overwrite; --force replaces, one cron line
    p = o("setup", "--yes", "--store", "s3://" + bucket, "--endpoint", rgw.endpoint,
          check=False)
    assert p.returncode == 3 and "--force" in p.stderr
    o("setup", "--yes", "--force", "--store", "s3://" + bucket, "--endpoint", rgw.endpoint,
      "--instance", "agent-1", "--no-test")
    tab = subprocess.run(["crontab", "-l"], capture_output=True, text=True).stdout
    assert len([l for l in tab.splitlines() if MARK in l]) == 1
    assert [l for l in tab.splitlines() if MARK in l][0].startswith("0 0 * * * ")  # manager: daily


def test_setup_interactive_through_a_terminal(rgw, home, env):
    bucket = new_bucket()
    answers = [
        "s3://" + bucket,       # store
        rgw.endpoint,           # endpoint
        "",                     # region: default
        "laptop-7",             # instance
        "",                     # key provider: keyfile
        "",                     # key file: default
        str(home / "state"),    # directory to back up
        "librarian",            # role
        "manual",               # schedule
        "5",                    # keep
    ]
    (home / "state").mkdir()
    (home / "state" / "notes.md").write_text("n\n")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(build_path("tools", "ocb"), ["ocb", "setup"], env)
    out = b""
    prompts = 0
    while True:
        r, _, _ = select.select([fd], [], [], 120)
        assert r, "setup stopped answering:\n" + out.decode(errors="replace")
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        # answer each prompt ("...]: ") once
        while out.count(b"]: ") > prompts:
            os.write(fd, answers[prompts].encode() + b"\n")
            prompts += 1
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert prompts == len(answers)
    assert "Instance id [" in text and "Schedule (hourly, 6h, daily, weekly, custom, manual) [daily]" in text
    cfg = json.load(open(home / ".config" / "ocb" / "config.json"))
    assert cfg["instanceId"] == "laptop-7" and cfg["role"] == "librarian"
    assert cfg["backupFrequency"] == "manual" and cfg["retention"]["keep"] == 5
    assert cfg["sources"] == [str(home / "state")]
    assert "ready: instance laptop-7, manual backups, keeping 5" in text


def test_setup_imports_the_old_config(tmp_path, rgw, home, env):
    bucket = new_bucket()
    old = old_tool_config(bucket)
    old["backupFrequency"] = "weekly"
    old["retention"]["keep"] = 7
    path = tmp_path / "backup-config.json"
    path.write_text(json.dumps(old))
    cfg_path = tmp_path / "new.json"
    Ocb(env=env)("--config", str(cfg_path), "setup", "--yes", "--import", str(path),
                 "--endpoint", rgw.endpoint, "--no-schedule")
    cfg = json.load(open(cfg_path))
    # the old settings carried over, its own fields kept
    assert cfg["instanceId"] == "i-0123456789abcdef0"
    assert cfg["s3"]["bucket"] == bucket
    assert cfg["s3"]["prefix"] == "openclaw-aws-backups/instance-i-0123456789abcdef0"
    assert cfg["retention"] == {"keep": 7, "autoClean": True}
    assert cfg["memoryProtection"] == old["memoryProtection"]
    assert cfg["backupFrequency"] == "weekly"
    assert cfg["encryption"]["keyProvider"] == "none"        # it was off
    assert cfg["encryption"]["gpgRecipient"] is None         # its fields kept
    # and the result is usable
    o = Ocb(config=str(cfg_path), env=env)
    o("backup")
    key = json.loads(o("list", "--json").stdout)[0]["key"]
    assert key.startswith("openclaw-aws-backups/instance-i-0123456789abcdef0/")


def test_print_schedule(tmp_path, env):
    cfg = str(tmp_path / "c.json")
    o = Ocb(env=dict(env, OCB_SCHEDULER="systemd"))
    p = o("--config", cfg, "setup", "--yes", "--print-schedule", "--role", "manager")
    units = p.stdout
    assert "OnCalendar=daily" in units and "MemoryMax=256M" in units
    assert "ExecStart=%s --config %s --quiet backup" % (build_path("tools", "ocb"), cfg) in units
    assert not os.path.exists(cfg)                     # nothing written
    # the units are valid for systemd
    unitdir = tmp_path / "units"
    unitdir.mkdir()
    svc, timer = units.split("# ocb-backup.timer\n")
    (unitdir / "ocb-backup.service").write_text(svc.split("# ocb-backup.service\n")[1])
    (unitdir / "ocb-backup.timer").write_text(timer)
    v = subprocess.run(["systemd-analyze", "verify", str(unitdir / "ocb-backup.timer"),
                        str(unitdir / "ocb-backup.service")], capture_output=True, text=True)
    assert "ocb-backup" not in v.stderr, v.stderr
    o = Ocb(env=dict(env, OCB_SCHEDULER="cron"))
    p = o("--config", cfg, "setup", "--yes", "--print-schedule", "--role", "worker")
    assert p.stdout.splitlines()[1].startswith("0 0 * * 0 ")


def test_setup_errors(tmp_path, env):
    o = Ocb(env=env)
    cfg = str(tmp_path / "c.json")
    for args, code in ((["--schedule", "sometimes"], 2), (["--store", "ftp://x"], 2),
                       (["--key-provider", "rot13"], 2), (["--keep", "-1"], 2),
                       (["--import", str(tmp_path / "missing.json")], 5)):
        p = o("--config", cfg, "setup", "--yes", "--no-test", *args, check=False)
        assert p.returncode == code, (args, p.stderr)
        assert not os.path.exists(cfg)


def test_versioning_gets_a_lifecycle_rule(tmp_path, rgw, home, env):
    bucket = new_bucket()
    cfg = str(tmp_path / "v.json")
    p = Ocb(env=env)("--config", cfg, "setup", "--yes", "--store", "s3://" + bucket,
                     "--endpoint", rgw.endpoint, "--instance", "agent-v", "--keep", "12",
                     "--versioning", "--no-test", "--no-schedule")
    assert "noncurrent versions under openclaw-aws-backups/instance-agent-v/ expire " \
           "after 12 days" in p.stdout
    lc = json.loads(rgw.aws("s3api", "get-bucket-lifecycle-configuration",
                            "--bucket", bucket).stdout)["Rules"]
    assert len(lc) == 1 and lc[0]["Status"] == "Enabled"
    assert lc[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 12
    assert lc[0]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    assert lc[0]["Filter"]["Prefix"] == "openclaw-aws-backups/instance-agent-v/"
    assert "bucket versioning on, with a lifecycle" in Ocb(config=cfg, env=env)("doctor").stdout
    # versioning on and no rule (set by hand): doctor warns, does not fail
    rgw.aws("s3api", "delete-bucket-lifecycle", "--bucket", bucket)
    p = Ocb(config=cfg, env=env)("doctor")
    assert "versioning is on without a lifecycle rule" in p.stdout
    assert "FAILED" not in p.stdout
    # an existing configuration is never replaced
    rgw.aws("s3api", "put-bucket-lifecycle-configuration", "--bucket", bucket,
            "--lifecycle-configuration", json.dumps({"Rules": [{
                "ID": "mine", "Status": "Enabled", "Filter": {"Prefix": "other/"},
                "Expiration": {"Days": 3}}]}))
    p = Ocb(env=env)("--config", cfg, "setup", "--yes", "--force", "--store",
                     "s3://" + bucket, "--endpoint", rgw.endpoint, "--instance", "agent-v",
                     "--no-test", "--no-schedule")
    assert "keeping its lifecycle configuration" in p.stdout
    lc = json.loads(rgw.aws("s3api", "get-bucket-lifecycle-configuration",
                            "--bucket", bucket).stdout)["Rules"]
    assert [r["ID"] for r in lc] == ["mine"]


def test_bucket_settings_denied_by_the_old_policy(tmp_path, rgw, home, env, proxy):
    """The old tool's policy allows no bucket configuration requests
    (tests/data/old-tool): on a versioned bucket setup warns naming each
    denied action, and goes on; the proxy answers them with S3's
    AccessDenied body."""
    bucket = new_bucket()
    rgw.aws("s3api", "create-bucket", "--bucket", bucket)
    rgw.aws("s3api", "put-bucket-versioning", "--bucket", bucket,
            "--versioning-configuration", "Status=Enabled")
    cfg = str(tmp_path / "d.json")

    def setup(*extra):
        return Ocb(env=env)("--config", cfg, "setup", "--yes", "--force", "--store",
                            "s3://" + bucket, "--endpoint", proxy.endpoint, "--instance",
                            "agent-d", "--no-test", "--no-schedule", *extra, check=False)

    for match, action in ((b"?versioning", "GetBucketVersioning"),
                          (b"GET /%s?lifecycle" % bucket.encode(), "GetLifecycleConfiguration"),
                          (b"PUT /%s?lifecycle" % bucket.encode(), "PutLifecycleConfiguration")):
        proxy.clear()
        proxy.inject("denied", match=match, count=-1, arg="s3:" + action)
        p = setup()
        assert p.returncode == 0, (action, p.stdout, p.stderr)
        assert "bucket: WARNING: s3:%s is denied" % action in p.stdout, p.stdout
        assert "fix: allow s3:%s on the bucket (docs/iam/)" % action in p.stdout
    assert rgw.aws("s3api", "get-bucket-lifecycle-configuration", "--bucket", bucket,
                   check=False).returncode != 0          # nothing was set
    proxy.clear()
    proxy.inject("denied", match=b"?versioning", count=-1, arg="s3:GetBucketVersioning")
    d = Ocb(config=cfg, env=env)("doctor")            # a warning: exit 0
    assert "warning  s3:GetBucketVersioning is denied" in d.stdout
    proxy.clear()
    proxy.inject("denied", match=b"?versioning", count=-1, arg="s3:PutBucketVersioning")
    p = setup("--versioning")
    assert p.returncode == 4 and "s3:PutBucketVersioning is denied" in p.stderr


# The shape of openclaw.json as OpenClaw 2026.9.6 (npm) writes it: taken
# from the file `openclaw onboard --non-interactive --accept-risk
# --auth-choice apiKey ... --skip-daemon` followed by `openclaw agents add
# helper --workspace EXT/helper-ws --agent-dir EXT/helper-agent` wrote
# (tests/test_openclaw.py runs those), with the token replaced.  The
# "$include"s follow its docs (docs/gateway/configuration/common-tasks.md
# in the package: relative to the including file, a file or an array,
# JSON5; files outside the config's directory through
# OPENCLAW_INCLUDE_ROOTS).
def real_shaped_openclaw_json(home, ext):
    oc = str(home / ".openclaw")
    return {
        "agents": {
            "defaults": {
                "workspace": oc + "/workspace",
                "model": {"primary": "anthropic/claude-opus-5"},
                "models": {"anthropic/claude-opus-5": {}},
                "systemAgent": {"agentId": "main"},
                "heartbeat": {"agentId": "main"},
            },
            "ownership": "explicit",
            "entries": {
                "main": {"name": "main", "workspace": oc + "/workspace",
                         "agentDir": oc + "/agents/main/agent",
                         "identity": {"name": "main"}},
                "helper": {"name": "helper", "workspace": str(ext / "helper-ws"),
                           "agentDir": str(ext / "helper-agent"),
                           "identity": {"name": "helper"}},
            },
        },
        "plugins": {"$include": str(ext / "shared" / "plugins.json5")},
        "broadcast": {"$include": ["./clients/a.json5"]},
        "meta": {"lastTouchedVersion": "2026.9.6"},
        "gateway": {"mode": "local", "auth": {"mode": "token", "token": "x" * 48},
                    "port": 18789, "bind": "loopback", "tailscale": {"mode": "off"}},
        "auth": {"profiles": {"anthropic:default": {"provider": "anthropic",
                                                    "mode": "api_key"}}},
    }


def write_includes(ext):
    """the files real_shaped_openclaw_json includes outside ~/.openclaw
    (ext/shared, which exists): one including another, which names a
    workspace, ext/ops-ws (made here)"""
    (ext / "shared" / "plugins.json5").write_text(
        '// shared by the fleet\n{"entries": {"anthropic": {"enabled": true}},\n'
        ' "$include": "./more.json5"}\n')
    (ext / "shared" / "more.json5").write_text(
        '{"agents": {"entries": {"ops": {"workspace": "%s"}}}}\n' % (ext / "ops-ws"))
    (ext / "ops-ws").mkdir()


def test_sources_from_openclaw_json_without_the_command(tmp_path, rgw, home, env):
    """No `openclaw` on PATH: the sources are ~/.openclaw and what its
    openclaw.json (and the files it includes) names outside it that exists;
    setup, doctor and backup --dry-run all show that list."""
    ext = tmp_path / "ext"
    for d in ("helper-ws", "helper-agent", "shared"):
        (ext / d).mkdir(parents=True)
    (ext / "helper-ws" / "MEMORY.md").write_text("helper remembers\n")
    write_includes(ext)
    (home / ".openclaw" / "clients").mkdir()
    (home / ".openclaw" / "clients" / "a.json5").write_text('{"channel": "x"}\n')
    (home / ".openclaw" / "openclaw.json").write_text(
        json.dumps(real_shaped_openclaw_json(home, ext), indent=2) + "\n")
    bucket = new_bucket()
    p = Ocb(env=env)("setup", "--yes", "--store", "s3://" + bucket, "--endpoint",
                     rgw.endpoint, "--instance", "agent-2", "--no-schedule")
    want = [str(home / ".openclaw"), str(ext / "helper-ws"), str(ext / "helper-agent"),
            str(ext / "shared" / "plugins.json5"), str(ext / "shared" / "more.json5"),
            str(ext / "ops-ws")]
    line = "sources (from its openclaw.json; no openclaw command on PATH): %s\n" % \
        " ".join(want)
    assert line in p.stdout, p.stdout
    o = Ocb(env=env)
    assert line in o("doctor").stdout
    plan = json.loads(o("backup", "--dry-run", "--json").stdout)
    assert plan["sources_from"] == "its openclaw.json; no openclaw command on PATH"
    assert plan["sources_from_openclaw"] is False
    what = {e["path"]: e["what"] for e in plan["entries"]}
    for w in want:
        assert what[w].startswith("source, stored as "), what
    assert what["helper-ws/MEMORY.md"] == "file"
    # an openclaw.json ocb cannot read (JSON5 keys unquoted): said, and the
    # state directory alone
    (home / ".openclaw" / "openclaw.json").write_text("{agents: {}}\n")
    d = o("backup", "--dry-run", check=False)
    assert d.returncode == 0, d.stderr
    assert "(sources from its openclaw.json; no openclaw command on PATH)" in d.stdout
    assert "not JSON that ocb can read" in d.stderr
    assert [e["path"] for e in json.loads(o("backup", "--dry-run", "--json").stdout)["entries"]
            if e["what"].startswith("source")] == [str(home / ".openclaw")]
