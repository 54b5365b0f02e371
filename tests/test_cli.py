"""The ocb command: help, exit codes, configuration, store operations,
doctor, and a cross-check with the independent S3 client."""
import json
import os
import socket
import subprocess
import time

from conftest import Ocb, write_config


def test_help_and_version(ocb_local):
    p = ocb_local("--help")
    for cmd in ("backup", "list", "cat", "store", "key", "doctor"):
        assert cmd in p.stdout
    assert ocb_local("--version").stdout.startswith("ocb ")
    assert "usage: ocb store" in ocb_local("help", "store").stdout
    assert "usage: ocb backup" in ocb_local("backup", "--help").stdout


def test_usage_errors_exit_2(ocb_local):
    assert ocb_local(check=False).returncode == 2
    assert ocb_local("no-such-command", check=False).returncode == 2
    assert ocb_local("store", "frobnicate", check=False).returncode == 2
    assert ocb_local("backup", "--label", "bad/label", check=False).returncode == 2


def test_config_with_loose_mode_refused(tmp_path, ocb_local):
    cfg = write_config(tmp_path / "c.json", {"instanceId": "x"})
    os.chmod(cfg, 0o644)
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3
    assert "chmod 600" in p.stderr


def test_config_unknown_field_and_wrong_type(tmp_path, ocb_local):
    cfg = write_config(tmp_path / "c.json", {"instanceId": "x", "s3": {"buckett": "b"}})
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3 and "unknown field s3.buckett" in p.stderr
    cfg = write_config(tmp_path / "d.json", {"retention": {"keep": "ten"}})
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3 and "retention.keep" in p.stderr
    (tmp_path / "e.json").write_text("{ not json")
    os.chmod(tmp_path / "e.json", 0o600)
    p = ocb_local("--config", str(tmp_path / "e.json"), "list", check=False)
    assert p.returncode == 3 and "not valid JSON" in p.stderr


def old_tool_config(bucket, endpoint=None):
    """backup-config.json exactly as openclaw-aws-backup writes it."""
    cfg = {
        "instanceId": "i-0123456789abcdef0",
        "region": "us-east-1",
        "backupFrequency": "daily",
        "s3": {"bucket": bucket, "prefix": "openclaw-aws-backups/instance-i-0123456789abcdef0"},
        "encryption": {"enabled": False, "method": "none"},
        "retention": {"keep": 30, "autoClean": True},
        "version": "2.0",
        "createdAt": "2026-02-20T00:00:00.000Z",
    }
    return cfg


def test_old_tool_config_is_read_unchanged(tmp_path, rgw, bucket, ocb):
    cfg = old_tool_config(bucket)
    env = rgw.env()
    env["AWS_ENDPOINT_URL_S3"] = rgw.endpoint     # endpoint from the environment
    path = write_config(tmp_path / "backup-config.json", cfg)
    p = Ocb(config=path, env=env)("doctor")
    assert "openclaw-aws-backups/instance-i-0123456789abcdef0" in p.stdout
    assert "FAILED" not in p.stdout


def test_store_roundtrip_local(tmp_path, file_config, ocb_local):
    o = Ocb(config=file_config, env=ocb_local.env)
    src = tmp_path / "blob"
    src.write_bytes(os.urandom(12_000_000))       # multipart through the writer
    o("store", "put", str(src), "dir/blob")
    o("store", "get", "dir/blob", str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == src.read_bytes()
    assert "dir/" in o("store", "ls").stdout
    assert "dir/blob" in o("store", "ls", "-r").stdout
    assert "size 12000000" in o("store", "head", "dir/blob").stdout
    o("store", "rm", "dir/blob")
    p = o("store", "get", "dir/blob", "-", check=False)
    assert p.returncode == 5


def test_store_cross_check_with_awscli(tmp_path, rgw, bucket, s3_config, ocb):
    o = Ocb(config=s3_config, env=ocb.env)
    data = os.urandom(20_000_000)
    (tmp_path / "a").write_bytes(data)
    o("store", "put", str(tmp_path / "a"), "x/by ocb+1")          # multipart
    rgw.aws("s3api", "get-object", "--bucket", bucket, "--key", "x/by ocb+1",
            str(tmp_path / "a2"))
    assert (tmp_path / "a2").read_bytes() == data
    (tmp_path / "b").write_bytes(data[:777_777])
    rgw.aws("s3", "cp", str(tmp_path / "b"), "s3://%s/x/by aws" % bucket)
    back = o("store", "get", "x/by aws", "-", text=False).stdout
    assert back == data[:777_777]
    # stdin through the writer
    p = subprocess.run([o.bin, "--config", s3_config, "store", "put", "-", "x/stdin"],
                       input=data[:3000], env=ocb.env, capture_output=True)
    assert p.returncode == 0
    assert o("store", "get", "x/stdin", "-", text=False).stdout == data[:3000]


def test_doctor_passes_and_fails_clearly(tmp_path, rgw, bucket, s3_config, ocb, keyfile):
    p = Ocb(config=s3_config, env=ocb.env)("doctor")
    assert p.stdout.count("ok") >= 6 and "FAILED" not in p.stdout
    env = dict(ocb.env, AWS_SECRET_ACCESS_KEY="wrong")
    p = Ocb(config=s3_config, env=env)("doctor", check=False)
    assert p.returncode == 4 and "FAILED" in p.stdout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = json.load(open(s3_config))
    cfg["s3"]["endpoint"] = "http://127.0.0.1:%d" % port
    dead = write_config(tmp_path / "dead.json", cfg)
    t0 = time.monotonic()
    p = Ocb(config=dead, env=ocb.env)("doctor", check=False)
    assert p.returncode == 6 and "FAILED" in p.stdout
    assert time.monotonic() - t0 < 30


def test_missing_credentials_exit_4(tmp_path, rgw, bucket, s3_config):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true")
    p = Ocb(config=s3_config, env=env)("store", "ls", check=False)
    assert p.returncode == 4
    assert "no AWS credentials" in p.stderr


def test_virtual_host_addressing(tmp_path, rgw, bucket, ocb):
    # RGW answers <bucket>.localhost (rgw dns name = localhost); curl maps
    # every *.localhost name to the loopback address
    port = rgw.endpoint.rsplit(":", 1)[1]
    cfg = write_config(tmp_path / "vh.json", {
        "instanceId": "i-vh", "s3": {"bucket": bucket, "addressing": "virtual",
                                     "endpoint": "http://localhost:%s" % port}})
    o = Ocb(config=cfg, env=ocb.env)
    (tmp_path / "f").write_bytes(b"virtual host\n")
    o("store", "put", str(tmp_path / "f"), "vh/obj")
    assert o("store", "get", "vh/obj", "-").stdout == "virtual host\n"
    got = rgw.aws("s3api", "get-object", "--bucket", bucket, "--key", "vh/obj",
                  str(tmp_path / "g"))
    assert (tmp_path / "g").read_bytes() == b"virtual host\n"


def test_profile_credentials_and_endpoint(tmp_path, rgw, bucket):
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "credentials").write_text(
        "[other]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
        "[bench]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
        % (rgw.access_key, rgw.secret_key))
    (tmp_path / "aws" / "config").write_text(
        "[profile bench]\nregion = us-east-1\ns3 =\n    endpoint_url = %s\n" % rgw.endpoint)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws" / "credentials"),
               AWS_CONFIG_FILE=str(tmp_path / "aws" / "config"),
               AWS_PROFILE="bench", AWS_EC2_METADATA_DISABLED="true")
    cfg = write_config(tmp_path / "p.json", {"instanceId": "i-p", "s3": {"bucket": bucket},
                                                    "encryption": {"keyProvider": "none"}})
    p = Ocb(config=cfg, env=env)("doctor")
    assert "credentials from profile:bench" in p.stdout
    assert rgw.endpoint in p.stdout and "FAILED" not in p.stdout
