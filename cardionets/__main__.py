"""Command line: ``python -m cardionets predict PATH [--json] [--cmr OUT_DIR]`` for one ECG and
``python -m cardionets screen INPUT_DIR|manifest.csv --out results.csv`` for many (see `cardionets.screening`;
also under torchrun).

Loads the weights bundle (the repo's `weights/` unless ``--weights`` names a folder or a Hub repo id), predicts
from one ECG and prints the result, as a table or as JSON. ``--cmr`` also generates the SYNTHETIC two-view cine
and writes it to OUT_DIR (NIfTI, GIF, PNG frames). An unreadable or rejected ECG prints a one-line reason on
stderr and exits with status 1; research use, not for diagnosis.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .bundle import BundleError
from .ecg.errors import ECGError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardionets", description="CMR-derived outputs from a 12-lead "
                                     "ECG. Research use only, not for diagnosis.")
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="phenotypes, disease probabilities and QC for one ECG")
    predict.add_argument("path", metavar="PATH", help="an ECG file (WFDB: the .hea, with its .dat beside it)")
    predict.add_argument("--json", action="store_true", help="print the result as JSON")
    predict.add_argument("--cmr", type=Path, metavar="OUT_DIR", help="also write a SYNTHETIC cine CMR here")
    predict.add_argument("--sex", choices=("M", "F"), help="overrides the file's")
    predict.add_argument("--age", type=float, help="years; overrides the file's")
    screen = commands.add_parser("screen", help="one CSV row per ECG of a folder or manifest (resumable)")
    screen.add_argument("source", type=Path, metavar="INPUT_DIR|manifest.csv")
    screen.add_argument("--out", type=Path, required=True, help="results CSV (appended to when it exists)")
    screen.add_argument("--workers", type=int, help="processes that read and check the ECGs while the models run "
                        "(default: one per core when there are at least 2; 0: this process does it)")
    for command in (predict, screen):
        command.add_argument("--weights", help="bundle folder or Hub repo id (default: the shipped weights)")
        command.add_argument("--revision", help="Hub revision (commit) to load")
        command.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    args = parser.parse_args(argv)

    from .inference import CardioNets  # torch loads only once the arguments are known to be good

    if args.command == "screen":
        from .screening import cli_workers
        from .screening import screen as run_screen

        workers = cli_workers() if args.workers is None else args.workers
        try:
            model = CardioNets.from_pretrained(args.weights, args.revision, args.device)
            summary = run_screen(model, args.source, args.out, workers=workers)
        except (BundleError, ValueError, FileNotFoundError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"{summary.inputs} inputs; {summary.written} rows written now ({summary.errors} with an error) "
              f"to {summary.out} in {summary.seconds:.1f} s ({summary.rate:.1f} ECG/s, {workers} worker processes)",
              file=sys.stderr)
        return 0

    try:
        model = CardioNets.from_pretrained(args.weights, args.revision, args.device)
        result = model.predict(args.path, sex=args.sex, age_years=args.age)
        if result.rejected:
            reasons = " ".join(f["message"] for f in result.qc["findings"] if f["severity"] == "reject")
            print(f"error: {args.path}: rejected by the quality check: {reasons}", file=sys.stderr)
            if args.json:
                print(result.to_json())
            return 1
        record = result.to_dict()
        if args.cmr is not None:
            generated = model.generate_cmr(args.path)
            files = generated.export(args.cmr, stem=Path(args.path).stem)
            record["cmr"] = {"files": sorted(str(p) for p in files.values()),
                             "image_phenotypes": generated.image_phenotypes.mean,
                             "disagreements": generated.disagreements, "label": generated.label}
    except (ECGError, BundleError) as error:
        print(f"error: {args.path}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(record, indent=2) if args.json else as_text(record))
    return 0


def as_text(record: dict) -> str:
    lines = [f"{record['source']}  ({record['disclaimer']})", f"quality: {record['qc']['verdict']}"]
    lines += [f"  - {finding['message']}" for finding in record["qc"]["findings"]]
    lines += [f"  ! {warning}" for warning in record["ood"]["warnings"]]
    lines.append("phenotypes:")
    for name, p in record["phenotypes"].items():
        reference = "" if p["ref_low"] is None else f"  [{p['ref_low']:g}-{p['ref_high']:g}] {p['flag']}"
        lines.append(f"  {name:<16} {p['value']:>8.1f} {p['unit']:<6}{reference}")
    lines.append("diseases (probability / call threshold; validation sensitivity, specificity of the call):")
    for name, d in record["diseases"].items():
        accuracy = "" if d["sensitivity"] is None else f"  (sens {d['sensitivity']:.2f}, spec {d['specificity']:.2f})"
        lines.append(f"  {name:<8} {d['probability']:.3f} / {d['threshold']:.3f}{accuracy}"
                     f"  {'POSITIVE' if d['positive'] else ''}")
    if "cmr" in record:
        lines.append(f"SYNTHETIC cine CMR written: {len(record['cmr']['files'])} files")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
