#!/usr/bin/env python3
"""Build packages/taxonomy/data/imagenet1k.json from WordNet 3.0 and timm's ImageNet class lists.

Inputs (both read-only, nothing is downloaded):
  * WordNet 3.0 database files (data.noun, index.noun), e.g. Debian's `wordnet-base` in /usr/share/wordnet.
  * timm's package data `timm/data/_info/` (imagenet_synsets.txt, imagenet_r_synsets.txt, ...), read
    from a timm wheel (`pip download timm --no-deps`), an unpacked `_info` folder, or an installed timm.

The output is a pure function of those inputs: keys are emitted in a fixed order and nothing depends on
the clock, the locale or hash seeds, so rebuilding from the same inputs yields the same bytes. `--check`
rebuilds in memory and fails when the committed file differs.

Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1
ROOT_WNID = "n00001740"  # entity.n.01
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = REPO_ROOT / "packages" / "taxonomy" / "data" / "imagenet1k.json"
DEFAULT_WORDNET_DIR = Path("/usr/share/wordnet")
TIMM_INFO_PREFIX = "timm/data/_info/"
TIMM_FILES = (
    "imagenet_synsets.txt",
    "imagenet_synset_to_lemma.txt",
    "imagenet_synset_to_definition.txt",
    "imagenet_r_synsets.txt",
    "imagenet_r_indices.txt",
    "imagenet_a_synsets.txt",
    "imagenet_a_indices.txt",
)
# Pointer symbols that lead to a more general synset. Instance hypernyms count too, as in NLTK's
# Synset.hypernym_paths(); none of the 1000 classes is an instance, but some of their ancestors might be.
HYPERNYM_POINTERS = ("@", "@i")


class BuildError(Exception):
    pass


@dataclass
class Synset:
    offset: str  # 8 digits, as in data.noun
    lemmas: list[str]  # WordNet lemma names, underscores for spaces, WordNet order
    hypernyms: list[str]  # offsets of direct (instance) hypernyms, pointer order
    definition: str
    examples: list[str] = field(default_factory=list)

    @property
    def wnid(self) -> str:
        return "n" + self.offset


# ---------------------------------------------------------------------------------------------- WordNet


def split_gloss(gloss: str) -> tuple[str, list[str]]:
    """Split a WordNet gloss into its definition and its quoted usage examples.

    Follows the long-standing NLTK rule (split on ';', parts that start with a double quote are
    examples) because that is the definition text ImageNet, timm and LAIONet's prompts use.
    """
    definitions: list[str] = []
    examples: list[str] = []
    for part in gloss.strip().split(";"):
        part = part.strip()
        if part.startswith('"'):
            examples.append(part.strip('"'))
        elif part:
            definitions.append(part)
    return "; ".join(definitions), examples


def parse_data_noun(path: Path) -> dict[str, Synset]:
    synsets: dict[str, Synset] = {}
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            offset, _lex_filenum, ss_type = fields[0], fields[1], fields[2]
            if ss_type != "n":
                raise BuildError(f"unexpected synset type {ss_type!r} in {path} at {offset}")
            w_cnt = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(w_cnt)]
            pos = 4 + 2 * w_cnt
            p_cnt = int(fields[pos])
            hypernyms: list[str] = []
            for i in range(p_cnt):
                symbol, target, target_pos = fields[pos + 1 + 4 * i : pos + 4 + 4 * i]
                if symbol in HYPERNYM_POINTERS and target_pos == "n":
                    hypernyms.append(target)
            definition, examples = split_gloss(gloss)
            synsets[offset] = Synset(offset, lemmas, hypernyms, definition, examples)
    return synsets


def parse_index_noun(path: Path) -> dict[str, list[str]]:
    """lemma (lower case) -> synset offsets in sense order, for NLTK-style names like dog.n.01."""
    senses: dict[str, list[str]] = {}
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                continue
            fields = line.split()
            lemma, synset_cnt, p_cnt = fields[0], int(fields[2]), int(fields[3])
            offsets_start = 4 + p_cnt + 2  # pointer symbols, then sense_cnt and tagsense_cnt
            senses[lemma] = fields[offsets_start : offsets_start + synset_cnt]
    return senses


def synset_name(synset: Synset, senses: dict[str, list[str]]) -> str:
    """NLTK's canonical name: first lemma lower-cased, pos, 1-based sense number of that lemma."""
    lemma = synset.lemmas[0].lower()
    offsets = senses.get(lemma)
    if offsets is None or synset.offset not in offsets:
        raise BuildError(f"index.noun has no sense of {lemma!r} pointing at {synset.offset}")
    return f"{lemma}.n.{offsets.index(synset.offset) + 1:02d}"


def hypernym_paths(offset: str, synsets: dict[str, Synset], memo: dict[str, list[list[str]]]) -> list[list[str]]:
    """All root-first paths of offsets from entity down to (excluding) `offset`, in WordNet pointer order."""
    if offset in memo:
        return memo[offset]
    synset = synsets[offset]
    if not synset.hypernyms:
        paths: list[list[str]] = [[]]
    else:
        paths = []
        for parent in synset.hypernyms:
            for path in hypernym_paths(parent, synsets, memo):
                paths.append(path + [parent])
    memo[offset] = paths
    return paths


# ------------------------------------------------------------------------------------------------ timm


@dataclass
class TimmInfo:
    files: dict[str, str]
    version: str | None


def read_timm_info(args: argparse.Namespace) -> TimmInfo:
    if args.timm_wheel:
        wheel = Path(args.timm_wheel)
        match = re.match(r"timm-([^-]+)-", wheel.name)
        with zipfile.ZipFile(wheel) as z:
            files = {name: z.read(TIMM_INFO_PREFIX + name).decode("utf-8") for name in TIMM_FILES}
        return TimmInfo(files, match.group(1) if match else args.timm_version)
    if args.timm_info:
        info_dir = Path(args.timm_info)
        files = {name: (info_dir / name).read_text(encoding="utf-8") for name in TIMM_FILES}
        return TimmInfo(files, args.timm_version)
    spec = importlib.util.find_spec("timm")
    if spec is None or spec.origin is None:
        raise BuildError(
            "timm's class lists were not found: pass --timm-wheel (pip download timm --no-deps) or --timm-info"
        )
    info_dir = Path(spec.origin).parent / "data" / "_info"
    files = {name: (info_dir / name).read_text(encoding="utf-8") for name in TIMM_FILES}
    from importlib.metadata import version

    return TimmInfo(files, version("timm"))


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def tab_table(text: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, _, value = line.partition("\t")
        table[key] = value.strip()
    return table


# --------------------------------------------------------------------------------------------- LAIONet


def laionet_lemma_table(classes: list[dict]) -> tuple[dict[str, str], list[str]]:
    """LAIONet's rule: a lemma (underscores as spaces) is kept only when exactly one of the 1000 synsets
    has it; a synset left without any kept lemma is dropped. Matching is case-sensitive, as in LAIONet."""
    owners: dict[str, set[str]] = {}
    for cls in classes:
        for lemma in cls["lemmas"]:
            owners.setdefault(lemma.replace("_", " "), set()).add(cls["wnid"])
    table: dict[str, str] = {}
    dropped: list[str] = []
    for cls in classes:
        kept = [lemma.replace("_", " ") for lemma in cls["lemmas"] if len(owners[lemma.replace("_", " ")]) == 1]
        if not kept:
            dropped.append(cls["wnid"])
        for lemma in kept:
            table[lemma] = cls["wnid"]
    return table, dropped


# ----------------------------------------------------------------------------------------------- build


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build(wordnet_dir: Path, timm: TimmInfo) -> tuple[dict, list[str]]:
    data_noun = wordnet_dir / "data.noun"
    index_noun = wordnet_dir / "index.noun"
    synsets = parse_data_noun(data_noun)
    senses = parse_index_noun(index_noun)
    report: list[str] = []

    wnids = lines(timm.files["imagenet_synsets.txt"])
    if len(wnids) != 1000 or len(set(wnids)) != 1000:
        raise BuildError(f"expected 1000 distinct wnids in imagenet_synsets.txt, got {len(wnids)}")
    if wnids != sorted(wnids):
        raise BuildError("imagenet_synsets.txt is not in sorted-wnid order")
    for wnid in wnids:
        if not re.fullmatch(r"n\d{8}", wnid) or wnid[1:] not in synsets:
            raise BuildError(f"{wnid} is not a WordNet 3.0 noun synset")

    memo: dict[str, list[list[str]]] = {}
    classes: list[dict] = []
    ancestors: set[str] = set()
    for index, wnid in enumerate(wnids):
        synset = synsets[wnid[1:]]
        paths = hypernym_paths(synset.offset, synsets, memo)
        for path in paths:
            if not path or path[0] != ROOT_WNID[1:]:
                raise BuildError(f"a hypernym path of {wnid} does not start at entity.n.01")
            ancestors.update(path)
        classes.append(
            {
                "index": index,
                "wnid": wnid,
                "name": synset_name(synset, senses),
                "lemmas": synset.lemmas,
                "gloss": synset.definition,
                "hypernymPaths": [["n" + offset for offset in path] for path in paths],
            }
        )

    class_wnids = set(wnids)
    nested = sorted(class_wnids & {"n" + o for o in ancestors})
    if nested:
        report.append(f"note: {len(nested)} classes are ancestors of other classes: {', '.join(nested)}")

    ancestor_table = []
    for offset in sorted(ancestors):
        if "n" + offset in class_wnids:
            continue
        synset = synsets[offset]
        ancestor_table.append(
            {
                "wnid": synset.wnid,
                "name": synset_name(synset, senses),
                "lemmas": synset.lemmas,
                "gloss": synset.definition,
            }
        )

    # Cross-check WordNet against timm's copies of the ImageNet lemma and definition lists.
    timm_lemmas = tab_table(timm.files["imagenet_synset_to_lemma.txt"])
    timm_defs = tab_table(timm.files["imagenet_synset_to_definition.txt"])
    lemma_mismatches = []
    definition_mismatches = []
    for cls in classes:
        ours = [lemma.replace("_", " ") for lemma in cls["lemmas"]]
        theirs = timm_lemmas.get(cls["wnid"], "").split(", ")
        if ours != theirs:
            lemma_mismatches.append({"wnid": cls["wnid"], "wordnet": ours, "timm": theirs})
        if cls["gloss"] != timm_defs.get(cls["wnid"]):
            definition_mismatches.append(
                {"wnid": cls["wnid"], "wordnet": cls["gloss"], "timm": timm_defs.get(cls["wnid"])}
            )
    report.append(f"cross-check: {len(lemma_mismatches)} lemma-list mismatches, "
                  f"{len(definition_mismatches)} definition mismatches (WordNet 3.0 vs timm)")
    for m in lemma_mismatches + definition_mismatches:
        report.append(f"  {m['wnid']}: wordnet={m['wordnet']!r} timm={m['timm']!r}")

    # ImageNet-R / ImageNet-A: 200-class subsets, positions follow sorted-wnid order of the subset.
    index_of = {wnid: i for i, wnid in enumerate(wnids)}
    subsets = {}
    for key, stem in (("imagenet-r", "imagenet_r"), ("imagenet-a", "imagenet_a")):
        sub = lines(timm.files[f"{stem}_synsets.txt"])
        if len(sub) != 200 or len(set(sub)) != 200:
            raise BuildError(f"{stem}_synsets.txt: expected 200 distinct wnids, got {len(sub)}")
        missing = [w for w in sub if w not in index_of]
        if missing:
            raise BuildError(f"{stem}_synsets.txt has wnids outside ImageNet-1k: {missing}")
        indices = [index_of[w] for w in sub]
        timm_indices = [int(x) for x in lines(timm.files[f"{stem}_indices.txt"])]
        if indices != timm_indices:
            raise BuildError(f"{stem}: index mapping disagrees with timm's {stem}_indices.txt")
        subsets[key] = {"wnids": sub, "imagenetIndices": indices}

    lemma_table, dropped = laionet_lemma_table(classes)
    report.append(f"LAIONet lemma table: {len(lemma_table)} lemmas, {len(dropped)} synsets dropped: "
                  + ", ".join(f"{w} ({synsets[w[1:]].lemmas[0]})" for w in dropped))

    data = {
        "schemaVersion": SCHEMA_VERSION,
        "provenance": {
            "wordnet": "WordNet 3.0 (Princeton), noun database data.noun/index.noun",
            "wordnetFiles": {
                "data.noun": sha256(data_noun.read_bytes()),
                "index.noun": sha256(index_noun.read_bytes()),
            },
            # Deliberately not where the files were read from (wheel, folder, installed package), so that
            # every route to the same timm release writes the same bytes.
            "classList": "timm package data, timm/data/_info/",
            "timmVersion": timm.version,
            "timmFiles": {name: sha256(timm.files[name].encode("utf-8")) for name in TIMM_FILES},
            "builder": "tools/taxonomy/build_taxonomy.py",
            "crossCheck": {
                "lemmaMismatches": lemma_mismatches,
                "definitionMismatches": definition_mismatches,
            },
        },
        "root": ROOT_WNID,
        "classes": classes,
        "ancestors": ancestor_table,
        "subsets": subsets,
        "laionet": {"lemmas": lemma_table, "droppedWnids": dropped},
    }
    return data, report


def to_json(data: dict) -> str:
    """Compact JSON with one record per line: small in git, still greppable and diffable per class."""

    def dump(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    out = ["{"]
    items = list(data.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if key in ("classes", "ancestors"):
            rows = ",\n".join("  " + dump(row) for row in value)
            out.append(f"{dump(key)}:[\n{rows}\n]{comma}")
        elif key == "subsets":
            rows = ",\n".join(f"  {dump(name)}:{dump(sub)}" for name, sub in value.items())
            out.append(f"{dump(key)}:{{\n{rows}\n}}{comma}")
        elif key == "laionet":
            lemma_rows = ",\n".join(f"  {dump(lemma)}:{dump(wnid)}" for lemma, wnid in value["lemmas"].items())
            out.append(
                f"{dump(key)}:{{\n\"droppedWnids\":{dump(value['droppedWnids'])},\n\"lemmas\":{{\n{lemma_rows}\n}}}}{comma}"
            )
        else:
            out.append(f"{dump(key)}:{dump(value)}{comma}")
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wordnet-dir", type=Path, default=DEFAULT_WORDNET_DIR,
                        help="folder with WordNet 3.0 data.noun and index.noun (default: %(default)s)")
    parser.add_argument("--timm-wheel", help="a timm wheel file (pip download timm --no-deps)")
    parser.add_argument("--timm-info", help="an unpacked timm/data/_info folder")
    parser.add_argument("--timm-version", help="timm version to record when --timm-info is used")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="(default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="fail if --output differs from a fresh build")
    args = parser.parse_args(argv)

    try:
        data, report = build(args.wordnet_dir, read_timm_info(args))
    except (BuildError, OSError, KeyError) as err:
        print(f"build_taxonomy: {err}", file=sys.stderr)
        return 2
    text = to_json(data)
    json.loads(text)  # the hand-rolled layout must still be valid JSON
    for line in report:
        print(line)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"build_taxonomy: {args.output} is out of date; rerun without --check", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.output)
    print(f"wrote {args.output} ({len(text.encode('utf-8'))} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
