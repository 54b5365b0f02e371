#!/usr/bin/env python3
"""The day-to-day changes agent state sees, applied deterministically (seeded).

    churn.py DIR [--seed S] [--files-frac F] [--db-frac F]

Used by bench/incremental.sh (one "day" of churn on a gentree.py tree) and
imported by bench/chunking.py.  Two kinds of change:
- SQLite databases in WAL mode change pages in place: UPDATEs of random
  rows (bodies of a different length), INSERTs at the end, a few DELETEs,
  in small transactions, until the given fraction of the database's pages
  differ from a snapshot taken before (snapshots with the online backup
  API, Connection.backup, as ocb takes them).
- Notes, tasks and logs grow by appending a line.
On the command line: appends to F of the tree's files (picked among the
workspace's), churns agents/main/sessions.sqlite by F of its pages, and
prints one JSON line: files changed, bytes appended, the changed files'
whole sizes, the database's changed bytes (changed or new pages x page
size) and its size.
"""
import argparse
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gentree import sqlite_db, text  # noqa: E402


def make_wal_db(path, rng, size):
    """A gentree.py database of about size bytes, in WAL mode."""
    sqlite_db(path, rng, size)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=wal")
    db.close()


def snapshot(src, dst):
    """dst = a consistent copy of the database src (the online backup API)."""
    if os.path.exists(dst):
        os.unlink(dst)
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    with d:
        s.backup(d)
    s.close()
    d.close()


def page_size(path):
    with open(path, "rb") as f:
        f.seek(16)
        v = int.from_bytes(f.read(2), "big")
    return 65536 if v == 1 else v


def changed_pages(before, after, psize):
    """Pages of after that differ from before's page at the same number
    (or are new): their count."""
    with open(before, "rb") as f:
        a = f.read()
    with open(after, "rb") as f:
        b = f.read()
    return sum(1 for o in range(0, len(b), psize) if a[o:o + psize] != b[o:o + psize])


def _round(db, rng, n):
    """n statements in one transaction: ~70% UPDATEs, ~27% INSERTs, ~3% DELETEs."""
    top = db.execute("SELECT max(id) FROM m").fetchone()[0] or 1
    db.execute("BEGIN")
    for _ in range(n):
        x = rng.random()
        if x < 0.70:
            db.execute("UPDATE m SET body = ? WHERE id = ?",
                       (text(rng, rng.randint(40, 80)), rng.randint(1, top)))
        elif x < 0.97:
            db.execute("INSERT INTO m (role, body) VALUES (?, ?)",
                       (rng.choice(("user", "assistant", "tool")), text(rng, 60)))
        else:
            db.execute("DELETE FROM m WHERE id = ?", (rng.randint(1, top),))
    db.execute("COMMIT")


def db_churn(path, rng, frac, scratch):
    """Change about frac of path's pages with realistic statements (the
    database stays in WAL mode, and is closed after, so checkpointed).
    scratch: a directory for two snapshots.  Returns (changed pages,
    page size, pages after)."""
    before, after = os.path.join(scratch, "churn-a.db"), os.path.join(scratch, "churn-b.db")
    snapshot(path, before)
    psize = page_size(before)
    target = max(1, round(frac * os.path.getsize(before) / psize))
    db = sqlite3.connect(path, isolation_level=None)
    done, changed, step = 0, 0, 40
    while True:
        for _ in range(step // 10):
            _round(db, rng, 10)
        done += step
        snapshot(path, after)
        changed = changed_pages(before, after, psize)
        if changed >= target:
            break
        # statements still needed at the rate seen so far (pages per
        # statement fall as rows repeat): approach in halves
        rate = changed / done if changed else 0.5
        step = max(10, int((target - changed) / rate / 2) // 10 * 10)
    db.close()
    npages = os.path.getsize(after) // psize
    os.unlink(before)
    os.unlink(after)
    return changed, psize, npages


def append_line(path, rng):
    """Append one log/JSONL-like line; its length."""
    line = ('{"t": %d, "role": "%s", "text": "%s"}\n' % (
        rng.randint(1, 1 << 30), rng.choice(("user", "assistant", "tool")),
        text(rng, rng.randint(10, 40)))).encode()
    with open(path, "ab") as f:
        f.write(line)
    return len(line)


def tree_churn(root, rng, frac):
    """Append a line to frac of the tree's files (picked among the
    workspace's notes, tasks and logs): (files, bytes appended, their
    whole sizes after)."""
    total, pick = 0, []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        total += len(files)
        if os.path.relpath(d, root).split(os.sep)[0] == "workspace":
            pick.extend(os.path.join(d, f) for f in sorted(files))
    chosen = rng.sample(pick, min(len(pick), max(1, round(frac * total))))
    added = sum(append_line(p, rng) for p in chosen)
    return len(chosen), added, sum(os.path.getsize(p) for p in chosen)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--files-frac", type=float, default=0.01)
    ap.add_argument("--db-frac", type=float, default=0.01)
    ap.add_argument("--scratch", default=None, help="directory for snapshots (default: DIR/..)")
    a = ap.parse_args()
    import random
    rng = random.Random(a.seed)
    nfiles, added, whole = tree_churn(a.dir, rng, a.files_frac)
    db = os.path.join(a.dir, "agents", "main", "sessions.sqlite")
    pages, psize, npages = db_churn(db, rng, a.db_frac,
                                    a.scratch or os.path.dirname(os.path.abspath(a.dir)))
    print(json.dumps({"files": nfiles, "appended": added, "files_bytes": whole,
                      "db_changed": pages * psize, "db_bytes": npages * psize}))


if __name__ == "__main__":
    main()
