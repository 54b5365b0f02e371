"""ocb prune --repack against the real RGW: replacements written, read
whole and checked, the replaced backups and the repacked objects
deleted; every kept backup restores byte-identically (tool and mount),
the bucket shrinks by what the plan said, --dry-run writes nothing, and
kill -9 at any request leaves every kept backup whole and a rerun
finishes."""
import json
import os
import subprocess

import pytest

from conftest import BOTH_SERVERS, Ocb, objects, write_config
from test_crash import kill_at, make_setup, requests_of, rounds, ROUNDS_TIMEOUT
from test_mount import Mount
from treeutil import assert_same_tree, make_tree


def bucket_bytes(rgw, bucket):
    out = rgw.aws("s3api", "list-objects-v2", "--bucket", bucket).stdout
    return {o["Key"]: o["Size"] for o in json.loads(out or b"{}").get("Contents", [])}


def copy_tree(src, dst):
    subprocess.run(["rm", "-rf", str(dst)], check=True)
    os.makedirs(str(dst), exist_ok=True)
    subprocess.run(["cp", "-a", src, str(dst)], check=True)


def chain(o, src, tmp_path, tag, n=2):
    """a full backup with two large files, then n incrementals that
    drop them and change a little: kept with --keep-last n, the full is
    mostly dead (its live bytes: the unchanged tree)"""
    bigs = [os.path.join(src, "workspace", "big%d.bin" % i) for i in range(2)]
    for b in bigs:
        with open(b, "wb") as f:
            f.write(os.urandom(6_000_000))
    full = json.loads(o("backup", "--json", "--full").stdout)
    for b in bigs:
        os.remove(b)
    copies = []
    for k in range(n):
        with open(os.path.join(src, "workspace", "text.log"), "ab") as f:
            f.write(b"a line %s %d\n" % (tag.encode(), k))
        inc = json.loads(o("backup", "--json").stdout)
        copy = tmp_path / ("copy-%s-%d" % (tag, k))
        copy_tree(src, copy)
        copies.append((inc["name"], str(copy / "src")))
    return full, copies


def restores(o, name, tree, out):
    subprocess.run(["rm", "-rf", str(out)], check=True)
    o("restore", name, "--target", str(out))
    assert_same_tree(tree, str(out / "src"))


def replacement_of(name, names):
    stem = name[:name.index("Z") + 1]
    r = [n for n in names if n.startswith(stem + "-repack")]
    assert len(r) == 1, (name, names)
    return r[0]


@BOTH_SERVERS
def test_repack_replaces_and_frees(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    full, copies = chain(o, src, tmp_path, "a")
    before = bucket_bytes(rgw, bucket)

    # --dry-run writes nothing
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2").stdout)
    assert bucket_bytes(rgw, bucket) == before
    rp = plan["repack"]
    acts = {x["name"]: x["action"] for x in rp["objects"]}
    assert rp["worth"] and acts[full["name"]] == "repack", rp
    assert [n for n, _ in copies] == sorted(n for n, a in acts.items() if a == "replace")
    assert "--repack` carries it out" in o("prune", "--dry-run", "--keep-last", "2").stdout

    p = o("prune", "--keep-last", "2", "--repack")
    assert "replaced  %s by " % copies[0][0] in p.stdout, p.stdout
    names = [b["name"] for b in json.loads(o("list", "--json", "--open").stdout)]
    assert len(names) == 2 and full["name"] not in names, names
    for name, tree in copies:
        assert name not in names
        r = replacement_of(name, names)
        restores(o, r, tree, tmp_path / "out")
        o("verify", r)
    # the second replacement reads what the first moved, not a copy
    listed = {b["name"]: b for b in json.loads(o("list", "--json", "--open").stdout)}
    r0, r1 = (replacement_of(n, names) for n, _ in copies)
    assert listed[r1]["new_bytes"] < 200_000 < listed[r0]["new_bytes"], (listed[r0], listed[r1])
    after = bucket_bytes(rgw, bucket)
    freed = sum(before.values()) - sum(after.values())
    # the plan's bytes: the objects deleted, less what the replacements store
    written = sum(after[k] for k in after if "-repack" in k)
    assert freed == rp["delete_object_bytes"] - written, (freed, rp, written)
    assert freed > 10_000_000
    # nothing left to repack; a plain prune keeps both
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2").stdout)
    assert not any(x["action"] == "repack" for x in plan["repack"]["objects"])
    o("prune", "--keep-last", "2", "--repack")
    assert sorted(bucket_bytes(rgw, bucket)) == sorted(after)

    # the mount lists and reads them
    m = Mount(o.config, o.env, tmp_path)
    try:
        inst = os.path.join(m.path, "i-test")
        assert sorted(n for n in os.listdir(inst) if n != "latest") == sorted(names)
        for name, tree in copies:
            assert_same_tree(tree, os.path.join(inst, replacement_of(name, names), "src"))
    finally:
        m.unmount()


@BOTH_SERVERS
def test_repack_reads_files_a_newer_full_backup_holds(tmp_path, rgw, bucket, s3_config, ocb):
    """a full backup, two incrementals, a newer full one and one on it,
    kept with --keep-last 3: the old full is read by the kept incremental
    for files the newer full holds too, so it goes, and the replacement
    reads those files in the newer full (it stores headers and small
    files, far less than the files); every kept backup restores
    byte-identically"""
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    bigs = 0
    for i in range(2):
        with open(os.path.join(src, "workspace", "big%d.bin" % i), "wb") as f:
            f.write(os.urandom(6_000_000))
        bigs += 6_000_000
    old = json.loads(o("backup", "--json", "--full").stdout)
    kept = []
    for k in range(4):
        with open(os.path.join(src, "workspace", "memory", "extra-28.md"), "ab") as f:
            f.write(b"a line %d\n" % k)
        b = json.loads(o("backup", "--json", *(["--full"] if k == 2 else [])).stdout)
        copy = tmp_path / ("copy-%d" % k)
        copy_tree(src, copy)
        kept.append((b["name"], str(copy / "src")))
    kept = kept[1:]     # the second incremental, the newer full, one on it

    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "3").stdout)
    acts = {x["name"]: x["action"] for x in plan["repack"]["objects"]}
    assert plan["repack"]["worth"] and acts[old["name"]] == "repack", plan["repack"]
    assert acts[kept[0][0]] == "replace", plan["repack"]
    # what it writes: headers and small files, not the files the newer
    # full holds
    assert plan["repack"]["write_bytes"] < 1_000_000, plan["repack"]

    p = o("prune", "--keep-last", "3", "--repack")
    assert "read where a kept backup holds the same file" in p.stdout, p.stdout
    listed = {b["name"]: b for b in json.loads(o("list", "--json", "--open").stdout)}
    names = sorted(listed)
    assert old["name"] not in names and kept[0][0] not in names, names
    r = replacement_of(kept[0][0], names)
    assert listed[r]["new_bytes"] < 500_000 < bigs, listed[r]
    o("verify", "--all")
    for name, tree in kept:
        restores(o, r if name == kept[0][0] else name, tree, tmp_path / "out")
    # nothing left to repack
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "3").stdout)
    assert not any(x["action"] == "repack" for x in plan["repack"]["objects"])


def test_repack_takes_small_objects_together(tmp_path, rgw, bucket, s3_config, ocb):
    """a full backup of many small files, then daily incrementals, each
    adding a small file of its own (read by every later backup) and
    appending to a log: kept with --keep-last 2, each dropped daily object
    holds a little live data and its catalog (dead), and frees less than
    retention.repackMinDeadMB (1 here) on its own; together they free more
    than the plan writes and than the minimum: all are repacked, the full
    (mostly live) stays, the kept backups are replaced and restore
    byte-identically, and the bucket shrinks by what the plan said"""
    src = make_tree(str(tmp_path / "src"))
    for i in range(6000):
        d = os.path.join(src, "notes", "d%02d" % (i % 60))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "note-%05d.md" % i), "wb") as f:
            f.write(b"note %d\n" % i)
    cfg = json.load(open(s3_config))
    cfg.setdefault("retention", {})["repackMinDeadMB"] = 1
    o = Ocb(config=write_config(tmp_path / "min1.json", cfg), env=ocb.env)
    full = json.loads(o("backup", "--json", "--full").stdout)
    days = []
    for k in range(8):
        with open(os.path.join(src, "workspace", "day-%d.bin" % k), "wb") as f:
            f.write(os.urandom(20_000))
        with open(os.path.join(src, "workspace", "text.log"), "ab") as f:
            f.write(b"day %d\n" % k)
        days.append(json.loads(o("backup", "--json").stdout)["name"])
        copy = tmp_path / ("copy-%d" % k)
        copy_tree(src, copy)
    kept = [(days[k], str(tmp_path / ("copy-%d" % k) / "src")) for k in (6, 7)]
    before = bucket_bytes(rgw, bucket)

    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2").stdout)
    rp = plan["repack"]
    by = {x["name"]: x for x in rp["objects"]}
    assert rp["worth"] and rp["together"], rp
    assert by[full["name"]]["action"] == "stay", rp
    for name in days[:6]:
        x = by[name]
        assert x["action"] == "repack", rp
        # a little live data, none freeing the minimum on its own
        assert 0 < x["live_object_bytes"] * 2 < x["object_bytes"], x
        assert x["object_bytes"] - x["live_object_bytes"] < 1 << 20, x
    assert [by[n]["action"] for n, _ in kept] == ["replace"] * 2, rp
    assert rp["dead_bytes"] >= 1 << 20 and rp["dead_bytes"] > rp["write_bytes"], rp
    assert rp["dead_bytes"] == sum(x["object_bytes"] - x["live_object_bytes"]
                                   for x in rp["objects"] if x["action"] == "repack")
    assert rp["write_bytes"] == sum(x["live_object_bytes"] if x["action"] == "repack"
                                    else x["object_bytes"] for x in rp["objects"]
                                    if x["action"] != "stay")

    o("prune", "--keep-last", "2", "--repack")
    names = [b["name"] for b in json.loads(o("list", "--json", "--open").stdout)]
    assert sorted(names) == sorted([full["name"]] + [replacement_of(n, names) for n, _ in kept]), names
    o("verify", "--all")
    for name, tree in kept:
        restores(o, replacement_of(name, names), tree, tmp_path / "out")
    freed = sum(before.values()) - sum(bucket_bytes(rgw, bucket).values())
    # what the plan said, but for how the moved bytes compress in their
    # new frames and the replacements' catalogs
    assert abs(freed - rp["dead_bytes"]) < rp["dead_bytes"] // 10, (freed, rp)
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2").stdout)
    assert not plan["repack"]["worth"], plan["repack"]


def test_repack_never_replaces_a_pinned_backup(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    full, copies = chain(o, src, tmp_path, "p")
    o("pin", copies[0][0])
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2").stdout)
    assert not plan["repack"]["worth"], plan["repack"]
    before = bucket_bytes(rgw, bucket)
    o("prune", "--keep-last", "2", "--repack")
    assert sorted(bucket_bytes(rgw, bucket)) == sorted(before)


def check_killed(o, copies, tmp_path):
    """after a kill: every backup listed opens and verifies, and each
    kept one, or its replacement, restores byte-identically"""
    listed = json.loads(o("list", "--json", "--open").stdout)
    assert not any(b.get("refused") or b.get("damaged") for b in listed), listed
    o("verify", "--all")
    names = [b["name"] for b in listed]
    for name, tree in copies:
        stem = name[:name.index("Z") + 1]
        mine = [n for n in names if n.startswith(stem)]
        assert mine, (name, names)
        for n in mine:
            restores(o, n, tree, tmp_path / "out")


def check_done(o, rgw, bucket, full, copies, tmp_path):
    names = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    assert len(names) == 2 and full["name"] not in names, names
    for name, tree in copies:
        restores(o, replacement_of(name, names), tree, tmp_path / "out")
    assert all(k.endswith(".ocb") for k in objects(rgw, bucket))
    o("verify", "--all")


# chosen points: the replacements' uploads, the deletion of each replaced
# backup (newest first), of the repacked full
POINTS = [(b"PUT /", 1), (b"PUT /", 2), (b"DELETE /", 1), (b"DELETE /", 2),
          (b"DELETE /", 3)]


@ROUNDS_TIMEOUT
def test_repack_killed_at_chosen_and_random_requests(incremental_setup, proxy, rgw, bucket,
                                                     tmp_path):
    """kill -9 at chosen, then random requests of `ocb prune --repack`:
    every backup listed opens and verifies, the kept ones (or their
    replacements) restore byte-identically, and a rerun finishes the
    repack with the same result as an uninterrupted one"""
    src, o, clean = incremental_setup
    os.remove(os.path.join(src, "big.bin"))
    argv = [o.bin, "--config", o.config, "prune", "--keep-last", "2", "--repack"]
    full, copies = chain(o, src, tmp_path, "whole")
    total = requests_of(proxy, lambda: o(*argv[3:]))
    check_done(o, rgw, bucket, full, copies, tmp_path)
    rnd, rs = rounds("repack")
    points = POINTS + [(None, rnd.randint(1, total)) for _ in rs]
    for i, (match, nth) in enumerate(points):
        full, copies = chain(o, src, tmp_path, "r%d" % i)
        killed = kill_at(proxy, nth, argv, o.env, match)
        assert killed or match is None, (match, nth)
        check_killed(o, copies, tmp_path)
        o(*argv[3:])
        check_done(o, rgw, bucket, full, copies, tmp_path)


def stem(name):
    return name[:name.index("Z") + 1]


def test_plain_prune_after_a_killed_repack_counts_a_replacement_once(
        incremental_setup, proxy, rgw, bucket, tmp_path):
    """a repack killed between the replacements' commits and the deletion
    of the backups they replace, then a plain prune with --keep-last 2:
    each backup and its replacement are one backup for the rule, so the
    two newest backups are kept (both copies of each), no older one takes
    a slot, every listed backup restores byte-identically, and the next
    --repack finishes"""
    src, o, clean = incremental_setup
    os.remove(os.path.join(src, "big.bin"))
    full, copies = chain(o, src, tmp_path, "k", n=3)
    argv = [o.bin, "--config", o.config, "prune", "--keep-last", "3", "--repack"]
    # killed at the deletion of the first replaced backup (the newest)
    assert kill_at(proxy, 1, argv, o.env, b"DELETE /")
    names = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    for name, _ in copies:
        assert name in names and replacement_of(name, names) in names, names

    plan = json.loads(o("prune", "--keep-last", "2", "--json").stdout)
    ruled = {stem(b["name"]) for b in plan["backups"]
             if b["keep"] and not b["why"].startswith("needed by")}
    assert ruled == {stem(n) for n, _ in copies[1:]}, plan
    names = [b["name"] for b in json.loads(o("list", "--json", "--open").stdout)]
    for name, _ in copies[1:]:
        # left both: the prune did not finish the repack's job
        assert name in names and replacement_of(name, names) in names, names
    # the oldest copy takes no slot of the rule: deleted, or kept only for
    # the bytes a kept backup reads from it (headers and data it holds)
    old = [b for b in plan["backups"] if b["name"] == copies[0][0]]
    assert not old[0]["keep"] or old[0]["why"].startswith("needed by"), old
    assert full["name"] in names, names
    o("verify", "--all")
    trees = {stem(n): t for n, t in copies}
    for n in names:
        if n != full["name"]:
            restores(o, n, trees[stem(n)], tmp_path / "out")

    o("prune", "--keep-last", "2", "--repack")
    names = [b["name"] for b in json.loads(o("list", "--json", "--open").stdout)]
    assert full["name"] not in names and all("-repack" in n for n in names), names
    assert {stem(n) for n in names} >= {stem(n) for n, _ in copies[1:]}, names
    o("verify", "--all")
    for n in names:
        restores(o, n, trees[stem(n)], tmp_path / "out")


@pytest.fixture
def incremental_setup(tmp_path, rgw, bucket, keyfile, proxy, ocb):
    return make_setup(tmp_path, rgw, bucket, keyfile, proxy, ocb, False)


def test_a_planted_replacement_is_never_trusted(tmp_path, rgw, bucket, s3_config, ocb):
    """Someone who can write the bucket plants `<K's time>Z-repack1`, a
    backup sealed with another key, as if a repack had replaced K: the
    repack refuses it and deletes nothing a rule keeps, K still restores
    byte-identically, and a plain prune does not let it take K's place."""
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    full, copies = chain(o, src, tmp_path, "p")
    # the same tree backed up by an intruder's key into another prefix,
    # then copied into ours under the replacement's name
    cfg = json.load(open(s3_config))
    other_key = tmp_path / "other.key"
    other_key.write_bytes(os.urandom(32))
    os.chmod(other_key, 0o600)
    cfg["instanceId"] = "i-intruder"
    cfg["encryption"]["keyFile"] = str(other_key)
    intruder = Ocb(config=str(tmp_path / "intruder.json"), env=ocb.env)
    with open(intruder.config, "w") as f:
        json.dump(cfg, f)
    made = json.loads(intruder("backup", "--json", "--full").stdout)
    src_key = made["key"]
    k_name = copies[0][0]
    k_key = [b["key"] for b in json.loads(o("list", "--json").stdout) if b["name"] == k_name][0]
    forged = k_key[:-len(".ocb")] + "-repack1.ocb"
    rgw.aws("s3", "cp", "s3://%s/%s" % (bucket, src_key), "s3://%s/%s" % (bucket, forged))
    rgw.aws("s3", "rm", "s3://%s/%s" % (bucket, src_key))

    # the planted object blocks the repack (a refused backup may read from
    # any object), and says so
    plan = json.loads(o("prune", "--dry-run", "--json", "--keep-last", "2", check=False).stdout)
    assert plan["repack"]["blocked"] and not plan["repack"]["worth"], plan["repack"]
    assert "repack: not planned: a kept backup could not be read" in \
        o("prune", "--dry-run", "--keep-last", "2", check=False).stdout
    for argv in (("prune", "--keep-last", "2", "--repack"), ("prune", "--keep-last", "2")):
        p = o(*argv, check=False)
        assert p.returncode == 8, (argv, p.stdout, p.stderr)
        assert "refused: its key does not unwrap" in p.stdout, p.stdout
        names = [b["name"] for b in json.loads(o("list", "--json").stdout)]
        # K and the newest are never deleted for the planted one
        for name, tree in copies:
            assert name in names, (argv, names)
            restores(o, name, tree, tmp_path / "out")
    o("verify", copies[0][0])
    o("verify", copies[1][0])
