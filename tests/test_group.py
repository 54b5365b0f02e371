"""Group backups of a fleet: three simulated agents (three instance ids,
three source trees, one bucket on RGW) each tag their backup; the
manager finalizes the manifest; a missing agent makes it incomplete; the
restore order follows the roles; the manager restores its own part."""
import json
import os

import pytest

from conftest import Ocb, write_config
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
