"""ocb prune and ocb pin against the real RGW (and the local store):
plans with reasons, real deletions checked with awscli, pins, labels, the
newest, old-tool backups counted with native ones, stale uploads,
retention.autoClean."""
import json
import os
import time

import pytest

from conftest import BOTH_SERVERS, Ocb, write_config
from dated import PFX, dated_backups
from treeutil import make_tree


def names_in(rgw, bucket):
    out = rgw.aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", PFX).stdout
    keys = [o["Key"] for o in json.loads(out or b"{}").get("Contents", [])]
    return sorted(k[len(PFX):] for k in keys if "/" not in k[len(PFX):])


@pytest.fixture
def history(tmp_path, rgw, bucket, s3_config, ocb):
    """Genuine native backups of past dates, plus old-tool .tar.gz
    objects, as a bucket looks after months of use.  Prune opens what it
    counts (a copy under another name is refused), so each native backup
    is made by `ocb migrate` of an old-tool backup of that date (it keeps
    the time and a label that follows it)."""
    o = Ocb(config=s3_config, env=ocb.env)
    dates = ["2026-09-15T03-00-00Z", "2026-10-01T03-00-00Z", "2026-10-20T03-00-00Z",
             "2026-11-01T03-00-00Z", "2026-11-01T15-00-00Z", "2026-11-02T03-00-00Z",
             "2026-11-03T03-00-00Z-before-upgrade", "2026-11-04T03-00-00Z"]
    dated_backups(o, rgw, bucket, tmp_path / "work", dates)
    old = tmp_path / "old.tar.gz"
    old.write_bytes(b"\x1f\x8b old tool")
    for d in ["2026-08-01T00-00-00", "2026-10-25T00-00-00"]:
        rgw.aws("s3api", "put-object", "--bucket", bucket, "--body", str(old),
                "--key", PFX + "openclaw-aws-backup-%s.tar.gz" % d,
                "--metadata", "backup-version=2.0,instance-id=i-test")
    assert names_in(rgw, bucket) == sorted(
        ["openclaw-aws-backup-%s.ocb" % d for d in dates] +
        ["openclaw-aws-backup-%s.tar.gz" % d for d in ["2026-08-01T00-00-00",
                                                      "2026-10-25T00-00-00"]])
    return o


@BOTH_SERVERS
def test_prune_plan_then_delete(history, rgw, bucket):
    o = history
    before = names_in(rgw, bucket)
    assert len(before) == 10
    p = o("prune", "--dry-run", "--keep-daily", "3", "--keep-monthly", "2")
    plan = {l.split()[1]: l for l in p.stdout.splitlines() if l.startswith(("keep", "delete"))}
    keep = sorted(n for n, l in plan.items() if l.startswith("keep"))
    assert keep == sorted([
        # monthly 2026-10: the native one; the old-tool backup of the
        # 25th is unauthenticated and ranks after every native backup
        "openclaw-aws-backup-2026-10-20T03-00-00Z",
        "openclaw-aws-backup-2026-11-02T03-00-00Z",           # daily
        "openclaw-aws-backup-2026-11-03T03-00-00Z-before-upgrade",  # daily (labelled)
        "openclaw-aws-backup-2026-11-04T03-00-00Z",           # newest, daily, monthly
    ])
    assert "(newest, daily 2026-11-04, monthly 2026-11)" in \
        plan["openclaw-aws-backup-2026-11-04T03-00-00Z"]
    assert "(daily 2026-11-03) [labelled]" in \
        plan["openclaw-aws-backup-2026-11-03T03-00-00Z-before-upgrade"]
    assert names_in(rgw, bucket) == before                 # dry run: nothing gone
    # the real run deletes exactly the rest, old-tool ones included
    j = json.loads(o("prune", "--keep-daily", "3", "--keep-monthly", "2", "--json").stdout)
    assert sorted(b["name"] for b in j["backups"] if b["deleted"]) == sorted(
        set(n for n in plan) - set(keep))
    assert names_in(rgw, bucket) == sorted(
        k + (".tar.gz" if not k.split("T")[1].startswith("03") else ".ocb") for k in keep)


def test_pins_labels_and_the_newest(history, rgw, bucket):
    o = history
    o("pin", "openclaw-aws-backup-2026-08-01T00-00-00")      # an old-tool one
    assert o("pin", "--list").stdout.split() == ["openclaw-aws-backup-2026-08-01T00-00-00"]
    assert o("pin", "no-such-backup", check=False).returncode == 5
    o("pin", "openclaw-aws-backup-2026-11-03T03-00-00Z-before-upgrade")
    # keep-within 1h of the newest: only it and the pins stay; a label
    # alone keeps nothing (the dry run says so)
    p = o("prune", "--dry-run", "--keep-within", "1h")
    assert "delete  openclaw-aws-backup-2026-11-02T03-00-00Z\n" in p.stdout
    assert "(pinned) [labelled]" in p.stdout
    o("prune", "--keep-within", "1h")
    assert names_in(rgw, bucket) == sorted([
        "openclaw-aws-backup-2026-08-01T00-00-00.tar.gz",
        "openclaw-aws-backup-2026-11-03T03-00-00Z-before-upgrade.ocb",
        "openclaw-aws-backup-2026-11-04T03-00-00Z.ocb"])
    o("pin", "--remove", "openclaw-aws-backup-2026-08-01T00-00-00")
    o("pin", "--remove", "openclaw-aws-backup-2026-11-03T03-00-00Z-before-upgrade")
    assert o("pin", "--list").stdout == ""
    p = o("prune", "--dry-run", "--keep-last", "1")
    assert "delete  openclaw-aws-backup-2026-11-03T03-00-00Z-before-upgrade " \
        "[labelled: pin it to keep it]" in p.stdout
    o("prune", "--keep-last", "1")
    assert names_in(rgw, bucket) == ["openclaw-aws-backup-2026-11-04T03-00-00Z.ocb"]
    # the pin markers are not backups: the listing and the mount ignore them
    assert len(json.loads(o("list", "--json").stdout)) == 1


def test_no_rule_keeps_everything_and_bad_rules(history, rgw, bucket):
    o = history
    before = names_in(rgw, bucket)
    p = o("prune")               # the fixture's config sets no rule
    assert "no retention rule is set" in p.stdout
    assert names_in(rgw, bucket) == before
    for args in (["--keep-daily", "x"], ["--keep-within", "3q"], ["--keep-last", "-2"],
                 ["--keep-within", "0d"]):
        assert o("prune", *args, check=False).returncode == 2


@BOTH_SERVERS
def test_stale_upload_aborted(history, rgw, bucket, tmp_path):
    o = history
    key = PFX + "openclaw-aws-backup-2026-11-05T00-00-00Z.ocb"
    rgw.aws("s3api", "create-multipart-upload", "--bucket", bucket, "--key", key)
    assert rgw.uploads(bucket) == [key]
    o("prune", "--keep-last", "50")             # younger than the threshold: kept
    assert rgw.uploads(bucket) == [key]
    cfg = json.load(open(o.config))
    cfg["retention"] = {"staleUploadHours": 0}
    o2 = Ocb(config=write_config(tmp_path / "stale.json", cfg), env=o.env)
    j = json.loads(o2("prune", "--keep-last", "50", "--json").stdout)
    assert j["aborted_uploads"] == 1 and rgw.uploads(bucket) == []


def test_auto_clean_after_backup_on_the_local_store(tmp_path, file_config, ocb_local):
    make_tree(str(tmp_path / "src"))
    cfg = json.load(open(file_config))
    cfg["retention"] = {"keep": 2, "autoClean": True}
    o = Ocb(config=write_config(tmp_path / "auto.json", cfg), env=ocb_local.env)
    names = []
    for label in ("one", "two", "three"):
        r = o("backup", "--label", label, "--json")
        names.append(json.loads(r.stdout)["name"])   # stdout stays pure JSON
    listed = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    # labelled backups count like any other: the newest two stay
    assert listed == names[1:]
    # a pinned one stays whatever comes after it
    o("pin", names[1])
    r = o("backup", "--label", "four", "--json")
    listed = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    # the newest two by the time in their names (backups started in a
    # second already taken are named one second later), the pinned one,
    # and the one just taken whatever its name says
    four = json.loads(r.stdout)["name"]
    newest = sorted(names[1:] + [four], key=lambda n: n.split("backup-")[1][:20])[-2:]
    assert sorted(listed) == sorted(set(newest) | {names[1], four})
    o("pin", "--remove", names[1])
    assert "retention: deleted" in o("backup").stderr
    o("pin", "latest")
    assert os.path.exists(tmp_path / "store" / "openclaw-aws-backups" / "instance-i-test" /
                          ".pins" / o("pin", "--list").stdout.strip())


def test_auto_clean_keeps_the_backup_just_taken(tmp_path, file_config, ocb_local):
    """Names carry the second a backup started, one later when that second
    is taken: the backup just taken can be older by name than others (a
    clock stepped back, a backup named later that finished first).  The
    auto-clean right after it keeps it anyway."""
    make_tree(str(tmp_path / "src"))
    cfg = json.load(open(file_config))
    o = Ocb(config=write_config(tmp_path / "plain.json", cfg), env=ocb_local.env)
    first = json.loads(o("backup", "--json").stdout)
    store = tmp_path / "store" / "openclaw-aws-backups" / "instance-i-test"
    data = (store / (first["name"] + ".ocb")).read_bytes()

    def name_at(t):
        return "openclaw-aws-backup-" + time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(t))

    now = int(time.time())
    taken = [name_at(t) for t in range(now, now + 30)]      # every second of the next 30
    ahead = name_at(now + 600)                              # a clock 10 minutes ahead
    for n in taken + [ahead]:
        (store / (n + ".ocb")).write_bytes(data)
    cfg["retention"] = {"keep": 1, "autoClean": True}
    o = Ocb(config=write_config(tmp_path / "auto.json", cfg), env=ocb_local.env)
    # the copies are not what their names say (format 2 binds the name):
    # the one that a rule would count is refused and kept, exit 8
    r = o("backup", "--json", check=False)
    assert r.returncode == 8 and "refused" in r.stderr, r.stderr
    just = json.loads(r.stdout)["name"]
    # started in a taken second: named after the last taken one
    assert just == name_at(now + 30), just
    assert "retention: deleted" in r.stderr
    listed = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    assert sorted(listed) == sorted([just, ahead])          # not the just-taken one deleted
    plan = json.loads(o("prune", "--dry-run", "--json", check=False).stdout)
    assert {b["name"]: b["keep"] for b in plan["backups"]}[ahead] is True
