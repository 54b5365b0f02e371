"""The store layer against the real server and the local directory: the
same conformance program for both, plus streaming, errors and a
cross-check with the independent client (awscli)."""
import os
import socket
import subprocess
import time

from conftest import build_path

CHECK = build_path("tests", "store_check")


def run_check(args, env, timeout=300):
    p = subprocess.run([CHECK, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p


def s3_env(rgw, endpoint=None):
    env = rgw.env()
    env["OCB_TEST_ENDPOINT"] = endpoint or rgw.endpoint
    return env


def test_conformance_rgw(rgw, bucket):
    p = run_check(["s3://" + bucket], s3_env(rgw))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "0 failed" in p.stdout


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
