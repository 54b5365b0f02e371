"""The test server itself: it must be a real S3 that checks signatures, or
every other test here proves less than it claims."""
import os
import subprocess

from conftest import BOTH_SERVERS, TOP, Rgw, free_port


@BOTH_SERVERS
def test_rgw_roundtrip_with_independent_client(rgw, bucket, tmp_path):
    src = tmp_path / "obj"
    src.write_bytes(b"hello rgw\n" * 1000)
    rgw.aws("s3", "cp", str(src), "s3://%s/a/b" % bucket)
    out = tmp_path / "back"
    rgw.aws("s3", "cp", "s3://%s/a/b" % bucket, str(out))
    assert out.read_bytes() == src.read_bytes()


@BOTH_SERVERS
def test_rgw_rejects_wrong_secret(rgw, bucket):
    env = rgw.env()
    env["AWS_SECRET_ACCESS_KEY"] = "wrong"
    p = subprocess.run(["/usr/bin/aws", "--endpoint-url", rgw.endpoint, "s3api",
                        "list-objects-v2", "--bucket", bucket],
                       env=env, capture_output=True)
    assert p.returncode != 0


def test_swift_starts_on_a_clean_machine(tmp_path):
    """tests/swift-up.sh needs nothing of the Debian packages' /etc/swift
    (a clean machine's may hold other policies, hash settings, or nothing):
    started with an empty /etc/swift (a tmpfs over it, in a mount namespace
    of its own), it serves S3, and swift-down.sh leaves nothing behind."""
    d = str(tmp_path / "swift")
    port = free_port()
    pids = []
    up = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "bash", "-c",
         'mount -t tmpfs none /etc/swift && [ -z "$(ls -A /etc/swift)" ] && '
         'exec bash "$0" "$1" "$2"', os.path.join(TOP, "tests", "swift-up.sh"), d, str(port)],
        capture_output=True, text=True, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        srv = Rgw("http://127.0.0.1:%d" % port, "test:tester", "testing", d)
        srv.aws("s3api", "create-bucket", "--bucket", "clean")
        srv.uploads("clean")            # a signed request answered
        pids = [int(open(os.path.join(d, "run", f)).read()) for f in os.listdir(
            os.path.join(d, "run"))]
        assert len(pids) == 5          # memcached and the four servers
    finally:
        subprocess.run(["bash", os.path.join(TOP, "tests", "swift-down.sh"), d], timeout=120)
    assert not os.path.exists(d)
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid) or \
            open("/proc/%d/stat" % pid).read().split()[2] == "Z"
