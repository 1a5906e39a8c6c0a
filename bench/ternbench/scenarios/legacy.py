"""The legacy scenario (transitional: still described in _unmoved.py)."""

from ._unmoved import Unmoved


class Legacy(Unmoved):
    name = "legacy"
