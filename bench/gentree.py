#!/usr/bin/env python3
"""Generate an agent-like state tree, deterministically (seeded).

    gentree.py DIR [--scale MB] [--big-file MiB] [--entries N] [--seed S]

Default (--scale 200): ~20,000 small JSON/Markdown/log files in a workspace
and memory layout, a node_modules-like tree of small JS files, a SQLite
database of about a quarter of the size, and some incompressible binary.
--big-file adds one file of that many MiB (half compressible, half random).
--entries N instead makes a tree of N small entries (for listing benchmarks),
one in 1000 of them a 4 KiB file.
"""
import argparse
import os
import random
import sqlite3

WORDS = ("agent memory task plan tool call result user assistant backup "
         "restore snapshot workspace skill config model token context note "
         "decided because therefore error retry success upgrade deploy").split()


def text(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def small_files(root, rng, count, budget):
    per = max(200, budget // max(count, 1))
    for i in range(count):
        kind = i % 4
        d = os.path.join(root, "workspace", "memory" if kind == 0 else
                         "projects/p%02d/%s" % (i % 37, ("notes", "logs", "data")[kind % 3]))
        if kind == 0:
            name, body = "2026-%02d-%02d-%d.md" % (1 + i % 12, 1 + i % 28, i), \
                "# Memory %d\n\n%s\n" % (i, text(rng, per // 6))
        elif kind == 1:
            name, body = "task-%d.json" % i, '{"id": %d, "status": "%s", "notes": "%s"}\n' % (
                i, rng.choice(("done", "open", "failed")), text(rng, per // 7))
        elif kind == 2:
            name, body = "run-%d.log" % i, "".join(
                "2026-11-%02d 12:%02d:%02d INFO %s\n" % (1 + j % 28, j % 60, (i + j) % 60, text(rng, 8))
                for j in range(max(1, per // 60)))
        else:
            name, body = "item-%d.md" % i, "## %s\n\n%s\n" % (text(rng, 3), text(rng, per // 6))
        write(os.path.join(d, name), body.encode())


def node_modules(root, rng, count):
    for i in range(count):
        pkg = "pkg-%03d" % (i // 10)
        write(os.path.join(root, "skills", "tooling", "node_modules", pkg, "lib", "f%d.js" % i),
              ("module.exports = function f%d(a, b) { return a + b + %d; } // %s\n" %
               (i, i, text(rng, 20))).encode())


def sqlite_db(path, rng, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("create table if not exists m (id integer primary key, role text, body text)")
    row = 0
    while os.path.getsize(path) < size:
        db.executemany("insert into m (role, body) values (?, ?)",
                       [(rng.choice(("user", "assistant", "tool")), text(rng, 60)) for _ in range(2000)])
        db.commit()
        row += 2000
    db.close()


def random_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--scale", type=int, default=200, help="approximate size in MB")
    ap.add_argument("--big-file", type=int, default=0, help="add one file of this many MiB")
    ap.add_argument("--entries", type=int, default=0, help="a tree of N small entries only")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    root = a.dir
    os.makedirs(root, exist_ok=True)
    if a.entries:
        per_dir = 100
        for i in range(a.entries):
            d = os.path.join(root, "d%03d" % (i // (per_dir * per_dir)), "e%03d" % ((i // per_dir) % per_dir))
            body = b'{"i": %d}\n' % i
            if i % 1000 == 0:       # one in 1000 is a 4 KiB file, for cold reads
                body = (b'{"i": %d, "pad": "' % i).ljust(4094, b"x") + b'"}'
            write(os.path.join(d, "f%06d.json" % i), body)
        return
    mb = a.scale * 1000 * 1000
    n_small = max(100, a.scale * 100)            # 200 MB -> 20,000 files
    small_files(root, rng, n_small, mb // 2)     # 200 MB -> ~100 MB of them
    node_modules(root, rng, max(50, a.scale * 10))
    sqlite_db(os.path.join(root, "agents", "main", "sessions.sqlite"), rng, mb // 4)
    write(os.path.join(root, "agents", "main", "blob.bin"), random_bytes(rng, mb // 5))
    write(os.path.join(root, "openclaw.json"), b'{"agent": {"name": "bench"}}\n')
    if a.big_file:
        path = os.path.join(root, "big.bin")
        with open(path, "wb") as f:
            for i in range(a.big_file):
                chunk = random_bytes(rng, 1 << 20) if i % 2 else (text(rng, 200).encode() * 800)[:1 << 20]
                f.write(chunk)


if __name__ == "__main__":
    main()
