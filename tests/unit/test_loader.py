"""extension/loader.py imports the embedded package as the server does, without a server.

The code cache is written by build.py and read by the loader: a cache made from these
sources by this Python supplies every module's code; any other file, or none, leaves
the loader compiling the sources, as if there were no cache.
"""

from __future__ import annotations

import importlib.util
import itertools
import marshal
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_versions = itertools.count(1)


def load_file(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


loader = load_file("pg_jobmon_loader", ROOT / "extension/loader.py")
build = load_file("pg_jobmon_build_for_loader", ROOT / "extension/build.py")


def sources() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted((ROOT / "plpython_src").glob("*.py"))}


def new_version() -> str:
    """A version no other test loaded: each load imports the package under its version."""
    return f"9.8.{next(_versions)}"


def package_name(version: str) -> str:
    return "_pg_jobmon_" + version.replace(".", "_")


def loaded_specs(version: str) -> dict[str, Any]:
    prefix = package_name(version)
    return {
        name: module.__spec__
        for name, module in sys.modules.items()
        if name == prefix or name.startswith(prefix + ".")
    }


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A code cache made by build.py from plpython_src, as `make install` makes it."""
    path = tmp_path / str(loader.cache_name("2.0.0"))
    path.write_bytes(build.code_cache(sources()))
    return path


class Closable:
    closed = False

    def close_session(self) -> None:
        self.closed = True


def test_loads_the_api_into_gd_once(tmp_path: Path) -> None:
    gd: dict[str, Any] = {}
    digest = build.sources_digest(sources())
    loader.load_package(gd, "9.9.1", sources(), digest, str(tmp_path / "none"))
    api = gd["pg_jobmon.9.9.1"]
    assert api.__name__ == "_pg_jobmon_9_9_1.api"
    assert callable(api.add_job) and api.add_job.sql_signature.startswith("add_job(")
    loader.load_package(gd, "9.9.1", sources(), digest, str(tmp_path / "none"))
    assert gd["pg_jobmon.9.9.1"] is api
    spec = sys.modules["_pg_jobmon_9_9_1.connection"].__spec__
    assert spec is not None and spec.origin == "pg_jobmon/connection.py"


def test_another_version_closes_and_replaces_the_old_one(tmp_path: Path) -> None:
    old = Closable()
    gd: dict[str, Any] = {"pg_jobmon.1.0.0": old, "unrelated": 1}
    digest = build.sources_digest(sources())
    loader.load_package(gd, "9.9.2", sources(), digest, str(tmp_path / "none"))
    assert old.closed
    assert set(gd) == {"pg_jobmon.9.9.2", "unrelated"}


def test_a_fitting_cache_supplies_every_module(cache: Path) -> None:
    version = new_version()
    gd: dict[str, Any] = {}
    loader.load_package(gd, version, sources(), build.sources_digest(sources()), str(cache))
    specs = loaded_specs(version)
    assert len(specs) == len(sources())
    assert {spec.cached for spec in specs.values()} == {str(cache)}
    assert callable(gd[f"pg_jobmon.{version}"].add_job)


def test_the_cached_code_is_the_compiled_code(cache: Path) -> None:
    code = loader.read_code_cache(str(cache), build.sources_digest(sources()))
    assert set(code) == set(sources())
    finder = loader.EmbeddedFinder("pkg", sources(), {})
    compiled = finder.get_code("pkg.jobs")
    assert marshal.dumps(code["jobs"].co_consts) == marshal.dumps(compiled.co_consts)
    assert code["jobs"].co_code == compiled.co_code
    assert code["jobs"].co_filename == compiled.co_filename == "pg_jobmon/jobs.py"


def _other_magic(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


def _other_digest(data: bytes) -> bytes:
    changed = dict(sources(), names=sources()["names"] + "\n# changed\n")
    return bytes(build.code_cache(changed))


def _flipped_byte(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1 :]


def _not_a_dict(data: bytes) -> bytes:
    payload = marshal.dumps(["not", "a", "dict"])
    return data[: 4 + loader.DIGEST_LENGTH] + zlib.crc32(payload).to_bytes(4, "little") + payload


def _not_marshal(data: bytes) -> bytes:
    payload = b"\xff" * 32
    return data[: 4 + loader.DIGEST_LENGTH] + zlib.crc32(payload).to_bytes(4, "little") + payload


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "header only": lambda data: data[: loader.HEADER_LENGTH],
    "truncated": lambda data: data[: len(data) - 100],
    "another Python": _other_magic,
    "other sources": _other_digest,
    "a flipped byte": _flipped_byte,
    "not a dict": _not_a_dict,
    "not marshal data": _not_marshal,
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_cache_that_does_not_fit_is_not_used(
    cache: Path, damage: Callable[[bytes], bytes]
) -> None:
    cache.write_bytes(damage(cache.read_bytes()))
    digest = build.sources_digest(sources())
    assert loader.read_code_cache(str(cache), digest) == {}
    version = new_version()
    gd: dict[str, Any] = {}
    loader.load_package(gd, version, sources(), digest, str(cache))
    assert callable(gd[f"pg_jobmon.{version}"].add_job)
    assert {spec.cached for spec in loaded_specs(version).values()} == {None}


def test_no_cache_or_an_unreadable_one_is_not_used(tmp_path: Path) -> None:
    digest = build.sources_digest(sources())
    assert loader.read_code_cache(None, digest) == {}
    assert loader.read_code_cache(str(tmp_path / "missing"), digest) == {}
    assert loader.read_code_cache(str(tmp_path), digest) == {}  # a directory


def test_no_installed_cache_outside_a_server() -> None:
    # This process is no postgres backend: it has no my_exec_path to start from.
    assert loader.installed_cache_path("2.0.0") is None


def test_the_digest_follows_the_sources() -> None:
    digest = build.sources_digest(sources())
    assert len(digest) == loader.DIGEST_LENGTH
    assert build.sources_digest(sources()) == digest
    assert build.sources_digest(dict(sources(), jobs="")) != digest


def test_the_script_embeds_the_digest() -> None:
    script = build.install_script("2.0.0")
    assert f"SOURCES_DIGEST = {build.sources_digest(build.package_sources())!r}" in script


def test_the_loader_imports_no_more_than_it_needs() -> None:
    """importlib.abc (and importlib.resources behind it) would cost a first call 2 ms,
    importlib.util 0.3 ms: the loader's finder is a plain class."""
    check = (
        "import sys\n"
        f"exec(compile(open({str(ROOT / 'extension/loader.py')!r}).read(), 'loader', 'exec'))\n"
        "print(sorted(m for m in ('importlib.abc', 'importlib.util') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", check], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
