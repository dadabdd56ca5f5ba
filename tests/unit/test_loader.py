"""extension/loader.py imports the embedded package as the server does, without a server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def load_loader() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pg_jobmon_loader", ROOT / "extension/loader.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sources() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted((ROOT / "plpython_src").glob("*.py"))}


class Closable:
    closed = False

    def close_session(self) -> None:
        self.closed = True


def test_loads_the_api_into_gd_once() -> None:
    loader = load_loader()
    gd: dict[str, Any] = {}
    loader.load_package(gd, "9.9.1", sources())
    api = gd["pg_jobmon.9.9.1"]
    assert api.__name__ == "_pg_jobmon_9_9_1.api"
    assert callable(api.add_job) and api.add_job.sql_signature.startswith("add_job(")
    loader.load_package(gd, "9.9.1", sources())
    assert gd["pg_jobmon.9.9.1"] is api
    spec = sys.modules["_pg_jobmon_9_9_1.connection"].__spec__
    assert spec is not None and spec.origin == "pg_jobmon/connection.py"


def test_another_version_closes_and_replaces_the_old_one() -> None:
    loader = load_loader()
    old = Closable()
    gd: dict[str, Any] = {"pg_jobmon.1.0.0": old, "unrelated": 1}
    loader.load_package(gd, "9.9.2", sources())
    assert old.closed
    assert set(gd) == {"pg_jobmon.9.9.2", "unrelated"}
