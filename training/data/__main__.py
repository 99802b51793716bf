"""Command line: convert a data source into the prepared format that training reads.

    python -m training.data prepare --source virtual   --input COHORT_DIR --out DIR [--no-cine]
    python -m training.data prepare --source ukbiobank --input BULK_DIR [--phenotypes CSV] [--labels CSV]
                                                       [--instance 2] --out DIR [--no-cine]
    python -m training.data prepare --source mimic     --input MIMIC_IV_ECG_DIR [--labels CSV] [--limit N] --out DIR
    python -m training.data prepare --source manifest  --input MANIFEST_CSV --out DIR [--no-cine]

Subjects whose files cannot be read are skipped and listed with the reason in DIR/skipped.csv. See
docs/training.md, "Bring your own data", for each source's layout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .convert import SKIPPED_FILE, SourceError
from .manifest import prepare_manifest
from .mimic import prepare_mimic
from .ukbiobank import prepare_ukbiobank
from .virtual import prepare_virtual

# Each source's function and the optional arguments it takes besides --input, --out and --no-cine.
SOURCES = {
    "virtual": (prepare_virtual, ()),
    "ukbiobank": (prepare_ukbiobank, ("phenotypes_csv", "labels_csv", "instance")),
    "mimic": (prepare_mimic, ("labels_csv", "limit")),
    "manifest": (prepare_manifest, ()),
}
ECG_ONLY_SOURCES = ("mimic",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.data", description="Data sources for training.")
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="convert a source into the prepared format")
    prepare.add_argument("--source", required=True, choices=sorted(SOURCES))
    prepare.add_argument("--input", type=Path, required=True,
                         help="virtual: cohort folder; ukbiobank: folder of bulk files; mimic: folder holding "
                              "record_list.csv; manifest: the manifest CSV")
    prepare.add_argument("--out", type=Path, required=True, help="folder to write the prepared data into")
    prepare.add_argument("--no-cine", action="store_true", help="ECG and targets only (mimic always is)")
    prepare.add_argument("--phenotypes", dest="phenotypes_csv", type=Path,
                         help="ukbiobank: extract with eid and fields 24100-24157")
    prepare.add_argument("--labels", dest="labels_csv", type=Path,
                         help="ukbiobank, mimic: label CSV (eid or study_id, label_* columns)")
    prepare.add_argument("--instance", type=int, help="ukbiobank: visit (2 = first imaging visit, 3 = repeat)")
    prepare.add_argument("--limit", type=int, help="mimic: prepare only the first N records of record_list.csv")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")

    function, options = SOURCES[args.source]
    given = {name: getattr(args, name) for name in ("phenotypes_csv", "labels_csv", "instance", "limit")
             if getattr(args, name) is not None}
    unused = sorted(set(given) - set(options))
    if unused:
        parser.error(f"--source {args.source} does not take {', '.join('--' + _flag(n) for n in unused)}")
    with_cine = not args.no_cine and args.source not in ECG_ONLY_SOURCES
    try:
        out = function(args.input, args.out, with_cine=with_cine, **given)
    except SourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    notes = json.loads((out / "schema.json").read_text())["notes"]
    print(f"prepared {notes['prepared']} subjects into {out}; skipped {notes['skipped']} "
          f"(reasons in {out / SKIPPED_FILE})")
    return 0


def _flag(option: str) -> str:
    return {"phenotypes_csv": "phenotypes", "labels_csv": "labels"}.get(option, option)


if __name__ == "__main__":
    sys.exit(main())
