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
    per_reader,
    reader_mrmc,
    suspicion,
)
from cardionets.study.mrmc import RANDOM_READERS_RANDOM_CASES

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
    assert set(reads["score"]) <= set(range(1, 11)) and len(reads) == 300
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


def test_guessed_and_certain_calls_rank_in_order_of_suspicion():
    # One reader: certain 'normal' on normal cases, guessed 'normal' and guessed 'hcm' on the ambiguous ones,
    # certain 'hcm' on clear ones. Suspicion must rise in that order, so the reader's AUC is 1.
    reads = [("n1", "normal", "normal", 5), ("n2", "normal", "normal", 4), ("n3", "normal", "normal", 1),
             ("n4", "normal", "hcm", 1), ("a1", "hcm", "normal", 2), ("a2", "hcm", "hcm", 2),
             ("a3", "hcm", "dcm", 5), ("a4", "hcm", "hcm", 4)]
    answers = pd.DataFrame([{"reader": "r1", "reader_id": 1, "case": case, "truth": truth, "arm": "ecg",
                             "diagnosis": given, "confidence": confidence} for case, truth, given, confidence in reads])
    score = suspicion(answers)
    assert score.tolist() == [1, 2, 5, 6, 4, 7, 10, 9]  # 6 - confidence for normal calls, 5 + confidence otherwise
    by_call = answers.assign(score=score).sort_values("score")
    ordered = list(zip(by_call["diagnosis"] != "normal", by_call["confidence"] * np.where(
        by_call["diagnosis"] != "normal", 1, -1)))
    assert ordered == sorted(ordered)  # normal calls from certain to guessed, then abnormal from guessed to certain
    # The old score (confidence for abnormal, 6 - confidence for normal) put the guessed normal call on a1 (4)
    # above the guessed hcm call on a2 (2) and the certain normal call on n1 (1) level with n4's guess (1).
    truth = answers["truth"] != "normal"
    assert metrics.auroc(truth, score) == pytest.approx(roc_auc_score(truth, score))
    found = model_against_readers(answers, pd.DataFrame({"case": answers["case"], "diagnosis": "normal",
                                                         "abnormal_score": np.linspace(0, 1, 8)}), n_resamples=50)
    assert found["readers"]["auc_abnormal"].iloc[0] == pytest.approx(roc_auc_score(truth, score))


def test_a_probability_study_is_scored_by_its_probabilities_and_mixed_ratings_are_refused():
    answers = ANSWERS.assign(probability=np.arange(len(ANSWERS)) % 101, confidence=np.nan)
    assert suspicion(answers).tolist() == answers["probability"].astype(float).tolist()
    mixed = answers.assign(probability=answers["probability"].where(answers.index > 0))
    with pytest.raises(ValueError, match="one rating"):
        suspicion(mixed)
    continuous = reader_mrmc(answers.assign(probability=answers["probability"]))
    assert continuous.cases == 30 and len(continuous.tests) == 3


def test_the_mrmc_analysis_uses_each_reader_s_auc_and_its_null_p_values_are_calibrated():
    found = reader_mrmc(ANSWERS, ("ecg", "ecg_cardionets"))
    scored = ANSWERS.assign(score=suspicion(ANSWERS))
    one = scored[(scored["reader"] == "reader3") & (scored["arm"] == "ecg_cardionets")]
    assert found.reader_auc.loc["reader3", "ecg_cardionets"] == pytest.approx(
        roc_auc_score(one["truth"] != "normal", one["score"]))
    random = found.test(RANDOM_READERS_RANDOM_CASES)
    (pair,) = random.comparisons
    assert pair.difference == pytest.approx(found.treatment_auc["ecg"] - found.treatment_auc["ecg_cardionets"])
    assert pair.low < pair.difference < pair.high and 0 < random.p < 1 and random.df2 >= 4
    assert [test.analysis for test in found.tests] == list(found.table()["analysis"])

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
                level = np.clip(np.round(latent * 2.2 + 5.5), 1, 10).astype(int)  # 1 sure normal .. 10 sure hcm
                rows += [{"reader": f"r{reader}", "reader_id": reader, "case": f"c{k}", "truth": t, "arm": arm,
                          "diagnosis": "hcm" if v >= 6 else "normal", "confidence": v - 5 if v >= 6 else 6 - v}
                         for k, (t, v) in enumerate(zip(truth, level))]
        p_values.append(reader_mrmc(pd.DataFrame(rows)).test(RANDOM_READERS_RANDOM_CASES).p)
    rejected = np.mean(np.array(p_values) < 0.05)
    print(f"null studies rejected at 5 %: {rejected:.3f}")
    assert rejected <= 0.085  # 5 % plus about 3 binomial SDs of 400 studies
