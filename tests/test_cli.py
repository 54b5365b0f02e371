"""The ocb command: help, exit codes, configuration, store operations,
doctor, and a cross-check with the independent S3 client."""
import json
import os
import socket
import subprocess
import time

from conftest import BOTH_SERVERS, Ocb, TOP, write_config


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


def test_config_writable_by_others_refused(tmp_path, ocb_local):
    cfg = write_config(tmp_path / "c.json", {"instanceId": "x"})
    os.chmod(cfg, 0o664)
    p = ocb_local("--config", cfg, "list", check=False)
    assert p.returncode == 3
    assert "writable by group or others" in p.stderr and "chmod 600" in p.stderr


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
    """backup-config.json as openclaw-aws-backup's setup wizard writes it
    (tests/data/old-tool, see its README), for a given bucket."""
    with open(os.path.join(TOP, "tests", "data", "old-tool",
                           "backup-config.none-manual.json")) as f:
        cfg = json.load(f)
    cfg["s3"]["bucket"] = bucket
    cfg["region"] = "us-east-1"
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


@BOTH_SERVERS
def test_doctor_passes_and_fails_clearly(tmp_path, rgw, bucket, s3_config, ocb, keyfile):
    p = Ocb(config=s3_config, env=ocb.env)("doctor")
    assert p.stdout.count("ok") >= 6 and "FAILED" not in p.stdout
    # RGW honours If-None-Match: *; Swift answers 501 and ocb emulates it
    if rgw.kind == "swift":
        assert "ok       create-only writes: emulated (the server answered 501" in p.stdout
    else:
        assert "ok       create-only writes: native (If-None-Match: * answered 412)" in p.stdout
    env = dict(ocb.env, AWS_SECRET_ACCESS_KEY="wrong")
    p = Ocb(config=s3_config, env=env)("doctor", check=False)
    assert p.returncode == 4 and "FAILED" in p.stdout
    # a refused listing names the bucket, never an empty key
    p = Ocb(config=s3_config, env=env)("list", check=False)
    assert p.returncode == 4
    assert "S3 GET bucket %s (list): HTTP 403" % bucket in p.stderr
    assert "S3 GET :" not in p.stderr
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
    rgw.aws("s3api", "get-object", "--bucket", bucket, "--key", "vh/obj",
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


def test_help_for_every_command(ocb_local):
    top = ocb_local("--help").stdout
    assert "Exit codes" in top and "--config PATH" in top
    for cmd in ("store", "doctor", "key"):
        h = ocb_local(cmd, "--help").stdout
        assert h.startswith("usage: ocb " + cmd)
        assert ocb_local("help", cmd).stdout == h
    p = ocb_local("help", "no-such-command", check=False)
    assert p.returncode == 2 and "unknown command" in p.stderr
    p = ocb_local("--no-such-option", check=False)
    assert p.returncode == 2
    p = ocb_local("--config", check=False)        # missing argument
    assert p.returncode == 2


def test_store_usage_errors(tmp_path, file_config, ocb_local):
    o = Ocb(config=file_config, env=ocb_local.env)
    for args in (["store"], ["store", "get"], ["store", "put", "onlyone"],
                 ["store", "head"], ["store", "rm"], ["store", "-r", "get", "k"],
                 ["store", "ls", "a", "b"], ["store", "--bogus", "ls"]):
        p = o(*args, check=False)
        assert p.returncode == 2, args
        assert "usage: ocb store" in p.stderr
    # a malformed --store URL is a usage error, explained once
    for url in ("s3://bucket/some/path", "ftp://x", "file://relative"):
        p = o("store", "--store", url, "ls", check=False)
        assert p.returncode == 2, url
        assert url in p.stderr


def test_store_options_and_override(tmp_path, file_config, ocb_local):
    o = Ocb(config=file_config, env=ocb_local.env)
    other = tmp_path / "other"
    other.mkdir()
    url = "file://" + str(other)
    data = os.urandom(9_500_000)                  # more than one 8 MiB part
    o("store", "put", "-", "in/stdin", "--store", url, input=data, text=False)
    assert (other / "in" / "stdin").read_bytes() == data
    assert not (tmp_path / "store" / "in").exists()
    assert "in/stdin" in o("store", "--store", url, "ls", "--recursive").stdout
    assert "in/stdin" in o("store", "ls", "in/", "-r", "--store", url).stdout
    assert "in/stdin" not in o("store", "--store", url, "ls").stdout
    # a failed get leaves no file behind, a good one replaces it whole
    out = tmp_path / "got"
    p = o("store", "--store", url, "get", "in/missing", str(out), check=False)
    assert p.returncode == 5 and not out.exists()
    assert not list(tmp_path.glob("got*"))
    o("store", "--store", url, "get", "in/stdin", str(out))
    assert out.read_bytes() == data
    o("store", "--store", url, "rm", "in/stdin")
    assert o("store", "--store", url, "ls", "-r").stdout == ""
    # a missing store directory: not found, not created
    p = o("store", "--store", "file://" + str(tmp_path / "nope"), "ls", check=False)
    assert p.returncode == 5 and not (tmp_path / "nope").exists()
    assert "no such directory" in p.stderr


def test_store_ls_escapes_control_characters(tmp_path, file_config, ocb_local):
    o = Ocb(config=file_config, env=ocb_local.env)
    (tmp_path / "f").write_bytes(b"x")
    o("store", "put", str(tmp_path / "f"), "evil\x1b]0;title\x07key")
    out = o("store", "ls").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;title\\x07key" in out


def test_config_bad_store_url_exit_3(tmp_path, ocb_local):
    cfg = write_config(tmp_path / "c.json", {"store": "s3://bucket/path"})
    p = ocb_local("--config", cfg, "store", "ls", check=False)
    assert p.returncode == 3 and "field store" in p.stderr and cfg in p.stderr


def test_config_from_environment_and_missing_file(tmp_path, file_config, ocb_local):
    env = dict(ocb_local.env, OCB_CONFIG=file_config)
    assert "file://" in Ocb(env=env)("doctor").stdout
    env["OCB_CONFIG"] = str(tmp_path / "missing.json")
    p = Ocb(env=env)("store", "ls", check=False)
    assert p.returncode == 3 and "missing.json" in p.stderr


def test_defaults_key_generate_and_doctor(tmp_path, ocb_local):
    """No config file at all: the built-in local store; doctor asks for a
    key, ocb key generate makes one, then doctor passes."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in ocb_local.env.items() if not k.startswith(("AWS_", "OCB_"))}
    env.update(HOME=str(home))
    o = Ocb(env=env)
    p = o("doctor", check=False)
    assert p.returncode == 3, p.stdout + p.stderr
    assert "built-in defaults" in p.stdout
    assert "ocb key generate" in p.stdout
    assert (home / ".local" / "share" / "ocb" / "store").is_dir()
    key = home / ".config" / "ocb" / "key"
    assert o("key", "generate").stdout.strip() == str(key)
    st = os.stat(key)
    assert st.st_size == 32 and (st.st_mode & 0o777) == 0o600
    first = key.read_bytes()
    p = o("key", "generate", check=False)        # never overwrites
    assert p.returncode == 1 and "exists" in p.stderr
    assert key.read_bytes() == first
    p = o("doctor")
    assert "FAILED" not in p.stdout and p.stdout.count("ok") >= 4
    # an explicit path, a different key
    o("key", "generate", str(tmp_path / "k2"))
    assert (tmp_path / "k2").read_bytes() != first
    assert o("key", "frobnicate", check=False).returncode == 2
    assert o("key", "generate", "-x", check=False).returncode == 2
    assert o("key", "generate", "--help").stdout.startswith("usage: ocb key")
    assert not os.path.exists("--help") and not os.path.exists("-x")


def test_doctor_local_store_missing_directory(tmp_path, keyfile, ocb_local):
    cfg = write_config(tmp_path / "c.json", {
        "store": "file://" + str(tmp_path / "not-there"),
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile}})
    p = Ocb(config=cfg, env=ocb_local.env)("doctor", check=False)
    assert p.returncode == 5
    assert "FAILED" in p.stdout and "mkdir" in p.stdout
    assert not (tmp_path / "not-there").exists()


def test_doctor_key_file_too_open(tmp_path, file_config, keyfile, ocb_local):
    os.chmod(keyfile, 0o644)
    p = Ocb(config=file_config, env=ocb_local.env)("doctor", check=False)
    assert p.returncode == 3 and "chmod 600" in p.stdout


def test_doctor_never_prints_the_secret(tmp_path, rgw, bucket, s3_config, ocb):
    p = Ocb(config=s3_config, env=ocb.env)("-vv", "doctor")
    assert "clock skew" in p.stdout and "credentials from env" in p.stdout
    # a distinctive (wrong) secret, debug logging on: not in any output
    secret = "Zq9xDoctorSecretValue4711"
    env = dict(ocb.env, AWS_SECRET_ACCESS_KEY=secret)
    p = Ocb(config=s3_config, env=env)("-vv", "doctor", check=False)
    assert p.returncode == 4
    assert secret not in p.stdout + p.stderr
    assert secret[:6] not in p.stdout + p.stderr


# one command line each of the commands that talk to the store, in order
# of their first request; --target is filled in by the test
FAILING = [["backup"], ["list", "--all"], ["restore", "latest", "--target"],
           ["cat", "latest"], ["verify", "latest"], ["prune", "--keep-last", "1"],
           ["migrate", "--all"], ["pin", "latest"], ["store", "ls"], ["doctor"],
           ["group", "list"]]


def said_once(p, what):
    """each line of a failure's stderr once (request ids aside: every
    request has its own), none naming an empty key, and something said"""
    import re
    lines = [re.sub(r" \(request id [^)]*\)", "", l) for l in p.stderr.splitlines()]
    twice = sorted(set(l for l in lines if lines.count(l) > 1))
    assert not twice, "%s: printed more than once: %s\n%s" % (what, twice, p.stderr)
    assert not re.search(r"(GET|PUT|HEAD|DELETE|LIST|list|get) :", p.stderr), \
        "%s: a message with an empty key:\n%s" % (what, p.stderr)
    assert lines or "FAILED" in p.stdout, what


def test_each_error_is_printed_once(tmp_path, rgw, bucket, s3_config, ocb):
    """the failure paths of every store command: a wrong secret (4), a
    missing bucket (5), nothing listening (6); each says what failed and
    why once (the cause once per process, however many requests meet it)"""
    cfg = json.load(open(s3_config))
    cfg["s3"].update({"timeout": 2, "retryDeadline": 1})
    cases = []
    env = dict(ocb.env, AWS_SECRET_ACCESS_KEY="wrong")
    cases.append(("wrong secret", 4, write_config(tmp_path / "c4.json", cfg), env))
    cfg5 = json.loads(json.dumps(cfg))
    cfg5["s3"]["bucket"] = "no-such-" + bucket
    cases.append(("no bucket", 5, write_config(tmp_path / "c5.json", cfg5), ocb.env))
    cfg6 = json.loads(json.dumps(cfg))
    with socket.socket() as s:          # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        cfg6["s3"]["endpoint"] = "http://127.0.0.1:%d" % s.getsockname()[1]
        cases.append(("refused", 6, write_config(tmp_path / "c6.json", cfg6), ocb.env))
        for what, code, config, e in cases:
            o = Ocb(config=config, env=e)
            for i, args in enumerate(FAILING):
                if args[-1] == "--target":
                    args = args + [str(tmp_path / ("t%d" % i))]
                p = o(*args, check=False, timeout=120)
                label = "%s, ocb %s" % (what, " ".join(args))
                assert p.returncode == code, "%s: exit %d\n%s" % (label, p.returncode, p.stderr)
                said_once(p, label)


def test_list_new_total_base_of_full_backups(tmp_path, rgw, bucket, s3_config, ocb):
    """NEW (bytes of the tar stream the object stores) and TOTAL (the whole
    stream) per backup: from metadata hints (anyone's word) without --open,
    which a backup stored by one put carries and which say what its catalog
    says; without them the object's size and unknown; from the catalog with
    --open, where a full backup stores it all (new == total, base "",
    depth 0)."""
    from treeutil import make_tree
    make_tree(str(tmp_path / "src"))
    o = Ocb(config=s3_config, env=ocb.env)
    for _ in range(2):
        o("backup", "--full")        # full backups: the second does not need the first
    plain = json.loads(o("list", "--json").stdout)
    assert len(plain) == 2
    opened = json.loads(o("list", "--open", "--json").stdout)
    assert [b["name"] for b in opened] == [b["name"] for b in plain]   # same order
    for p, b in zip(plain, opened):
        assert "refused" not in b
        assert b["new_bytes"] == b["total_bytes"] > 0
        assert b["base"] == "" and b["depth"] == 0
        # one put (small backups): the hints are the catalog's numbers,
        # stream bytes, not the (compressed) object's size
        assert p["size"] <= 8 * 1024 * 1024
        assert (p["new_bytes"], p["total_bytes"]) == (b["new_bytes"], b["total_bytes"])
        assert p["new_bytes"] != p["size"]
        assert p["base"] is None and p["depth"] is None
    lines = o("list", "--open").stdout.splitlines()
    assert len(lines) == 2 and all("BASE" not in l for l in lines)
    assert all(" - " not in l.split("Z", 2)[2] for l in lines)   # TOTAL known
    assert all(" - " not in l.split("Z", 2)[2] for l in o("list").stdout.splitlines())
    # without the hints: NEW is the object's size, TOTAL unknown
    key = plain[1]["key"]
    rgw.aws("s3api", "copy-object", "--bucket", bucket, "--key", key,
            "--copy-source", "%s/%s" % (bucket, key), "--metadata-directive", "REPLACE",
            "--metadata", "ocb-format=3")
    bare = json.loads(o("list", "--json").stdout)[1]
    assert (bare["new_bytes"], bare["total_bytes"], bare["base"], bare["depth"]) == \
        (plain[1]["size"], None, None, None)
    assert " - " in o("list").stdout.splitlines()[1].split("Z", 2)[2]   # TOTAL unknown
    # hints in the metadata are shown as they are without --open; --open
    # takes the catalog's word
    key = plain[0]["key"]
    rgw.aws("s3api", "copy-object", "--bucket", bucket, "--key", key,
            "--copy-source", "%s/%s" % (bucket, key), "--metadata-directive", "REPLACE",
            "--metadata", "new-bytes=1000,total-bytes=5000,base=%s" % plain[1]["name"])
    hinted = json.loads(o("list", "--json").stdout)[0]
    assert (hinted["new_bytes"], hinted["total_bytes"], hinted["base"], hinted["depth"]) == \
        (1000, 5000, plain[1]["name"], None)
    line = o("list").stdout.splitlines()[0]
    assert "1000 B" in line and "4.9 KiB" in line and line.endswith("BASE " + plain[1]["name"])
    again = json.loads(o("list", "--open", "--json").stdout)[0]
    assert again["base"] == "" and again["new_bytes"] == again["total_bytes"] == \
        opened[0]["total_bytes"]
