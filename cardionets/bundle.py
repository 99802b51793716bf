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
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BundleError(f"{path} is not valid JSON ({error}); the bundle is damaged.") from None
        if not isinstance(record, dict) or record.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{path} is not a CardioNets bundle manifest.")
        version = record.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BundleError(f"{directory} uses bundle schema version {version}; this CardioNets "
                              f"({__version__}) reads version {SCHEMA_VERSION}. Use a matching release or re-export "
                              "the bundle.")
        try:
            return cls(**record)
        except TypeError as error:
            raise BundleError(f"{path} does not have the fields of a version {SCHEMA_VERSION} manifest ({error}).") \
                from None

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
    files = {path.relative_to(directory).as_posix(): sha256_of(path)
             for path in sorted(directory.rglob("*"))
             if path.is_file() and path.name not in (MANIFEST_NAME, MODEL_CARD_NAME) and ".cache" not in path.parts}
    manifest = Manifest(components=dict(components), files=files, metadata=metadata)
    manifest.write(directory)
    return manifest


def verify(directory: Path, manifest: Manifest) -> None:
    """Raise `BundleError` naming the first file that is missing or whose bytes differ from the manifest."""
    directory = Path(directory)
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
    """Make a verified bundle the active one (the running app loads it on its next request)."""
    from .workspace import workspace

    directory, _ = load_verified(source)
    (workspace() / ACTIVE_POINTER).write_text(str(Path(directory).resolve()))
    return str(Path(directory).resolve())


def load_verified(source: str | Path | None = None, revision: str | None = None) -> tuple[Path, Manifest]:
    """Resolve, read and verify a bundle: (its folder, its manifest)."""
    directory = resolve(source, revision)
    manifest = Manifest.read(directory)
    verify(directory, manifest)
    return directory, manifest
