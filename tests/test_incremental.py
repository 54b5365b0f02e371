"""Incremental backups (format 3, docs/FORMAT.md): a backup builds on the
newest one and stores only what changed, yet restores, mounts and
verifies on its own; a referenced object that is replaced makes it fail
as damaged, never give other bytes."""
import json
import os

from conftest import Ocb, write_config
from test_mount import Mount
from treeutil import make_tree, assert_same_tree


def backup(o, *args):
    return json.loads(o("backup", "--json", *args).stdout)


def object_size(rgw, bucket, key):
    head = rgw.aws("s3api", "head-object", "--bucket", bucket, "--key", key)
    return json.loads(head.stdout)["ContentLength"]


def test_unchanged_and_one_changed(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    first = backup(o)
    assert first["base"] == "" and first["bytes_new"] == first["bytes_total"]

    # nothing changed: (almost) nothing new is stored
    second = backup(o)
    assert second["base"] == first["name"]
    assert second["bytes_total"] == first["bytes_total"]
    assert second["bytes_new"] * 20 < second["bytes_total"]
    assert second["bytes_in"] < 100_000          # files were not read
    assert object_size(rgw, bucket, second["key"]) * 10 < \
        object_size(rgw, bucket, first["key"])

    # one file changed: only that one is stored again
    changed = os.path.join(src, "workspace", "text.log")
    with open(changed, "wb") as f:
        f.write(b"another line\n" * 150_000)
    third = backup(o)
    assert third["base"] == second["name"]
    grew = third["bytes_new"] - second["bytes_new"]
    assert 150_000 * 13 <= grew < 150_000 * 13 + 100_000
    meta = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket,
                              "--key", third["key"]).stdout)["Metadata"]
    assert meta["base"] == second["name"]
    assert meta["ocb-format"] == "3"

    # restore, verify and mount the incremental: the source, byte for byte
    o("restore", third["name"], "--target", str(tmp_path / "out"))
    assert_same_tree(src, str(tmp_path / "out" / "src"))
    p = o("verify", third["name"])
    assert p.stdout.startswith("ok"), p.stdout
    extract = tmp_path / "second"
    o("restore", second["name"], "--target", str(extract))
    with open(extract / "src" / "workspace" / "text.log", "rb") as f:
        assert f.read() == b"log line\n" * 200_000
    m = Mount(o.config, o.env, tmp_path)
    try:
        # the second backup's text.log lives in the first backup's object:
        # read through the mount, the frames fetched from there are counted
        # (sealed bytes, once per fetch: at most that object, and nothing
        # more when read again)
        assert m.stats()["ref_bytes_read"] == 0
        log = os.path.join(m.path, "i-test", second["name"], "src",
                           "workspace", "text.log")
        with open(log, "rb") as f:
            assert f.read() == b"log line\n" * 200_000
        ref = m.stats()["ref_bytes_read"]
        assert 0 < ref <= object_size(rgw, bucket, first["key"])
        with open(log, "rb") as f:
            assert f.read() == b"log line\n" * 200_000
        assert m.stats()["ref_bytes_read"] == ref
        assert_same_tree(src, os.path.join(m.path, "i-test", third["name"], "src"))
    finally:
        m.unmount()


def test_replaced_reference_is_damaged(tmp_path, rgw, bucket, s3_config, ocb):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    full = backup(o)
    inc = backup(o)
    assert inc["base"] == full["name"]
    other = backup(o, "--full", "--label", "other")
    assert other["base"] == "" and other["bytes_new"] == other["bytes_total"]
    # the object the incremental reads from, replaced by another backup's
    rgw.aws("s3", "cp", "s3://%s/%s" % (bucket, other["key"]),
            "s3://%s/%s" % (bucket, full["key"]))
    p = o("verify", inc["name"], check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    assert "damaged" in (p.stdout + p.stderr)
    p = o("restore", inc["name"], "--target", str(tmp_path / "out"), check=False)
    assert p.returncode == 7, p.stdout + p.stderr
    # whatever was written before the failure is the source's
    out = tmp_path / "out" / "src"
    for dirpath, _, files in os.walk(out):
        for n in files:
            got = open(os.path.join(dirpath, n), "rb").read()
            want = open(os.path.join(src, os.path.relpath(os.path.join(dirpath, n), out)),
                        "rb").read()
            assert got == want[:len(got)]


def test_full_every(tmp_path, rgw, bucket, s3_config, ocb):
    make_tree(str(tmp_path / "src"))
    cfg = json.load(open(s3_config))
    cfg["backup"] = {"fullEvery": 2}
    o = Ocb(config=write_config(tmp_path / "c2.json", cfg), env=ocb.env)
    a = backup(o)
    b = backup(o)
    c = backup(o)
    assert a["base"] == "" and b["base"] == a["name"]
    assert c["base"] == "" and c["bytes_new"] == c["bytes_total"]
    # a format 2 or 3 backup beside: the listing opens them all
    listing = json.loads(o("list", "--json", "--open").stdout)
    assert len(listing) == 3
