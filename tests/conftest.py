"""Shared pytest fixtures: the real S3 servers (Ceph RGW; OpenStack Swift's
s3api), buckets, the ocb and ocbfs binaries; and the per-test timeouts.

The RGW is started once per test session by tests/ceph-up.sh and always
stopped at the end.  Tests marked with BOTH_SERVERS run once against RGW and
once against Swift (tests/swift-up.sh, started on first use, stopped at the
end): their `rgw` fixture is then the server named by the parameter.  Set OCB_TEST_ENDPOINT=http://host:port to use a
server that is already running instead (access/secret as below unless
OCB_TEST_ACCESS_KEY / OCB_TEST_SECRET_KEY say otherwise; OCB_TEST_RGW_DIR
names its ceph-up.sh directory, for tests that stop the server).

OCB_BUILD_DIR names the meson build directory whose binaries are tested
(default: build/ at the top of the tree).
"""
import faulthandler
import itertools
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("OCB_BUILD_DIR", os.path.join(TOP, "build")))
AWS = "/usr/bin/aws"
REGION = "us-east-1"


# Per-test timeouts (pytest-timeout; setup and teardown of the test's
# fixtures included, so the first test also waits for the servers to
# start).  The default is far above any test's own time and above the
# 600 s that each ocb command is given, so that a hung command fails with
# its own name first; longer tests say so with @pytest.mark.timeout(N).
# The signal method: the test fails with the traceback of where it waited,
# its fixtures are torn down (mounts unmounted; the servers at the end)
# and the run goes on; subprocess.run() kills its child when interrupted.
# The thread method would end the whole run at the first timeout, leaving
# servers and mounts behind.  But a signal is not handled while the test
# is stuck in the kernel (a read of a mount whose daemon hangs), so each
# test also arms a last resort a while after its timeout: the tracebacks
# of all threads on stderr, then the whole run ends.
# --timeout / PYTEST_TIMEOUT / an ini "timeout" override the default.
TIMEOUT = 900
LAST_RESORT = 300    # seconds after a test's timeout
_STDERR = pytest.StashKey()


def _no_timeout_given(config, name, env):
    return config.getoption(name) is None and not config.getini(name) and env not in os.environ


@pytest.hookimpl(tryfirst=True)   # before pytest-timeout reads the settings
def pytest_configure(config):
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("pytest-timeout is needed (packaging/deps.sh --test)")
    if _no_timeout_given(config, "timeout", "PYTEST_TIMEOUT"):
        config.option.timeout = TIMEOUT
    if _no_timeout_given(config, "timeout_method", "PYTEST_TIMEOUT_METHOD"):
        config.option.timeout_method = "signal"
    # the real stderr, kept for the last resort's tracebacks: when a test
    # runs, pytest has fd 2 going to its capture
    config.stash[_STDERR] = os.fdopen(os.dup(2), "w")


def pytest_unconfigure(config):
    if _STDERR in config.stash:
        config.stash[_STDERR].close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    c, mark = item.config, item.get_closest_marker("timeout")
    t = (mark.args[0] if mark and mark.args else mark.kwargs.get("timeout") if mark else None)
    if t is None:
        t = c.getoption("timeout") or c.getini("timeout") or os.environ.get("PYTEST_TIMEOUT")
    t = float(t or 0)
    if t > 0:
        faulthandler.dump_traceback_later(t + LAST_RESORT, exit=True, file=c.stash[_STDERR])
    try:
        yield
    finally:
        if t > 0:
            faulthandler.cancel_dump_traceback_later()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what, interval=0.05):
    """Poll cond() until it is true; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)  # poll interval, not synchronisation


class Rgw:
    def __init__(self, endpoint, access_key, secret_key, workdir=None):
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = REGION
        self.workdir = workdir
        self.kind = "rgw"

    def env(self, base=None):
        """Environment with this server's credentials (for ocb and aws)."""
        e = dict(os.environ if base is None else base)
        e.update({
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        e.pop("AWS_PROFILE", None)
        e.pop("AWS_SESSION_TOKEN", None)
        return e

    def aws(self, *args, check=True, input=None):
        """Run the independent client /usr/bin/aws against this server."""
        cmd = [AWS, "--endpoint-url", self.endpoint, *args]
        p = subprocess.run(cmd, env=self.env(), input=input, capture_output=True)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode,
                                                          p.stderr.decode(errors="replace")))
        return p

    def client(self):
        """An in-process botocore S3 client of this server (the library
        under awscli, without its start-up of a second or more a call)."""
        if not hasattr(self, "_s3"):
            import botocore.session
            from botocore.config import Config
            self._s3 = botocore.session.get_session().create_client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}))
        return self._s3

    def uploads(self, bucket):
        """Keys of unfinished multipart uploads (in-process botocore: fast
        enough to poll while an upload runs)."""
        r = self.client().list_multipart_uploads(Bucket=bucket)
        return [u["Key"] for u in r.get("Uploads", [])]

    def restart_radosgw(self):
        """Start radosgw again after a test killed it; wait until it answers."""
        conf = os.path.join(self.workdir, "ceph.conf")
        subprocess.run(["radosgw", "-c", conf, "-n", "client.rgw.a"], check=True)
        wait_for(lambda: self.aws("s3api", "list-buckets", check=False).returncode == 0,
                 60, "radosgw to answer again", interval=0.2)

    def radosgw_pid(self):
        """pid of the radosgw process (for tests that stop the server)."""
        with open(os.path.join(self.workdir, "run", "client.rgw.a.pid")) as f:
            return int(f.read().strip())


@pytest.fixture(scope="session")
def rgw(request):
    """The S3 server of a test: RGW, or Swift for BOTH_SERVERS' "swift"."""
    name = getattr(request, "param", "rgw")
    return request.getfixturevalue("ceph_rgw" if name == "rgw" else "swift_s3")


# run a test against both servers (its `rgw` fixture is then either)
BOTH_SERVERS = pytest.mark.parametrize("rgw", ["rgw", "swift"], indirect=True)


@pytest.fixture(scope="session")
def swift_s3():
    """OpenStack Swift with s3api and tempauth (Debian's swift packages),
    private on free ports; access keys of tempauth users hold a colon."""
    workdir = tempfile.mkdtemp(prefix="ocb-swift-", dir="/var/tmp")
    port = free_port()
    up = subprocess.run(["bash", os.path.join(TOP, "tests", "swift-up.sh"), workdir, str(port)],
                        capture_output=True, text=True)
    if up.returncode != 0:
        subprocess.run(["bash", os.path.join(TOP, "tests", "swift-down.sh"), workdir])
        raise RuntimeError("Swift did not start:\n" + up.stdout + up.stderr)
    try:
        srv = Rgw("http://127.0.0.1:%d" % port, "test:tester", "testing", workdir)
        srv.kind = "swift"
        yield srv
    finally:
        subprocess.run(["bash", os.path.join(TOP, "tests", "swift-down.sh"), workdir])


@pytest.fixture(scope="session")
def ceph_rgw():
    ext = os.environ.get("OCB_TEST_ENDPOINT")
    if ext:
        yield Rgw(ext, os.environ.get("OCB_TEST_ACCESS_KEY", "access"),
                  os.environ.get("OCB_TEST_SECRET_KEY", "secret"),
                  os.environ.get("OCB_TEST_RGW_DIR"))
        return
    # bluestore needs a real disk (O_DIRECT), not tmpfs
    workdir = tempfile.mkdtemp(prefix="ocb-rgw-", dir="/var/tmp")
    port = free_port()
    env = dict(os.environ, MONPORT=str(free_port()))
    up = subprocess.run(["bash", os.path.join(TOP, "tests", "ceph-up.sh"), workdir, str(port)],
                        env=env, capture_output=True, text=True)
    if up.returncode != 0:
        subprocess.run(["bash", os.path.join(TOP, "tests", "ceph-down.sh"), workdir])
        raise RuntimeError("RGW did not start:\n" + up.stdout + up.stderr)
    try:
        yield Rgw("http://127.0.0.1:%d" % port, "access", "secret", workdir)
    finally:
        subprocess.run(["bash", os.path.join(TOP, "tests", "ceph-down.sh"), workdir])


_bucket_seq = itertools.count()


@pytest.fixture
def bucket(rgw):
    """A fresh, empty bucket for one test."""
    name = "t%d-%s" % (next(_bucket_seq), uuid.uuid4().hex[:12])
    rgw.aws("s3api", "create-bucket", "--bucket", name)
    return name


class Ocb:
    """Runs the ocb binary with a given config and environment."""

    def __init__(self, config=None, env=None):
        self.bin = os.path.join(BUILD, "tools", "ocb")
        self.config = config
        self.env = dict(os.environ if env is None else env)

    def __call__(self, *args, check=True, input=None, timeout=600, text=True, env=None):
        cmd = [self.bin]
        if self.config:
            cmd += ["--config", self.config]
        cmd += list(args)
        p = subprocess.run(cmd, env=env or self.env, input=input, capture_output=True,
                           timeout=timeout, text=text)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode,
                                                           p.stdout, p.stderr))
        return p


def write_config(path, cfg):
    """Write a config file with mode 0600 (ocb refuses looser modes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent=2)
    os.chmod(path, 0o600)
    return str(path)


@pytest.fixture
def keyfile(tmp_path):
    """A fresh 32-byte master key file, mode 0600."""
    p = tmp_path / "master.key"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    return str(p)


@pytest.fixture
def s3_config(tmp_path, rgw, bucket, keyfile):
    """A config for a fresh bucket on RGW, keyfile encryption."""
    cfg = {
        "instanceId": "i-test",
        "region": rgw.region,
        "s3": {"bucket": bucket, "endpoint": rgw.endpoint},
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [str(tmp_path / "src")],
        "cache": {"dir": str(tmp_path / "cache")},
    }
    return write_config(tmp_path / "config.json", cfg)


@pytest.fixture
def file_config(tmp_path, keyfile):
    """A config for a local-directory store in tmp_path/store."""
    store = tmp_path / "store"
    store.mkdir()
    cfg = {
        "instanceId": "i-test",
        "store": "file://" + str(store),
        "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
        "sources": [str(tmp_path / "src")],
        "cache": {"dir": str(tmp_path / "cache")},
    }
    return write_config(tmp_path / "config.json", cfg)


@pytest.fixture
def ocb(rgw):
    """ocb runner with RGW credentials in its environment."""
    return Ocb(env=rgw.env())


@pytest.fixture
def ocb_local():
    """ocb runner for tests that need no S3 server."""
    env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true")
    return Ocb(env=env)


def objects(rgw, bucket):
    """every key in bucket, by awscli"""
    out = rgw.aws("s3api", "list-objects-v2", "--bucket", bucket).stdout
    return sorted(o["Key"] for o in json.loads(out or b"{}").get("Contents", []))


@pytest.fixture
def proxy(rgw):
    """a TCP proxy in front of RGW that can hold, fail and misbehave
    (gateproxy.py); point a config's s3.endpoint at proxy.endpoint"""
    from gateproxy import GateProxy
    p = GateProxy(rgw.endpoint)
    yield p
    # for the record (pytest -s): what this test's clients lived through
    print("proxy: %d requests, faults injected %s" % (len(p.requests), p.injected))
    p.close()


def build_path(*parts):
    return os.path.join(BUILD, *parts)


def have_binary(*parts):
    return os.path.exists(build_path(*parts))
