#!/usr/bin/env python3
"""How many bytes an incremental backup must store, by how files are cut.

    chunking.py [--seed S] [--db-mb MB] [--out TSV]

For the changes agent state sees (bench/churn.py), compares fixed aligned
blocks (4, 16, 64 KiB; a block is stored again when its hash differs from
the base's block at the same index) with content-defined chunking (a chunk
is stored again when its hash is not among the base's chunks):
  sqlite  a DB_MB MB SQLite database in WAL mode, 1% of its pages changed by
          UPDATEs of random rows, INSERTs at the end and a few DELETEs;
          both versions are online-backup snapshots (Connection.backup),
          as ocb stores them.  Truly changed: changed or new pages (4 KiB).
  jsonl   JSONL session logs, each grown by 1-5% (appends).  Truly
          changed: the appended bytes.
  insert  a text file with 1% new bytes inserted at one point in its
          middle (every later byte moves).  Truly changed: the inserted
          bytes.
MEASUREMENT MODEL, not a real chunker: the content-defined chunking here is
a simple gear rolling hash in the style of FastCDC (32-bit gear hash, a cut
where the hash falls under 2^32 / (avg - min); min = avg / 4, max =
4 x avg; no normalisation), written in Python so that the script needs
nothing but the standard library.  Index: SHA-256 hashes of the new
version (32 bytes each; content-defined chunks also need their length: +8).
Deterministic with --seed.  Table on stdout, raw rows in --out (default
bench/results/chunking.tsv).
"""
import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from churn import db_churn, make_wal_db, snapshot  # noqa: E402
from gentree import text  # noqa: E402

KIB = 1024
FIXED = (4 * KIB, 16 * KIB, 64 * KIB)
CDC = (16 * KIB, 64 * KIB)


# ---- the schemes -------------------------------------------------------------

def fixed_hashes(data, bs):
    mv = memoryview(data)
    return [hashlib.sha256(mv[o:o + bs]).digest() for o in range(0, len(data), bs)]


def fixed_stored(old, new, bs):
    """Bytes of new whose block differs from old's block at the same index;
    hashes of new."""
    ho, hn = fixed_hashes(old, bs), fixed_hashes(new, bs)
    stored = sum(min(bs, len(new) - i * bs) for i, h in enumerate(hn)
                 if i >= len(ho) or ho[i] != h)
    return stored, len(hn)


def gear_table(seed):
    rng = random.Random(seed)
    return [rng.getrandbits(32) for _ in range(256)]


def cdc_cuts(data, avg, gear):
    """End offsets of data's content-defined chunks (see the model above)."""
    mn, mx = avg // 4, avg * 4
    thr = (1 << 32) // (avg - mn)
    n, start, cuts = len(data), 0, []
    mv = memoryview(data)
    while start < n:
        end = min(start + mx, n)
        cut = end
        if start + mn < end:
            h = 0
            for i, b in enumerate(mv[start + mn:end], start + mn):
                h = ((h << 1) + gear[b]) & 0xFFFFFFFF
                if h < thr:
                    cut = i + 1
                    break
        cuts.append(cut)
        start = cut
    return cuts


def cdc_hashes(data, avg, gear):
    mv, out, s = memoryview(data), [], 0
    for c in cdc_cuts(data, avg, gear):
        out.append((hashlib.sha256(mv[s:c]).digest(), c - s))
        s = c
    return out


def cdc_stored(old, new, avg, gear):
    """Bytes of new's chunks that old does not hold (each stored once);
    chunks of new."""
    have = {h for h, _ in cdc_hashes(old, avg, gear)}
    hn = cdc_hashes(new, avg, gear)
    stored = 0
    for h, ln in hn:
        if h not in have:
            have.add(h)
            stored += ln
    return stored, len(hn)


def measure(case, pairs, changed, gear, rows):
    """pairs: (old bytes, new bytes) of each file of the case."""
    total = sum(len(n) for _, n in pairs)
    schemes = [("fixed %d KiB" % (bs // KIB), "fixed", bs) for bs in FIXED] + \
              [("CDC avg %d KiB (model)" % (avg // KIB), "cdc", avg) for avg in CDC]
    for label, kind, size in schemes:
        t0 = time.time()
        stored = hashes = 0
        for old, new in pairs:
            s, h = fixed_stored(old, new, size) if kind == "fixed" else cdc_stored(old, new, size, gear)
            stored += s
            hashes += h
        index = hashes * (32 if kind == "fixed" else 40)
        rows.append((case, label, total, changed, stored, "%.2f" % (stored / changed),
                     hashes, index, "%.1f" % (time.time() - t0)))


# ---- the cases ---------------------------------------------------------------

def case_sqlite(tmp, rng, mb):
    live = os.path.join(tmp, "live.sqlite")
    make_wal_db(live, rng, mb * 1000 * 1000)
    a, b = os.path.join(tmp, "a.db"), os.path.join(tmp, "b.db")
    snapshot(live, a)
    pages, psize, _ = db_churn(live, rng, 0.01, tmp)
    snapshot(live, b)
    with open(a, "rb") as f:
        old = f.read()
    with open(b, "rb") as f:
        new = f.read()
    return [(old, new)], pages * psize


def jsonl_lines(rng, nbytes):
    out, n = [], 0
    while n < nbytes:
        line = ('{"t": %d, "role": "%s", "text": "%s"}\n' % (
            rng.randint(1, 1 << 30), rng.choice(("user", "assistant", "tool")),
            text(rng, rng.randint(10, 120)))).encode()
        out.append(line)
        n += len(line)
    return b"".join(out)


def case_jsonl(rng):
    """Twelve session logs of 0.5-4 MB, each grown by 1-5%."""
    pairs, changed = [], 0
    for _ in range(12):
        old = jsonl_lines(rng, rng.randint(500_000, 4_000_000))
        more = jsonl_lines(rng, int(len(old) * rng.uniform(0.01, 0.05)))
        pairs.append((old, old + more))
        changed += len(more)
    return pairs, changed


def case_insert(rng):
    """A Markdown file of about 6.5 MB, 1% new text inserted at one point in its middle."""
    old = ("\n".join("## %s\n\n%s\n" % (text(rng, 4), text(rng, rng.randint(20, 200)))
                     for _ in range(8000))).encode()
    ins = text(rng, len(old) // 100 // 6).encode()[:len(old) // 100]
    at = rng.randint(len(old) // 4, 3 * len(old) // 4)
    return [(old, old[:at] + ins + old[at:])], len(ins)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db-mb", type=int, default=50)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results", "chunking.tsv"))
    a = ap.parse_args()
    rng = random.Random(a.seed)
    gear = gear_table(a.seed)
    rows = []
    tmp = tempfile.mkdtemp(prefix="ocb-chunking-", dir="/var/tmp")
    try:
        pairs, changed = case_sqlite(tmp, rng, a.db_mb)
        measure("sqlite 1% pages", pairs, changed, gear, rows)
    finally:
        shutil.rmtree(tmp)
    pairs, changed = case_jsonl(rng)
    measure("jsonl +1-5%", pairs, changed, gear, rows)
    pairs, changed = case_insert(rng)
    measure("insert 1% mid-file", pairs, changed, gear, rows)
    head = ("case", "scheme", "bytes", "truly_changed", "stored", "stored/changed",
            "hashes", "index_bytes", "seconds")
    lines = ["\t".join(str(x) for x in r) for r in [head] + rows]
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    w = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(x).ljust(w[i]) for i, x in enumerate(r)).rstrip())


if __name__ == "__main__":
    main()
