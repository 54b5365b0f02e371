"""Group backups of a fleet: three simulated agents (three instance ids,
three source trees, one bucket on RGW, and on Swift for the tests
marked BOTH_SERVERS) each tag their backup; the
manager finalizes the manifest; a missing agent makes it incomplete; the
restore order follows the roles; the manager restores its own part."""
import json
import os

import pytest

from conftest import BOTH_SERVERS, Ocb, objects, wait_for, write_config
from test_mount import mounted  # noqa: F401 (fixture)
from treeutil import make_tree, assert_same_tree

AGENTS = [("mgr", "manager"), ("w1", "worker"), ("lib", "librarian")]


@pytest.fixture
def fleet(tmp_path, rgw, bucket, keyfile, ocb):
    out = {}
    for inst, role in AGENTS:
        src = make_tree(str(tmp_path / inst / "state"))
        cfg = write_config(tmp_path / (inst + ".json"), {
            "instanceId": inst, "region": rgw.region, "role": role,
            "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
            "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
            "sources": [src], "cache": {"dir": ""}})
        out[inst] = (src, Ocb(config=cfg, env=ocb.env), role)
    return out


@BOTH_SERVERS
def test_group_backup_manifest_and_restore_order(fleet, tmp_path, mounted):
    names = {}
    for inst, (src, o, role) in fleet.items():
        # the role comes from the config ("role"); --role would override
        names[inst] = json.loads(o("backup", "--group", "g1", "--json").stdout)["name"]
    mgr = fleet["mgr"][1]
    p = mgr("group", "finalize", "g1", "--project", "demo",
            "--expect", "mgr", "--expect", "lib", "--expect", "w1")
    assert p.stdout.strip() == "g1: 3 agents, complete"
    m = json.loads(mgr("group", "show", "g1").stdout)
    assert m["backup_id"] == "g1" and m["backup_type"] == "multi-agent"
    assert m["status"] == "complete" and m["missing"] == [] and m["project"] == "demo"
    assert m["coordination"]["manager_id"] == "mgr"
    got = {a["instance"]: (a["type"], a["backup"]) for a in m["agents"]}
    assert got == {inst: (fleet[inst][2], names[inst]) for inst in names}
    assert all(a["backup_path"].endswith(a["backup"] + ".ocb") for a in m["agents"])
    # the restore order: manager, then librarian, then workers
    p = mgr("group", "restore", "g1", "--dry-run")
    lines = p.stdout.splitlines()[1:]
    assert [l.split()[1] for l in lines] == ["manager", "librarian", "worker"]
    assert [l.split()[2] for l in lines] == ["CRITICAL", "HIGH", "MEDIUM"]
    assert "mgr  this machine: ocb restore " + names["mgr"] in lines[0]
    assert "w1  run there: ocb restore " + names["w1"] in lines[2]
    # the manager restores its own part in place
    src = fleet["mgr"][0]
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write("broken\n")
    mgr("group", "restore", "g1")
    assert open(os.path.join(src, "openclaw.json")).read() != "broken\n"
    assert any(d.startswith("state.pre-restore-") for d in os.listdir(os.path.dirname(src)))
    # the manifests are not an instance, in listings or in the mount;
    # groups/ shows each group: its manifest and a link per agent
    assert "g1" in mgr("group", "list").stdout
    mt = mounted(mgr.config, mgr.env)
    assert sorted(os.listdir(mt.path)) == [".ocbfs", "groups", "latest", "lib", "mgr",
                                           "snapshots", "w1"]
    g = os.path.join(mt.path, "groups", "g1")
    assert os.listdir(os.path.join(mt.path, "groups")) == ["g1"]
    assert sorted(os.listdir(g)) == ["lib", "manifest.json", "mgr", "w1"]
    assert json.load(open(os.path.join(g, "manifest.json"))) == m
    for inst in ("mgr", "lib", "w1"):
        assert os.readlink(os.path.join(g, inst)) == "../../%s/%s" % (inst, names[inst])
    # a fleet's state at one moment, browsed through the links
    assert_same_tree(fleet["w1"][0], os.path.join(g, "w1", "state"))


def test_missing_agent_makes_the_group_incomplete(fleet):
    for inst in ("mgr", "lib"):                      # w1 is down
        fleet[inst][1]("backup", "--group", "g2")
    mgr = fleet["mgr"][1]
    p = mgr("group", "finalize", "g2", "--expect", "mgr", "--expect", "lib",
            "--expect", "w1", check=False)
    assert p.returncode == 1
    assert p.stdout.strip() == "g2: 2 agents, INCOMPLETE; missing: w1"
    m = json.loads(mgr("group", "show", "g2").stdout)
    assert m["status"] == "incomplete" and m["missing"] == ["w1"]
    # a group nobody took part in, and bad input
    assert mgr("group", "show", "nope", check=False).returncode == 5
    assert mgr("group", "finalize", "bad id", check=False).returncode == 2
    assert mgr("backup", "--group", "g3", "--role", "boss", check=False).returncode == 2


def test_state_hooks(tmp_path, file_config, ocb_local):
    """preBackup writes the agent's state into the source before the
    backup (and can veto it), postBackup learns the name, postRestore
    validates a restore: its failure fails the restore, the previous
    state kept aside."""
    src = make_tree(str(tmp_path / "src"))
    log = tmp_path / "hooks.log"
    cfg = json.load(open(file_config))
    cfg["hooks"] = {
        "preBackup": "printf '{\"tasks\": 3}' > %s/state.json; echo pre >> %s" % (src, log),
        "postBackup": "echo \"post $OCB_BACKUP $OCB_INSTANCE\" >> %s" % log,
        "postRestore": "test -f \"$OCB_PATH/state.json\" && ! test -e \"$OCB_PATH/poison\"",
    }
    o = Ocb(config=write_config(tmp_path / "hooks.json", cfg), env=ocb_local.env)
    name = json.loads(o("backup", "--json").stdout)["name"]     # stdout stays JSON
    assert log.read_text().splitlines() == ["pre", "post %s i-test" % name]
    assert json.load(open(os.path.join(src, "state.json"))) == {"tasks": 3}
    o("restore", "latest", "--target", str(tmp_path / "t"))
    assert json.load(open(tmp_path / "t" / "src" / "state.json")) == {"tasks": 3}
    # a restore the hook rejects: failed, previous state kept aside
    open(os.path.join(src, "poison"), "w").close()
    o2 = Ocb(config=write_config(tmp_path / "poison.json", dict(
        cfg, hooks=dict(cfg["hooks"], postRestore="! test -e \"$OCB_PATH/extra\""))),
        env=ocb_local.env)
    os.mkdir(os.path.join(src, "extra"))       # not in the backup: gone after restore
    p = o2("restore", "latest", check=False)
    assert p.returncode == 0                    # the hook found no "extra": fine
    o3 = Ocb(config=write_config(tmp_path / "reject.json", dict(
        cfg, hooks=dict(cfg["hooks"], postRestore="exit 3"))), env=ocb_local.env)
    p = o3("restore", "latest", check=False)
    assert p.returncode == 1 and "postRestore hook" in p.stderr
    kept = [d for d in os.listdir(tmp_path) if d.startswith("src.pre-restore-")]
    assert kept and "the previous state is kept in" in p.stderr
    # a failing preBackup vetoes the backup
    o4 = Ocb(config=write_config(tmp_path / "veto.json", dict(
        cfg, hooks={"preBackup": "exit 1"})), env=ocb_local.env)
    before = len(json.loads(o("list", "--json").stdout))
    p = o4("backup", check=False)
    assert p.returncode == 1 and "no backup taken" in p.stderr
    assert len(json.loads(o("list", "--json").stdout)) == before


# ---- coordinated group backups through the store and the mounts ----------

def fleet_configs(tmp_path, rgw, bucket, keyfile, group, extra=None):
    """configs of the three agents (each its own cache); the manager's
    preBackup hook writes its state down, recorded as its state snapshot"""
    out = {}
    # these agents answer the fleet's requests (opted into)
    group = dict(group, answerRequests=group.get("answerRequests", True))
    for inst, role in AGENTS:
        src = make_tree(str(tmp_path / inst / "state"))
        cfg = {"instanceId": inst, "region": rgw.region, "role": role,
               "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
               "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
               "sources": [src], "cache": {"dir": str(tmp_path / inst / "cache")},
               "group": group}
        if role == "manager":
            cfg["stateSnapshot"] = os.path.join(src, "agent-state.json")
            cfg["hooks"] = {"preBackup": "printf '{\"tasks\": 3}' > %s; echo wrote state"
                            % cfg["stateSnapshot"]}
        cfg.update(extra or {})
        out[inst] = (src, write_config(tmp_path / (inst + ".json"), cfg))
    return out


def read(path):
    with open(path) as f:
        return f.read()


def request_keys(rgw, bucket):
    return [k for k in objects(rgw, bucket) if "/.requests/" in k]


@BOTH_SERVERS
def test_mkdir_group_requests_the_fleet_and_writes_the_manifest(
        tmp_path, rgw, bucket, keyfile, ocb, mounted):
    cfgs = fleet_configs(tmp_path, rgw, bucket, keyfile,
                         {"members": ["mgr", "lib", "w1"], "timeout": 120,
                          "project": "demo"})
    # the other agents' daemons look at the store every second
    others = {i: mounted(cfgs[i][1], ocb.env, ("-o", "refresh=1")) for i in ("lib", "w1")}
    mgr = mounted(cfgs["mgr"][1], ocb.env)
    snap = os.path.join(mgr.path, "snapshots", "group-g5")
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "done\n"   # blocks until the manifest
    log = read(os.path.join(snap, "log"))
    assert "requested group backup g5" in log and "preBackup: wrote state" in log
    assert "manifest: 3 agents, complete" in log
    o = Ocb(config=cfgs["mgr"][1], env=ocb.env)
    m = json.loads(o("group", "show", "g5").stdout)
    assert m["status"] == "complete" and m["missing"] == [] and m["project"] == "demo"
    assert m["coordination"]["initiated_by"] == "mgr"
    assert m["coordination"]["manager_id"] == "mgr"
    agents = {a["instance"]: a for a in m["agents"]}
    assert sorted(agents) == ["lib", "mgr", "w1"]
    assert {i: a["type"] for i, a in agents.items()} == dict(AGENTS)
    assert agents["mgr"]["state_snapshot"] == "state/agent-state.json"
    assert agents["w1"]["state_snapshot"] is None
    # each other agent took its own part, answering the request
    for inst, mt in others.items():
        part = os.path.join(mt.path, "snapshots", "group-g5")
        assert read(os.path.join(part, "wait")) == "done\n"
        assert os.readlink(os.path.join(part, "backup")) == "../../%s/%s" % (
            inst, agents[inst]["backup"])
    # the request is closed; the group is browsable from the manager's mount
    assert request_keys(rgw, bucket) == []
    assert os.readlink(os.path.join(snap, "backup")) == "../../groups/g5"
    g = os.path.join(snap, "backup")
    assert sorted(os.listdir(g)) == ["lib", "manifest.json", "mgr", "w1"]
    assert json.loads(read(os.path.join(g, "mgr", "state", "agent-state.json"))) == {"tasks": 3}
    assert_same_tree(cfgs["w1"][0], os.path.join(g, "w1", "state"))


def test_group_with_an_agent_down_is_incomplete(tmp_path, rgw, bucket, keyfile, ocb, mounted):
    cfgs = fleet_configs(tmp_path, rgw, bucket, keyfile,
                         {"members": ["mgr", "lib", "w1"], "timeout": 3})
    mounted(cfgs["lib"][1], ocb.env, ("-o", "refresh=1"))     # w1 is down
    mgr = mounted(cfgs["mgr"][1], ocb.env)
    snap = os.path.join(mgr.path, "snapshots", "group-g6")
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "incomplete\n"
    assert read(os.path.join(snap, "status")) == "incomplete\n"
    assert "manifest: 2 agents, incomplete; missing: w1" in read(os.path.join(snap, "log"))
    o = Ocb(config=cfgs["mgr"][1], env=ocb.env)
    m = json.loads(o("group", "show", "g6").stdout)
    assert m["status"] == "incomplete" and m["missing"] == ["w1"]
    assert sorted(a["instance"] for a in m["agents"]) == ["lib", "mgr"]
    assert request_keys(rgw, bucket) == []     # closed, so w1 will not answer late
    # an agent whose mount answers no requests takes no part
    cfg = json.load(open(cfgs["w1"][1]))
    cfg["group"]["answerRequests"] = False
    w1 = mounted(write_config(tmp_path / "w1-quiet.json", cfg), ocb.env, ("-o", "refresh=1"))
    o("group", "request", "g8")
    assert "g8.json" in [k.rsplit("/", 1)[1] for k in request_keys(rgw, bucket)]
    n0 = w1.stats()["listings"]
    # two listings later, one full refresh has seen the request
    wait_for(lambda: w1.stats()["listings"] >= n0 + 2, 30, "two listings of w1")
    assert os.listdir(os.path.join(w1.path, "snapshots")) == []


@BOTH_SERVERS
def test_request_from_the_command_line_answered_by_the_mounts(
        tmp_path, rgw, bucket, keyfile, ocb, mounted):
    cfgs = fleet_configs(tmp_path, rgw, bucket, keyfile, {"members": ["mgr", "lib", "w1"]})
    mounts = {i: mounted(cfgs[i][1], ocb.env, ("-o", "refresh=1")) for i in ("lib", "w1")}
    o = Ocb(config=cfgs["mgr"][1], env=ocb.env)
    assert o("group", "request", "g7").stdout == "requested group backup g7\n"
    o("group", "request", "g7")                # once: a second request is the same
    o("backup", "--group", "g7")               # the manager's own part (acknowledged)
    p = o("group", "finalize", "g7", "--timeout", "120")   # members from the config
    assert p.stdout == "g7: 3 agents, complete\n"
    for inst, mt in mounts.items():
        assert read(os.path.join(mt.path, "snapshots", "group-g7", "wait")) == "done\n"
    assert request_keys(rgw, bucket) == []


def test_priorities_from_the_config_and_one_agent(fleet, tmp_path, rgw):
    for inst, (src, o, role) in fleet.items():
        o("backup", "--group", "g9")
    mgr = fleet["mgr"][1]
    mgr("group", "finalize", "g9")
    cfg = json.load(open(mgr.config))
    cfg["group"] = {"priorities": {"worker": "CRITICAL", "manager": "HIGH"}}
    o = Ocb(config=write_config(tmp_path / "prio.json", cfg), env=mgr.env)
    lines = o("group", "restore", "g9", "--dry-run").stdout.splitlines()[1:]
    assert [(l.split()[1], l.split()[2]) for l in lines] == [
        ("worker", "CRITICAL"), ("librarian", "HIGH"), ("manager", "HIGH")]
    lines = o("group", "restore", "g9", "--agent", "lib", "--dry-run").stdout.splitlines()[1:]
    assert len(lines) == 1 and "lib  run there: ocb restore " in lines[0]
    assert o("group", "restore", "g9", "--agent", "nobody", check=False).returncode == 5
    # a priority that is not one
    cfg["group"] = {"priorities": {"worker": "URGENT"}}
    bad = Ocb(config=write_config(tmp_path / "bad.json", cfg), env=mgr.env)
    p = bad("group", "restore", "g9", "--dry-run", check=False)
    assert p.returncode == 3 and "group.priorities: use CRITICAL, HIGH, MEDIUM or LOW" in p.stderr


def test_hooks_run_around_a_snapshot_of_the_mount(tmp_path, rgw, bucket, keyfile, ocb, mounted):
    src = make_tree(str(tmp_path / "src"))
    base = {"instanceId": "i-hk", "region": rgw.region,
            "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
            "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
            "sources": [src], "cache": {"dir": ""}}
    cfg = dict(base, hooks={"preBackup": "echo saving; echo to-stderr >&2",
                            "postBackup": "echo \"stored $OCB_BACKUP\""})
    m = mounted(write_config(tmp_path / "hk.json", cfg), ocb.env)
    snap = os.path.join(m.path, "snapshots", "now")
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "done\n"
    name = os.readlink(os.path.join(snap, "backup")).rsplit("/", 1)[1]
    log = read(os.path.join(snap, "log")).splitlines()
    assert "preBackup: saving" in log and "preBackup: to-stderr" in log
    assert "postBackup: stored " + name in log
    # a failing preBackup: no backup
    m2 = mounted(write_config(tmp_path / "veto.json", dict(
        base, hooks={"preBackup": "echo not now; exit 4"})), ocb.env)
    before = objects(rgw, bucket)
    snap = os.path.join(m2.path, "snapshots", "now")
    os.mkdir(snap)
    assert read(os.path.join(snap, "wait")) == "failed\n"
    log = read(os.path.join(snap, "log"))
    assert "preBackup: not now" in log and "the preBackup hook failed" in log
    assert objects(rgw, bucket) == before


def test_group_restore_rejected_by_post_restore_keeps_the_safety_copy(fleet, tmp_path):
    for inst, (src, o, role) in fleet.items():
        o("backup", "--group", "g10")
    mgr = fleet["mgr"][1]
    mgr("group", "finalize", "g10")
    src = fleet["mgr"][0]
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write("current\n")
    cfg = json.load(open(mgr.config))
    cfg["hooks"] = {"postRestore": "echo validating; exit 3"}
    o = Ocb(config=write_config(tmp_path / "reject.json", cfg), env=mgr.env)
    p = o("group", "restore", "g10", check=False)
    assert p.returncode == 1 and "postRestore hook rejected" in p.stderr
    assert "validating" in p.stderr
    kept = [d for d in os.listdir(os.path.dirname(src)) if d.startswith("state.pre-restore-")]
    assert len(kept) == 1
    assert open(os.path.join(os.path.dirname(src), kept[0], "openclaw.json")).read() == "current\n"
