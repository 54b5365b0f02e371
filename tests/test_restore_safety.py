"""Restores that touch nothing but their destination (issue 18): the
user's own symlinks on the way to it are kept, nothing is created through
a symlink or outside the destination, and hostile metadata from an
unauthenticated old-tool archive (device nodes, fifos, setuid bits,
security/trusted xattrs) never reaches the disk.  Local-directory store;
the old-tool archives are built here with Python's tarfile (the old tool
made plain `tar -czf` archives; see test_legacy.py)."""
import io
import json
import os
import re
import signal
import stat
import subprocess
import tarfile
import threading

from conftest import Ocb, write_config, wait_for
from treeutil import make_tree, assert_same_tree

PREFIX = "openclaw-aws-backups/instance-i-test"


def small_tree(src):
    os.makedirs(os.path.join(src, "workspace", "memory"))
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write('{"agent": "a"}\n')
    with open(os.path.join(src, "workspace", "memory", "today.md"), "w") as f:
        f.write("remembered\n")
    return src


def config_with(tmp_path, file_config, **kw):
    cfg = json.load(open(file_config))
    cfg.update(kw)
    return write_config(tmp_path / "c2.json", cfg)


def put_old(tmp_path, name, members):
    """an old-tool style .tar.gz (top directory `name`) in the local store;
    members: (TarInfo, bytes or None)"""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as t:
        top = tarfile.TarInfo(name)
        top.type, top.mode = tarfile.DIRTYPE, 0o755
        t.addfile(top)
        for ti, data in members:
            if not ti.name.startswith("/") and not ti.name.startswith(".."):
                ti.name = name + "/" + ti.name
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    d = tmp_path / "store" / PREFIX
    d.mkdir(parents=True, exist_ok=True)
    (d / (name + ".tar.gz")).write_bytes(buf.getvalue())


def member(name, type_=tarfile.REGTYPE, data=None, mode=0o644, **kw):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = type_, mode
    if data is not None:
        ti.size = len(data)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def test_target_through_a_symlink_keeps_the_link(tmp_path, file_config, ocb_local):
    src = make_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    (tmp_path / "real").mkdir()
    (tmp_path / "linkdir").symlink_to(tmp_path / "real")
    o("restore", "latest", "--target", str(tmp_path / "linkdir" / "t"))
    assert os.path.islink(tmp_path / "linkdir")
    assert_same_tree(src, str(tmp_path / "real" / "t" / "src"))
    # the target itself a symlink to an empty directory: kept
    (tmp_path / "empty").mkdir()
    (tmp_path / "tlink").symlink_to(tmp_path / "empty")
    o("restore", "latest", "--target", str(tmp_path / "tlink"))
    assert os.path.islink(tmp_path / "tlink")
    assert_same_tree(src, str(tmp_path / "empty" / "src"))
    # a selection too (its parents are created below the link)
    o("restore", "latest", "--target", str(tmp_path / "linkdir" / "s"),
      "src/workspace/memory")
    assert os.path.islink(tmp_path / "linkdir")
    mem = os.path.join(src, "workspace", "memory")
    got = tmp_path / "real" / "s" / "src" / "workspace" / "memory"
    assert sorted(os.listdir(got)) == sorted(os.listdir(mem))
    for n in os.listdir(mem):     # (one has a hardlink outside the selection)
        assert open(got / n, "rb").read() == open(os.path.join(mem, n), "rb").read()


def test_in_place_under_a_symlinked_home(tmp_path, file_config, ocb_local):
    (tmp_path / "realhome").mkdir()
    (tmp_path / "home").symlink_to(tmp_path / "realhome")
    src = small_tree(str(tmp_path / "home" / "src"))
    o = Ocb(config=config_with(tmp_path, file_config, sources=[src]), env=ocb_local.env)
    o("backup")
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write("broken\n")
    o("restore", "latest")
    assert os.path.islink(tmp_path / "home")
    assert open(os.path.join(src, "openclaw.json")).read() == '{"agent": "a"}\n'
    aside = [n for n in os.listdir(tmp_path / "realhome") if ".pre-restore-" in n]
    assert len(aside) == 1


def test_migrate_with_a_symlinked_cache_dir(tmp_path, file_config, ocb_local):
    (tmp_path / "realcache").mkdir()
    (tmp_path / "cachelink").symlink_to(tmp_path / "realcache")
    name = "openclaw-aws-backup-2026-11-20T10-00-00"
    put_old(tmp_path, name, [
        member("openclaw-config", tarfile.DIRTYPE, mode=0o755),
        member("openclaw-config/openclaw.json", data=b"{}\n"),
        member("workspace", tarfile.DIRTYPE, mode=0o755),
        member("workspace/MEMORY.md", data=b"old memory\n")])
    o = Ocb(config=config_with(tmp_path, file_config,
                               cache={"dir": str(tmp_path / "cachelink")}),
            env=ocb_local.env)
    o("migrate", name)
    assert os.path.islink(tmp_path / "cachelink")
    assert os.listdir(tmp_path / "realcache") is not None


def test_old_archive_paths_that_escape_are_refused(tmp_path, file_config, ocb_local):
    """'..', absolute paths, and a path through a symlink the archive
    itself made: refused and listed, nothing written outside the target,
    the archive's symlink kept as a symlink."""
    outside = tmp_path / "outside"
    outside.mkdir()
    name = "openclaw-aws-backup-2026-11-21T10-00-00"
    put_old(tmp_path, name, [
        member("workspace", tarfile.DIRTYPE, mode=0o755),
        member("workspace/esc", tarfile.SYMTYPE, linkname=str(outside)),
        member("workspace/esc/evil.txt", data=b"through the link\n"),
        member("workspace/rel", tarfile.SYMTYPE, linkname="../../outside"),
        member("workspace/rel/evil2.txt", data=b"through the link\n"),
        member("../escaped.txt", data=b"up\n"),
        member(str(tmp_path / "outside" / "abs.txt"), data=b"absolute\n"),
        member("workspace/fine.txt", data=b"fine\n")])
    o = Ocb(config=file_config, env=ocb_local.env)
    t = tmp_path / "t"
    p = o("restore", name, "--target", str(t), check=False)
    assert p.returncode == 8, p.stderr
    assert "through a symlink" in p.stderr and "unsafe path" in p.stderr
    assert os.listdir(outside) == []
    assert not (tmp_path / "escaped.txt").exists()
    assert os.readlink(t / "workspace" / "esc") == str(outside)
    assert os.readlink(t / "workspace" / "rel") == "../../outside"
    assert (t / "workspace" / "fine.txt").read_text() == "fine\n"
    assert sorted(os.listdir(t / "workspace")) == ["esc", "fine.txt", "rel"]


def test_old_archive_hostile_metadata_is_left_out(tmp_path, file_config, ocb_local):
    """Even as root: no device node, no fifo, no setuid/setgid bit, no
    xattr outside user.* from an unauthenticated old-tool archive."""
    assert os.geteuid() == 0
    name = "openclaw-aws-backup-2026-11-22T10-00-00"
    xa = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
          "SCHILY.xattr.trusted.evil": "x", "SCHILY.xattr.user.note": "kept"}
    put_old(tmp_path, name, [
        member("workspace", tarfile.DIRTYPE, mode=0o755),
        member("workspace/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
        member("workspace/disk", tarfile.BLKTYPE, mode=0o660, devmajor=8, devminor=0),
        member("workspace/pipe", tarfile.FIFOTYPE, mode=0o644),
        member("workspace/suid", data=b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0),
        member("workspace/sgid", data=b"#!/bin/sh\n", mode=0o2755, uid=0, gid=0),
        member("workspace/caps", data=b"x\n", mode=0o755, pax_headers=xa)])
    o = Ocb(config=file_config, env=ocb_local.env)
    t = tmp_path / "t"
    p = o("restore", name, "--target", str(t), "--keep-special", check=False)
    assert p.returncode == 8, p.stderr
    for what in ("device node", "fifo", "setuid/setgid", "security.capability",
                 "trusted.evil"):
        assert what in p.stderr, (what, p.stderr)
    assert sorted(os.listdir(t / "workspace")) == ["caps", "sgid", "suid"]
    assert stat.S_IMODE(os.stat(t / "workspace" / "suid").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(t / "workspace" / "sgid").st_mode) == 0o755
    assert os.listxattr(t / "workspace" / "caps") == ["user.note"]
    assert os.getxattr(t / "workspace" / "caps", "user.note") == b"kept"


def test_native_special_metadata_only_when_asked(tmp_path, file_config, ocb_local):
    src = small_tree(str(tmp_path / "src"))
    suid = os.path.join(src, "tool")
    with open(suid, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(suid, 0o4755)
    os.mkfifo(os.path.join(src, "pipe"))
    os.setxattr(suid, "trusted.note", b"t")
    os.setxattr(suid, "user.note", b"u")
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    p = o("restore", "latest", "--target", str(tmp_path / "a"), check=False)
    assert p.returncode == 8 and "setuid/setgid" in p.stderr and "trusted.note" in p.stderr
    got = tmp_path / "a" / "src"
    assert stat.S_IMODE(os.stat(got / "tool").st_mode) == 0o755
    assert os.listxattr(got / "tool") == ["user.note"]
    assert stat.S_ISFIFO(os.lstat(got / "pipe").st_mode)      # authenticated: kept
    o("restore", "latest", "--target", str(tmp_path / "b"), "--keep-special")
    got = tmp_path / "b" / "src"
    assert stat.S_IMODE(os.stat(got / "tool").st_mode) == 0o4755
    assert sorted(os.listxattr(got / "tool")) == ["trusted.note", "user.note"]


def test_selective_restore_of_hardlinks(tmp_path, file_config, ocb_local):
    """Any selection restores every file in it with its content, whichever
    link of a hardlink set it names; links inside the selection stay links;
    the dry run and the restore agree (issue 21)."""
    src = tmp_path / "src"
    for d in ("d1", "d2", "d3"):
        (src / d).mkdir(parents=True)
    (src / "d1" / "a").write_bytes(b"linked content\n" * 1000)
    os.link(src / "d1" / "a", src / "d2" / "b")
    os.link(src / "d1" / "a", src / "d2" / "c")
    (src / "d3" / "x").write_text("inside\n")
    os.link(src / "d3" / "x", src / "d3" / "y")
    (src / "z.txt").write_text("after\n")
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    want = (src / "d1" / "a").read_bytes()
    for n, (sel, files) in enumerate([
            (["src/d2/b"], ["d2/b"]),
            (["src/d2"], ["d2/b", "d2/c"]),
            (["src/d2/c", "src/z.txt"], ["d2/c", "z.txt"]),
            (["src/d1", "src/d2"], ["d1/a", "d2/b", "d2/c"]),
            (["src/d3"], ["d3/x", "d3/y"])]):
        t = tmp_path / ("t%d" % n)
        dry = o("restore", "latest", "--target", str(t), "--dry-run", *sel).stdout
        for f in files:
            assert "new     src/" + f in dry.splitlines(), (f, dry)
        p = o("restore", "latest", "--target", str(t), "--json", *sel)
        assert json.loads(p.stdout)["files"] + 0 >= 1
        got = sorted(os.path.relpath(os.path.join(d, f), t / "src")
                     for d, _, fs in os.walk(t / "src") for f in fs)
        assert got == sorted(files), (sel, got)
        for f in files:
            assert (t / "src" / f).read_bytes() == (src / f).read_bytes()
        inodes = {os.stat(t / "src" / f).st_ino for f in files
                  if (t / "src" / f).read_bytes() == want}
        assert len(inodes) <= 1, (sel, "links inside the selection stay links")
        if sel == ["src/d3"]:
            assert os.stat(t / "src/d3/x").st_ino == os.stat(t / "src/d3/y").st_ino


def test_in_place_only_to_configured_sources(tmp_path, file_config, ocb_local):
    """A backup written with the project's own writer (same store, same
    key, as a bucket writer with the key could) whose catalog names a
    source this config does not have, or a plain file as a source: an
    in-place restore refuses it (exit 2) and writes nothing."""
    victim = small_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "authorized_keys").write_text("ssh-ed25519 AAAA attacker\n")
    forger = Ocb(config=config_with(tmp_path, file_config, sources=[str(other)]),
                 env=ocb_local.env)
    forger("backup", "--label", "forged")
    before = (other / "authorized_keys").read_text()
    (other / "authorized_keys").write_text("mine\n")
    p = o("restore", "latest", check=False)
    assert p.returncode == 2, p.stderr
    assert "not one of the configured sources" in p.stderr and "--target" in p.stderr
    assert (other / "authorized_keys").read_text() == "mine\n"
    assert sorted(os.listdir(tmp_path)).count("elsewhere") == 1
    assert not [n for n in os.listdir(tmp_path) if "restore-" in n]
    # the same backup to a target is fine
    o("restore", "latest", "--target", str(tmp_path / "t"))
    assert (tmp_path / "t" / "elsewhere" / "authorized_keys").read_text() == before
    # the genuine backup still goes back in place
    with open(os.path.join(victim, "openclaw.json"), "w") as f:
        f.write("broken\n")
    names = [b["name"] for b in json.loads(o("list", "--json").stdout)]
    genuine = [n for n in names if "forged" not in n][0]
    o("restore", genuine)
    assert open(os.path.join(victim, "openclaw.json")).read() == '{"agent": "a"}\n'


def test_in_place_refuses_a_file_as_source(tmp_path, file_config, ocb_local):
    """Even a configured source is restored in place only as a directory
    (a backup whose top entry is a file could otherwise replace it)."""
    target = tmp_path / "cron-job"
    target.write_text("original\n")
    o = Ocb(config=config_with(tmp_path, file_config, sources=[str(target)]),
            env=ocb_local.env)
    o("backup")
    target.write_text("current\n")
    p = o("restore", "latest", check=False)
    assert p.returncode == 2 and "something else than a directory" in p.stderr
    assert target.read_text() == "current\n"


def test_in_place_refused_while_in_use(tmp_path, file_config, ocb_local):
    """A process holding a file open under the source: the restore names
    it and refuses; --force proceeds; a preRestore hook that stops the
    process lets the restore through (issue 16)."""
    src = small_tree(str(tmp_path / "src"))
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    holder = subprocess.Popen(["python3", "-c", "import sys,time\n"
                               "f=open(sys.argv[1],'a'); print('ok', flush=True)\n"
                               "sys.stdin.read()",
                               os.path.join(src, "openclaw.json")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"ok\n"
        p = o("restore", "latest", check=False)
        assert p.returncode == 1 and "pid %d (python3)" % holder.pid in p.stderr, p.stderr
        assert not [n for n in os.listdir(tmp_path) if "restore-" in n]
        p = o("restore", "latest", "--force")
        assert [n for n in os.listdir(tmp_path) if ".pre-restore-" in n]
        # its file is now in the set-aside copy, not in the source
        o("restore", "latest")
    finally:
        holder.kill()
        holder.wait()
    # a process with its working directory in the source, stopped by the hook
    sleeper = subprocess.Popen(["sleep", "600"], cwd=src)
    try:
        assert o("restore", "latest", check=False).returncode == 1
        cfg = json.load(open(file_config))
        # kill is asynchronous: the hook waits for the process to be gone
        cfg["hooks"] = {"preRestore": "kill %d; while kill -0 %d 2>/dev/null; do "
                        "sleep 0.05; done" % (sleeper.pid, sleeper.pid)}
        sleeper_reaper = threading.Thread(target=sleeper.wait)   # (reaps it)
        sleeper_reaper.start()
        o2 = Ocb(config=write_config(tmp_path / "hooked.json", cfg), env=ocb_local.env)
        o2("restore", "latest")
        sleeper_reaper.join()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_selective_in_place(tmp_path, file_config, ocb_local):
    """`ocb restore latest src/workspace/memory`: that path back where it
    came from, the previous version set aside beside it; missing
    directories above it come back with the recorded modes."""
    import shutil
    src = small_tree(str(tmp_path / "src"))
    os.chmod(os.path.join(src, "workspace"), 0o750)
    os.chmod(os.path.join(src, "workspace", "memory"), 0o700)
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    mem = os.path.join(src, "workspace", "memory")
    with open(os.path.join(mem, "today.md"), "w") as f:
        f.write("overwritten\n")
    with open(os.path.join(src, "openclaw.json"), "w") as f:
        f.write("edited, not restored\n")
    dry = o("restore", "latest", "--dry-run", "src/workspace/memory").stdout
    assert "changed src/workspace/memory/today.md (size)" in dry.splitlines()
    assert "openclaw.json" not in dry and "0 new, 1 changed, 0 deleted" in dry
    o("restore", "latest", "src/workspace/memory")
    assert open(os.path.join(mem, "today.md")).read() == "remembered\n"
    assert open(os.path.join(src, "openclaw.json")).read() == "edited, not restored\n"
    aside = [n for n in os.listdir(os.path.join(src, "workspace")) if ".pre-restore-" in n]
    assert len(aside) == 1
    assert not [n for n in os.listdir(os.path.join(src, "workspace")) if "ocb-restore" in n]
    shutil.rmtree(os.path.join(src, "workspace"))
    o("restore", "latest", "src/workspace/memory")
    assert stat.S_IMODE(os.stat(os.path.join(src, "workspace")).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(mem).st_mode) == 0o700
    assert open(os.path.join(mem, "today.md")).read() == "remembered\n"


def test_nested_sources_leave_no_copy_inside(tmp_path, file_config, ocb_local):
    """Sources nested in each other (as a migrated old backup's
    openclaw-config/ and workspace/): in place, no .pre-restore-* is left
    inside the restored tree (issue 17); the inner one restored alone is
    set aside like any other."""
    src = small_tree(str(tmp_path / "src"))
    ws = os.path.join(src, "workspace")
    o = Ocb(config=config_with(tmp_path, file_config, sources=[src, ws]),
            env=ocb_local.env)
    o("backup")
    with open(os.path.join(ws, "memory", "today.md"), "w") as f:
        f.write("changed\n")
    o("restore", "latest")
    assert sorted(os.listdir(src)) == ["openclaw.json", "workspace"]
    assert sorted(os.listdir(ws)) == ["memory"]
    assert open(os.path.join(ws, "memory", "today.md")).read() == "remembered\n"
    aside = [n for n in os.listdir(tmp_path) if n.startswith("src.pre-restore-")]
    assert len(aside) == 1
    assert open(tmp_path / aside[0] / "workspace" / "memory" / "today.md").read() == "changed\n"
    # the inner source alone: its previous state is set aside, not dropped
    with open(os.path.join(ws, "memory", "today.md"), "w") as f:
        f.write("changed again\n")
    o("restore", "latest", "workspace")
    assert open(os.path.join(ws, "memory", "today.md")).read() == "remembered\n"
    waside = [n for n in os.listdir(src) if n.startswith("workspace.pre-restore-")]
    assert len(waside) == 1
    assert open(os.path.join(src, waside[0], "memory", "today.md")).read() == "changed again\n"


def test_target_restore_killed_then_rerun(tmp_path, file_config, ocb_local):
    """A --target restore killed halfway leaves no file under its final
    name whose bytes are not the backup's (files are put in place only
    once checked), marks the target incomplete, and the rerun starts over
    without a manual rm (issue 22)."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / ("blob%d" % i)).write_bytes(os.urandom(48 << 20))
    (src / "small.txt").write_text("small\n")
    o = Ocb(config=file_config, env=ocb_local.env)
    o("backup")
    t = tmp_path / "t"
    proc = subprocess.Popen([o.bin, "--config", file_config, "restore", "latest",
                             "--target", str(t)], env=o.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def writing():
        """sizes of the files the restore has open under t/src (written
        without a name: "/.../src/#inode (deleted)"), or of its
        temporary names where the file system needs them"""
        d = t / "src"
        sizes = []
        try:
            for fd in os.listdir("/proc/%d/fd" % proc.pid):
                link = "/proc/%d/fd/%s" % (proc.pid, fd)
                if os.readlink(link).startswith(str(d) + "/"):
                    sizes.append(os.stat(link).st_size)
            sizes += [os.path.getsize(d / n) for n in os.listdir(d)
                      if n.startswith(".ocb-part-")]
        except OSError:
            pass
        return sizes

    def partial():
        return proc.poll() is not None or any(
            s > (1 << 20) for s in writing())
    wait_for(partial, 120, "the restore to be writing a file", interval=0.01)
    assert proc.poll() is None, "the restore ended before it was killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (t / ".ocb-restore-incomplete").exists()
    for n in os.listdir(t / "src"):
        if not n.startswith(".ocb-part-"):
            assert (t / "src" / n).read_bytes() == (src / n).read_bytes(), n
    p = o("restore", "latest", "--target", str(t))
    assert "interrupted restore: starting over" in p.stderr
    assert sorted(os.listdir(t)) == ["src"]
    assert_same_tree(str(src), str(t / "src"))
    # a target that is not empty and not marked is still refused
    assert o("restore", "latest", "--target", str(t), check=False).returncode != 0



def test_old_backup_in_place_as_the_old_tool_did(tmp_path, file_config, ocb_local):
    """An old-tool .tar.gz restored in place (issue 17): openclaw-config/
    becomes the state directory, the current openclaw.json is kept when the
    backup has none, workspace/ (the second copy) becomes its workspace,
    the previous state is set aside beside it and nothing of the kind is
    left inside."""
    state = tmp_path / "home" / ".openclaw"
    (state / "workspace").mkdir(parents=True)
    (state / "openclaw.json").write_text('{"current": true}\n')
    (state / "workspace" / "MEMORY.md").write_text("current memory\n")
    (state / "extra.txt").write_text("not in the backup\n")
    name = "openclaw-aws-backup-2026-11-23T10-00-00"
    put_old(tmp_path, name, [
        member("openclaw-config", tarfile.DIRTYPE, mode=0o700),
        member("openclaw-config/agents", tarfile.DIRTYPE, mode=0o755),
        member("openclaw-config/agents/a.json", data=b'{"id": "a"}\n'),
        member("openclaw-config/workspace", tarfile.DIRTYPE, mode=0o755),
        member("openclaw-config/workspace/MEMORY.md", data=b"first copy\n"),
        member("workspace", tarfile.DIRTYPE, mode=0o755),
        member("workspace/MEMORY.md", data=b"old memory\n"),
        member("workspace/notes.md", data=b"notes\n")])
    o = Ocb(config=config_with(tmp_path, file_config, sources=[str(state)]),
            env=ocb_local.env)
    p = o("restore", name)
    assert "previous state is in" in p.stdout
    assert (state / "openclaw.json").read_text() == '{"current": true}\n'
    assert (state / "agents" / "a.json").read_text() == '{"id": "a"}\n'
    assert (state / "workspace" / "MEMORY.md").read_text() == "old memory\n"
    assert sorted(os.listdir(state)) == ["agents", "openclaw.json", "workspace"]
    assert sorted(os.listdir(state / "workspace")) == ["MEMORY.md", "notes.md"]
    assert stat.S_IMODE(os.stat(state).st_mode) == 0o700
    aside = [n for n in os.listdir(tmp_path / "home") if n != ".openclaw"]
    assert len(aside) == 1 and aside[0].startswith(".openclaw.pre-restore-")
    assert (tmp_path / "home" / aside[0] / "extra.txt").exists()


def test_old_backup_paths_and_dry_run_in_place(tmp_path, file_config, ocb_local):
    """Some paths of an old-tool backup in place: openclaw-config/... goes
    into the state directory and workspace/... into its workspace, each set
    aside and swapped in like a native selection, the rest untouched; a
    dry run lists the changes where the restore would make them and
    writes nothing; other paths are refused (exit 2), a path the backup
    does not hold is not found (exit 5)."""
    state = tmp_path / "home" / ".openclaw"
    (state / "workspace" / "memory").mkdir(parents=True)
    (state / "agents").mkdir()
    (state / "openclaw.json").write_text('{"current": true}\n')
    (state / "agents" / "a.json").write_text('{"id": "changed"}\n')
    (state / "workspace" / "memory" / "today.md").write_text("current\n")
    (state / "workspace" / "keep.md").write_text("untouched\n")
    name = "openclaw-aws-backup-2026-11-23T10-00-00"
    put_old(tmp_path, name, [
        member("openclaw-config", tarfile.DIRTYPE, mode=0o700),
        member("openclaw-config/openclaw.json", data=b'{"old": true}\n', mode=0o600),
        member("openclaw-config/agents", tarfile.DIRTYPE, mode=0o755),
        member("openclaw-config/agents/a.json", data=b'{"id": "a"}\n'),
        member("openclaw-config/agents/b.json", data=b'{"id": "b"}\n'),
        member("workspace", tarfile.DIRTYPE, mode=0o755),
        member("workspace/memory", tarfile.DIRTYPE, mode=0o755),
        member("workspace/memory/today.md", data=b"old memory\n"),
        member("workspace/keep.md", data=b"old keep\n")])
    o = Ocb(config=config_with(tmp_path, file_config, sources=[str(state)]),
            env=ocb_local.env)
    before = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "home").rglob("*"))
    p = o("restore", "--dry-run", name, "openclaw-config/agents", "workspace/memory")
    assert re.search(r"^changed +openclaw-config/agents/a.json", p.stdout, re.M), p.stdout
    assert re.search(r"^new +openclaw-config/agents/b.json", p.stdout, re.M)
    assert re.search(r"^changed +workspace/memory/today.md", p.stdout, re.M)
    assert "keep.md" not in p.stdout and "openclaw.json" not in p.stdout
    assert "1 new, 2 changed, 0 deleted" in p.stdout, p.stdout
    j = json.loads(o("restore", "--dry-run", "--json", name).stdout)
    changes = {c["path"]: c["change"] for c in j["changes"]}
    assert changes["openclaw-config/agents/b.json"] == "new"
    assert changes["openclaw-config/agents/a.json"] == "changed"
    assert changes["workspace/keep.md"] == "changed"
    after = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "home").rglob("*"))
    assert after == before and (state / "agents" / "a.json").read_text() == '{"id": "changed"}\n'

    p = o("restore", name, "openclaw-config/agents", "workspace/memory/")
    assert (state / "agents" / "a.json").read_text() == '{"id": "a"}\n'
    assert (state / "agents" / "b.json").read_text() == '{"id": "b"}\n'
    assert (state / "workspace" / "memory" / "today.md").read_text() == "old memory\n"
    assert (state / "workspace" / "keep.md").read_text() == "untouched\n"
    assert (state / "openclaw.json").read_text() == '{"current": true}\n'
    aside = sorted(n for n in os.listdir(state) if ".pre-restore-" in n)
    assert len(aside) == 1 and aside[0].startswith("agents.pre-restore-")
    assert (state / aside[0] / "a.json").read_text() == '{"id": "changed"}\n'
    waside = [n for n in os.listdir(state / "workspace") if ".pre-restore-" in n]
    assert len(waside) == 1 and waside[0].startswith("memory.pre-restore-")
    assert not [n for n in os.listdir(state) if ".ocb-restore-" in n]

    for bad in ("../etc", "openclaw-config/../../x", "other"):
        p = o("restore", name, bad, check=False)
        assert p.returncode == 2 and "openclaw-config" in p.stderr, (bad, p.stderr)
    p = o("restore", name, "workspace/none", check=False)
    assert p.returncode == 5 and "not in the backup" in p.stderr, p.stderr
    assert not [n for n in os.listdir(state / "workspace") if ".ocb-restore-" in n]


def test_undecodable_stream_is_damage_not_network(tmp_path, file_config, ocb_local):
    """An old backup that is valid gzip but not a tar stream: 'damaged'
    (exit 7), never reported as the store being unreachable (exit 6)."""
    import gzip
    name = "openclaw-aws-backup-2026-11-24T10-00-00"
    d = tmp_path / "store" / PREFIX
    d.mkdir(parents=True)
    (d / (name + ".tar.gz")).write_bytes(gzip.compress(os.urandom(64 << 10)))
    o = Ocb(config=file_config, env=ocb_local.env)
    p = o("restore", name, "--target", str(tmp_path / "t"), check=False)
    assert p.returncode == 7, (p.returncode, p.stderr)
    assert not (tmp_path / "t").exists()


def test_old_archive_unusable_entries_are_left_out(tmp_path, file_config, ocb_local):
    """Entries of an old archive that cannot be made as they say (a
    hardlink to a directory, a hardlink to nothing, a file over a
    directory) are left out and listed; the rest is restored."""
    name = "openclaw-aws-backup-2026-11-25T10-00-00"
    put_old(tmp_path, name, [
        member("workspace", tarfile.DIRTYPE, mode=0o755),
        member("workspace/sub", tarfile.DIRTYPE, mode=0o755),
        member("workspace/hl-dir", tarfile.LNKTYPE, linkname=name + "/workspace/sub"),
        member("workspace/hl-none", tarfile.LNKTYPE, linkname=name + "/workspace/nothing"),
        member("workspace/sub", data=b"a file over the directory\n"),
        member("workspace/ok.txt", data=b"ok\n")])
    o = Ocb(config=file_config, env=ocb_local.env)
    t = tmp_path / "t"
    p = o("restore", name, "--target", str(t), check=False)
    assert p.returncode == 8, p.stderr
    assert p.stderr.count("unusable entry") == 3, p.stderr
    assert sorted(os.listdir(t / "workspace")) == ["ok.txt", "sub"]
    assert (t / "workspace" / "sub").is_dir()


def test_disaster_restore_from_resolved_sources(tmp_path, keyfile, ocb_local):
    """No "sources" in the config and no `openclaw` command: the sources
    are ~/.openclaw and what its openclaw.json (shaped as OpenClaw 2026.9.6
    writes it, test_setup.real_shaped_openclaw_json) names outside it.
    After a wipe of all of them, config included, `ocb restore latest`
    restores the state directory, then what the restored openclaw.json
    names (a workspace, an agent directory, included files, a workspace an
    included file names), each tree as it was backed up; --dry-run shows
    the same plan first.  A source the restored config does not name is
    left out (exit 8), never written."""
    from test_setup import real_shaped_openclaw_json, write_includes
    home, ext = tmp_path / "home", tmp_path / "ext"
    oc = home / ".openclaw"
    for d in (oc / "workspace" / "memory", oc / "agents" / "main" / "agent",
              oc / "clients", ext / "helper-ws" / "memory", ext / "helper-agent",
              ext / "shared"):
        d.mkdir(parents=True)
    (oc / "workspace" / "memory" / "today.md").write_text("main remembers\n")
    (oc / "agents" / "main" / "agent" / "auth.json").write_text('{"k": 1}\n')
    (oc / "clients" / "a.json5").write_text('{"channel": "x"}\n')
    (oc / "openclaw.json").write_text(
        json.dumps(real_shaped_openclaw_json(home, ext), indent=2) + "\n")
    os.chmod(oc / "openclaw.json", 0o600)
    (ext / "helper-ws" / "memory" / "MEMORY.md").write_text("helper remembers\n")
    os.symlink("memory/MEMORY.md", ext / "helper-ws" / "link")
    (ext / "helper-agent" / "models.json").write_text("{}\n")
    write_includes(ext)
    (ext / "ops-ws" / "NOTES.md").write_text("ops\n")
    store = tmp_path / "store"
    store.mkdir()
    cfg = {"instanceId": "i-test", "store": "file://" + str(store),
           "encryption": {"keyProvider": "keyfile", "keyFile": keyfile},
           "cache": {"dir": str(tmp_path / "cache")}}
    path = ":".join(d for d in os.environ["PATH"].split(":")
                    if not os.path.exists(os.path.join(d, "openclaw")))
    env = dict(ocb_local.env, HOME=str(home), PATH=path)
    env.pop("OCB_CONFIG", None)
    o = Ocb(config=write_config(tmp_path / "config.json", cfg), env=env)
    o("backup")
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run(["cp", "-a", str(home), str(ref / "home")], check=True)
    subprocess.run(["cp", "-a", str(ext), str(ref / "ext")], check=True)

    # the disaster: the state, its config and everything outside it gone
    subprocess.run(["rm", "-rf", str(oc), str(ext)], check=True)
    p = o("restore", "latest", "--dry-run")
    # phases: the state; what its openclaw.json names; what plugins.json5
    # includes (more.json5); the workspace more.json5 names
    assert p.stdout.count("names after the restore") == 3, p.stdout
    for d in ("helper-ws", "helper-agent", "ops-ws"):
        assert re.search(r"^new\s+\S*%s$" % d, p.stdout, re.M), p.stdout
    assert not oc.exists() and not ext.exists()
    p = o("restore", "latest")
    for d in ("helper-ws", "helper-agent", "ops-ws", "shared/plugins.json5",
              "shared/more.json5"):
        assert "restored %s\n" % (ext / d) in p.stdout, p.stdout
    assert_same_tree(str(ref / "home" / ".openclaw"), str(oc))
    for d in ("helper-ws", "helper-agent", "ops-ws"):
        assert_same_tree(str(ref / "ext" / d), str(ext / d))
    # the included files are sources themselves; the directory above them,
    # which the backup does not hold, is made again (0700)
    for f in ("plugins.json5", "more.json5"):
        a, b = ref / "ext" / "shared" / f, ext / "shared" / f
        assert a.read_bytes() == b.read_bytes()
        assert os.stat(a).st_mode == os.stat(b).st_mode
    assert stat.S_IMODE(os.stat(ext / "shared").st_mode) == 0o700

    # a backup (same key) holding a source its own openclaw.json does not
    # name: the state goes back, the other is left out and never written
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "authorized_keys").write_text("ssh-ed25519 AAAA attacker\n")
    Ocb(config=write_config(tmp_path / "c2.json", dict(cfg, sources=[str(oc), str(other)])),
        env=env)("backup", "--label", "forged")
    subprocess.run(["rm", "-rf", str(oc), str(other)], check=True)
    for args in (["--dry-run"], []):
        p = o("restore", "latest", *args, check=False)
        assert p.returncode == 8, p.stderr
        assert "left out" in p.stderr and "--target" in p.stderr, p.stderr
        assert str(other) in p.stderr and not other.exists()
    assert_same_tree(str(ref / "home" / ".openclaw"), str(oc))
