"""The test server itself: it must be a real S3 that checks signatures, or
every other test here proves less than it claims."""
import subprocess

from conftest import BOTH_SERVERS


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
