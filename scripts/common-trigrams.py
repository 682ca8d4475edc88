#!/usr/bin/env python3
"""Writes src/matcher/common_trigrams.txt: the most common three-byte sequences of source code and
prose, lower-cased, most common first, as one line of printable ASCII (three bytes each).

The keyword prefilter represents each keyword by its least common trigram; this list is what
"common" means. It is measured on whatever trees are given (by default the Python standard
library, /usr/include and /usr/share/doc of the machine running it), never on a benchmark corpus.

    scripts/common-trigrams.py [DIR ...] > src/matcher/common_trigrams.txt
"""
import collections
import os
import sys

COUNT = 4000
BUDGET = 60 << 20


def main():
    roots = sys.argv[1:] or [os.path.dirname(os.__file__), "/usr/include", "/usr/share/doc"]
    counts = collections.Counter()
    read = 0
    for root in roots:
        for path, _, names in os.walk(root):
            for name in sorted(names):
                try:
                    with open(os.path.join(path, name), "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if b"\0" in data[:8000]:
                    continue
                data = data.lower()
                counts.update(data[i : i + 3] for i in range(len(data) - 2))
                read += len(data)
                if read > BUDGET:
                    break
            if read > BUDGET:
                break
    printable = [t for t, _ in counts.most_common() if all(0x20 <= b < 0x7F for b in t)]
    sys.stdout.write(b"".join(printable[:COUNT]).decode("ascii") + "\n")


if __name__ == "__main__":
    main()
