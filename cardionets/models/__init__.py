"""CardioNets models: ECG and CMR encoders, predictive heads, and (later) the cine generator.

Every model is a `PretrainedModule`: a folder with ``config.json`` and ``model.safetensors``, saved with
``save_pretrained(dir)`` and loaded with ``Model.from_pretrained(dir)``.
"""

from .pretrained import PretrainedModule, load_config

__all__ = ["PretrainedModule", "load_config"]
