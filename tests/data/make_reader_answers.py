"""How tests/data/reader_study_answers.csv was recorded: a study run through `StudyStore` on SQLite with five
simulated readers (30 cases, ECG only then ECG + CardioNets), each answering the true diagnosis with a
reader-specific probability that is higher in the aided arm, otherwise a random other diagnosis.

    PYTHONPATH=. python tests/data/make_reader_answers.py
"""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from cardionets.study.design import DIAGNOSES, StudyDesign
from cardionets.study.store import StudyCase, StudyStore

OUT = Path(__file__).with_name("reader_study_answers.csv")


def main() -> None:
    rng = np.random.default_rng(2026)
    labels = list(DIAGNOSES)
    cases = [StudyCase(f"case{i:02d}", labels[i % len(labels)], {}) for i in range(30)]
    skill = {"ecg": [0.45, 0.5, 0.55, 0.6, 0.4], "ecg_cardionets": [0.7, 0.65, 0.8, 0.75, 0.6]}
    with tempfile.TemporaryDirectory() as folder:
        store = StudyStore(f"sqlite:///{folder}/study.db")
        code = store.create_study("recorded", StudyDesign(arms=("ecg", "ecg_cardionets"), seed=11), cases)
        for reader in range(5):
            token = store.join(code, f"reader{reader + 1}", experience_years=5 + 3 * reader, specialty="cardiology")
            while (item := store.next_item(token)) is not None:
                right = rng.random() < skill[item.arm][reader]
                answer = item.case.truth if right else rng.choice([d for d in labels if d != item.case.truth])
                confidence = int(rng.integers(3, 6) if right else rng.integers(1, 4))
                store.record_answer(token, item.case.key, item.arm, str(answer), confidence,
                                    float(rng.uniform(10, 90)))
        pd.DataFrame(store.answers(code)).to_csv(OUT, index=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
