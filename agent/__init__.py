"""The sockstat agent: one snapshot of the sockets of the zone it runs in.

Stdlib and msgpack only, Python 3.9+: the controller ships this package into zones.
"""

__version__ = "0.1.0"
