"""The reader-study statistics on recorded answers (tests/data/reader_study_answers.csv, made by
tests/data/make_reader_answers.py), checked against reference implementations: Cohen's kappa against
scikit-learn, Fleiss' kappa against statsmodels, AUC against scikit-learn, accuracy and confusion by hand."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score, roc_auc_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

from cardionets import metrics
from cardionets.study.analysis import (
    agreement,
    aided_minus_unaided,
    confusion_matrices,
    imrmc_csv,
    model_against_readers,
    model_read,
    obuchowski_rockette,
    per_reader,
    suspicion,
)

ANSWERS = pd.read_csv(Path(__file__).with_name("data") / "reader_study_answers.csv")


def test_the_recording_is_a_complete_crossed_study():
    assert len(ANSWERS) == 5 * 30 * 2
    assert not ANSWERS.duplicated(["reader", "case", "arm"]).any()


def test_accuracy_sensitivity_and_confusion_match_a_direct_count():
    table = per_reader(ANSWERS, n_resamples=200)
    for row in table.itertuples():
        reads = ANSWERS[(ANSWERS["reader"] == row.reader) & (ANSWERS["arm"] == row.arm)]
        assert row.accuracy == pytest.approx((reads["truth"] == reads["diagnosis"]).mean())
        assert row.accuracy_low <= row.accuracy <= row.accuracy_high
        hcm = reads[reads["truth"] == "hcm"]
        assert row.sensitivity_hcm == pytest.approx((hcm["diagnosis"] == "hcm").mean())
        assert row.sensitivity_hcm_low <= row.sensitivity_hcm <= row.sensitivity_hcm_high
        assert row.specificity_normal_low <= row.specificity_normal <= row.specificity_normal_high
    matrix = confusion_matrices(ANSWERS)[("reader1", "ecg")]
    reads = ANSWERS[(ANSWERS["reader"] == "reader1") & (ANSWERS["arm"] == "ecg")]
    assert matrix.to_numpy().sum() == 30 and np.trace(matrix.to_numpy()) == (reads["truth"] == reads["diagnosis"]).sum()
    assert matrix.loc["dcm", "hcm"] == ((reads["truth"] == "dcm") & (reads["diagnosis"] == "hcm")).sum()


@pytest.mark.parametrize("arm", ["ecg", "ecg_cardionets"])
def test_kappas_agree_with_scikit_learn_and_statsmodels(arm):
    found = agreement(ANSWERS, arm)
    wide = ANSWERS[ANSWERS["arm"] == arm].pivot(index="case", columns="reader", values="diagnosis")
    for (a, b), kappa in found["cohen"].items():
        assert kappa == pytest.approx(cohen_kappa_score(wide[a], wide[b]), abs=1e-12)
    counts, _ = aggregate_raters(wide.to_numpy())
    assert found["fleiss"] == pytest.approx(statsmodels_fleiss(counts, method="fleiss"), abs=1e-12)
    assert found["cases_all_read"] == 30 and len(found["cohen"]) == 10


def test_auc_of_the_exported_scores_agrees_with_scikit_learn():
    text = imrmc_csv(ANSWERS)
    _, data = text.split("BEGIN DATA:\n")
    rows = pd.DataFrame([line.split(",") for line in data.strip().splitlines()],
                        columns=["reader", "case", "modality", "score"])
    truth = rows[rows["reader"] == "-1"].set_index("case")["score"].astype(int)
    assert len(truth) == 30 and truth.sum() == 25  # 5 of the 30 cases are normal
    reads = rows[rows["reader"] != "-1"].astype({"score": int})
    assert set(reads["score"]) <= {1, 2, 3, 4, 5} and len(reads) == 300
    one = reads[(reads["reader"] == "1") & (reads["modality"] == "ecg")].set_index("case")
    assert metrics.auroc(truth[one.index], one["score"]) == pytest.approx(roc_auc_score(truth[one.index], one["score"]))


def test_the_aided_gain_is_each_reader_s_accuracy_difference_with_a_paired_test():
    found = aided_minus_unaided(ANSWERS, "ecg", "ecg_cardionets", n_resamples=500)
    accuracy = ANSWERS.assign(ok=ANSWERS["truth"] == ANSWERS["diagnosis"]).groupby(["reader", "arm"])["ok"].mean()
    for reader, gain in found["per_reader"].items():
        assert gain == pytest.approx(accuracy[(reader, "ecg_cardionets")] - accuracy[(reader, "ecg")])
    assert found["readers"] == 5 and found["cases"] == 30
    assert found["low"] <= found["mean"] <= found["high"] and 0 <= found["p"] <= 1


def test_the_model_is_scored_on_the_same_cases_with_every_reader_s_operating_point():
    truth = ANSWERS.groupby("case")["truth"].first()
    rng = np.random.default_rng(4)
    scores = np.where(truth != "normal", rng.uniform(0.3, 1.0, len(truth)), rng.uniform(0.0, 0.6, len(truth)))
    reads = pd.DataFrame({"case": truth.index, "abnormal_score": scores,
                          "diagnosis": np.where(scores > 0.5, truth, "normal")})
    found = model_against_readers(ANSWERS, reads, n_resamples=200)
    assert found["cases"] == 30
    assert found["auc_abnormal"] == pytest.approx(roc_auc_score(truth != "normal", scores))
    assert found["accuracy"] == pytest.approx((reads["diagnosis"].to_numpy() == truth.to_numpy()).mean())
    point = found["readers"].set_index(["reader", "arm"]).loc[("reader2", "ecg")]
    mine = ANSWERS[(ANSWERS["reader"] == "reader2") & (ANSWERS["arm"] == "ecg")]
    sick = mine["truth"] != "normal"
    assert point["sensitivity"] == pytest.approx((mine.loc[sick, "diagnosis"] != "normal").mean())
    assert point["false_positive_rate"] == pytest.approx((mine.loc[~sick, "diagnosis"] != "normal").mean())


def test_the_model_reads_a_shipped_case_like_a_reader(mortara_path):
    from cardionets.inference import CardioNets

    read = model_read(CardioNets.from_pretrained(device="cpu").predict(mortara_path))
    assert read["diagnosis"] == "normal" and 0 <= read["abnormal_score"] < 0.5  # the healthy adult's ECG
    assert set(read) >= {"p_hcm", "p_dcm", "p_rcm", "p_ph", "p_mi"}


def test_the_mrmc_analysis_uses_each_reader_s_auc_and_its_null_p_values_are_calibrated():
    found = obuchowski_rockette(ANSWERS, "ecg", "ecg_cardionets")
    scored = ANSWERS.assign(score=suspicion(ANSWERS))
    one = scored[(scored["reader"] == "reader3") & (scored["arm"] == "ecg_cardionets")]
    assert found["reader_aucs"].loc["reader3", "ecg_cardionets"] == pytest.approx(
        roc_auc_score(one["truth"] != "normal", one["score"]))
    assert found["difference"] == pytest.approx(found["auc_b"] - found["auc_a"])
    assert found["low"] < found["difference"] < found["high"] and 0 < found["p"] < 1 and found["ddf"] >= 4

    # Studies where the arms do not differ: about 5 % of them may reach p < 0.05, no more.
    rng = np.random.default_rng(0)
    p_values = []
    for _ in range(400):
        truth = np.array(["normal"] * 15 + ["hcm"] * 25)
        skill = rng.normal(1.0, 0.3, 4)  # readers differ; the arms do not
        rows = []
        for arm in ("a", "b"):
            for reader in range(4):
                latent = skill[reader] * (truth != "normal") + rng.normal(0, 1, len(truth))
                level = np.clip(np.round(latent * 1.2 + 3), 1, 5).astype(int)  # 1 sure normal .. 5 sure abnormal
                rows += [{"reader": f"r{reader}", "reader_id": reader, "case": f"c{k}", "truth": t, "arm": arm,
                          "diagnosis": "hcm" if v >= 3 else "normal", "confidence": v if v >= 3 else 6 - v}
                         for k, (t, v) in enumerate(zip(truth, level))]
        p_values.append(obuchowski_rockette(pd.DataFrame(rows), "a", "b")["p"])
    rejected = np.mean(np.array(p_values) < 0.05)
    print(f"null studies rejected at 5 %: {rejected:.3f}")
    assert rejected <= 0.085  # 5 % plus about 3 binomial SDs of 400 studies
