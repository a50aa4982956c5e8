"""The zero-install agent: one payload per run, and the command line that boots it.

The payload (sent on the target's stdin) is agent/boot.py's source followed by a
bundle of the agent/ and common/ modules an agent imports, taken from the installed
packages.  No msgpack: where it is not installed the agent writes its stream with
common/packer.py.  The command finds a Python 3.9+ in one round trip; where there is none it
runs the zone's own ss or netstat instead and says so in a marker line.
"""

from __future__ import annotations

import marshal
import sys
import threading
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict
from typing import List
from typing import Sequence

import agent
import common

# Left out of the bundle: the boot stage (sent ahead of it) and the decoder, which
# only the controller runs.  Everything else in agent/ and common/ is shipped.
CONTROLLER_SIDE = frozenset({"agent/boot.py", "common/decode.py"})
# The platform's own Python first, as Ansible's interpreter discovery prefers it: a
# PATH lookup may land on a shim (pyenv's costs ~0.3 s per start) or a user's venv.
PYTHONS = (
    "/usr/bin/python3",
    "/opt/local/bin/python3",  # pkgsrc (SmartOS zones)
    "python3",
    "python3.13",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
)
TOO_OLD = 98  # the boot command's exit status on a Python older than 3.9
# Checks the version before it reads anything (any Python, even 2, runs the first
# statement), then reads the boot source and the module bundle from stdin.
BOOT_COMMAND = (
    f"import sys;sys.version_info>=(3,9) or sys.exit({TOO_OLD});"
    "d=sys.stdin.buffer.read();n=int.from_bytes(d[:4],'big');"
    "g={'__name__':'sockstat_boot'};exec(compile(d[4:4+n],'<sockstat-boot>','exec'),g);"
    "g['boot'](d[4+n:],sys.argv[1:])"
)
# $1 is BOOT_COMMAND, the rest the agent's arguments.  Each candidate runs the boot
# command itself (no separate version probe: one interpreter start per target); one
# that is too old exits before reading stdin, and the next is tried, as is one the
# shell cannot execute (126, 127).  With no usable
# Python, prints the fallback marker line, the reason, then the tool's output.
DISCOVERY_SCRIPT = r"""boot=$1; shift
old=
for p in {pythons}; do
  command -v "$p" >/dev/null 2>&1 || continue
  "$p" -S -c "$boot" "$@"
  status=$?
  case $status in
    {too_old}) [ -n "$old" ] || old="$p is Python $("$p" -V 2>&1 | sed 's/^Python //')" ;;
    126|127) ;;  # found but not runnable: try the next one
    *) exit "$status" ;;
  esac
done
if [ -n "$old" ]; then why="$old, older than 3.9"; else why="no python3 found"; fi
if [ "$(uname -s)" = SunOS ]; then
  if out=$(netstat -anu 2>/dev/null); then tool="netstat -anu"
  elif out=$(netstat -an 2>/dev/null); then tool="netstat -an"
  else echo "sockstat: $why, and netstat failed" >&2; exit 127
  fi
else
  if out=$(ss -tuanpe 2>/dev/null); then tool="ss -tuanpe"
  elif out=$(netstat -tuanp 2>/dev/null); then tool="netstat -tuanp"
  else echo "sockstat: $why, and neither ss nor netstat worked" >&2; exit 127
  fi
fi
printf '#sockstat-fallback %s\t%s\n' "$tool" "$why"
printf '%s\n' "$out"
"""


@dataclass(frozen=True)
class Payload:
    """What one run sends to every target: the stdin bytes and the command."""

    stdin: bytes

    def argv(self, agent_args: Sequence[str]) -> List[str]:
        """Return the argv that boots the agent (or the fallback) with these args."""
        script = DISCOVERY_SCRIPT.format(pythons=" ".join(PYTHONS), too_old=TOO_OLD)
        return ["/bin/sh", "-c", script, "sockstat", BOOT_COMMAND, *agent_args]


def _add_module(bundle: Dict[str, bytes], path: Path, name: str) -> None:
    """Add a module's source, and its code compiled for this interpreter's version."""
    source = path.read_bytes()
    bundle[name] = source
    code = compile(source, f"<sockstat>/{name}", "exec", dont_inherit=True)
    bundle[f"{name}.{sys.implementation.cache_tag}"] = marshal.dumps(code)


def _add_package(bundle: Dict[str, bytes], package: Path, prefix: str) -> None:
    for path in sorted(package.glob("*.py")):
        name = f"{prefix}/{path.name}"
        if name not in CONTROLLER_SIDE:
            _add_module(bundle, path, name)


_BUILDING = threading.Lock()


def build_payload() -> Payload:
    """Return the payload, built once per process from the installed packages.

    Under a lock: every host's worker asks for it at once after its handshake, and
    lru_cache alone does not hold the others back (50 hosts built it ~30 times,
    compiling every module each time: ~1 s of the controller's CPU).
    """
    with _BUILDING:
        return _build_payload()


@lru_cache(maxsize=1)
def _build_payload() -> Payload:
    """Build the payload from the installed packages.

    The bundle format is agent/boot.py's: zlib-compressed marshal (version 4) of
    {path: source, path.<cache tag>: code}.
    """
    bundle: Dict[str, bytes] = {}
    _add_package(bundle, Path(agent.__file__).parent, "agent")
    _add_package(bundle, Path(common.__file__).parent, "common")
    boot = (Path(agent.__file__).parent / "boot.py").read_bytes()
    packed = zlib.compress(marshal.dumps(bundle, 4), 6)
    return Payload(len(boot).to_bytes(4, "big") + boot + packed)
