#!/usr/bin/env python3
"""Writes a `git fast-import` stream of a synthetic history shaped like the history benchmark.

    make-synthetic-history.py [--scale N] [--seed S] [--secrets-out FILE] > stream

The history benchmark (make-history.sh: 240 releases of Django and botocore) holds per commit
about 487 new blobs and 477 new trees, blobs of median 3.3 KiB and mean 15 KiB, 91% of them stored
as deltas. This stream keeps that shape per commit and multiplies the number of commits by
SCALE: the same ~7,000-file tree in ~2,600 folders, 240 x SCALE commits, each editing ~490 files
in place (a few runs of lines replaced, so every file has a long chain of versions that delta
against each other). Everything comes from one seeded generator: the same arguments give the
same stream (with the same Python 3 minor version), hence the same commit ids.

Blobs are written grouped by file, oldest version first, before any commit: fast-import deltas
each blob against the blob written just before it, so this order gives every version a delta
against its predecessor (chains up to fast-import's --depth), as `git gc` would find.

A few fake credentials (built here from the seed, in the formats of real ones) are planted in
some versions of some files and removed again later, so the scan has findings whose provenance
it must trace; --secrets-out lists them (kind, value, path, commit number).
"""
import argparse
import math
import random
import sys
import zlib

COMMITS_PER_SCALE = 240
EDITS_PER_COMMIT = 487
TOP_DIRS = 64
LEAF_DIRS = 40  # per top folder
FILES = 7000
MAX_FILE = 1_600_000

WORDS = (
    "self request response client config value result error data name path items index count "
    "service model shape member operation input output status marker region endpoint bucket "
    "return import from class def if else elif for while try except raise with yield lambda "
    "None True False int str list dict bytes len range get set update append format join split"
).split()

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
UPPER32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def line_pool(rng, n):
    """Code-like lines: indentation, identifiers, literals, numbers that rarely repeat."""
    pool = []
    for _ in range(n):
        indent = " " * (4 * rng.randrange(0, 4))
        k = rng.randrange(5, 10)
        words = [rng.choice(WORDS) for _ in range(k)]
        shape = rng.randrange(6)
        if shape == 0:
            text = f"{words[0]}_{words[1]} = {words[2]}({', '.join(words[3:])})"
        elif shape == 1:
            text = f'"{words[0]}{words[1].title()}": {{"shape": "{words[2].title()}{words[3].title()}", "{words[4]}": {rng.randrange(10**6)}}},'
        elif shape == 2:
            text = f"# {' '.join(words)} {rng.randrange(10**4)}"
        elif shape == 3:
            text = f"def {words[0]}_{words[1]}(self, {', '.join(words[2:5])}):"
        elif shape == 4:
            text = f'"documentation": "<p>The {" ".join(words)} of the {words[0]}.</p>",'
        else:
            text = f"if {words[0]}.{words[1]} is not {words[2]}: return {words[3]}[{rng.randrange(1000)}]"
        pool.append((indent + text + "\n").encode())
    return pool


def crc32_base62(body):
    n = zlib.crc32(body.encode())
    out = []
    for _ in range(6):
        out.append(BASE62[n % 62])
        n //= 62
    return "".join(reversed(out))


def fake_secrets(rng):
    """Fake credentials in the formats the built-in rules know; built here, never stored."""
    pick = lambda alphabet, n: "".join(rng.choice(alphabet) for _ in range(n))
    gh_body = pick(ALNUM, 30)
    return [
        ("github-pat", f'GH_TOKEN = "ghp_{gh_body}{crc32_base62(gh_body)}"\n'),
        ("aws", f'aws_access_key_id = "AKIA{pick(UPPER32, 16)}"\naws_secret_access_key = "{pick(B64, 40)}"\n'),
        ("stripe", f'stripe.api_key = "sk_{"live"}_{pick(ALNUM, 32)}"\n'),
        ("slack", f'SLACK_BOT_TOKEN = "xoxb-{pick("0123456789", 12)}-{pick("0123456789", 13)}-{pick(ALNUM, 24)}"\n'),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--secrets-out")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    commits = COMMITS_PER_SCALE * args.scale
    pool = line_pool(rng, 1 << 16)
    avg_line = sum(map(len, pool)) / len(pool)

    # The tree: files in TOP_DIRS x LEAF_DIRS folders, sizes log-normal like the benchmark's blobs
    # (median ~3 KiB, a long tail to about a megabyte).
    paths, sizes = [], []
    for i in range(FILES):
        top, leaf = rng.randrange(TOP_DIRS), rng.randrange(LEAF_DIRS)
        ext = rng.choice(["py", "json", "txt", "py", "json"])
        paths.append(f"pkg{top:02d}/mod{leaf:02d}/file{i:04d}.{ext}")
        sizes.append(min(MAX_FILE, int(math.exp(rng.gauss(math.log(3300), 1.8))) + 200))

    # Which files each commit edits: EDITS_PER_COMMIT of those alive then (born before it, not
    # yet deleted). 40% of the files are born after commit 0, 8% deleted in the second half.
    born = [0 if rng.random() < 0.6 else rng.randrange(1, commits) for _ in range(FILES)]
    dies = [rng.randrange(commits // 2, commits) if rng.random() < 0.08 else commits for _ in range(FILES)]
    dies = [max(d, b + 1) for b, d in zip(born, dies)]
    edits = [set() for _ in range(FILES)]
    for c in range(1, commits):
        chosen = 0
        for _ in range(EDITS_PER_COMMIT * 4):
            f = rng.randrange(FILES)
            if born[f] < c < dies[f] and c not in edits[f]:
                edits[f].add(c)
                chosen += 1
                if chosen == EDITS_PER_COMMIT:
                    break
    versions = [sorted(edits[f] | {born[f]}) for f in range(FILES)]

    # Secrets: each planted in a file at one of its versions, removed again at a later one.
    plant, remove = {}, set()
    listed = []
    for kind, text in fake_secrets(rng):
        for _ in range(2):
            f = rng.randrange(FILES)
            while len(versions[f]) < 4 or any(key[0] == f for key in plant):
                f = rng.randrange(FILES)
            vs = versions[f]
            at = vs[rng.randrange(len(vs) // 2)]
            gone = vs[rng.randrange(len(vs) // 2 + 1, len(vs))]
            plant[(f, at)] = text
            remove.add((f, gone))
            listed.append((kind, text.strip(), paths[f], at, gone))
    if args.secrets_out:
        with open(args.secrets_out, "w") as out:
            for kind, text, path, at, gone in listed:
                out.write(f"{kind}\t{path}\tadded in release {at + 1}, removed in release {gone + 1}\t{text!r}\n")

    out = sys.stdout.buffer
    mark = 0
    marks = [dict() for _ in range(FILES)]  # commit -> mark of the file's blob there
    for f in range(FILES):
        frng = random.Random((args.seed << 20) ^ f)
        n_lines = max(4, int(sizes[f] / avg_line))
        lines = [pool[frng.getrandbits(16)] for _ in range(n_lines)]
        planted = None
        for c in versions[f]:
            if c != versions[f][0]:
                # An edit: a few runs of lines replaced by fresh ones, the file's length kept.
                for _ in range(frng.randrange(2, 7)):
                    run = min(len(lines), frng.randrange(1, 18))
                    start = frng.randrange(len(lines) - run + 1)
                    fresh = [pool[frng.getrandbits(16)] for _ in range(frng.randrange(max(1, run - 2), run + 3))]
                    lines[start : start + run] = fresh
                # A version number line that changes with every edit, as release files have.
                lines[0] = b"# version %d.%d\n" % (f, c)
            planted = plant.get((f, c), None if (f, c) in remove else planted)
            data = b"".join(lines)
            if planted is not None:
                mid = len(lines) // 2
                data = b"".join(lines[:mid]) + planted.encode() + b"".join(lines[mid:])
            mark += 1
            marks[f][c] = mark
            out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
            out.write(data)
            out.write(b"\n")

    changes = [[] for _ in range(commits)]
    for f in range(FILES):
        for c, m in marks[f].items():
            changes[c].append(b"M 100644 :%d %s\n" % (m, paths[f].encode()))
        if dies[f] < commits:
            changes[dies[f]].append(b"D %s\n" % paths[f].encode())
    when = 1262304000  # 2010-01-01
    for c in range(commits):
        msg = b"release %d\n" % (c + 1)
        stamp = b"bench <bench@example.invalid> %d +0000" % (when + c * 3600)
        out.write(b"commit refs/heads/main\n")
        out.write(b"author " + stamp + b"\ncommitter " + stamp + b"\n")
        out.write(b"data %d\n" % len(msg) + msg)
        out.writelines(sorted(changes[c]))
        out.write(b"\n")
    out.write(b"done\n")
    out.flush()


if __name__ == "__main__":
    main()
