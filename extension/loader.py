"""Body of ``_load_package()``: makes the embedded plpython_src importable, once a backend.

build.py puts the package's sources in front of this code as ``SOURCES`` and a call of
``load_package`` after it. The package is imported under a name that holds the version,
and GD keeps its ``api`` module under ``pg_jobmon.<version>``: after an
``ALTER EXTENSION ... UPDATE`` a backend loads the new version beside the old one, which
is told to close its connection and is dropped.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import MutableMapping, Sequence
from types import ModuleType
from typing import Any

GD_PREFIX = "pg_jobmon."


class SourceFinder(importlib.abc.MetaPathFinder, importlib.abc.InspectLoader):
    """Finds and loads the modules of one package from a dict of their sources."""

    def __init__(self, package: str, sources: dict[str, str]) -> None:
        self.package = package
        self.sources = sources

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        module = self._module_name(fullname)
        if module is None or module not in self.sources:
            return None
        return importlib.util.spec_from_loader(
            fullname, self, origin=f"pg_jobmon/{module}.py", is_package=module == "__init__"
        )

    def get_source(self, fullname: str) -> str:
        module = self._module_name(fullname)
        if module is None:
            raise ImportError(fullname)
        return self.sources[module]

    def get_code(self, fullname: str) -> Any:
        module = self._module_name(fullname) or fullname
        return compile(self.get_source(fullname), f"pg_jobmon/{module}.py", "exec")

    def is_package(self, fullname: str) -> bool:
        return fullname == self.package

    def _module_name(self, fullname: str) -> str | None:
        if fullname == self.package:
            return "__init__"
        prefix = self.package + "."
        return fullname[len(prefix) :] if fullname.startswith(prefix) else None


def load_package(gd: MutableMapping[str, Any], version: str, sources: dict[str, str]) -> None:
    """Import the package of ``version`` and keep its api module in ``gd``."""
    key = GD_PREFIX + version
    if key in gd:
        return
    for other in [name for name in gd if name.startswith(GD_PREFIX)]:
        gd.pop(other).close_session()
    package = "_pg_jobmon_" + version.replace(".", "_")
    sys.meta_path.append(SourceFinder(package, sources))
    gd[key] = importlib.import_module(package + ".api")
