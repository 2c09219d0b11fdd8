"""Splits a corpus of user agents into a training half, which the lists
may be tuned on, and a held-out half, which is only ever measured.

    python3 split.py crawlers|browsers SOURCE TRAIN HELDOUT

The half is chosen by a stable hash of a key that keeps near-duplicates on
one side: for crawlers, the product's name (the first word after a
`Mozilla/N (compatible;` prefix), so one monitor seen from 25 places is on
one side; for browsers, the user agent without its digits (one model's
versions). Near-duplicates that differ in more than digits can still fall
on both sides (docs/accuracy.md says what that means for the figures).
"""
import hashlib
import re
import sys


def key(kind, ua):
    if kind == "crawlers":
        s = re.sub(r"^Mozilla/[\d.]+\s*", "", ua)
        s = re.sub(r"^\((compatible;\s*)?", "", s)
        m = re.search(r"[A-Za-z][A-Za-z.+_-]*", s)
        return (m.group(0) if m else s).lower()
    return re.sub(r"\d+", "", ua)


def main():
    kind, src, train, heldout = sys.argv[1:5]
    halves = ([], [])
    with open(src, encoding="utf-8", errors="replace") as f:
        for ua in f.read().splitlines():
            if ua:
                side = hashlib.sha256(key(kind, ua).encode()).digest()[0] % 2
                halves[side].append(ua)
    for path, uas in zip((train, heldout), halves):
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(uas) + "\n")
    print(f"{src}: {len(halves[0])} training, {len(halves[1])} held out")


main()
