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
    # full backups: none needs another (reachability is tested below)
    for label in ("one", "two", "three"):
        r = o("backup", "--label", label, "--json", "--full")
        names.append(json.loads(r.stdout)["name"])   # stdout stays pure JSON
    listed = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    # labelled backups count like any other: the newest two stay
    assert listed == names[1:]
    # a pinned one stays whatever comes after it
    o("pin", names[1])
    r = o("backup", "--label", "four", "--json", "--full")
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


def _keys_of(rgw, bucket, pfx):
    out = rgw.aws("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", pfx).stdout
    return sorted(o["Key"][len(pfx):-len(".ocb")]
                  for o in json.loads(out or b"{}").get("Contents", [])
                  if o["Key"].endswith(".ocb"))


def incremental_chain(tmp_path, s3_config, ocb):
    """An unrelated full backup, then a chain full -> inc1 -> inc2 -> inc3:
    inc1 changes text.log and adds a file only it has, inc2 changes
    text.log again (so nothing later reads inc1's bytes), inc3 changes a
    memory file.  The backups as `backup --json` told them."""
    from treeutil import make_tree as tree
    src = tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)

    def backup(*args):
        return json.loads(o("backup", "--json", *args).stdout)
    old = backup("--full", "--label", "unrelated")
    full = backup("--full")
    log = os.path.join(src, "workspace", "text.log")
    with open(log, "wb") as f:
        f.write(os.urandom(1_500_000))
    only = os.path.join(src, "workspace", "only-in-inc1.bin")
    with open(only, "wb") as f:
        f.write(os.urandom(700_000))
    inc1 = backup()
    os.remove(only)
    with open(log, "wb") as f:
        f.write(os.urandom(1_600_000))
    inc2 = backup()
    with open(os.path.join(src, "workspace", "memory", "2026-11-05.md"), "ab") as f:
        f.write(b"one more memory\n")
    inc3 = backup()
    assert [b["base"] for b in (full, inc1, inc2, inc3)] == \
        ["", full["name"], inc1["name"], inc2["name"]]
    return src, o, old, full, inc1, inc2, inc3


def test_prune_keeps_what_a_kept_incremental_needs(tmp_path, rgw, bucket, s3_config, ocb):
    """keepLast 1 on a chain keeps the newest and the backups whose
    objects hold its bytes ("needed by" it, text and JSON), deletes the
    rest (the unrelated full, and inc1 whose bytes nothing kept reads);
    the newest still restores to the source and verifies.  `ocb list`
    shows NEW and TOTAL and the base of each.  After a --full backup,
    keepLast 1 deletes the whole old chain."""
    from treeutil import assert_same_tree
    src, o, old, full, inc1, inc2, inc3 = incremental_chain(tmp_path, s3_config, ocb)
    pfx = full["key"][:-len(full["name"] + ".ocb")]

    # the listing: a full stores all it has, an incremental far less
    listing = {b["name"]: b for b in json.loads(o("list", "--json", "--open").stdout)}
    assert len(listing) == 5
    for b in (old, full):
        row = listing[b["name"]]
        assert row["base"] in (None, "") and row["depth"] == 0
        assert row["new_bytes"] == row["total_bytes"] == b["bytes_total"]
    for depth, (b, base) in enumerate([(inc1, full), (inc2, inc1), (inc3, inc2)], 1):
        row = listing[b["name"]]
        assert row["base"] == base["name"] and row["depth"] == depth, row
        assert row["new_bytes"] == b["bytes_new"] and row["total_bytes"] == b["bytes_total"]
        assert row["new_bytes"] * 2 < row["total_bytes"], row
    assert listing[inc3["name"]]["new_bytes"] * 20 < listing[inc3["name"]]["total_bytes"]
    text = {l.split()[0]: l for l in o("list", "--open").stdout.splitlines()
            if l.startswith("openclaw-aws-backup-")}
    assert text[inc3["name"]].endswith("BASE " + inc2["name"]), text[inc3["name"]]
    assert "BASE" not in text[full["name"]]
    for b in (full, inc1, inc2, inc3):          # NEW, then TOTAL
        row = listing[b["name"]]
        assert " %10s %10s ocb " % (human(row["new_bytes"]), human(row["total_bytes"])) \
            in text[b["name"]], text[b["name"]]

    needed = "needed by " + inc3["name"]
    p = o("prune", "--dry-run", "--keep-last", "1")
    plan = {l.split()[1]: l for l in p.stdout.splitlines() if l.startswith(("keep", "delete"))}
    assert plan[inc3["name"]].startswith("keep") and "newest" in plan[inc3["name"]]
    for b in (full, inc2):
        assert plan[b["name"]] == "keep    %s (%s)" % (b["name"], needed), plan
    for b in (old, inc1):
        assert plan[b["name"]].startswith("delete"), plan
    j = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "1").stdout)
    why = {b["name"]: (b["keep"], b["why"]) for b in j["backups"]}
    assert why[full["name"]] == (True, needed) and why[inc2["name"]] == (True, needed)
    assert not why[old["name"]][0] and not why[inc1["name"]][0]
    assert len(_keys_of(rgw, bucket, pfx)) == 5            # dry run: nothing gone

    j = json.loads(o("prune", "--json", "--keep-last", "1").stdout)
    assert sorted(b["name"] for b in j["backups"] if b["deleted"]) == \
        sorted([old["name"], inc1["name"]])
    assert _keys_of(rgw, bucket, pfx) == sorted(b["name"] for b in (full, inc2, inc3))
    o("restore", inc3["name"], "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    assert o("verify", "--all").stdout.count("ok") == 3
    # a second prune has nothing left to do
    j = json.loads(o("prune", "--json", "--keep-last", "1").stdout)
    assert not [b for b in j["backups"] if b["deleted"]]

    # a full backup: nothing needs the old chain any more
    new = json.loads(o("backup", "--json", "--full").stdout)
    assert new["base"] == "" and new["bytes_new"] == new["bytes_total"]
    j = json.loads(o("prune", "--json", "--keep-last", "1").stdout)
    assert sorted(b["name"] for b in j["backups"] if b["deleted"]) == \
        sorted(b["name"] for b in (full, inc2, inc3))
    assert _keys_of(rgw, bucket, pfx) == [new["name"]]
    shutil_rm(tmp_path / "out")
    o("restore", new["name"], "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    o("verify", new["name"])


def human(n):
    """as ocb_human_size prints a size"""
    u = 0
    while n >= 1024 and u < 4:
        n /= 1024
        u += 1
    return ("%.1f %s" if u else "%.0f %s") % (n, ["B", "KiB", "MiB", "GiB", "TiB"][u])


def shutil_rm(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


def as_newer_format(rgw, bucket, key, tmp_path):
    """the object at key rewritten as a newer tool's would look to this
    one: format version 5 in both headers and the trailer"""
    f = tmp_path / "newer.ocb"
    rgw.aws("s3", "cp", "s3://%s/%s" % (bucket, key), str(f))
    b = bytearray(f.read_bytes())
    for off in (8, len(b) - 576 + 8, len(b) - 64 + 8):
        b[off:off + 4] = (5).to_bytes(4, "little")
    f.write_bytes(bytes(b))
    rgw.aws("s3", "cp", str(f), "s3://%s/%s" % (bucket, key))


def test_prune_keeps_all_older_for_a_backup_of_unknown_format(tmp_path, rgw, bucket,
                                                              s3_config, ocb):
    """A kept backup that this tool cannot read (a newer format) may
    reference any older backup: prune keeps all of them ("may be needed
    by"), warns and exits 8; once --delete-refused deletes it, the policy
    applies again."""
    src, o, old, full, inc1, inc2, inc3 = incremental_chain(tmp_path, s3_config, ocb)
    pfx = full["key"][:-len(full["name"] + ".ocb")]
    as_newer_format(rgw, bucket, inc3["key"], tmp_path)
    listing = {b["name"]: b for b in json.loads(o("list", "--json", "--open").stdout)}
    assert "unknown format" in listing[inc3["name"]]["refused"], listing[inc3["name"]]

    p = o("prune", "--dry-run", "--json", "--keep-last", "1", check=False)
    assert p.returncode == 8, p.stdout + p.stderr
    why = {b["name"]: (b["keep"], b["why"]) for b in json.loads(p.stdout)["backups"]}
    assert why[inc3["name"]] == (True, "refused")
    assert why[inc2["name"]][1].startswith("newest"), why
    may = "may be needed by %s, which did not open" % inc3["name"]
    for b in (old, inc1):
        assert why[b["name"]] == (True, may), why
    assert why[full["name"]][0] and "needed by" in why[full["name"]][1], why
    assert "WARNING: backup %s does not open (unknown format)" % inc3["name"] in p.stderr
    p = o("prune", "--keep-last", "1", check=False)
    assert p.returncode == 8, p.stdout + p.stderr
    assert "keep    %s (%s)" % (inc1["name"], may) in p.stdout
    assert len(_keys_of(rgw, bucket, pfx)) == 5
    o("verify", inc2["name"])

    # deleted as refused: nothing is kept for it any more
    p = o("prune", "--json", "--keep-last", "1", "--delete-refused")
    assert sorted(b["name"] for b in json.loads(p.stdout)["backups"] if b["deleted"]) == \
        sorted([old["name"], inc1["name"], inc3["name"]])
    assert _keys_of(rgw, bucket, pfx) == sorted([full["name"], inc2["name"]])
    o("verify", "--all")


def test_prune_dry_run_shows_the_repack_plan(tmp_path, rgw, bucket, s3_config, ocb):
    """An object kept only because a kept incremental reads a few of its
    bytes is mostly dead: --dry-run's repack plan says so, with its live
    and stored bytes (text and JSON), names the kept backup that would be
    replaced, and what the plan writes and frees; an object whose bytes
    are mostly read stays.  Nothing is written or deleted by the plan; the
    plain prune keeps what the kept backup needs, and it still restores."""
    from treeutil import assert_same_tree, make_tree as tree
    src = tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)

    def backup(*args):
        return json.loads(o("backup", "--json", *args).stdout)
    bigs = [os.path.join(src, "workspace", "big%d.bin" % i) for i in range(2)]
    for b in bigs:
        with open(b, "wb") as f:
            f.write(os.urandom(6_000_000))
    full = backup("--full")
    for b in bigs:
        os.remove(b)
    with open(os.path.join(src, "workspace", "text.log"), "ab") as f:
        f.write(b"a line\n")
    inc = backup()
    assert inc["base"] == full["name"]
    pfx = full["key"][:-len(full["name"] + ".ocb")]

    p = o("prune", "--dry-run", "--keep-last", "1").stdout
    lines = [l.strip() for l in p.splitlines()]
    assert "repack plan:" in lines, p
    row = [l for l in lines if l.startswith("repack ") and full["name"] in l]
    assert row and "live " in row[0], p
    assert "replace %s" % inc["name"] in p, p
    assert [l for l in lines if l.startswith("repack: 1 object mostly dead, 1 kept backup")], p

    j = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "1").stdout)
    rp = j["repack"]
    acts = {x["name"]: x for x in rp["objects"]}
    assert acts[full["name"]]["action"] == "repack"
    f = acts[full["name"]]
    assert 0 < f["live_bytes"] * 2 < f["stored_bytes"], f
    assert f["stored_bytes"] == full["bytes_new"]
    assert acts[inc["name"]]["action"] == "replace"
    assert rp["worth"] and rp["dead_bytes"] > rp["write_bytes"] > 0
    # in the store: what the live bytes take of the object, the rest
    # (its catalog too) dead; the replacement writes the kept backup's
    # object again
    assert 0 < f["live_object_bytes"] * 2 < f["object_bytes"], f
    assert rp["dead_bytes"] == f["object_bytes"] - f["live_object_bytes"]
    assert rp["write_bytes"] == f["live_object_bytes"] + acts[inc["name"]]["object_bytes"]
    assert _keys_of(rgw, bucket, pfx) == sorted([full["name"], inc["name"]])

    # a minimum it does not reach: nothing worth repacking, the full stays
    cfg = json.load(open(s3_config))
    cfg.setdefault("retention", {})["repackMinDeadMB"] = 64
    other = tmp_path / "min.json"
    write_config(other, cfg)
    o2 = Ocb(config=str(other), env=ocb.env)
    j = json.loads(o2("prune", "--dry-run", "--json", "--keep-last", "1").stdout)
    assert not j["repack"]["worth"]
    assert {x["action"] for x in j["repack"]["objects"]} == {"stay"}
    assert "nothing worth repacking" in o2("prune", "--dry-run", "--keep-last", "1").stdout

    o("prune", "--keep-last", "1")
    assert _keys_of(rgw, bucket, pfx) == sorted([full["name"], inc["name"]])
    o("restore", inc["name"], "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
