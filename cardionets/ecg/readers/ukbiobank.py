"""Reader under construction."""


def read(*args, **kwargs):
    raise NotImplementedError
