"""`make dist`: the release archive holds what PGXN and users need, and builds without git.

The archive is made once, into a temporary directory, and unpacked as unzip does it
(the times and modes recorded in the zip). In the unpacked tree, `make` and `make
install DESTDIR=...` run with a PATH that has no git; the scripts they install must be
those built in the repository (when its sources are committed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTROL = ROOT / "pg_jobmon.control"
# What the repository's generated scripts are built from: while these differ from HEAD's,
# so may the scripts from those that HEAD's sources give.
BUILD_SOURCES = ("Makefile", "pg_jobmon.control", "extension", "plpython_src")
# The release needs no file that these leave out (.gitattributes export-ignore).
LEFT_OUT = (".ci/run", ".gitattributes", ".gitignore")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("git") is None,
        reason="git is not installed: make dist archives the committed tree with git archive",
    ),
    # scripts/as-postgres.sh runs the tests in a copy without .git when the cluster
    # user cannot read the tree, and an unpacked release archive has no .git either.
    pytest.mark.skipif(
        not (ROOT / ".git").exists(),
        reason=f"{ROOT} is not a git clone: make dist archives a clone's HEAD",
    ),
]


def clean_environment(path: str | None = None) -> dict[str, str]:
    """This process's environment, without the settings of a make that runs the tests."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    }
    if path is not None:
        environment["PATH"] = path
    return environment


def run(command: list[str], cwd: Path, path: str | None = None) -> str:
    """Run ``command``; its standard output, or the test fails with what it said."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=clean_environment(path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=300,
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed in {cwd} ({result.returncode}):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def git(*arguments: str) -> bytes:
    """The output of git in the repository, which may belong to another user."""
    return subprocess.run(
        ["git", "-c", f"safe.directory={ROOT}", "-C", str(ROOT), *arguments],
        env=clean_environment(),
        capture_output=True,
        check=True,
    ).stdout


def head_files() -> set[str]:
    """The files of HEAD, relative to the top of the repository."""
    return set(git("ls-tree", "-r", "-z", "--name-only", "HEAD").decode().split("\0")) - {""}


def control_version() -> str:
    for line in CONTROL.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "default_version":
            return value.strip().strip("'")
    raise AssertionError(f"{CONTROL.name} has no default_version")


def generated_files(tmp: Path, variable: str = "DATA_built") -> list[str]:
    """A list of the Makefile: DATA_built, what `make` generates and git does not hold,
    or SCRIPTS_built, the command it builds."""
    printer = tmp / f"print-{variable}.mk"
    printer.write_text(f"print-{variable}:\n\t@echo $({variable})\n")
    output = run(["make", "-s", "-f", "Makefile", "-f", str(printer), f"print-{variable}"], ROOT)
    files = output.split()
    assert files, f"{variable} is empty"
    return files


def unpack_zip(archive: Path, destination: Path) -> None:
    """Unpack as unzip does: each file with the time and unix mode the zip records."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            target = Path(zipped.extract(info, destination))
            mode = info.external_attr >> 16
            if info.create_system == 3 and mode and not info.is_dir():
                target.chmod(mode & 0o777)
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(target, (stamp, stamp))


def path_without(directory: Path, excluded: Callable[[str], bool], pg_config: Path) -> str:
    """A PATH of one directory of links to the commands of /usr/bin and /bin, less some.

    pg_config's own directory follows it unless it is one of those two.
    """
    directory.mkdir()
    for source in (Path("/usr/bin"), Path("/bin")):
        for command in sorted(source.iterdir()):
            link = directory / command.name
            if not excluded(command.name) and not link.exists() and not link.is_symlink():
                link.symlink_to(command)
    entries = [str(directory)]
    if pg_config.parent not in (Path("/usr/bin"), Path("/bin")):
        entries.append(str(pg_config.parent))
    path = os.pathsep.join(entries)
    assert shutil.which("git", path=path) is None, f"git is still on {path}"
    return path


def is_git(command: str) -> bool:
    return command == "git" or command.startswith("git-")


def is_git_or_python(command: str) -> bool:
    return is_git(command) or command.startswith("python")


@dataclass(frozen=True)
class Release:
    base: str  # the archives' top directory, pg_jobmon-VERSION
    zip_path: Path
    tar_path: Path
    tree: Path  # the zip, unpacked
    generated: list[str]  # DATA_built, relative to the top
    commands: list[str]  # SCRIPTS_built: the command pg_jobmon, built
    pg_config: Path
    top_before: list[str]  # the repository's top directory before `make dist`
    scripts_before: dict[str, int]  # the repository's generated scripts' mtimes


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """`make dist DIST_DIR=<tmp>` from the repository, and its zip unpacked."""
    tmp = tmp_path_factory.mktemp("dist")
    generated = generated_files(tmp)
    for name in generated:
        assert (ROOT / name).is_file(), f"{name} is missing in the repository: run make first"
    pg_config = shutil.which("pg_config")
    assert pg_config is not None, "pg_config is not on PATH"
    top_before = sorted(entry.name for entry in ROOT.iterdir())
    scripts_before = {name: (ROOT / name).stat().st_mtime_ns for name in generated}

    out = tmp / "out"
    run(["make", "dist", f"DIST_DIR={out}"], ROOT)
    base = f"pg_jobmon-{control_version()}"
    unpacked = tmp / "unpacked"
    unpack_zip(out / f"{base}.zip", unpacked)
    return Release(
        base=base,
        zip_path=out / f"{base}.zip",
        tar_path=out / f"{base}.tar.gz",
        tree=unpacked / base,
        generated=generated,
        commands=generated_files(tmp, "SCRIPTS_built"),
        pg_config=Path(pg_config),
        top_before=top_before,
        scripts_before=scripts_before,
    )


def zip_members(release: Release) -> dict[str, bytes]:
    with zipfile.ZipFile(release.zip_path) as zipped:
        return {info.filename: zipped.read(info) for info in zipped.infolist() if not info.is_dir()}


def tar_members(release: Release) -> dict[str, bytes]:
    members = {}
    with tarfile.open(release.tar_path) as tarred:
        for info in tarred.getmembers():
            if info.isfile():
                extracted = tarred.extractfile(info)
                assert extracted is not None
                members[info.name] = extracted.read()
    return members


def repository_matches_head() -> bool:
    """Whether the repository's build sources are HEAD's, so that `make` builds the same."""
    status = git("status", "--porcelain", "--untracked-files=all", "--", *BUILD_SOURCES)
    return status.strip() == b""


def expected_scripts(release: Release) -> dict[str, bytes]:
    """The generated scripts the release must install.

    Those of the repository, when its build sources are HEAD's; else (uncommitted work)
    the ones the archive ships, which test_make_rebuilds_the_same_scripts_with_python
    checks against HEAD's sources.
    """
    if repository_matches_head():
        return {name: (ROOT / name).read_bytes() for name in release.generated}
    warnings.warn(
        "the repository's build sources differ from HEAD: the release's scripts are "
        "compared with a rebuild from HEAD's sources, not with the repository's",
        stacklevel=2,
    )
    return {name: (release.tree / name).read_bytes() for name in release.generated}


def test_archives_are_named_for_the_version(release: Release) -> None:
    assert release.zip_path.is_file()
    assert release.tar_path.is_file()
    with zipfile.ZipFile(release.zip_path) as zipped:
        assert zipped.testzip() is None


def test_dist_writes_nothing_into_the_repository(release: Release) -> None:
    assert sorted(entry.name for entry in ROOT.iterdir()) == release.top_before
    after = {name: (ROOT / name).stat().st_mtime_ns for name in release.generated}
    assert after == release.scripts_before


def test_one_top_directory_and_no_git(release: Release) -> None:
    with zipfile.ZipFile(release.zip_path) as zipped:
        names = zipped.namelist()
    assert names
    assert all(name == release.base or name.startswith(f"{release.base}/") for name in names)
    assert not [name for name in names if ".git" in name.split("/")]


def test_archive_holds_meta_json_control_and_generated_scripts(release: Release) -> None:
    members = zip_members(release)
    for name in ("META.json", "pg_jobmon.control", "Makefile"):
        assert members[f"{release.base}/{name}"] == git("show", f"HEAD:{name}"), name
    for name in release.generated:
        assert f"{release.base}/{name}" in members, f"{name} is not in the archive"
    for name in LEFT_OUT:
        assert f"{release.base}/{name}" not in members, f"{name} should be left out"


def test_archive_holds_the_files_meta_json_names(release: Release) -> None:
    """PGXN indexes each extension's file and shows its docfile."""
    members = zip_members(release)
    meta = json.loads(members[f"{release.base}/META.json"])
    for extension in meta["provides"].values():
        for key in ("file", "docfile"):
            if key in extension:
                assert f"{release.base}/{extension[key]}" in members, extension[key]


def test_archive_holds_head_and_the_generated_scripts_only(release: Release) -> None:
    archived = {name.split("/", 1)[1] for name in zip_members(release)}
    assert archived == (head_files() - set(LEFT_OUT)) | set(release.generated) | set(
        release.commands
    )


def test_zip_and_tar_hold_the_same_files(release: Release) -> None:
    assert zip_members(release) == tar_members(release)
    with tarfile.open(release.tar_path) as tarred:
        names = tarred.getnames()
    assert all(name == release.base or name.startswith(f"{release.base}/") for name in names)


def test_generated_scripts_are_up_to_date_in_the_archive(release: Release) -> None:
    """Same time as their sources: `make` in the unpacked tree has nothing to rebuild."""
    for name in release.generated:
        assert (release.tree / name).read_bytes() == expected_scripts(release)[name]
    result = subprocess.run(
        ["make", "-q", f"PG_CONFIG={release.pg_config}", *release.generated],
        cwd=release.tree,
        env=clean_environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"make would rebuild: {result.stdout}{result.stderr}"


def test_make_and_install_without_git_nor_python(release: Release, tmp_path: Path) -> None:
    path = path_without(tmp_path / "bin", is_git_or_python, release.pg_config)
    assert shutil.which("python3", path=path) is None
    expected = expected_scripts(release)
    # python3 by name, so that only PATH can find it; without it, make install leaves
    # out the code cache (pg_jobmon--VERSION.pycache), which the server's Python writes.
    make = ["make", f"PG_CONFIG={release.pg_config}", "PYTHON=python3", "COMMAND_PYTHON=python3"]
    run(make, release.tree, path)
    for name in release.generated:
        assert (release.tree / name).read_bytes() == expected[name]

    staging = tmp_path / "staging"
    run([*make, "install", f"DESTDIR={staging}"], release.tree, path)
    sharedir = run([str(release.pg_config), "--sharedir"], ROOT).strip()
    installed = staging / sharedir.lstrip("/") / "extension"
    assert (installed / "pg_jobmon.control").read_bytes() == CONTROL.read_bytes()
    assert sorted(entry.name for entry in installed.iterdir()) == sorted(
        ["pg_jobmon.control", *(Path(name).name for name in release.generated)]
    )
    for name in release.generated:
        assert (installed / Path(name).name).read_bytes() == expected[name], name
    # The command, built by `make dist` and shipped: installed beside psql, and it runs.
    bindir = staging / run([str(release.pg_config), "--bindir"], ROOT).strip().lstrip("/")
    for name in release.commands:
        command = bindir / Path(name).name
        assert command.read_bytes() == (release.tree / name).read_bytes()
        assert os.access(command, os.X_OK)
        assert run([str(command), "--help"], tmp_path).startswith("usage: pg_jobmon")


def test_make_rebuilds_the_same_scripts_with_python(release: Release, tmp_path: Path) -> None:
    """Sources changed in the unpacked tree: make regenerates the scripts with python3."""
    tree = tmp_path / release.base
    shutil.copytree(release.tree, tree, symlinks=True)
    shipped = {name: (tree / name).read_bytes() for name in release.generated}
    for name in release.generated:
        (tree / name).unlink()
    path = path_without(tmp_path / "bin", is_git, release.pg_config)
    assert shutil.which("python3", path=path) is not None
    run(["make", f"PG_CONFIG={release.pg_config}", "PYTHON=python3"], tree, path)
    for name in release.generated:
        assert (tree / name).read_bytes() == shipped[name], name
