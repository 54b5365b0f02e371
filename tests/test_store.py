"""The store layer against the real server and the local directory: the
same conformance program for both, plus streaming, errors, a cross-check
with the independent client (awscli), instance-role credentials from a
local fake metadata service, and a misbehaving server on loopback."""
import contextlib
import errno
import http.server
import json
import os
import socket
import subprocess
import threading
import time

from conftest import BOTH_SERVERS, build_path

CHECK = build_path("tests", "store_check")


def run_check(args, env, timeout=300):
    p = subprocess.run([CHECK, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p


def s3_env(rgw, endpoint=None):
    env = rgw.env()
    env["OCB_TEST_ENDPOINT"] = endpoint or rgw.endpoint
    return env


@BOTH_SERVERS
def test_conformance_rgw(rgw, bucket):
    p = run_check(["s3://" + bucket], s3_env(rgw), timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 failed" in p.stdout
    # RGW honours If-None-Match: *; Swift answers 501, and ocb emulates
    mode = "emulated" if rgw.kind == "swift" else "native"
    assert "conditional put: %s\n" % mode in p.stdout


def test_conformance_local_directory(tmp_path):
    p = run_check(["file://" + str(tmp_path)], dict(os.environ))
    assert p.returncode == 0, p.stdout + p.stderr
    # temporary files never stay behind
    assert os.listdir(tmp_path / ".ocb-store" / "tmp") == []


def test_multipart_200mib_streams_in_bounded_memory(rgw, bucket):
    env = s3_env(rgw)
    # under ASan, freed memory sits in a quarantine: keep it small here so
    # the figure measures the writer, not the sanitizer
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    p = run_check(["--multipart-mib", "200", "s3://" + bucket], env)
    assert p.returncode == 0, p.stdout + p.stderr
    rss = int(p.stdout.split("peak_rss_kib ")[1].split()[0])
    assert rss < 80 * 1024, "peak RSS %d KiB for a 200 MiB upload" % rss
    head = rgw.aws("s3api", "head-object", "--bucket", bucket, "--key", "stream/big")
    assert b'"ContentLength": 209715200' in head.stdout


def test_wrong_secret_is_access_denied(rgw, bucket):
    env = s3_env(rgw)
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    p = run_check(["s3://" + bucket], env)
    assert p.returncode != 0
    assert "signature does not match" in p.stderr


def test_missing_bucket_is_a_clear_error(rgw):
    p = run_check(["s3://no-such-bucket-here"], s3_env(rgw))
    assert p.returncode != 0
    assert "no such bucket" in p.stderr


def test_create_bucket(rgw):
    name = "cb-" + os.urandom(6).hex()
    for _ in range(2):                      # the second time: it is ours
        p = run_check(["--create-bucket", "s3://" + name], s3_env(rgw))
        assert p.returncode == 0, p.stdout + p.stderr
    rgw.aws("s3api", "head-bucket", "--bucket", name)
    rgw.aws("s3api", "delete-bucket", "--bucket", name)


def test_server_down_fails_in_bounded_time(rgw):
    with socket.socket() as s:      # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    p = run_check(["--probe", "s3://b"], s3_env(rgw, "http://127.0.0.1:%d" % port),
                  timeout=120)
    assert p.returncode != 0
    assert "refused" in p.stdout or "refused" in p.stderr
    assert time.monotonic() - t0 < 30  # retries stop within the deadline


# ---- cross-check with the independent client --------------------------------

@BOTH_SERVERS
def test_written_by_ocb_read_by_aws(rgw, bucket, tmp_path):
    env = s3_env(rgw)
    small = tmp_path / "small"
    small.write_bytes(b"small object\n")
    big = tmp_path / "big"                  # 3 parts through the writer
    big.write_bytes(os.urandom(11 * 1024 * 1024 + 123))
    for key, path in (("x/small", small), ("x/big file \u00e9+", big)):
        p = run_check(["--put", key, str(path), "s3://" + bucket], env)
        assert p.returncode == 0, p.stdout + p.stderr
        out = tmp_path / "back"
        rgw.aws("s3api", "get-object", "--bucket", bucket, "--key", key, str(out))
        assert out.read_bytes() == path.read_bytes()
        head = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket,
                                  "--key", key).stdout)
        assert head["ContentLength"] == path.stat().st_size
        assert head["Metadata"] == {"origin": "store_check"}
    assert head["ETag"].endswith('-3"')     # the big one was multipart


@BOTH_SERVERS
def test_written_by_aws_read_by_ocb(rgw, bucket, tmp_path):
    env = s3_env(rgw)
    src = tmp_path / "src"
    src.write_bytes(os.urandom(17 * 1024 * 1024 + 5))   # aws: multipart
    key = "from aws/\u65e5\u672c & co+1"
    rgw.aws("s3", "cp", str(src), "s3://%s/%s" % (bucket, key),
            "--metadata", "origin=aws")
    head = json.loads(rgw.aws("s3api", "head-object", "--bucket", bucket,
                              "--key", key).stdout)
    out = tmp_path / "out"
    p = run_check(["--get", key, "s3://" + bucket, str(out)], env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert out.read_bytes() == src.read_bytes()
    assert "size %d " % src.stat().st_size in p.stdout
    assert "etag %s " % head["ETag"].strip('"') in p.stdout
    assert "origin aws " in p.stdout


# ---- credentials from a (local, fake) instance metadata service -------------

class ImdsHandler(http.server.BaseHTTPRequestHandler):
    TOKEN = "imds-token-123"
    seen = []
    expires_in = 6 * 3600       # seconds from now in the credentials
    answers = 1000              # credential documents served, then 500

    def log_message(self, *args):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.seen.append(("PUT", self.path, self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")))
        if self.path != "/latest/api/token" or \
                not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400)
        self.reply(200, self.TOKEN.encode())

    def do_GET(self):
        self.seen.append(("GET", self.path, self.headers.get("X-aws-ec2-metadata-token")))
        if self.headers.get("X-aws-ec2-metadata-token") != self.TOKEN:
            return self.reply(401)          # IMDSv2 only
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self.reply(200, b"ocb-role\n")
        if self.path == base + "ocb-role":
            if ImdsHandler.answers <= 0:
                return self.reply(500)
            ImdsHandler.answers -= 1
            exp = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                time.gmtime(time.time() + self.expires_in))
            return self.reply(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAIMDSTEST",
                "SecretAccessKey": "imds-secret", "Token": "imds-session-token",
                "Expiration": exp}).encode())
        self.reply(404)


@contextlib.contextmanager
def http_server(handler):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield "http://127.0.0.1:%d" % srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def no_creds_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "none")
    return env


def test_instance_role_credentials_through_imdsv2(tmp_path):
    ImdsHandler.seen = []
    with http_server(ImdsHandler) as url:
        env = no_creds_env(tmp_path)
        env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = url + "/"
        p = run_check(["--creds"], env, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "source imds access_key ASIAIMDSTEST token yes"
    assert "imds-secret" not in p.stdout + p.stderr
    # token first (with a TTL), then the role and its credentials with it
    assert ImdsHandler.seen[0][:2] == ("PUT", "/latest/api/token")
    assert all(s[2] == ImdsHandler.TOKEN for s in ImdsHandler.seen[1:])
    assert len(ImdsHandler.seen) == 3


def test_instance_role_credentials_refreshed_before_expiry(tmp_path):
    env = no_creds_env(tmp_path)
    try:
        with http_server(ImdsHandler) as url:
            env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = url
            # valid for 10 more minutes: used as they are
            ImdsHandler.seen, ImdsHandler.expires_in = [], 600
            p = run_check(["--creds", "3"], env, timeout=30)
            assert p.returncode == 0, p.stdout + p.stderr
            assert len(ImdsHandler.seen) == 3
            # expired: fetched again at each use
            ImdsHandler.seen, ImdsHandler.expires_in = [], -60
            p = run_check(["--creds", "3"], env, timeout=30)
            assert p.returncode == 0, p.stdout + p.stderr
            assert p.stdout.count("source imds") == 3
            assert len(ImdsHandler.seen) == 9
            # within 5 minutes of expiry, the service failing: the valid
            # keys are used, refreshes are not tried at every use
            ImdsHandler.seen, ImdsHandler.expires_in = [], 60
            ImdsHandler.answers = 1
            p = run_check(["--creds", "3"], env, timeout=30)
            assert p.returncode == 0, p.stdout + p.stderr
            assert p.stdout.count("source imds") == 3
            assert len(ImdsHandler.seen) == 3
            # expired, and the service fails: an error, not stale keys
            ImdsHandler.seen, ImdsHandler.expires_in = [], -60
            ImdsHandler.answers = 1
            p = run_check(["--creds", "2"], env, timeout=30)
            assert p.returncode != 0
            assert p.stdout.count("source imds") == 1
            assert "could not be refreshed" in p.stderr
    finally:
        ImdsHandler.expires_in, ImdsHandler.answers = 6 * 3600, 1000


def test_imds_disabled_or_absent_fails_fast(tmp_path):
    env = no_creds_env(tmp_path)
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    p = run_check(["--creds"], env, timeout=30)
    assert p.returncode != 0
    assert "no AWS credentials" in p.stderr
    with socket.socket() as s:                  # nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = no_creds_env(tmp_path)
    env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:%d" % port
    t0 = time.monotonic()
    p = run_check(["--creds"], env, timeout=30)
    assert p.returncode != 0
    assert "no AWS credentials" in p.stderr
    assert time.monotonic() - t0 < 5


# ---- a misbehaving S3 server: each failure maps to its own error ------------

class BadS3Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        key = self.path.split("?")[0].split("/", 2)[2]
        if key == "short":                   # fewer bytes than announced
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.send_header("ETag", '"e1"')
            self.end_headers()
            self.wfile.write(b"x" * 5000)
            self.wfile.flush()
            self.close_connection = True
        elif key == "stall":                 # headers, a little, then nothing
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.release.wait(60)
            self.close_connection = True
        elif key == "slowdown":
            self.error(503, b"<Error><Code>SlowDown</Code><Message>slow"
                       b"</Message><RequestId>r1</RequestId></Error>")
        elif key == "hugeerror":             # error body far past its cap
            self.error(403, b"<Error><Code>AccessDenied</Code><Message>" +
                       b"m" * (1 << 20) + b"</Message></Error>")
        elif key == "notxml":                # a proxy's page
            self.error(502, b"<html><body>Bad Gateway</body></html>")
        elif key == "norange":               # Range ignored: the whole object
            body = b"0123456789"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif key == "longetag":              # header values are capped
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"' + "e" * 8000 + '"')
            self.send_header("x-amz-meta-origin", "o" * 8000)
            self.end_headers()
            self.wfile.write(body)
        else:
            self.error(404, b"<Error><Code>NoSuchKey</Code></Error>")

    def error(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def get_raw(url, key, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="a", AWS_SECRET_ACCESS_KEY="s",
               OCB_TEST_ENDPOINT=url, **(extra or {}))
    t0 = time.monotonic()
    p = run_check(["--get", key, "s3://bkt"], env, timeout=60)
    return p, time.monotonic() - t0


def test_misbehaving_server_errors_are_mapped():
    BadS3Handler.release.clear()
    with http_server(BadS3Handler) as url:
        p, _ = get_raw(url, "short")
        assert "get: -%d " % errno.ECONNRESET in p.stdout, p.stdout + p.stderr
        p, took = get_raw(url, "stall", {"OCB_TEST_STALL_MS": "2000"})
        BadS3Handler.release.set()
        assert "get: -%d " % errno.ETIMEDOUT in p.stdout, p.stdout + p.stderr
        assert took < 15
        p, _ = get_raw(url, "slowdown", {"OCB_DEBUG": "1"})
        assert "get: -%d " % errno.EAGAIN in p.stdout, p.stdout + p.stderr
        # transient: logged at info, with the S3 code and request id
        assert "HTTP 503 SlowDown: slow (request id r1)" in p.stderr
        p, _ = get_raw(url, "hugeerror")
        assert "get: -%d " % errno.EACCES in p.stdout, p.stdout + p.stderr
        p, _ = get_raw(url, "notxml")
        assert "get: -%d " % errno.EAGAIN in p.stdout, p.stdout + p.stderr
        p, _ = get_raw(url, "missing")
        assert "get: -%d " % errno.ENOENT in p.stdout, p.stdout + p.stderr
        p, _ = get_raw(url, "norange", {"OCB_TEST_RANGE": "4:3"})
        assert "get: -%d " % errno.EPROTO in p.stdout, p.stdout + p.stderr
        p, _ = get_raw(url, "norange", {"OCB_TEST_RANGE": "0:100"})
        assert "get: 0 " in p.stdout and "bytes 10 " in p.stdout, p.stdout
        p, _ = get_raw(url, "longetag")
        assert p.returncode == 0, p.stdout + p.stderr
        etag = p.stdout.split(" etag ")[1].split()[0]
        assert 0 < len(etag) < 80 and set(etag) == {"e"}
