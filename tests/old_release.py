"""A private copy of the server's installation that also offers pg_jobmon 1.5.0.

The update tests need an extension at version 1.5.0, and CREATE EXTENSION reads its
scripts from the server's share directory. Rather than put a test's 1.5.0 script there,
the tests run a copy of the server program that finds its share directory next to itself:
PostgreSQL locates share/ and lib/ relative to where its program lies, by the same
relative paths as in the real installation. So the copy gets the real installation's
layout, with everything linked to the real files, and the share directory's extension/
folder adds tests/release_1_5_0/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import testgres

RELEASE_1_5_0 = Path(__file__).resolve().parent / "release_1_5_0"
# Copied rather than linked: a program finds its installation from its own real path,
# and pg_ctl starts the postgres that lies beside it.
COPIED_PROGRAMS = ("postgres", "pg_ctl")


def installation_with_release(root: Path, config: Mapping[str, str] | None = None) -> Path:
    """Lay out the copy under ``root``; the directory of its programs.

    ``config`` is pg_config's answer (BINDIR, SHAREDIR, PKGLIBDIR), by default the server's.
    """
    if config is None:
        config = testgres.get_pg_config()
    real = {key: Path(config[key]) for key in ("BINDIR", "SHAREDIR", "PKGLIBDIR")}
    common = Path(os.path.commonpath(list(real.values())))
    copy = {key: root / path.relative_to(common) for key, path in real.items()}

    copy["BINDIR"].mkdir(parents=True)
    for program in real["BINDIR"].iterdir():
        target = copy["BINDIR"] / program.name
        if program.name in COPIED_PROGRAMS:
            shutil.copy2(program, target)
        else:
            target.symlink_to(program)

    copy["PKGLIBDIR"].parent.mkdir(parents=True, exist_ok=True)
    copy["PKGLIBDIR"].symlink_to(real["PKGLIBDIR"])

    copy["SHAREDIR"].mkdir(parents=True)
    for entry in real["SHAREDIR"].iterdir():
        if entry.name != "extension":
            (copy["SHAREDIR"] / entry.name).symlink_to(entry)
    extensions = copy["SHAREDIR"] / "extension"
    extensions.mkdir()
    # The server's own files of 1.5.0, if a real release is installed, are left out:
    # the tests' release takes their place, and the server's files are never written.
    release = {entry.name for entry in RELEASE_1_5_0.iterdir()}
    for entry in (real["SHAREDIR"] / "extension").iterdir():
        if entry.name not in release:
            (extensions / entry.name).symlink_to(entry)
    for entry in RELEASE_1_5_0.iterdir():
        shutil.copy2(entry, extensions / entry.name)
    return copy["BINDIR"]
