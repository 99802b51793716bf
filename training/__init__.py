"""CardioNets training pipelines: ``python -m training <stage> --config training/configs/<name>.yaml``."""
