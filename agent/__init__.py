"""The sockstat agent: one snapshot of the sockets of the zone it runs in.

Stdlib only (msgpack's C extension when installed), Python 3.9+: the controller
ships this package into zones and hosts.
"""

__version__ = "0.1.0"
