"""Make source trees with every kind of entry, and compare trees by
content, modes, mtimes, symlink targets, hardlinks and xattrs."""
import hashlib
import os
import stat


def disk_cache_files(cache):
    """The disk cache's files of objects: DIR/<32 hex>/<file> (the tools
    keep other state beside them)."""
    return [os.path.join(d, n) for d, _, ns in os.walk(cache) for n in ns
            if len(os.path.basename(d)) == 32]


def flip_a_byte(paths):
    """A byte flipped in the middle of each file (same size): damage only
    authentication can see.  Returns what each held before."""
    good = {p: open(p, "rb").read() for p in paths}
    for p in paths:
        with open(p, "r+b") as f:
            f.seek(os.path.getsize(p) // 2)
            b = f.read(1)
            f.seek(-1, os.SEEK_CUR)
            f.write(bytes([b[0] ^ 0x40]))
    return good


def make_tree(root, big=3_000_000):
    """A small tree of every type the format must keep."""
    os.makedirs(root, exist_ok=True)
    def w(rel, data, mode=0o644):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p
    w("openclaw.json", b'{"agent": {"name": "t"}}\n')
    for i in range(30):
        w("workspace/memory/2026-11-%02d.md" % (i % 28 + 1) if i < 28 else
          "workspace/memory/extra-%d.md" % i, ("memory %d\n" % i).encode() * (i + 1))
    w("workspace/empty", b"")
    w("workspace/big.bin", os.urandom(big))
    w("workspace/text.log", b"log line\n" * 200_000)     # several frames, compressible
    w("credentials/token", b"secret\n", 0o600)
    w("bin/run.sh", b"#!/bin/sh\necho hi\n", 0o755)
    w("unicode/caf\u00e9-\u65e5\u672c.md", "unicode \u2713\n".encode())
    w("long/" + "n" * 200, b"long name\n")
    w("spaces and+plus/a b.txt", b"spaces\n")
    os.symlink("../openclaw.json", os.path.join(root, "workspace/link-to-config"))
    os.symlink("does-not-exist", os.path.join(root, "workspace/dangling"))
    os.link(os.path.join(root, "workspace/memory/2026-11-01.md"),
            os.path.join(root, "workspace/hardlink.md"))
    os.setxattr(os.path.join(root, "openclaw.json"), "user.origin", b"test-suite")
    os.setxattr(os.path.join(root, "workspace"), "user.dirattr", b"d")
    sp = os.path.join(root, "workspace/sparse.img")
    with open(sp, "wb") as f:
        f.seek(5_000_000)
        f.write(b"end")
    os.mkfifo(os.path.join(root, "workspace/fifo"))
    os.makedirs(os.path.join(root, "empty-dir"))
    os.utime(os.path.join(root, "openclaw.json"), ns=(1_600_000_000_123_456_789,) * 2)
    return root


def snapshot(root):
    """path -> facts, for comparing two trees."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            facts = {"mode": st.st_mode, "mtime": st.st_mtime_ns // 1000}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    facts["sha"] = hashlib.sha256(f.read()).hexdigest()
                facts["size"] = st.st_size
                facts["nlink"] = st.st_nlink
            elif stat.S_ISLNK(st.st_mode):
                facts["target"] = os.readlink(p)
            if not stat.S_ISLNK(st.st_mode):
                try:
                    facts["xattrs"] = {k: os.getxattr(p, k) for k in os.listxattr(p)
                                       if k.startswith("user.") and not k.startswith("user.ocb.")}
                except OSError:
                    facts["xattrs"] = {}
            out[rel] = facts
    return out


def hardlink_groups(root):
    groups = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                groups.setdefault(st.st_ino, set()).add(os.path.relpath(p, root))
    return sorted(sorted(g) for g in groups.values())


def assert_same_tree(a, b, mtimes=True):
    sa, sb = snapshot(a), snapshot(b)
    assert sorted(sa) == sorted(sb), (set(sa) ^ set(sb))
    for rel in sa:
        fa, fb = dict(sa[rel]), dict(sb[rel])
        if not mtimes or stat.S_ISLNK(fa["mode"]):
            fa.pop("mtime"), fb.pop("mtime")
        assert fa == fb, (rel, fa, fb)
    assert hardlink_groups(a) == hardlink_groups(b)
