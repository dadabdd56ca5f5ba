"""META.json: valid PGXN metadata (PGXN Meta Spec 1.0), and true to the project.

PGXN reads META.json from the release archive (`make dist`) to index the distribution.
``spec_errors`` holds the rules of the spec (https://pgxn.org/spec/): the required keys
and the type of every key it defines, with custom keys (``x_`` or ``X_``) allowed where
it allows them and no other unknown key.
"""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
META = ROOT / "META.json"
CONTROL = ROOT / "pg_jobmon.control"
PYPROJECT = ROOT / "pyproject.toml"

META_SPEC_URL = "https://pgxn.org/meta/spec.txt"

# The License Strings the spec lists, valid alone or in a list.
LICENSE_STRINGS = frozenset(
    {
        "agpl_3",
        "apache_1_1",
        "apache_2_0",
        "artistic_1",
        "artistic_2",
        "bsd",
        "freebsd",
        "gfdl_1_2",
        "gfdl_1_3",
        "gpl_1",
        "gpl_2",
        "gpl_3",
        "lgpl_2_1",
        "lgpl_3_0",
        "mit",
        "mozilla_1_0",
        "mozilla_1_1",
        "openssl",
        "perl_5",
        "postgresql",
        "qpl_1_0",
        "ssleay",
        "sun",
        "zlib",
        "open_source",
        "restricted",
        "unrestricted",
        "unknown",
    }
)
PHASES = frozenset({"configure", "build", "test", "runtime", "develop"})
RELATIONSHIPS = frozenset({"requires", "recommends", "suggests", "conflicts"})
RELEASE_STATUSES = frozenset({"stable", "testing", "unstable"})
REQUIRED_KEYS = ("name", "abstract", "version", "maintainer", "license", "provides", "meta-spec")

# Semantic Versioning 2.0.0: MAJOR.MINOR.PATCH, no leading zeros, then an optional
# pre-release (-alpha.1) and optional build metadata (+build.5).
_IDENTIFIER = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
SEMVER = re.compile(
    r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
    rf"(?:-{_IDENTIFIER}(?:\.{_IDENTIFIER})*)?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
RANGE_CLAUSE = re.compile(r"(?:(?:<=|>=|==|!=|<|>)\s*)?(?P<version>\S+)")
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
CUSTOM_KEY = re.compile(r"[xX]_")

Problems = list[str]


def is_custom(key: str) -> bool:
    return CUSTOM_KEY.match(key) is not None


def has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def string_errors(where: str, value: object) -> Problems:
    if not isinstance(value, str) or not value:
        return [f"{where}: not a non-empty string: {value!r}"]
    return []


def term_errors(where: str, value: object) -> Problems:
    """A Term: two characters or more; no slash, backslash, control or space character."""
    if not isinstance(value, str) or len(value) < 2:
        return [f"{where}: not a term of two characters or more: {value!r}"]
    if any(char in "/\\" or char.isspace() for char in value) or has_control_characters(value):
        return [f"{where}: a term has no slash, backslash, control or space: {value!r}"]
    return []


def tag_errors(where: str, value: object) -> Problems:
    """A Tag: a string of fewer than 256 characters; no slash, backslash or control."""
    if not isinstance(value, str) or not value or len(value) >= 256:
        return [f"{where}: not a tag of 1 to 255 characters: {value!r}"]
    if "/" in value or "\\" in value or has_control_characters(value):
        return [f"{where}: a tag has no slash, backslash or control character: {value!r}"]
    return []


def uri_errors(where: str, value: object) -> Problems:
    if not isinstance(value, str) or URI.fullmatch(value) is None:
        return [f"{where}: not a URI: {value!r}"]
    return []


def path_errors(where: str, value: object) -> Problems:
    """A path relative to the top of the distribution, in unix form."""
    if not isinstance(value, str) or not value:
        return [f"{where}: not a path: {value!r}"]
    if value.startswith("/") or "\\" in value or ".." in value.split("/"):
        return [f"{where}: not a relative unix path inside the distribution: {value!r}"]
    return []


def version_errors(where: str, value: object) -> Problems:
    if not isinstance(value, str) or SEMVER.fullmatch(value) is None:
        return [f"{where}: not a semantic version: {value!r}"]
    return []


def version_range_errors(where: str, value: object) -> Problems:
    """0 (any version), a version (at least it), or operator clauses joined by commas."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return []
    if isinstance(value, str):
        clauses = [clause.strip() for clause in value.split(",")]
        if value.strip() == "0" or all(
            (found := RANGE_CLAUSE.fullmatch(clause)) and SEMVER.fullmatch(found["version"])
            for clause in clauses
        ):
            return []
    return [f"{where}: not a version range: {value!r}"]


def list_errors(
    where: str, value: object, item_errors: Callable[[str, object], Problems], min_items: int
) -> Problems:
    """A List; the spec has a lone string count as a List of one."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) < min_items:
        return [f"{where}: not a list of {min_items} or more items: {value!r}"]
    return [
        error
        for index, item in enumerate(items)
        for error in item_errors(f"{where}[{index}]", item)
    ]


def map_errors(
    where: str,
    value: object,
    known: dict[str, Callable[[str, object], Problems]],
    required: tuple[str, ...] = (),
) -> Problems:
    """A Map whose keys are ``known`` or custom, each value checked by its rule."""
    if not isinstance(value, dict):
        return [f"{where}: not a map: {value!r}"]
    problems = [f"{where}: required key {key!r} is missing" for key in required if key not in value]
    for key, item in value.items():
        if key in known:
            problems += known[key](f"{where}.{key}", item)
        elif not is_custom(key):
            problems.append(f"{where}: unknown key {key!r} (custom keys start with x_ or X_)")
    return problems


def license_errors(where: str, value: object) -> Problems:
    """A map of license names to URIs, or License Strings alone or in a list."""
    if isinstance(value, dict):
        if not value:
            return [f"{where}: no license"]
        problems: Problems = []
        for name, uri in value.items():
            problems += string_errors(f"{where} name", name) + uri_errors(f"{where}.{name}", uri)
        return problems

    def license_string_errors(item_where: str, item: object) -> Problems:
        if item not in LICENSE_STRINGS:
            return [f"{item_where}: not one of the spec's license strings: {item!r}"]
        return []

    return list_errors(where, value, license_string_errors, 1)


def provides_errors(where: str, value: object) -> Problems:
    if not isinstance(value, dict) or not value:
        return [f"{where}: not a map of one extension or more: {value!r}"]
    problems: Problems = []
    for name, extension in value.items():
        problems += term_errors(f"{where} key", name)
        problems += map_errors(
            f"{where}.{name}",
            extension,
            {
                "file": path_errors,
                "version": version_errors,
                "abstract": string_errors,
                "docfile": path_errors,
            },
            required=("file", "version"),
        )
    return problems


def meta_spec_errors(where: str, value: object) -> Problems:
    def spec_version_errors(item_where: str, item: object) -> Problems:
        if not isinstance(item, str) or re.fullmatch(r"1\.0\.[0-9]+", item) is None:
            return [f"{item_where}: a spec version 1.0.x is checked here, not {item!r}"]
        return []

    return map_errors(
        where, value, {"version": spec_version_errors, "url": uri_errors}, required=("version",)
    )


def no_index_errors(where: str, value: object) -> Problems:
    def paths(item_where: str, item: object) -> Problems:
        return list_errors(item_where, item, path_errors, 0)

    return map_errors(where, value, {"file": paths, "directory": paths})


def prereqs_errors(where: str, value: object) -> Problems:
    """Phases, of relationships, of extension names (Terms) to version ranges."""

    def relation_errors(relation_where: str, relation: object) -> Problems:
        if not isinstance(relation, dict):
            return [f"{relation_where}: not a map of extensions to versions: {relation!r}"]
        problems: Problems = []
        for name, versions in relation.items():
            problems += term_errors(f"{relation_where} key", name)
            problems += version_range_errors(f"{relation_where}.{name}", versions)
        return problems

    def phase_errors(phase_where: str, phase: object) -> Problems:
        if not isinstance(phase, dict):
            return [f"{phase_where}: not a map of relationships: {phase!r}"]
        problems: Problems = []
        for relationship, relation in phase.items():
            if relationship in RELATIONSHIPS:
                problems += relation_errors(f"{phase_where}.{relationship}", relation)
            elif not is_custom(relationship):
                problems.append(f"{phase_where}: unknown relationship {relationship!r}")
        return problems

    if not isinstance(value, dict):
        return [f"{where}: not a map of phases: {value!r}"]
    problems: Problems = []
    for phase_name, phase in value.items():
        if phase_name in PHASES:
            problems += phase_errors(f"{where}.{phase_name}", phase)
        elif not is_custom(phase_name):
            problems.append(f"{where}: unknown phase {phase_name!r}")
    return problems


def release_status_errors(where: str, value: object) -> Problems:
    if value not in RELEASE_STATUSES:
        return [f"{where}: not one of {sorted(RELEASE_STATUSES)}: {value!r}"]
    return []


def resources_errors(where: str, value: object) -> Problems:
    def mailto_errors(item_where: str, item: object) -> Problems:
        if not isinstance(item, str) or re.fullmatch(r"[^@\s]+@[^@\s]+", item) is None:
            return [f"{item_where}: not an email address: {item!r}"]
        return []

    def vcs_type_errors(item_where: str, item: object) -> Problems:
        if not isinstance(item, str) or not item or item != item.lower():
            return [f"{item_where}: not a lowercase VCS name: {item!r}"]
        return []

    def bugtracker(item_where: str, item: object) -> Problems:
        return map_errors(item_where, item, {"web": uri_errors, "mailto": mailto_errors})

    def repository(item_where: str, item: object) -> Problems:
        known = {"url": uri_errors, "web": uri_errors, "type": vcs_type_errors}
        return map_errors(item_where, item, known)

    known = {"homepage": uri_errors, "bugtracker": bugtracker, "repository": repository}
    return map_errors(where, value, known)


def tags_errors(where: str, value: object) -> Problems:
    return list_errors(where, value, tag_errors, 0)


def maintainer_errors(where: str, value: object) -> Problems:
    return list_errors(where, value, string_errors, 1)


TOP_LEVEL: dict[str, Callable[[str, object], Problems]] = {
    "name": term_errors,
    "abstract": string_errors,
    "version": version_errors,
    "maintainer": maintainer_errors,
    "license": license_errors,
    "provides": provides_errors,
    "meta-spec": meta_spec_errors,
    "description": string_errors,
    "generated_by": string_errors,
    "tags": tags_errors,
    "no_index": no_index_errors,
    "prereqs": prereqs_errors,
    "release_status": release_status_errors,
    "resources": resources_errors,
}


def spec_errors(meta: object) -> Problems:
    """What in ``meta`` breaks the PGXN Meta Spec 1.0; empty when nothing does."""
    return map_errors("META", meta, TOP_LEVEL, required=REQUIRED_KEYS)


def load_meta() -> dict[str, Any]:
    meta = json.loads(META.read_text(encoding="utf-8"))
    assert isinstance(meta, dict), "META.json does not hold a JSON object"
    return meta


def control_settings() -> dict[str, str]:
    """The ``key = 'value'`` lines of pg_jobmon.control."""
    return dict(re.findall(r"^(\w+)\s*=\s*'([^']*)'", CONTROL.read_text(), re.M))


# --- META.json against the spec ------------------------------------------------------


def test_meta_json_follows_the_spec() -> None:
    assert spec_errors(load_meta()) == []


def test_meta_spec_is_version_1_0_0() -> None:
    assert load_meta()["meta-spec"] == {"version": "1.0.0", "url": META_SPEC_URL}


def replaced(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(meta: dict[str, Any]) -> None:
        parent = meta
        for key in path[:-1]:
            parent = parent.setdefault(key, {})
        parent[path[-1]] = value

    return change


def removed(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def change(meta: dict[str, Any]) -> None:
        parent = meta
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]

    return change


EXT = ("provides", "pg_jobmon")
RUNTIME = ("prereqs", "runtime", "requires")

BROKEN = {
    "no name": (removed(("name",)), "required key 'name'"),
    "no abstract": (removed(("abstract",)), "required key 'abstract'"),
    "no version": (removed(("version",)), "required key 'version'"),
    "no maintainer": (removed(("maintainer",)), "required key 'maintainer'"),
    "no license": (removed(("license",)), "required key 'license'"),
    "no provides": (removed(("provides",)), "required key 'provides'"),
    "no meta-spec": (removed(("meta-spec",)), "required key 'meta-spec'"),
    "empty abstract": (replaced(("abstract",), ""), "META.abstract: not a non-empty"),
    "name with a space": (replaced(("name",), "pg jobmon"), "META.name: a term"),
    "one-letter name": (replaced(("name",), "p"), "META.name: not a term"),
    "two-part version": (replaced(("version",), "2.0"), "META.version: not a semantic"),
    "v-prefixed version": (replaced(("version",), "v2.0.0"), "META.version: not a semantic"),
    "leading zero": (replaced(("version",), "2.00.0"), "META.version: not a semantic"),
    "numeric version": (replaced(("version",), 2), "META.version: not a semantic"),
    "no maintainers": (replaced(("maintainer",), []), "META.maintainer: not a list"),
    "unknown license": (replaced(("license",), "postgres"), "not one of the spec's license"),
    "bad license in list": (
        replaced(("license",), ["postgresql", "gplv2"]),
        "META.license[1]: not one of",
    ),
    "license map without URI": (
        replaced(("license",), {"PostgreSQL": "the PostgreSQL licence"}),
        "META.license.PostgreSQL: not a URI",
    ),
    "provides nothing": (replaced(("provides",), {}), "META.provides: not a map of one"),
    "extension without file": (removed((*EXT, "file")), "required key 'file'"),
    "extension without version": (removed((*EXT, "version")), "required key 'version'"),
    "extension version": (replaced((*EXT, "version"), "2.0.0.1"), "not a semantic version"),
    "absolute file": (replaced((*EXT, "file"), "/usr/share/x.sql"), "not a relative unix"),
    "file outside": (replaced((*EXT, "docfile"), "../x.md"), "not a relative unix"),
    "windows path": (replaced((*EXT, "file"), "extension\\x.sql"), "not a relative unix"),
    "unknown extension key": (replaced((*EXT, "docs"), "x.md"), "unknown key 'docs'"),
    "meta-spec 2": (replaced(("meta-spec", "version"), "2.0.0"), "a spec version 1.0.x"),
    "meta-spec as string": (replaced(("meta-spec",), "1.0.0"), "META.meta-spec: not a map"),
    "meta-spec url": (replaced(("meta-spec", "url"), "spec.txt"), "not a URI"),
    "unknown phase": (replaced(("prereqs", "install"), {}), "unknown phase 'install'"),
    "unknown relationship": (
        replaced(("prereqs", "runtime", "needs"), {}),
        "unknown relationship 'needs'",
    ),
    "word as range": (replaced((*RUNTIME, "PostgreSQL"), "latest"), "not a version range"),
    "number as range": (replaced((*RUNTIME, "plpython3u"), 1), "not a version range"),
    "bad range clause": (
        replaced((*RUNTIME, "PostgreSQL"), ">= 15.0.0, =< 18.0.0"),
        "not a version range",
    ),
    "prereq list": (replaced(RUNTIME, ["plpython3u"]), "not a map of extensions"),
    "release status": (replaced(("release_status",), "beta"), "META.release_status"),
    "tag with slash": (replaced(("tags",), ["jobs/logging"]), "META.tags[0]: a tag has no"),
    "long tag": (replaced(("tags",), ["x" * 256]), "META.tags[0]: not a tag"),
    "homepage": (replaced(("resources", "homepage"), "pgxn.org"), "not a URI"),
    "vcs type": (replaced(("resources", "repository", "type"), "Git"), "lowercase VCS"),
    "unknown resource": (replaced(("resources", "wiki"), "https://x.org/"), "unknown key 'wiki'"),
    "unknown top-level key": (replaced(("keywords",), ["jobs"]), "unknown key 'keywords'"),
    "x without underscore": (replaced(("xfoo",), 1), "unknown key 'xfoo'"),
}


@pytest.mark.parametrize(("change", "expected"), BROKEN.values(), ids=BROKEN.keys())
def test_each_rule_of_the_spec_catches_its_breach(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    meta = copy.deepcopy(load_meta())
    change(meta)
    problems = spec_errors(meta)
    assert any(expected in problem for problem in problems), problems


ALSO_VALID = {
    "custom keys": replaced(("x_release_notes",), {"any": ["thing"]}),
    "upper-case custom key": replaced(("X_notes",), "text"),
    "custom key in an extension": replaced((*EXT, "x_schema"), "jobmon"),
    "custom phase": replaced(("prereqs", "x_bench"), {"anything": "goes"}),
    "license map": replaced(
        ("license",), {"PostgreSQL": "https://www.postgresql.org/about/licence"}
    ),
    "license list": replaced(("license",), ["postgresql", "mit"]),
    "maintainer string": replaced(("maintainer",), "pg_jobmon developers"),
    "pre-release version": replaced(("version",), "2.0.0-beta.1"),
    "build metadata": replaced((*EXT, "version"), "2.0.0+20250101"),
    "range clauses": replaced((*RUNTIME, "PostgreSQL"), ">= 15.0.0, != 15.1.0, < 19.0.0"),
    "range any": replaced((*RUNTIME, "PostgreSQL"), "0"),
    "other phases": replaced(("prereqs", "test", "recommends"), {"pgtap": "1.0.0"}),
    "resources": replaced(
        ("resources",),
        {
            "homepage": "https://example.org/",
            "bugtracker": {"web": "https://example.org/issues", "mailto": "bugs@example.org"},
            "repository": {"url": "git://example.org/x.git", "type": "git"},
            "x_chat": "https://example.org/chat",
        },
    ),
    "no_index": replaced(("no_index",), {"file": ["bench/results.png"], "directory": "bench"}),
}


@pytest.mark.parametrize("change", ALSO_VALID.values(), ids=ALSO_VALID.keys())
def test_what_the_spec_allows_passes(change: Callable[[dict[str, Any]], None]) -> None:
    meta = copy.deepcopy(load_meta())
    change(meta)
    assert spec_errors(meta) == []


# --- META.json against the project ---------------------------------------------------


def test_versions_agree_with_the_control_file_and_pyproject() -> None:
    meta = load_meta()
    version = control_settings()["default_version"]
    assert meta["version"] == version
    assert meta["provides"]["pg_jobmon"]["version"] == version
    pyproject = re.search(r'^version = "([^"]+)"', PYPROJECT.read_text(), re.M)
    assert pyproject is not None and pyproject.group(1) == version


def test_provides_the_extension_of_the_control_file() -> None:
    meta = load_meta()
    assert meta["name"] == CONTROL.stem
    assert list(meta["provides"]) == [CONTROL.stem]


def test_provided_file_is_the_install_script_of_the_default_version() -> None:
    """The script CREATE EXTENSION runs; generated by `make` (extension/build.py)."""
    extension = load_meta()["provides"]["pg_jobmon"]
    version = control_settings()["default_version"]
    assert extension["file"] == f"extension/pg_jobmon--{version}.sql"
    assert (ROOT / extension["file"]).is_file(), f"{extension['file']} is missing: run make"


def test_docfile_exists() -> None:
    docfile = load_meta()["provides"]["pg_jobmon"]["docfile"]
    assert (ROOT / docfile).is_file(), f"{docfile} is missing"


def test_runtime_prereqs_hold_what_the_control_file_requires() -> None:
    requires = load_meta()["prereqs"]["runtime"]["requires"]
    needed = [name.strip() for name in control_settings().get("requires", "").split(",")]
    assert "PostgreSQL" in requires
    for extension in filter(None, needed):
        assert extension in requires, f"the control file requires {extension}"


def test_license_is_the_postgresql_license() -> None:
    assert load_meta()["license"] == "postgresql"
    assert 'license = { text = "PostgreSQL" }' in PYPROJECT.read_text()
