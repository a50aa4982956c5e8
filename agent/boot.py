"""Stage two of the zero-install agent: run it from modules held in memory.

The controller sends this file's source and a bundle of the agent/ and common/
modules on the target's stdin; a one-line ``python3 -c`` reads both and
calls boot().  Nothing is written to the target's disk.  Stdlib only, Python 3.9+.

The bundle is zlib-compressed marshal data (format version 4, readable by every
Python 3.4+) mapping a module's path to its source, and ``path.<cache tag>`` to its
code object as compiled by the controller; zipfile would cost more start-up time
(~15 ms of imports) than the agent's collection on a small host.
"""

from __future__ import annotations

import importlib.machinery
import marshal
import sys
import zlib
from types import CodeType
from types import ModuleType

# typing.TYPE_CHECKING without importing typing, ~10 ms of every agent start (mypy
# treats any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NoReturn


class BundleSource:
    """Import modules from the shipped bundle, ahead of anything installed.

    A meta path finder and loader by protocol (find_spec, create_module,
    exec_module): importing importlib.abc for the base classes would cost more
    start-up time than the agent's own collection on a small host.
    """

    def __init__(self, data: bytes) -> None:
        files = marshal.loads(zlib.decompress(data))  # noqa: S302 - from the controller
        if not isinstance(files, dict):
            msg = "bad sockstat payload"
            raise TypeError(msg)
        self.files: dict[str, bytes] = files
        self.names = set(files)

    def _path(self, fullname: str) -> str | None:
        base = fullname.replace(".", "/")
        for path in (base + "/__init__.py", base + ".py"):
            if path in self.names:
                return path
        return None

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        found = self._path(fullname)
        if found is None:
            return None
        package = found.endswith("/__init__.py")
        # ModuleSpec directly: importlib.util would import ~8 ms of modules.
        return importlib.machinery.ModuleSpec(
            fullname,
            self,  # type: ignore[arg-type]
            origin="<sockstat>/" + found,
            is_package=package,
        )

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        path = self._path(spec.name) if spec is not None else None
        if path is None:
            msg = f"{module.__name__} is not in the payload"
            raise ImportError(msg)
        module.__file__ = "<sockstat>/" + path
        exec(self._code(path, module.__file__), module.__dict__)  # noqa: S102 - our own code

    def _code(self, path: str, filename: str) -> CodeType:
        # The controller also ships code objects compiled by its own interpreter,
        # named by its cache tag (cpython-311...): a target running the same version
        # skips compiling, the most expensive part of starting the agent.
        compiled = f"{path}.{sys.implementation.cache_tag}"
        if compiled in self.names:
            code = marshal.loads(self.files[compiled])  # noqa: S302 - from the controller
            if isinstance(code, CodeType):
                return code
        return compile(self.files[path], filename, "exec")

    def get_source(self, fullname: str) -> str | None:
        path = self._path(fullname)
        return self.files[path].decode("utf-8") if path else None


def boot(data: bytes, argv: list[str]) -> NoReturn:
    """Run the shipped agent with these arguments and exit with its status."""
    sys.meta_path.insert(0, BundleSource(data))
    from agent.__main__ import main  # noqa: PLC0415 - only importable after the line above

    sys.exit(main(argv))
