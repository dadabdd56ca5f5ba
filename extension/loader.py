"""Body of ``_load_package()``: makes the embedded plpython_src importable, once a backend.

build.py puts the package's sources in front of this code as ``SOURCES``, their digest
as ``SOURCES_DIGEST``, and a call of ``load_package`` after it. The package is imported
under a name that holds the version, and GD keeps its ``api`` module under
``pg_jobmon.<version>``: after an ``ALTER EXTENSION ... UPDATE`` a backend loads the
new version beside the old one, which is told to close its connection and is dropped.

Compiling the sources would cost each backend's first call about 12 ms, so ``make
install`` writes their code objects, compiled by the server's Python, into a code cache
beside the extension's scripts (``build.py --code-cache``). A module's code comes from
that cache when it was made by this Python from these very sources, and is compiled
here otherwise: a missing, stale or damaged cache only costs the compile.
"""

from __future__ import annotations

import importlib._bootstrap_external
import importlib.machinery
import marshal
import sys
import zlib
from collections.abc import MutableMapping, Sequence
from types import CodeType, ModuleType
from typing import Any

GD_PREFIX = "pg_jobmon."
# The code cache: MAGIC_NUMBER of the Python that compiled it (4 bytes), the sources'
# digest (64 ASCII hex digits), the CRC-32 of the rest (4 bytes, little-endian), and the
# marshalled dict of code objects by module name.
CACHE_SUFFIX = ".pycache"
DIGEST_LENGTH = 64
HEADER_LENGTH = 4 + DIGEST_LENGTH + 4
MAXPGPATH = 1024


def cache_name(version: str) -> str:
    """The code cache's file name in the extension directory."""
    return f"pg_jobmon--{version}{CACHE_SUFFIX}"


def read_code_cache(path: str | None, digest: str) -> dict[str, CodeType]:
    """The code objects cached at ``path``, or none if they do not fit this Python and digest.

    Checked before unmarshalling: marshal's format belongs to one Python version, and
    code made from other sources would run other code.
    """
    if path is None:
        return {}
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return {}
    # importlib.util.MAGIC_NUMBER, taken from where importlib.util takes it: importing
    # importlib.util would cost a first call 0.3 ms.
    header = importlib._bootstrap_external.MAGIC_NUMBER + digest.encode("ascii")
    if len(data) < HEADER_LENGTH or not data.startswith(header):
        return {}
    payload = data[HEADER_LENGTH:]
    if zlib.crc32(payload) != int.from_bytes(data[len(header) : HEADER_LENGTH], "little"):
        return {}
    try:
        code = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(code, dict):
        return {}
    return {
        name: value
        for name, value in code.items()
        if isinstance(name, str) and isinstance(value, CodeType)
    }


def installed_cache_path(version: str) -> str | None:
    """The code cache in this server's extension directory; None outside a server.

    The backend's own globals say where its installation lies: ``my_exec_path`` is
    the running program, and ``get_share_path()`` derives the share directory from it,
    as CREATE EXTENSION does to find the scripts.
    """
    import ctypes

    try:
        server = ctypes.CDLL(None)
        exec_path = (ctypes.c_char * MAXPGPATH).in_dll(server, "my_exec_path")
        get_share_path = server.get_share_path
    except (AttributeError, OSError, ValueError):
        return None
    get_share_path.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    get_share_path.restype = None
    share = ctypes.create_string_buffer(MAXPGPATH)
    get_share_path(ctypes.addressof(exec_path), ctypes.addressof(share))
    if not share.value:
        return None
    return f"{share.value.decode(errors='surrogateescape')}/extension/{cache_name(version)}"


class EmbeddedFinder:
    """Finds and loads the modules of one package from a dict of their sources.

    A plain class, not one of importlib.abc's: importing importlib.abc would cost a
    first call 2 ms. ``spec.cached`` names the code cache for each module whose code
    comes from it, and is None for one compiled here.
    """

    def __init__(
        self,
        package: str,
        sources: dict[str, str],
        code: dict[str, CodeType],
        cache_path: str | None = None,
    ) -> None:
        self.package = package
        self.sources = sources
        self.code = code
        self.cache_path = cache_path

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        module = self._module_name(fullname)
        if module is None or module not in self.sources:
            return None
        loader: Any = self  # an importlib.abc.Loader in all but name
        spec = importlib.machinery.ModuleSpec(
            fullname, loader, origin=f"pg_jobmon/{module}.py", is_package=module == "__init__"
        )
        if module in self.code:
            spec.cached = self.cache_path
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self.get_code(module.__name__), module.__dict__)

    def get_source(self, fullname: str) -> str:
        module = self._module_name(fullname)
        if module is None:
            raise ImportError(fullname)
        return self.sources[module]

    def get_code(self, fullname: str) -> CodeType:
        module = self._module_name(fullname) or fullname
        cached = self.code.get(module)
        if cached is not None:
            return cached
        source = self.get_source(fullname)
        return compile(source, f"pg_jobmon/{module}.py", "exec", dont_inherit=True)

    def is_package(self, fullname: str) -> bool:
        return fullname == self.package

    def _module_name(self, fullname: str) -> str | None:
        if fullname == self.package:
            return "__init__"
        prefix = self.package + "."
        return fullname[len(prefix) :] if fullname.startswith(prefix) else None


def load_package(
    gd: MutableMapping[str, Any],
    version: str,
    sources: dict[str, str],
    digest: str,
    cache_path: str | None = None,
) -> None:
    """Import the package of ``version`` and keep its api module in ``gd``.

    ``cache_path`` is the code cache to try, by default the installed one.
    """
    key = GD_PREFIX + version
    if key in gd:
        return
    for other in [name for name in gd if name.startswith(GD_PREFIX)]:
        gd.pop(other).close_session()
    package = "_pg_jobmon_" + version.replace(".", "_")
    if cache_path is None:
        cache_path = installed_cache_path(version)
    code = read_code_cache(cache_path, digest)
    sys.meta_path.append(EmbeddedFinder(package, sources, code, cache_path))
    gd[key] = importlib.import_module(package + ".api")
