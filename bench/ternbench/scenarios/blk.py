"""The blk scenario (transitional: still described in _unmoved.py)."""

from ._unmoved import Unmoved


class Blk(Unmoved):
    name = "blk"
