"""Copy the few real records the tests need from the development sets (``../shared/data/real-ecg``) into this
folder, with their sets' labels.csv rows and licences. Run from the repository root; the output is committed.

    python tests/data/real-ecg/copy_records.py [--source ../shared/data/real-ecg]
"""

import argparse
import shutil
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
# record_path values of each set's labels.csv: PTB-XL healthy adults of both sexes, AF, MI, LVH, LBBB, RBBB;
# LUDB two healthy adults, two AF and one LVH with all twelve leads' delineation; two healthy CinC 2021 samples.
RECORDS = {
    "ptbxl": ["records100/00000/00007_lr", "records100/00000/00016_lr", "records100/00000/00001_lr",
              "records100/00000/00012_lr", "records100/00000/00282_lr", "records100/00000/00307_lr",
              "records100/00000/00321_lr", "records100/00000/00077_lr", "records100/00000/00106_lr",
              "records100/00000/00096_lr", "records100/00000/00138_lr", "records100/00000/00256_lr",
              "records100/00000/00269_lr"],
    "ludb": ["data/119", "data/123", "data/51", "data/83", "data/1"],
    "cinc2021": ["records/E07506", "records/E07511"],
}
LICENCES = {"ptbxl": ["LICENSE.txt"], "ludb": ["LICENSE.txt"], "cinc2021": ["ATTRIBUTION.md"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=Path("../shared/data/real-ecg"))
    source = parser.parse_args().source
    for name, records in RECORDS.items():
        labels = pd.read_csv(source / name / "labels.csv")
        chosen = labels[labels["record_path"].isin(records)]
        missing = set(records) - set(chosen["record_path"])
        if missing:
            raise SystemExit(f"{name}: not in labels.csv: {sorted(missing)}")
        (HERE / name).mkdir(exist_ok=True)
        chosen.to_csv(HERE / name / "labels.csv", index=False)
        for record in records:
            for file in (source / name / record).parent.glob(Path(record).name + ".*"):
                target = HERE / name / Path(record).parent / file.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target)
        for licence in LICENCES[name]:
            shutil.copyfile(source / name / licence, HERE / name / licence)


if __name__ == "__main__":
    main()
