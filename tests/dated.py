"""Genuine native backups of past dates, for the tests that need a store
with a history (prune, its crashes).  A backup's name, prefix and time are
bound into its authenticated catalog, so a copy under a dated name is
refused; instead each one is an old-tool backup of that date (a small
tar -czf of <name>/openclaw-config, uploaded with the old tool's metadata
as tests/test_legacy.py describes) turned into a native one by
`ocb migrate --delete-original`, which keeps its time and label."""
import subprocess

PFX = "openclaw-aws-backups/instance-i-test/"


def put_old(rgw, bucket, work, date):
    """upload a small old-tool backup of date (e.g. 2026-11-03T03-00-00Z,
    a label may follow); returns its name, as `ocb migrate` takes it"""
    name = "openclaw-aws-backup-" + date.replace("Z", "", 1)
    top = work / name / "openclaw-config"
    top.mkdir(parents=True)
    (top / "openclaw.json").write_text("{}\n")
    tgz = work / (name + ".tar.gz")
    subprocess.run(["tar", "-czf", str(tgz), "-C", str(work), name], check=True)
    rgw.aws("s3api", "put-object", "--bucket", bucket, "--body", str(tgz),
            "--key", PFX + name + ".tar.gz",
            "--metadata", "backup-version=2.0,instance-id=i-test")
    return name


def dated_backups(o, rgw, bucket, work, dates):
    """make a verified native backup of each date, openclaw-aws-backup-
    <date>.ocb, through the Ocb o (none asked, nothing done)"""
    if not dates:
        return
    work.mkdir(parents=True, exist_ok=True)
    olds = [put_old(rgw, bucket, work, d) for d in dates]
    out = o("migrate", "--delete-original", *olds, timeout=600).stdout
    assert out.count("verified") == len(dates), out
