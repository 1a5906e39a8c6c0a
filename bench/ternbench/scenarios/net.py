"""The net scenario (transitional: still described in _unmoved.py)."""

from ._unmoved import Unmoved


class Net(Unmoved):
    name = "net"
