"""`CardioNets`: every model the app needs, loaded once from a weights bundle (`cardionets.bundle`).

    model = CardioNets.from_pretrained()                       # the repo's weights/, no network
    model = CardioNets.from_pretrained("org/cardionets", revision="<commit>")   # a Hub snapshot
    model.save_pretrained("exported/")                         # a sealed copy (manifest re-hashed)

Loading verifies the bundle first (schema version, sha256 of every file), then builds each component from its
folder with the `from_pretrained` every CardioNets model has. The device is CUDA, then MPS, then CPU unless one
is given; models are put in eval mode once, here.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from .bundle import MODEL_CARD_NAME, BundleError, Manifest, load_verified, seal
from .cmr.measure import ImagePhenotypeCalibration
from .device import select_device
from .models.cine_tokenizer import CineTokenizer
from .models.mar import CineMAR
from .models.mar_sampler import SamplerSettings
from .models.predictor import CardioNetsPredictor
from .models.segmenter import CMRSegmenter

IMAGE_CALIBRATION_FILE = "image_phenotypes.json"  # in the segmenter's folder: segmenter measurements -> phenotypes
SAMPLER_FILE = "sampler.json"  # in the generator's folder: the default sampler settings chosen on validation data
COMPONENT_CLASSES = {"predictor": CardioNetsPredictor, "tokenizer": CineTokenizer, "generator": CineMAR,
                     "segmenter": CMRSegmenter}


@dataclass
class CardioNets:
    predictor: CardioNetsPredictor
    tokenizer: CineTokenizer
    generator: CineMAR
    segmenter: CMRSegmenter
    image_calibration: ImagePhenotypeCalibration
    sampler: SamplerSettings  # the bundle's default generation settings
    manifest: Manifest
    source: Path  # the bundle folder it was loaded from
    device: torch.device

    @classmethod
    def from_pretrained(cls, path_or_repo_id: str | Path | None = None, revision: str | None = None,
                        device: str | torch.device | None = None) -> CardioNets:
        directory, manifest = load_verified(path_or_repo_id, revision)
        missing = [name for name in COMPONENT_CLASSES if name not in manifest.components]
        if missing:
            raise BundleError(f"The bundle in {directory} has no {', '.join(missing)} component.")
        device = select_device(str(device) if device is not None else None)
        folders = {name: directory / manifest.components[name] for name in COMPONENT_CLASSES}
        try:
            models = {name: COMPONENT_CLASSES[name].from_pretrained(folder).to(device).eval()
                      for name, folder in folders.items()}
            calibration = ImagePhenotypeCalibration.load(folders["segmenter"] / IMAGE_CALIBRATION_FILE)
            sampler = SamplerSettings(**json.loads((folders["generator"] / SAMPLER_FILE).read_text())["settings"])
        except (FileNotFoundError, ValueError, KeyError, TypeError, RuntimeError) as error:
            # The checksums matched, so these are files written by an incompatible exporter, not damage.
            raise BundleError(f"The bundle in {directory} does not fit this version of CardioNets: {error}") \
                from None
        return cls(**models, image_calibration=calibration, sampler=sampler, manifest=manifest, source=directory,
                   device=device)

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the loaded models and their side files as a sealed bundle in ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in COMPONENT_CLASSES:
            getattr(self, name).save_pretrained(directory / name)
        self.image_calibration.save(directory / "segmenter" / IMAGE_CALIBRATION_FILE)
        shutil.copyfile(self.source / self.manifest.components["generator"] / SAMPLER_FILE,
                        directory / "generator" / SAMPLER_FILE)
        card = self.source / MODEL_CARD_NAME
        if card.is_file():
            shutil.copyfile(card, directory / MODEL_CARD_NAME)
        seal(directory, {name: name for name in COMPONENT_CLASSES}, self.manifest.metadata)
        return directory

    def push_to_hub(self, repo_id: str, revision: str | None = None, private: bool = True,
                    token: str | None = None, commit_message: str = "Upload CardioNets weights") -> str:
        """Upload the bundle folder this model was loaded from (verified on loading) as a Hub model repo,
        created if needed and private unless told otherwise. The token comes from ``token``, else HF_TOKEN or the
        local login, never from the repo. Returns the commit URL."""
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=self.source, revision=revision,
                                 commit_message=commit_message, ignore_patterns=[".cache/*"])
        return str(getattr(info, "commit_url", info))
