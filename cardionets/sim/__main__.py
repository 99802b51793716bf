"""Command line: ``python -m cardionets.sim make --n N --out DIR --seed S [--sites ...] [--no-cmr]``.

Also ``export --seed S --index I --out DIR`` to write one subject in every file format.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .cohort import CohortConfig
from .dataset import write_cohort
from .diseases import DEFAULT_PREVALENCE
from .sites import DEFAULT_SITES, SITES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardionets.sim", description="The virtual paired ECG-CMR cohort.")
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="simulate a cohort into a folder (resumable)")
    make.add_argument("--n", type=int, required=True, help="number of subjects")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--sites", nargs="+", default=list(DEFAULT_SITES), choices=sorted(SITES))
    make.add_argument("--no-cmr", action="store_true", help="ECGs and phenotypes only (much faster)")
    make.add_argument("--frames", type=int, default=50, help="cine frames per beat (UK Biobank: 50)")
    make.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    make.add_argument("--export-ecg", choices=["wfdb"], help="also write each ECG as its cart would (DIR/ecg/)")
    for disease, value in DEFAULT_PREVALENCE.items():
        make.add_argument(f"--prevalence-{disease}", type=float, default=value, help=f"default {value}")
    report = commands.add_parser("report", help="validate the simulator and write docs/virtual_cohort.md")
    report.add_argument("--n", type=int, default=3000)
    report.add_argument("--seed", type=int, default=11)
    report.add_argument("--out", type=Path, default=Path("docs"))
    samples = commands.add_parser("samples", help="rebuild the committed sample set (one subject per disease)")
    samples.add_argument("--out", type=Path, default=Path("samples"))
    realism = commands.add_parser("realism", help="simulated against real ECGs: distributions and a classifier")
    realism.add_argument("--real", type=Path, default=Path("../shared/data/real-ecg"),
                         help="folder of the real sets (ptbxl/, cinc2021/, each with its labels.csv)")
    realism.add_argument("--n", type=int, default=1000, help="simulated healthy adults to draw from")
    realism.add_argument("--seed", type=int, default=17)
    realism.add_argument("--out", type=Path, default=Path("docs"))
    export = commands.add_parser("export", help="write one subject as WFDB, DICOM, MUSE XML, NIfTI and GIF")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--index", type=int, required=True)
    export.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    if args.command == "make":
        prevalence = {d: getattr(args, f"prevalence_{d}") for d in DEFAULT_PREVALENCE}
        config = CohortConfig(seed=args.seed, sites=tuple(args.sites), prevalence=prevalence, n_frames=args.frames,
                              with_cmr=not args.no_cmr)
        started = time.perf_counter()
        manifest = write_cohort(args.out, args.n, config, workers=args.workers, export_ecg=args.export_ecg)
        elapsed = time.perf_counter() - started
        print(f"{args.n} subjects in {elapsed:.1f} s -> {manifest}")
        return 0
    if args.command == "realism":
        from .realism import realism_report, write_realism

        if not args.real.is_dir():
            parser.error(f"no real ECG data at {args.real} (see ../shared/data/README.md)")
        report = realism_report(args.real, args.n, args.seed)
        report["command"] = " ".join(["python -m cardionets.sim", *(argv if argv is not None else sys.argv[1:])])
        write_realism(report, args.out)
        print(f"real vs simulated AUROC: healthy {report['healthy']['classifier']['auroc']:.3f}, "
              f"AF {report['af']['classifier']['auroc']:.3f} -> {args.out / 'realism.md'}")
        return 0
    if args.command == "samples":
        from .samples import write_samples

        print(write_samples(args.out))
        return 0
    if args.command == "report":
        from .report import write_report

        print(write_report(args.out, args.n, args.seed))
        return 0
    from .cohort import simulate_subject
    from .export import export_subject

    paths = export_subject(simulate_subject(args.index, CohortConfig(seed=args.seed)), args.out)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
