"""The old tool's IAM policy (tests/data/old-tool/README.md for its source:
no s3:ListBucketMultipartUploads, no s3:AbortMultipartUpload), as S3 denies
it: the proxy answers those requests with AWS's AccessDenied body.  ocb
goes on and names the missing permission.  And every request says who
sent it (User-Agent ocb/<version>)."""
import json
import os
import shutil

from conftest import Ocb, write_config


def proxied_config(tmp_path, bucket, proxy, keyfile, **extra):
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "f").write_text("hello\n")
    cfg = {"instanceId": "i-iam", "region": "us-east-1",
           "s3": {"bucket": bucket, "endpoint": proxy.endpoint},
           "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
           "sources": [str(tmp_path / "src")],
           "cache": {"dir": str(tmp_path / "cache")}}
    cfg.update(extra)
    return write_config(tmp_path / "iam.json", cfg)


def test_backup_without_list_uploads_permission(tmp_path, rgw, bucket, proxy, keyfile, ocb):
    o = Ocb(config=proxied_config(tmp_path, bucket, proxy, keyfile), env=ocb.env)
    proxy.inject("denied", match=b"&uploads= HTTP", count=-1,
                 arg="s3:ListBucketMultipartUploads")
    p = o("backup", "--json")
    assert json.loads(p.stdout)["key"].endswith(".ocb")
    assert "s3:ListBucketMultipartUploads" in p.stderr and "docs/iam/" in p.stderr
    assert proxy.injected.get("denied", 0) >= 1
    assert len(json.loads(o("list", "--json").stdout)) == 1


def test_backup_without_abort_permission(tmp_path, rgw, bucket, proxy, keyfile, ocb):
    cfg = proxied_config(tmp_path, bucket, proxy, keyfile,
                         retention={"staleUploadHours": 0})
    key = "openclaw-aws-backups/instance-i-iam/openclaw-aws-backup-2026-01-01T00-00-00Z.ocb"
    rgw.aws("s3api", "create-multipart-upload", "--bucket", bucket, "--key", key)
    o = Ocb(config=cfg, env=ocb.env)
    proxy.inject("denied", match=b"uploadId=", count=-1, arg="s3:AbortMultipartUpload")
    p = o("backup")
    assert "s3:AbortMultipartUpload" in p.stderr
    assert rgw.uploads(bucket) == [key]            # left, as the policy says
    proxy.clear()
    p = o("backup")
    assert rgw.uploads(bucket) == []               # allowed again: cleaned up


def test_every_request_says_ocb(tmp_path, rgw, bucket, proxy, keyfile, ocb):
    o = Ocb(config=proxied_config(tmp_path, bucket, proxy, keyfile), env=ocb.env)
    o("backup")
    o("list")
    o("restore", "latest", "--target", str(tmp_path / "out"))
    version = o("--version").stdout.split()[1]
    assert proxy.user_agents and set(proxy.user_agents) == {"ocb/" + version}


def test_doctor_names_the_denied_actions(tmp_path, rgw, bucket, proxy, keyfile, ocb):
    o = Ocb(config=proxied_config(tmp_path, bucket, proxy, keyfile), env=ocb.env)
    p = o("doctor")
    assert "warning" not in p.stdout and "FAILED" not in p.stdout
    proxy.inject("denied", match=b"&uploads= HTTP", count=-1,
                 arg="s3:ListBucketMultipartUploads")
    proxy.inject("denied", match=b"uploadId=", count=-1, arg="s3:AbortMultipartUpload")
    p = o("doctor")                                # warnings: exit 0
    assert "warning  s3:ListBucketMultipartUploads is denied" in p.stdout
    assert "warning  s3:AbortMultipartUpload is denied" in p.stdout
    assert "FAILED" not in p.stdout


def test_doctor_names_the_denied_object_action(tmp_path, rgw, bucket, proxy, keyfile, ocb):
    """each S3 action of the store probe, denied alone, is named"""
    o = Ocb(config=proxied_config(tmp_path, bucket, proxy, keyfile), env=ocb.env)
    for match, action in ((b"PUT /%s/openclaw" % bucket.encode(), "s3:PutObject"),
                          (b"GET /%s/openclaw" % bucket.encode(), "s3:GetObject"),
                          (b"list-type=2", "s3:ListBucket"),
                          (b"DELETE /%s/openclaw" % bucket.encode(), "s3:DeleteObject")):
        proxy.clear()
        proxy.inject("denied", match=match, count=-1, arg=action)
        p = o("doctor", check=False)
        assert p.returncode == 4, (action, p.stdout, p.stderr)
        assert "FAILED   put, get, head, list and delete in" in p.stdout
        assert ": %s is denied: access denied" % action in p.stdout, p.stdout


# the old tool's restore policy (iam/restore-policy.json of
# genedragon/openclaw-aws-backup-skill, see tests/data/old-tool) allows
# s3:GetObject, s3:GetObjectVersion and s3:ListBucket (its backup policy
# these and more); requests of other actions, by what their request line
# holds, and the action AWS names in its denial
NOT_IN_IT = ((b"PUT ", "s3:PutObject"), (b"POST ", "s3:PutObject"),
             (b"DELETE ", "s3:DeleteObject"), (b"uploads", "s3:ListBucketMultipartUploads"),
             (b"?versioning", "s3:GetBucketVersioning"),
             (b"?lifecycle", "s3:GetLifecycleConfiguration"),
             (b"?encryption", "s3:GetEncryptionConfiguration"),
             (b"?location", "s3:GetBucketLocation"), (b"?versions", "s3:ListBucketVersions"))


def allowed_by_restore_policy(line):
    """GET or HEAD of an object (s3:GetObject), or a listing (s3:ListBucket)"""
    method, target = line.split()[:2]
    if method in ("GET", "HEAD") and "?" not in target:
        return True
    return method == "GET" and "list-type=2" in target


def test_list_and_restore_with_the_old_restore_policy(tmp_path, rgw, bucket, proxy,
                                                      keyfile, ocb):
    """With only the old tool's restore policy, `ocb list` and `ocb
    restore` (to a directory and in place) work: every request they make is
    one the policy allows, and any other is answered as AWS denies it."""
    cfg = proxied_config(tmp_path, bucket, proxy, keyfile)
    o = Ocb(config=cfg, env=ocb.env)
    o("backup")                                    # with the backup role
    (tmp_path / "src" / "f").write_text("changed\n")
    shutil.rmtree(tmp_path / "cache")              # a machine that restores
    proxy.clear()
    del proxy.requests[:]
    for match, action in NOT_IN_IT:
        proxy.inject("denied", match=match, count=-1, arg=action)
    assert len(json.loads(o("list", "--json").stdout)) == 1
    o("restore", "latest", "--target", str(tmp_path / "out"))
    assert (tmp_path / "out" / "src" / "f").read_text() == "hello\n"
    p = o("restore", "latest")
    assert "previous state is in" in p.stdout
    assert (tmp_path / "src" / "f").read_text() == "hello\n"
    assert proxy.injected.get("denied", 0) == 0, proxy.requests
    assert proxy.requests and all(allowed_by_restore_policy(r) for r in proxy.requests), \
        proxy.requests
