"""Reader-study storage on SQLite and, where a server is provided, PostgreSQL: schedules, one answer per read whatever the retries, 20 concurrent readers,
isolation between studies and readers, and answers that survive the app being killed mid-session."""

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cardionets.study.design import StudyDesign, schedule
from cardionets.study.store import StudyCase, StudyError, StudyStore

ROOT = Path(__file__).resolve().parents[1]
TRUTHS = ("normal", "hcm", "dcm", "rcm", "ph", "mi")


def cases(n: int) -> list[StudyCase]:
    return [StudyCase(f"case{i:03d}", TRUTHS[i % len(TRUTHS)], {"ecg": f"ecg{i}.xml"}) for i in range(n)]


POSTGRES = os.environ.get("CARDIONETS_TEST_POSTGRES")  # .ci/run installs and starts PostgreSQL and sets it
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES, reason="no PostgreSQL server (CARDIONETS_TEST_POSTGRES unset; .ci/run provides one)"))]


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path) -> str:
    """The URL of an empty study database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    from sqlalchemy import create_engine, text

    from cardionets.study.store import Base

    engine = create_engine(POSTGRES)
    Base.metadata.drop_all(engine)  # the tests share one server database: start each from no tables at all
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return POSTGRES


@pytest.fixture
def store(database) -> StudyStore:
    yield (made := StudyStore(database))
    made.engine.dispose()


def test_schedules_cover_every_read_once_differ_between_readers_and_never_change():
    keys = [c.key for c in cases(12)]
    sequential = StudyDesign(arms=("ecg", "ecg_cardionets"), crossover="sequential", seed=3)
    plan = schedule(sequential, keys, 1)
    assert sorted(plan) == sorted((k, a) for a in sequential.arms for k in keys)
    assert {a for _, a in plan[:12]} == {"ecg"}  # the unaided pass comes first, whole
    assert plan == schedule(sequential, list(reversed(keys)), 1) and plan != schedule(sequential, keys, 2)
    latin = StudyDesign(arms=("ecg", "ecg_cmr", "ecg_cardionets"), crossover="latin_square", seed=3)
    reads = [schedule(latin, keys, reader) for reader in range(3)]
    assert all(sorted(k for k, _ in plan) == sorted(keys) for plan in reads)  # each case once per reader
    for key in keys:  # and in a different arm for each reader group
        assert sorted(arm for plan in reads for k, arm in plan if k == key) == sorted(latin.arms)


def test_a_reader_goes_through_the_schedule_and_a_retry_is_not_a_second_answer(store):
    code = store.create_study("pilot", StudyDesign(arms=("ecg",)), cases(3))
    token = store.join(code.lower(), "Dr A", 8, "cardiology")
    seen = []
    while (item := store.next_item(token)) is not None:
        seen.append(item.case.key)
        assert store.record_answer(token, item.case.key, item.arm, "normal", 3, 12.5)
        assert not store.record_answer(token, item.case.key, item.arm, "hcm", 5, 1.0)  # double click
    assert sorted(seen) == ["case000", "case001", "case002"]
    answers = store.answers(code)
    assert len(answers) == 3 and {a["diagnosis"] for a in answers} == {"normal"}


def test_going_back_changes_an_answer_only_where_the_design_allows_it(store):
    strict = store.join(store.create_study("strict", StudyDesign(arms=("ecg",)), cases(2)), "Dr S")
    lenient = store.join(store.create_study("lenient", StudyDesign(arms=("ecg",), allow_going_back=True),
                                            cases(2)), "Dr L")
    for token in (strict, lenient):
        item = store.next_item(token)
        store.record_answer(token, item.case.key, item.arm, "normal", 2, 10.0)
    with pytest.raises(StudyError, match="does not let readers change"):
        first = store.answered(strict, 0)[0]
        store.revise_answer(strict, first.case.key, first.arm, "hcm", 4, 5.0)
    read, before = store.answered(lenient, 0)
    assert before == {"diagnosis": "normal", "confidence": 2, "probability": None, "seconds": 10.0}
    assert store.answered(lenient, 1) is None
    store.revise_answer(lenient, read.case.key, read.arm, "hcm", 4, 5.0)
    assert store.answered(lenient, 0)[1] == {"diagnosis": "hcm", "confidence": 4, "probability": None,
                                             "seconds": 15.0}
    assert len(store.answers(store.studies()[0]["code"])) == 1  # changed in place, not added


def test_readers_cannot_reach_other_studies_or_bad_answers(store):
    first = store.create_study("one", StudyDesign(arms=("ecg",)), cases(2))
    other = store.create_study("two", StudyDesign(arms=("ecg",)), [StudyCase("secret", "hcm", {})])
    token = store.join(first, "Dr A")
    with pytest.raises(StudyError, match="not in your study"):
        store.record_answer(token, "secret", "ecg", "hcm", 3, 1.0)
    with pytest.raises(StudyError, match="not valid"):
        store.next_item("forged-token")
    with pytest.raises(StudyError, match="No study has this code"):
        store.join("NOPE", "Dr B")
    with pytest.raises(StudyError, match="confidence from 1"):
        store.record_answer(token, "case000", "ecg", "hcm", 9, 1.0)
    with pytest.raises(StudyError, match="confidence from 1"):  # a probability where the design asks otherwise
        store.record_answer(token, "case000", "ecg", "hcm", None, 1.0, probability=70)
    assert store.answers(other) == []


def test_what_a_database_would_refuse_is_refused_in_words_first(store):
    """On PostgreSQL a 201-character name or a NUL byte raised DataError, which the pages do not catch; an
    infinite time was stored."""
    code = store.create_study("limits", StudyDesign(arms=("ecg",)), cases(1))
    for name, specialty in (("x" * 201, None), ("Dr\x00A", None), ("Dr A", "s" * 101), ("   ", None)):
        with pytest.raises(StudyError):
            store.join(code, name, specialty=specialty)
    with pytest.raises(StudyError, match="between 0 and 80"):
        store.join(code, "Dr A", experience_years=float("nan"))
    with pytest.raises(StudyError):
        store.create_study("n" * 201, StudyDesign(arms=("ecg",)), cases(1))
    token = store.join(code, "  Dr A  ", specialty="cardiology")
    for seconds in (float("inf"), float("nan"), -1.0, "soon"):
        with pytest.raises(StudyError, match="number of seconds"):
            store.record_answer(token, "case000", "ecg", "hcm", 3, seconds)
    assert store.record_answer(token, "case000", "ecg", "hcm", 3, 12.5)
    assert store.answers(code)[0]["seconds"] == 12.5


def test_concurrent_revisions_of_one_answer_lose_no_time(store):
    """Each revision adds its seconds in one UPDATE: read-modify-write lost 130 of 200 concurrent increments."""
    code = store.create_study("revise", StudyDesign(arms=("ecg",), allow_going_back=True), cases(1))
    token = store.join(code, "Dr A")
    store.record_answer(token, "case000", "ecg", "hcm", 3, 0.0)
    errors = []

    def revise() -> None:
        try:
            for _ in range(10):
                store.revise_answer(token, "case000", "ecg", "dcm", 4, 1.0)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=revise) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    (answer,) = store.answers(code)
    assert answer["seconds"] == 100.0 and answer["diagnosis"] == "dcm" and answer["confidence"] == 4


def test_twenty_concurrent_readers_answering_fifty_cases_lose_and_duplicate_nothing(store):
    code = store.create_study("load", StudyDesign(arms=("ecg",), seed=5), cases(50))
    tokens = [store.join(code, f"reader {i}") for i in range(20)]
    errors = []

    def read_all(token: str) -> None:
        try:
            while (item := store.next_item(token)) is not None:
                for _ in range(2):  # every answer sent twice, as a double click or a retried request would
                    store.record_answer(token, item.case.key, item.arm, TRUTHS[item.position % 6], 3, 1.0)
        except Exception as error:  # noqa: BLE001 - reported below, with the thread's reader
            errors.append(error)

    threads = [threading.Thread(target=read_all, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors
    answers = store.answers(code)
    per_read = Counter((a["reader_id"], a["case"], a["arm"]) for a in answers)
    assert len(answers) == 20 * 50 and max(per_read.values()) == 1


READER = """
import sys
from cardionets.study.store import StudyStore
store, token = StudyStore(sys.argv[1]), sys.argv[2]
while (item := store.next_item(token)) is not None:
    store.record_answer(token, item.case.key, item.arm, "normal", 3, 1.0)
    print(item.case.key, flush=True)  # acknowledged: the answer is committed
"""


def test_answers_given_before_the_app_is_killed_are_kept_and_the_reader_resumes_at_the_next_case(database):
    url = database
    store = StudyStore(url)
    code = store.create_study("crash", StudyDesign(arms=("ecg",)), cases(400))
    token = store.join(code, "Dr K")
    process = subprocess.Popen([sys.executable, "-c", READER, url, token], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    acknowledged = [process.stdout.readline().strip() for _ in range(25)]
    process.send_signal(signal.SIGKILL)  # mid-session, no chance to clean up
    process.wait()
    stored = {a["case"] for a in store.answers(code)}
    assert set(acknowledged) <= stored and len(stored) < 400
    plan = schedule(StudyDesign(arms=("ecg",)), [c.key for c in cases(400)], 1)
    resumed = store.next_item(token)
    assert resumed.position == len(stored) and resumed.case.key == plan[len(stored)][0]


def test_the_migrations_build_exactly_the_schema_the_code_uses(store):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from cardionets.study.store import Base

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == "0003"
        assert compare_metadata(context, Base.metadata) == []  # nothing a new revision would have to add
    StudyStore(str(store.engine.url.render_as_string(hide_password=False)))  # reopening is a no-op upgrade


def test_a_closed_study_takes_no_readers_or_answers_and_keeps_what_it_has(store):
    from cardionets.study.store import StudyClosedError

    code = store.create_study("closing", StudyDesign(arms=("ecg",), allow_going_back=True), cases(3))
    token = store.join(code, "Dr Early")
    item = store.next_item(token)
    store.record_answer(token, item.case.key, item.arm, "hcm", 4, 10.0)
    store.set_closed(code)
    assert store.studies()[0]["closed"] is not None
    second = store.answered(token, 0)[0]
    for attempt in (lambda: store.join(code, "Dr Late"), lambda: store.next_item(token),
                    lambda: store.record_answer(token, "case001", "ecg", "normal", 3, 5.0),
                    lambda: store.revise_answer(token, second.case.key, second.arm, "normal", 3, 5.0)):
        with pytest.raises(StudyClosedError, match="closed"):
            attempt()
    assert [a["diagnosis"] for a in store.answers(code)] == ["hcm"]  # nothing stored is lost
    store.set_closed(code, False)
    assert store.next_item(token).position == 1 and store.join(code, "Dr Late")
    with pytest.raises(StudyError, match="No study has the code"):
        store.set_closed("NOPE")


def test_processes_opening_a_fresh_database_together_all_get_the_schema(database):
    """Six server processes starting on a new database raced to create the tables (5 of 5 trials failed on
    SQLite); the migration now takes a lock, and the others find the database at head."""
    program = f"from cardionets.study.store import StudyStore; StudyStore({database!r}).engine.dispose()"
    processes = [subprocess.Popen([sys.executable, "-c", program], cwd=ROOT, stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
    failures = [error.strip().splitlines()[-1] for process in processes
                if (error := process.communicate(timeout=120)[1]) and process.returncode]
    assert not failures
    opened = StudyStore(database)
    assert opened.studies() == [] and opened.create_study("after", StudyDesign(arms=("ecg",)), cases(1))
    opened.engine.dispose()


def test_a_probability_study_stores_probabilities_and_refuses_confidences(store):
    design = StudyDesign(arms=("ecg",), rating="probability", allow_going_back=True)
    code = store.create_study("probability", design, cases(2))
    assert StudyDesign.from_json(design.to_json()) == design
    token = store.join(code, "Dr P")
    item = store.next_item(token)
    for confidence, probability in ((4, None), (4, 70), (None, 101), (None, -1), (None, None)):
        with pytest.raises(StudyError, match="probability that the case is abnormal"):
            store.record_answer(token, item.case.key, item.arm, "hcm", confidence, 3.0, probability=probability)
    assert store.record_answer(token, item.case.key, item.arm, "hcm", None, 3.0, probability=70)
    store.revise_answer(token, item.case.key, item.arm, "normal", None, 1.0, probability=35)
    (answer,) = store.answers(code)
    assert (answer["diagnosis"], answer["confidence"], answer["probability"]) == ("normal", None, 35)
    with pytest.raises(ValueError, match="rating must be one of"):
        StudyDesign(rating="stars")


def test_a_database_made_before_probability_answers_upgrades_and_keeps_its_answers(tmp_path):
    """A version-0001 database (confidence required, no probability column) opened by this version."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(ROOT / "cardionets" / "study" / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(text("INSERT INTO studies (id, code, name, design) VALUES (1, 'OLD', 'old', :design)"),
                           {"design": '{"arms": ["ecg"], "crossover": "sequential", "seed": 0, "washout_days": 0, '
                                      '"time_limit_s": null, "allow_going_back": false}'})
        connection.execute(text("INSERT INTO cases (id, study_id, key, truth, material) "
                                "VALUES (1, 1, 'case000', 'hcm', '{}')"))
        connection.execute(text("INSERT INTO readers (id, study_id, token, name) VALUES (1, 1, 'tok', 'Dr Old')"))
        connection.execute(text("INSERT INTO answers (study_id, reader_id, case_id, arm, position, diagnosis, "
                                "confidence, seconds) VALUES (1, 1, 1, 'ecg', 0, 'hcm', 2, 9.5)"))
    engine.dispose()
    upgraded = StudyStore(url)
    (answer,) = upgraded.answers("OLD")
    assert (answer["diagnosis"], answer["confidence"], answer["probability"]) == ("hcm", 2, None)
    assert upgraded.studies()[0]["design"].rating == "confidence"
    upgraded.engine.dispose()


def test_an_organiser_s_cases_are_imported_from_a_zip_and_bad_ones_refused(tmp_path, mortara_path):
    import io
    import zipfile

    from cardionets.study.cases import import_cases

    def archive(table: str, files: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zipped:
            zipped.writestr("study/cases.csv", table)
            for name, data in files.items():
                zipped.writestr(f"study/{name}", data)
        return buffer.getvalue()

    ecg = mortara_path.read_bytes()
    good = import_cases(archive("key,diagnosis,ecg\nA,normal,a.dcm\nB,HCM,b.dcm\n", {"a.dcm": ecg, "b.dcm": ecg}),
                        tmp_path / "good")
    assert [(c.key, c.truth) for c in good] == [("A", "normal"), ("B", "hcm")]
    assert all(Path(c.material["ecg"]).is_file() for c in good)
    for index, (table, files, reason) in enumerate((
            ("key,diagnosis,ecg\nA,flu,a.dcm\n", {"a.dcm": ecg}, "diagnosis among"),
            ("key,diagnosis,ecg\nA,normal,missing.dcm\n", {}, "not a file in the zip"),
            ("key,diagnosis,ecg\nA,normal,../../etc/passwd\n", {}, "not a file in the zip"),
            ("key,diagnosis,ecg\nA,normal,a.dcm\n", {"a.dcm": ecg[:300]}, "cannot be read"))):
        with pytest.raises(StudyError, match=reason):
            import_cases(archive(table, files), tmp_path / f"bad{index}")  # a fresh folder per import, as the app


class RecordingHub:
    """Stands in for huggingface_hub.HfApi: records what a backup would send (the tests never use the network)."""

    def __init__(self):
        self.repos, self.files = [], {}

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        self.repos.append((repo_id, repo_type, private))

    def upload_file(self, path_or_fileobj, path_in_repo, repo_id, repo_type, commit_message):
        self.files[path_in_repo] = path_or_fileobj.read().decode()


def test_a_backup_uploads_every_study_s_answers_to_a_private_dataset(store):
    import pandas as pd

    from cardionets.study.backup import backup, start_periodic_backup

    codes = [store.create_study(name, StudyDesign(arms=("ecg",)), cases(2)) for name in ("one", "two")]
    token = store.join(codes[0], "Dr B")
    item = store.next_item(token)
    store.record_answer(token, item.case.key, item.arm, "hcm", 4, 3.0)
    hub = RecordingHub()
    assert sorted(backup(store, "org/results", api=hub)) == sorted(f"studies/{c}/answers.csv" for c in codes)
    assert hub.repos == [("org/results", "dataset", True)]
    saved = pd.read_csv(io.StringIO(hub.files[f"studies/{codes[0]}/answers.csv"]))
    assert list(saved["diagnosis"]) == ["hcm"] and saved["reader"].iloc[0] == "Dr B"
    periodic = RecordingHub()
    start_periodic_backup(store, "org/results", None, minutes=0.002, api=periodic)  # every 0.12 s
    deadline = time.time() + 10
    while len(periodic.files) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert len(periodic.files) == 2
