"""``sim://`` for pyserial: see :mod:`swsflash.bench.sim_port`."""

from ..sim_port import Serial

__all__ = ["Serial"]
