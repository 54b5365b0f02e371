"""The Debian package: built from this tree, installed, its programs run
from where the package put them, then removed."""
import json
import os
import subprocess

import pytest

from conftest import TOP, wait_for
from treeutil import make_tree, assert_same_tree


@pytest.fixture
def installed(tmp_path):
    out = tmp_path / "deb"
    subprocess.run(["bash", os.path.join(TOP, "packaging", "build-deb.sh"), str(out)],
                   check=True, capture_output=True)
    deb = [p for p in os.listdir(out) if p.startswith("ocbfs_") and p.endswith(".deb")]
    assert len(deb) == 1
    subprocess.run(["dpkg", "-i", str(out / deb[0])], check=True, capture_output=True)
    yield
    subprocess.run(["dpkg", "-r", "ocbfs"], check=True, capture_output=True)
    assert not os.path.exists("/usr/bin/ocb")
    assert not os.path.exists("/usr/share/doc/ocbfs/iam/ocb-kms-policy.json")


def test_package_installs_and_runs(installed, tmp_path, keyfile):
    status = subprocess.run(["dpkg-query", "-W", "-f", "${Status} ${Version}", "ocbfs"],
                            capture_output=True, text=True).stdout
    assert status == "install ok installed 0.1.0"
    v = subprocess.run(["/usr/bin/ocb", "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and "0.1.0" in v.stdout
    v = subprocess.run(["/usr/bin/ocbfs", "--version"], capture_output=True, text=True)
    assert v.returncode == 0 and "0.1.0" in v.stdout
    for page in ("ocb", "ocbfs", "ocb-setup", "ocb-restore"):
        subprocess.run(["man", "-w", page], check=True, capture_output=True)
    subprocess.run(["man", "-w", "5", "ocb-config"], check=True, capture_output=True)
    # the IAM policies the messages of doctor, backup and setup point to
    iam = "/usr/share/doc/ocbfs/iam/"
    for pol in ("ocb-backup-policy.json", "ocb-restore-policy.json", "ocb-kms-policy.json"):
        doc = json.load(open(iam + pol))
        assert doc["Version"] == "2012-10-17" and doc["Statement"]
        assert doc == json.load(open(os.path.join(TOP, "docs", "iam", pol)))
    assert os.path.exists(iam + "README.md") or os.path.exists(iam + "README.md.gz")
    for unit in ("ocbfs@.service", "ocb-backup.service", "ocb-backup.timer",
                 "ocb-prune.timer"):
        text = open("/lib/systemd/system/" + unit).read()
        assert "/usr/local" not in text
    assert "ExecStart=/usr/bin/ocb " in open("/lib/systemd/system/ocb-backup.service").read()
    # the installed programs do the real job: back up, mount, read
    src = make_tree(str(tmp_path / "src"))
    (tmp_path / "store").mkdir()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({
        "store": "file://" + str(tmp_path / "store"), "instanceId": "pkg",
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [src], "cache": {"dir": str(tmp_path / "cache")}}))
    os.chmod(cfg, 0o600)
    subprocess.run(["/usr/bin/ocb", "--config", str(cfg), "backup"], check=True,
                   capture_output=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    # through mount(8) and the installed helper, as fstab would
    subprocess.run(["mount", "-t", "fuse.ocbfs", "-o", "config=" + str(cfg), "ocbfs",
                    str(mnt)], check=True, capture_output=True)
    try:
        wait_for(lambda: os.path.ismount(mnt), 30, "the mount")
        assert_same_tree(src, str(mnt / "latest" / "src"))
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=True)
