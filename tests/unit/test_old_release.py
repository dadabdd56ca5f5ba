"""The private installation of the update tests, laid out over a server that already has
a real pg_jobmon 1.5.0 in its extension directory: the server's files are left alone."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from old_release import RELEASE_1_5_0, installation_with_release  # noqa: E402

REAL_RELEASE = "-- the real 1.5.0 install script\n"


def fake_server(root: Path) -> dict[str, str]:
    """A server installation whose extension directory holds 1.5.0's files, read-only."""
    bindir, sharedir, pkglibdir = (root / "bin", root / "share", root / "lib")
    for directory in (bindir, sharedir / "extension", pkglibdir):
        directory.mkdir(parents=True)
    for program in ("postgres", "pg_ctl", "psql"):
        (bindir / program).write_text("#!/bin/sh\n")
    extension = sharedir / "extension"
    (extension / "pg_jobmon--1.5.0.sql").write_text(REAL_RELEASE)
    (extension / "pg_jobmon--1.4.1--1.5.0.sql").write_text("-- an older update\n")
    (extension / "pg_jobmon.control").write_text("default_version = '2.0.0'\n")
    for entry in extension.iterdir():
        entry.chmod(0o444)
    extension.chmod(0o555)
    return {"BINDIR": str(bindir), "SHAREDIR": str(sharedir), "PKGLIBDIR": str(pkglibdir)}


def test_a_real_1_5_0_on_the_server_is_neither_used_nor_written(tmp_path: Path) -> None:
    config = fake_server(tmp_path / "server")
    bindir = installation_with_release(tmp_path / "copy", config)
    extension = bindir.parent / "share" / "extension"
    for entry in RELEASE_1_5_0.iterdir():
        copied = extension / entry.name
        assert not copied.is_symlink()
        assert copied.read_bytes() == entry.read_bytes()
    # Everything else of the server's is there, as links to its files.
    assert (extension / "pg_jobmon.control").resolve() == (
        Path(config["SHAREDIR"]) / "extension" / "pg_jobmon.control"
    )
    assert (Path(config["SHAREDIR"]) / "extension" / "pg_jobmon--1.5.0.sql").read_text() == (
        REAL_RELEASE
    )
