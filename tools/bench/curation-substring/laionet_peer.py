#!/usr/bin/env python3
"""LAIONet's substring matching, written the straightforward way (the peer of @select/taxonomy's
CaptionMatcher): punctuation to spaces, then `' ' + lemma + ' ' in ' ' + caption + ' '` for every lemma
of the unique-lemma table; keep a caption when lemmas of exactly one synset occur in it.

    python laionet_peer.py LEMMAS.json CAPTIONS.txt LIMIT

Prints JSON: captions matched, seconds (matching only; reading excluded), kept, and kept per class.
"""
import json
import string
import sys
import time


def main() -> None:
    lemma_file, caption_file, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lemmas = json.load(open(lemma_file, encoding="utf-8"))  # [[lemma, wnid], ...]
    captions = []
    with open(caption_file, encoding="utf-8") as f:
        for line in f:
            captions.append(line.rstrip("\n"))
            if len(captions) >= limit:
                break
    translator = str.maketrans(string.punctuation, " " * len(string.punctuation))
    per_class: dict[str, int] = {}
    kept = 0
    start = time.perf_counter()
    for caption in captions:
        padded = " " + caption.translate(translator) + " "
        found = set()
        for lemma, wnid in lemmas:
            if " " + lemma + " " in padded:
                found.add(wnid)
        if len(found) == 1:
            kept += 1
            wnid = next(iter(found))
            per_class[wnid] = per_class.get(wnid, 0) + 1
    seconds = time.perf_counter() - start
    print(json.dumps({"captions": len(captions), "seconds": seconds, "kept": kept, "perClass": per_class}))


if __name__ == "__main__":
    main()
