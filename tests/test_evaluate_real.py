"""`python -m training evaluate-real` on the few real records committed under tests/data/real-ecg (PTB-XL, LUDB,
CinC 2021; licences beside them): it runs end to end on the shipped weights, and its figures agree with a
recomputation that shares none of its code (each record predicted alone, sklearn's AUROC, the LUDB annotation
files parsed here)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb
from sklearn.metrics import roc_auc_score

from cardionets import CardioNets
from cardionets.ecg import load, measure
from cardionets.ecg.real_sets import real_ecg_table
from training.__main__ import main as training_main

REAL = Path(__file__).resolve().parent / "data" / "real-ecg"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("real")
    (out / "results.json").write_text(json.dumps({"predictive": {"kept": True}}))
    assert training_main(["evaluate-real", "--data", str(REAL), "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["predictive"] == {"kept": True}  # other sections stay
    assert (out / "real_ecg.md").read_text().startswith("# Real ECGs")
    return results["real_ecg"]


@pytest.fixture(scope="module")
def alone() -> pd.DataFrame:
    """Every committed record predicted on its own, with the age and sex its labels.csv gives."""
    model = CardioNets.from_pretrained()
    rows = []
    for name in ("ptbxl", "ludb", "cinc2021"):
        labels = pd.read_csv(REAL / name / "labels.csv")
        for _, row in labels.iterrows():
            sex = {"M": "M", "F": "F", "Male": "M", "Female": "F"}[row["sex"]]
            result = model.predict(REAL / name / f"{row['record_path']}.hea", sex=sex, age_years=float(row["age"]))
            healthy = {"ptbxl": "NORM", "ludb": "NORMAL_like", "cinc2021": "NORM"}[name]
            af = {"ptbxl": "AFIB", "ludb": "AF", "cinc2021": "AF"}[name]
            rows.append({"set": name, "sex": sex, "healthy_label": row[healthy], "af": row[af],
                         "age": row["age"], "any_call": any(d.positive for d in result.diseases.values()),
                         "p_af": result.diseases["af"].probability, "lvedv": result.phenotypes["lvedv_ml"].value})
    return pd.DataFrame(rows)


def test_the_committed_sets_are_read_with_their_labels():
    table = real_ecg_table(REAL)
    assert table.groupby("set").size().to_dict() == {"cinc2021": 2, "ludb": 5, "ptbxl": 13}
    assert table["sex"].isin(["M", "F"]).all() and table["age_years"].between(18, 120).all()
    assert table["record"].map(lambda path: Path(path).is_file()).all()
    assert table.loc[table["set"] == "ptbxl", "af"].sum() == 3 and table["healthy"].sum() == 8


def test_healthy_adults_calls_match_records_predicted_one_by_one(evaluated, alone):
    # healthy adults as the labels say, with no other finding among the committed ones
    table = real_ecg_table(REAL)
    healthy = alone[table["healthy"].to_numpy() == 1]
    in_millivolts = healthy[healthy["set"] != "ludb"]  # LUDB's leads are rescaled: left out of pooled figures
    both = next(r for r in evaluated["healthy"] if r["set"] == "all sets" and r["sex"] == "both")
    assert both["n"] == len(in_millivolts) == 6 and evaluated["rescaled"] == 5
    assert both["any_call"]["count"] == int(in_millivolts["any_call"].sum())
    women = next(r for r in evaluated["healthy"] if r["set"] == "ptbxl" and r["sex"] == "F")
    assert women["n"] == int(((healthy["set"] == "ptbxl") & (healthy["sex"] == "F")).sum()) == 2
    low, high = both["any_call"]["ci"]
    assert low <= both["any_call"]["share"] <= high


def test_af_auroc_matches_sklearn_on_the_same_records(evaluated, alone):
    table = real_ecg_table(REAL)
    chosen = ((table["af"] == 1) | (table["healthy"] == 1)) & (table["set"] != "ludb")
    expected = roc_auc_score(table.loc[chosen, "af"], alone.loc[chosen.to_numpy(), "p_af"])
    row = next(r for r in evaluated["discrimination"]
               if r["set"] == "all sets" and r["task"] == "AF vs healthy" and r["score"] == "p_af")
    assert row["auroc"] == pytest.approx(expected, abs=1e-9) and row["n_positive"] == 3
    assert row["ci"][0] <= row["auroc"] <= row["ci"][1]


def test_healthy_phenotypes_by_sex_match_the_single_predictions(evaluated, alone):
    table = real_ecg_table(REAL)
    healthy = alone[(table["healthy"].to_numpy() == 1) & (alone["set"] != "ludb")]
    men = next(r for r in evaluated["phenotypes"] if r["sex"] == "M" and r["age_band"] == "all ages")
    assert men["lvedv_ml"]["mean"] == pytest.approx(healthy.loc[healthy["sex"] == "M", "lvedv"].mean(), abs=0.01)


def test_ludb_intervals_are_compared_with_the_cardiologists_boundaries(evaluated):
    section = evaluated["delineation"]
    assert section["records"] == 5 and set(section["intervals"]) == {"pr_ms", "qrs_ms", "qt_ms"}
    record = next(r for r in section["per_record"] if r["record"] == "119")
    # Independently: QRS onsets and offsets of every lead's annotation file, grouped by beat, medians taken here.
    onsets, offsets = [], []
    for lead in ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"):
        annotation = wfdb.rdann(str(REAL / "ludb" / "data" / "119"), lead)
        symbols, samples = annotation.symbol, annotation.sample
        qrs = [(samples[i - 1], samples[i + 1]) for i, s in enumerate(symbols) if s == "N"]
        onsets.append([q[0] for q in qrs])
        offsets.append([q[1] for q in qrs])
    common = min(len(o) for o in onsets)
    assert common >= 5 and all(len(o) == common for o in onsets)  # every lead annotated the same beats here
    per_beat = [np.median([offsets[lead][b] - onsets[lead][b] for lead in range(12)]) for b in range(common)]
    # the medians of onsets and offsets need not equal the median of durations; 500 Hz: 2 ms per sample
    assert record["reference"]["qrs_ms"] == pytest.approx(2 * np.median(per_beat), abs=6)
    ours = measure(load(REAL / "ludb" / "data" / "119.hea"))
    assert record["ours"]["qrs_ms"] == pytest.approx(ours.qrs_ms)
    assert record["ours"]["qt_ms"] == pytest.approx(ours.qt_ms)
    differences = [r["ours"]["qt_ms"] - r["reference"]["qt_ms"] for r in section["per_record"]
                   if r["ours"] and r["reference"]["qt_ms"] is not None]
    assert section["intervals"]["qt_ms"]["mean_difference_ms"] == pytest.approx(np.mean(differences))
    qrs = section["detection"]["qrs"]
    assert qrs["annotated"] == sum(r["qrs_annotated"] for r in section["per_record"]) and 0.9 <= qrs["rate"] <= 1


def test_without_the_data_it_says_where_to_put_it(tmp_path):
    with pytest.raises(SystemExit, match="No real ECG data"):
        training_main(["evaluate-real", "--data", str(tmp_path / "absent"), "--out", str(tmp_path)])
