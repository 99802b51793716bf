"""The weights bundle: one folder that holds every model the app needs, and says what it holds.

    weights/
      manifest.json        format, schema version, component folders, sha256 of every file, metadata
      README.md            the model card (Hub format)
      predictor/           config.json + model.safetensors (+ extra JSON a component needs)
      tokenizer/ generator/ segmenter/

The manifest is what makes a bundle safe to load from anywhere: a file whose bytes differ from its recorded
sha256 (a truncated download, an edited weight) is refused before any weight is read, and a bundle written by a
newer, incompatible layout is refused with the version it needs. Weights are safetensors, so even a bundle
from an untrusted source cannot run code when loaded.

A bundle lives in a local folder (the repo's `weights/` by default, with no network) or in a Hugging Face Hub
model repo, fetched through `huggingface_hub` at a pinned revision; `HF_HUB_OFFLINE=1` makes that use the local
cache only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__

BUNDLE_FORMAT = "cardionets-bundle"
SCHEMA_VERSION = 1  # bump when the layout or the manifest's meaning changes; loaders refuse other versions
MANIFEST_NAME = "manifest.json"
MODEL_CARD_NAME = "README.md"
DEFAULT_BUNDLE = Path(__file__).resolve().parent.parent / "weights"
COMPONENTS = ("predictor", "tokenizer", "generator", "segmenter")
# Present only in bundles whose recipe trains it; a bundle without one still loads and works.
OPTIONAL_COMPONENTS = ("scanner_adapter", "rhythm", "real_findings")
ACTIVE_WEIGHTS_ENV = "CARDIONETS_WEIGHTS"  # a bundle folder or Hub repo id the app serves instead of weights/
ACTIVE_POINTER = "active_weights.txt"  # in the workspace: the bundle the admin page promoted
# Pins the bundle: when set (environment or Space secret), the manifest's own SHA-256 must equal it, so weights
# and a manifest edited together to match no longer load. Hub users can pin a revision instead.
MANIFEST_PIN_ENV = "CARDIONETS_WEIGHTS_MANIFEST_SHA256"


class BundleError(ValueError):
    """A bundle that cannot be used, with a message that says why and what to do."""


@dataclass
class Manifest:
    components: dict[str, str]  # component name -> folder, relative to the bundle
    files: dict[str, str]  # relative path -> sha256 hex digest
    metadata: dict = field(default_factory=dict)  # schema, sampler settings, training data, results summary
    schema_version: int = SCHEMA_VERSION
    cardionets_version: str = __version__
    format: str = BUNDLE_FORMAT

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = Path(directory) / MANIFEST_NAME
        if not path.is_file():
            raise BundleError(f"{directory} is not a CardioNets weights bundle: it has no {MANIFEST_NAME}.")
        try:
            record = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise BundleError(f"{path} is not valid JSON ({reason}); the bundle is damaged.") from None
        if not isinstance(record, dict) or record.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{path} is not a CardioNets bundle manifest.")
        version = record.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BundleError(f"{directory} uses bundle schema version {version}; this CardioNets "
                              f"({__version__}) reads version {SCHEMA_VERSION}. Use a matching release or re-export "
                              "the bundle.")
        try:
            manifest = cls(**record)
        except TypeError as error:
            raise BundleError(f"{path} does not have the fields of a version {SCHEMA_VERSION} manifest ({error}).") \
                from None
        for table in (manifest.components, manifest.files):
            if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                      for k, v in table.items()):
                raise BundleError(f"{path} is not a CardioNets bundle manifest: its components and files must map "
                                  "names to text.")
        return manifest

    def write(self, directory: Path) -> Path:
        path = Path(directory) / MANIFEST_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=False) + "\n")
        return path


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def add_component(bundle: Path, name: str, model) -> Manifest:
    """``model`` (anything with ``save_pretrained``) saved as the bundle's component ``name``, replacing one of that
    name, and the bundle re-sealed with its other components and metadata."""
    manifest = Manifest.read(bundle)
    model.save_pretrained(Path(bundle) / name)
    return seal(bundle, {**manifest.components, name: name}, manifest.metadata)


def seal(directory: Path, components: dict[str, str], metadata: dict) -> Manifest:
    """Write the manifest of a bundle whose component folders are already in ``directory``: every file but the
    manifest and the model card is hashed (the card can be edited without re-sealing)."""
    directory = Path(directory)
    missing = [name for name, folder in components.items() if not (directory / folder).is_dir()]
    if missing:
        raise BundleError(f"{directory} lacks the component folders {missing}.")
    files = {relative: sha256_of(directory / relative) for relative in sorted(_bundle_files(directory))}
    manifest = Manifest(components=dict(components), files=files, metadata=metadata)
    manifest.write(directory)
    return manifest


def _bundle_files(directory: Path) -> set[str]:
    """Every file of the bundle folder a manifest must cover: all but the manifest, the model card and the
    hidden entries a Hub repo or clone keeps at the top (.gitattributes, .cache, .git), which no loader reads."""
    files = set()
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if path.is_file() and not relative.parts[0].startswith(".") and relative.as_posix() not in (
                MANIFEST_NAME, MODEL_CARD_NAME):
            files.add(relative.as_posix())
    return files


def _inside(relative: str) -> bool:
    """Whether ``relative`` names a place inside the bundle: not absolute, no way out through "..". Judged on the
    text, not by following links: a Hub snapshot's files are links into the cache's blob store."""
    if not relative or Path(relative).is_absolute() or Path(relative).drive:
        return False
    return ".." not in Path(os.path.normpath(relative)).parts


def verify(directory: Path, manifest: Manifest) -> None:
    """Raise `BundleError` naming the first problem: a path that leaves the bundle, a file the manifest does not
    cover (an entry deleted, or ``files: {}``), a file missing or whose bytes differ, a component folder missing,
    or a manifest that differs from the pinned one."""
    directory = Path(directory)
    escaping = [path for path in (*manifest.files, *manifest.components.values()) if not _inside(path)]
    if escaping:
        raise BundleError(f"The bundle in {directory} points outside its folder ({escaping[0]}); it is refused.")
    unlisted = sorted(_bundle_files(directory) - set(manifest.files))
    if unlisted:
        raise BundleError(f"The bundle in {directory} holds files its manifest does not vouch for ({unlisted[0]}"
                          f"{f' and {len(unlisted) - 1} more' if len(unlisted) > 1 else ''}): damaged or modified. "
                          "Re-download or re-export the weights.")
    pinned = os.environ.get(MANIFEST_PIN_ENV, "").strip().lower()
    if pinned and sha256_of(directory / MANIFEST_NAME) != pinned:
        raise BundleError(f"The bundle in {directory} is not the one this installation is pinned to "
                          f"({MANIFEST_PIN_ENV}): its manifest differs. Install the pinned weights or update the pin.")
    for relative, expected in manifest.files.items():
        path = directory / relative
        if not path.is_file():
            raise BundleError(f"The bundle in {directory} is incomplete: {relative} is missing.")
        if sha256_of(path) != expected:
            raise BundleError(f"The bundle in {directory} failed its integrity check: {relative} does not match "
                              "its recorded checksum (damaged or modified). Re-download or re-export the weights.")
    for name, folder in manifest.components.items():
        if not (directory / folder).is_dir():
            raise BundleError(f"The bundle in {directory} lacks the {name} component ({folder}/).")


def resolve(source: str | Path | None = None, revision: str | None = None) -> Path:
    """The local folder of a bundle: ``source`` as a folder, else a Hub repo id fetched (or found in the cache
    when HF_HUB_OFFLINE=1) at ``revision``; None is the repo's own `weights/`."""
    if source is None:
        return DEFAULT_BUNDLE
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    text = str(source)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise BundleError(f"{source} is neither a bundle folder nor a Hugging Face Hub repo id (owner/name).")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(text, revision=revision, library_name="cardionets",
                                      library_version=__version__))
    except LocalEntryNotFoundError:
        raise BundleError(f"{text} is not in the local Hugging Face cache and the Hub cannot be reached (offline, "
                          "or HF_HUB_OFFLINE=1). Download it once with network access, or pass a local folder.") \
            from None
    except HfHubHTTPError as error:
        raise BundleError(f"Could not fetch {text} from the Hugging Face Hub: {error}") from None


def active_bundle() -> str:
    """The bundle the app serves: ``CARDIONETS_WEIGHTS`` (a folder or Hub repo id) if set, else the one the
    admin page last promoted, else the shipped `weights/`."""
    from .workspace import workspace

    chosen = os.environ.get(ACTIVE_WEIGHTS_ENV)
    if chosen:
        return chosen
    pointer = workspace() / ACTIVE_POINTER
    if pointer.is_file() and pointer.read_text().strip():
        return pointer.read_text().strip()
    return str(DEFAULT_BUNDLE)


def promote(source: str | Path) -> str:
    """Make a verified bundle that loads the active one (the running app loads it on its next request)."""
    from .inference import CardioNets
    from .workspace import workspace

    directory, _ = load_verified(source)
    CardioNets.from_pretrained(directory, device="cpu")  # a bundle that verifies but does not load is not promoted
    (workspace() / ACTIVE_POINTER).write_text(str(Path(directory).resolve()))
    return str(Path(directory).resolve())


def load_verified(source: str | Path | None = None, revision: str | None = None) -> tuple[Path, Manifest]:
    """Resolve, read and verify a bundle: (its folder, its manifest)."""
    directory = resolve(source, revision)
    manifest = Manifest.read(directory)
    verify(directory, manifest)
    return directory, manifest
