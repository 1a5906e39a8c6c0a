"""The vhost-user scenario (transitional: still described in _unmoved.py)."""

from ._unmoved import Unmoved


class VhostUser(Unmoved):
    name = "vhost-user"
