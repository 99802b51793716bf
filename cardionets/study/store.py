"""Where a reader study lives: SQLAlchemy tables in SQLite (the embedded default, WAL) or PostgreSQL (by URL,
for studies served from several machines).

    store = StudyStore("sqlite:///artifacts/studies.db")
    code = store.create_study("Pilot", StudyDesign(), cases)          # cases: list of StudyCase
    token = store.join(code, "Dr A", experience_years=8, specialty="cardiology")
    item = store.next_item(token)                                     # (position, case, arm) or None when done
    store.record_answer(token, item.case.key, item.arm, "hcm", confidence=4, seconds=31.5)
    # a study whose design asks for a probability instead: record_answer(..., "hcm", None, 31.5, probability=80)

Answers are the one thing a study cannot lose. Each is committed in its own transaction the moment it is given;
a unique constraint on (study, reader, case, arm) makes a double click or a retried request a no-op instead of a
second row; SQLite runs with a write-ahead log, synchronous commits and a busy timeout, so concurrent readers
wait for each other instead of failing. A reader is known only by a random token, and every query is scoped to
that reader's study, so nobody reaches another study's cases or another reader's answers.
"""

from __future__ import annotations

import datetime
import math
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from .design import CONFIDENCE, DIAGNOSES, PROBABILITY, StudyDesign, schedule

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_ID = 7_402_551  # PostgreSQL advisory lock held while the schema is upgraded (any fixed number)


class StudyError(ValueError):
    """A request the study cannot accept (unknown code or token, an answer outside the design), in words."""


class UnknownCodeError(StudyError):
    """No study has the code given to join: the one failure the join form's back-off counts."""


class StudyClosedError(StudyError):
    """The organiser closed the study: no new readers, no answers."""


def _check_open(study: Study) -> None:
    if study.closed is not None:
        raise StudyClosedError("This study is closed: its organiser is no longer taking readers or answers. "
                               "Thank you for reading.")


# Study codes: 12 symbols of Crockford's base32 (no I, L, O or U to misread), 60 bits, shown in groups of four.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12


def new_study_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalised_code(text: str) -> str:
    """A code as typed (any case, spaces or hyphens between groups) in its stored form."""
    return "".join(character for character in text.upper() if character.isalnum())


def display_code(code: str) -> str:
    """XXXX-XXXX-XXXX for a new code; an older, shorter code as it is."""
    if len(code) != CODE_LENGTH:
        return code
    return "-".join(code[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def _text(value: str | None, what: str, longest: int, required: bool = True) -> str | None:
    """``value`` stripped, or a StudyError a person can act on: PostgreSQL refuses NUL bytes and text longer than
    its column, with an error the pages would not catch."""
    if value is None or not value.strip():
        if required:
            raise StudyError(f"Please give {what}.")
        return None
    value = value.strip()
    if len(value) > longest or any(ord(ch) < 32 for ch in value):
        raise StudyError(f"{what[0].upper()}{what[1:]} must be at most {longest} characters of plain text.")
    return value


def _check_rating(design: StudyDesign, diagnosis: str, confidence: int | None, probability: int | None) -> None:
    """An answer is a diagnosis plus exactly the rating the study's design asks for."""
    if diagnosis not in DIAGNOSES:
        raise StudyError(f"The diagnosis must be one of {sorted(DIAGNOSES)}.")
    if design.rating == "probability":
        if confidence is not None or probability not in PROBABILITY:
            raise StudyError("This study asks for the probability that the case is abnormal, 0 to 100 %.")
    elif probability is not None or confidence not in CONFIDENCE:
        raise StudyError("This study asks for a confidence from 1 (a guess) to 5 (certain).")


def _valid_time(seconds: float) -> float:
    """A finite, non-negative time (an infinite one was stored and broke every reading-time summary)."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise StudyError("The time spent on a case must be a number of seconds.")
    return value


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    design: Mapped[str] = mapped_column(String(2000))  # StudyDesign.to_json()
    created: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed: Mapped[datetime.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("study_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    truth: Mapped[str] = mapped_column(String(20))  # one of DIAGNOSES; never shown to readers
    material: Mapped[dict] = mapped_column(JSON, default=dict)  # ECG file, real cine, ... by role


class Reader(Base):
    __tablename__ = "readers"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(200))
    experience_years: Mapped[float | None] = mapped_column(Float, nullable=True)
    specialty: Mapped[str | None] = mapped_column(String(100), nullable=True)
    joined: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Answer(Base):
    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("study_id", "reader_id", "case_id", "arm", name="one_answer_per_read"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    reader_id: Mapped[int] = mapped_column(ForeignKey("readers.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    arm: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)  # where in the reader's schedule it was read
    diagnosis: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 1-5, in "confidence" studies
    probability: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 0-100, in "probability" studies
    seconds: Mapped[float] = mapped_column(Float)  # time on the case, measured by the app
    answered_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class StudyCase:
    key: str
    truth: str
    material: dict  # role -> file path ("ecg", "cine_sax", "cine_4ch", ...)


@dataclass(frozen=True)
class ScheduledRead:
    position: int  # 0-based place in the reader's schedule
    total: int
    case: StudyCase
    arm: str
    study: str = ""  # the study's code: case keys are unique within a study only


class StudyStore:
    def __init__(self, url: str):
        sqlite = url.startswith("sqlite")
        # sqlite3's own timeout covers the moment of connecting, before the pragmas below can set theirs.
        self.engine = create_engine(url, pool_pre_ping=True,
                                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000} if sqlite else {})
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrate(self.engine)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    # --- organiser ------------------------------------------------------------------------------------------
    def create_study(self, name: str, design: StudyDesign, cases: list[StudyCase]) -> str:
        """A new study with its cases; returns the code readers join with."""
        unknown = sorted({case.truth for case in cases} - set(DIAGNOSES))
        if not cases or unknown or len({case.key for case in cases}) != len(cases):
            raise StudyError(f"A study needs cases with distinct keys and diagnoses from {sorted(DIAGNOSES)}"
                             + (f"; unknown: {unknown}" if unknown else ""))
        name = _text(name, "the study's name", 200)
        code = new_study_code()
        with self.sessions.begin() as session:
            study = Study(code=code, name=name, design=design.to_json())
            session.add(study)
            session.flush()
            session.add_all(Case(study_id=study.id, key=c.key, truth=c.truth, material=c.material) for c in cases)
        return code

    # --- reader ---------------------------------------------------------------------------------------------
    def join(self, code: str, name: str, experience_years: float | None = None, specialty: str | None = None) -> str:
        """Register a reader in the study with this code; returns their private token (their way back in)."""
        name = _text(name, "your name", 200)
        specialty = _text(specialty, "your specialty", 100, required=False)
        if experience_years is not None and not (math.isfinite(experience_years) and 0 <= experience_years <= 80):
            raise StudyError("Years of experience must be between 0 and 80.")
        with self.sessions.begin() as session:
            study = session.scalar(select(Study).where(Study.code == normalised_code(code)))
            if study is None:
                raise UnknownCodeError("No study has this code. Check it with the study's organiser.")
            _check_open(study)
            token = secrets.token_urlsafe(24)
            session.add(Reader(study_id=study.id, token=token, name=name, experience_years=experience_years,
                               specialty=specialty))
        return token

    def next_item(self, token: str) -> ScheduledRead | None:
        """The first read of the reader's schedule they have not answered, or None when they are done."""
        with self.sessions() as session:
            reader, study, design, cases = self._reader_context(session, token)
            _check_open(study)
            plan = schedule(design, list(cases), reader.id)
            done = set(session.execute(select(Case.key, Answer.arm).join(Case, Case.id == Answer.case_id)
                                       .where(Answer.reader_id == reader.id)).all())
            for position, (key, arm) in enumerate(plan):
                if (key, arm) not in done:
                    return ScheduledRead(position, len(plan), cases[key], arm, study.code)
        return None

    def answered(self, token: str, position: int) -> tuple[ScheduledRead, dict] | None:
        """A read the reader already answered, with their answer (for going back, where the design allows)."""
        with self.sessions() as session:
            reader, study, design, cases = self._reader_context(session, token)
            plan = schedule(design, list(cases), reader.id)
            if not 0 <= position < len(plan):
                return None
            key, arm = plan[position]
            answer = session.scalar(select(Answer).join(Case, Case.id == Answer.case_id).where(
                Answer.reader_id == reader.id, Case.key == key, Answer.arm == arm))
            if answer is None:
                return None
            return (ScheduledRead(position, len(plan), cases[key], arm, study.code),
                    {"diagnosis": answer.diagnosis, "confidence": answer.confidence,
                     "probability": answer.probability, "seconds": answer.seconds})

    def revise_answer(self, token: str, case_key: str, arm: str, diagnosis: str, confidence: int | None,
                      seconds: float, probability: int | None = None) -> None:
        """Change an earlier answer, only in a design that lets readers go back; the time spent adds up."""
        seconds = _valid_time(seconds)
        with self.sessions.begin() as session:
            reader, study, design, _ = self._reader_context(session, token)
            _check_open(study)
            _check_rating(design, diagnosis, confidence, probability)
            if not design.allow_going_back:
                raise StudyError("This study's design does not let readers change their answers.")
            case_id = session.scalar(select(Case.id).where(Case.study_id == study.id, Case.key == case_key))
            # One UPDATE that adds to the stored time in the database: read, add and write back from here lost
            # increments when two requests for the same answer overlapped.
            changed = session.execute(update(Answer).where(
                Answer.reader_id == reader.id, Answer.study_id == study.id, Answer.case_id == case_id,
                Answer.arm == arm).values(diagnosis=diagnosis, confidence=confidence, probability=probability,
                                          seconds=Answer.seconds + seconds)).rowcount
            if not changed:
                raise StudyError("There is no earlier answer to change for this case.")

    def record_answer(self, token: str, case_key: str, arm: str, diagnosis: str, confidence: int | None,
                      seconds: float, probability: int | None = None) -> bool:
        """Commit one answer now. False (and nothing written) when this read was already answered."""
        seconds = _valid_time(seconds)
        with self.sessions() as session:
            reader, study, design, cases = self._reader_context(session, token)
            _check_open(study)
            _check_rating(design, diagnosis, confidence, probability)
            plan = schedule(design, list(cases), reader.id)
            if (case_key, arm) not in plan:
                raise StudyError("This case is not in your study.")
            case_id = session.scalar(select(Case.id).where(Case.study_id == study.id, Case.key == case_key))
            session.add(Answer(study_id=study.id, reader_id=reader.id, case_id=case_id, arm=arm,
                               position=plan.index((case_key, arm)), diagnosis=diagnosis, confidence=confidence,
                               probability=probability, seconds=float(seconds)))
            try:
                session.commit()
            except IntegrityError:  # the unique constraint: this read is already answered
                session.rollback()
                return False
        return True

    def _reader_context(self, session: Session, token: str):
        reader = session.scalar(select(Reader).where(Reader.token == token))
        if reader is None:
            raise StudyError("This reader link is not valid. Join again with the study code.")
        study = session.get(Study, reader.study_id)
        cases = {c.key: StudyCase(c.key, c.truth, dict(c.material or {}))
                 for c in session.scalars(select(Case).where(Case.study_id == study.id))}
        return reader, study, StudyDesign.from_json(study.design), cases

    def studies(self) -> list[dict]:
        """Every study with its code, design and how far it has got (organiser only)."""
        with self.sessions() as session:
            readers = dict(session.execute(select(Reader.study_id, func.count()).group_by(Reader.study_id)).all())
            answers = dict(session.execute(select(Answer.study_id, func.count()).group_by(Answer.study_id)).all())
            return [{"code": s.code, "name": s.name, "design": StudyDesign.from_json(s.design), "created": s.created,
                     "closed": s.closed, "readers": readers.get(s.id, 0), "answers": answers.get(s.id, 0)}
                    for s in session.scalars(select(Study).order_by(Study.id.desc()))]

    def set_closed(self, code: str, closed: bool = True) -> None:
        """Close a study (no new readers or answers; what is stored stays) or open it again (organiser only)."""
        with self.sessions.begin() as session:
            changed = session.execute(update(Study).where(Study.code == code).values(
                closed=datetime.datetime.now(datetime.UTC) if closed else None)).rowcount
            if not changed:
                raise UnknownCodeError(f"No study has the code {code}.")

    def cases(self, code: str) -> list[StudyCase]:
        """A study's cases with their truth and material (organiser only)."""
        with self.sessions() as session:
            return [StudyCase(c.key, c.truth, dict(c.material or {})) for c in session.scalars(
                select(Case).join(Study, Study.id == Case.study_id).where(Study.code == code).order_by(Case.key))]

    def design_of(self, token: str) -> StudyDesign:
        with self.sessions() as session:
            return self._reader_context(session, token)[2]

    # --- analysis input (organiser only: the pages guard it with the admin password) -------------------------
    def answers(self, code: str) -> list[dict]:
        """Every answer of a study with its reader, case truth and arm, in the order given."""
        with self.sessions() as session:
            rows = session.execute(
                select(Reader.name, Reader.id, Case.key, Case.truth, Answer.arm, Answer.diagnosis,
                       Answer.confidence, Answer.probability, Answer.seconds, Answer.position)
                .join(Reader, Reader.id == Answer.reader_id).join(Case, Case.id == Answer.case_id)
                .join(Study, Study.id == Answer.study_id).where(Study.code == code).order_by(Answer.id)).all()
        keys = ("reader", "reader_id", "case", "truth", "arm", "diagnosis", "confidence", "probability", "seconds",
                "position")
        return [dict(zip(keys, row)) for row in rows]


def migrate(engine) -> None:
    """Bring the database's tables to this version's schema with Alembic (`migrations/versions/`): a new
    database gets every table, an older one the changes since. A later schema change is a new revision there,
    never an edit of an old one."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        # One process migrates at a time: several server processes opening a fresh database together each
        # created the tables and all but one failed on "table already exists". The lock lasts until this
        # transaction commits; the others then find the database at head and do nothing.
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN EXCLUSIVE")  # waits up to the busy timeout for the others
        elif engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    # The busy timeout first: switching to WAL needs a moment of exclusive access, which must wait for any
    # other connection (another server process, a reader mid-commit) rather than fail with "database is locked".
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # concurrent writers wait, not fail
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
    cursor.execute("PRAGMA synchronous=FULL")  # a committed answer survives a crash of the app or the machine
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
