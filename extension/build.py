#!/usr/bin/env python3
"""Write pg_jobmon's install and update scripts from extension/ and plpython_src/.

The install script holds, in order: the objects of extension/objects/ numbered below 500
(tables, sequences, shipped rows), the ``_load_package()`` function that embeds
plpython_src/, one thin plpython3u wrapper per entry point of plpython_src/api.py, the
functions of extension/functions/ (after the wrappers, because the body of a LANGUAGE sql
function is checked against the functions it calls), and the objects numbered 500 and up
(triggers and privileges, which name functions).

An update script from version OLD holds the steps of extension/updates/OLD--NEW/ numbered
below 900 (what changes in the tables, and the old code that goes), the same functions as
the install script, the same objects numbered 500 and up, and the steps numbered 900 and
up. Before the steps, it lists the functions that the new version defines, by name and
argument types, in the setting pg_jobmon.update_functions (for this transaction only): an
old function that is not among them is dropped, one that is gets replaced in place.

Same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import marshal
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "extension"
PACKAGE = ROOT / "plpython_src"
CONTROL = ROOT / "pg_jobmon.control"
LOADER = EXTENSION / "loader.py"

PYTHON_TAG = "$python$"
FIRST_LATE_OBJECT = 500
FIRST_FINAL_UPDATE_STEP = 900
UPDATE_FUNCTIONS_SETTING = "pg_jobmon.update_functions"
CODE_CACHE_FORMAT = 1
FUNCTION_OPTIONS = "SET search_path = pg_catalog, pg_temp"
# The log calls themselves run under the caller's search_path: a SET clause would cost
# each call a save and restore of the setting (about 5 us, a quarter of what pg_jobmon
# adds to a log call). They resolve no name through it: every query they make on the
# caller's side names its functions, operators and types with their schema.


class BuildError(Exception):
    """A source that cannot go into the script as it is."""


@dataclass(frozen=True)
class SqlArgument:
    name: str
    type: str
    default: str | None


@dataclass(frozen=True)
class EntryPoint:
    """A function of api.py decorated with @sql_function."""

    python_name: str
    sql_name: str
    arguments: tuple[SqlArgument, ...]
    returns: str
    security_definer: bool


def control_version() -> str:
    match = re.search(r"^default_version\s*=\s*'([^']+)'", CONTROL.read_text(), re.M)
    if match is None:
        raise BuildError(f"{CONTROL.name} has no default_version")
    return match.group(1)


def parse_signature(signature: str) -> tuple[str, tuple[SqlArgument, ...], str]:
    """Split ``name(arg type [DEFAULT x], ...) RETURNS type``."""
    match = re.fullmatch(r"(\w+)\((.*)\)\s+RETURNS\s+(.+)", signature.strip(), re.S)
    if match is None:
        raise BuildError(f"not a signature: {signature!r}")
    name, argument_list, returns = match.groups()
    arguments = []
    for text in filter(None, (part.strip() for part in argument_list.split(","))):
        declaration, _, default = text.partition(" DEFAULT ")
        arg_name, _, arg_type = declaration.partition(" ")
        arguments.append(SqlArgument(arg_name, arg_type.strip(), default.strip() or None))
    return name, tuple(arguments), returns.strip()


def entry_points(api_source: str) -> list[EntryPoint]:
    """The @sql_function entry points of api.py, read without importing it."""
    found = []
    for node in ast.parse(api_source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Name)
                and decorator.func.id == "sql_function"
            ):
                continue
            signature = ast.literal_eval(decorator.args[0])
            options = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
            sql_name, arguments, returns = parse_signature(signature)
            python_args = [a.arg for a in node.args.args[1:]]
            if python_args != [a.name for a in arguments]:
                raise BuildError(
                    f"api.{node.name}: Python arguments {python_args} do not match "
                    f"the SQL arguments of {signature!r}"
                )
            found.append(
                EntryPoint(
                    node.name,
                    sql_name,
                    arguments,
                    returns,
                    bool(options.get("security_definer", False)),
                )
            )
    return found


def package_sources() -> dict[str, str]:
    """plpython_src's modules by name (``__init__`` for the package itself)."""
    return {path.stem: python_source(path) for path in sorted(PACKAGE.glob("*.py"))}


def python_source(path: Path) -> str:
    """A Python file that goes into a function body quoted with PYTHON_TAG."""
    text = path.read_text()
    if PYTHON_TAG in text:
        raise BuildError(f"{path} contains the dollar-quote tag {PYTHON_TAG}")
    return text


def loader_code() -> str:
    """loader.py as a function body, where a __future__ import is not allowed."""
    return python_source(LOADER).replace("from __future__ import annotations\n", "")


def gd_key(version: str) -> str:
    return f"pg_jobmon.{version}"


def sources_digest(sources: dict[str, str]) -> str:
    """SHA-256 of the embedded sources, the code cache's key beside the Python's magic number.

    Computed here and embedded, so that no backend hashes anything; the format's number
    goes in, so that a new layout of the cache never reads an old one.
    """
    digest = hashlib.sha256(f"pg_jobmon code cache {CODE_CACHE_FORMAT}\0".encode())
    for name, text in sorted(sources.items()):
        digest.update(f"{name}\0{text}\0".encode())
    return digest.hexdigest()


def code_cache(sources: dict[str, str]) -> bytes:
    """The code cache that loader.read_code_cache() reads, compiled by this Python.

    Each module is compiled as the loader would compile it (same file name, no inherited
    flags). marshal's output may differ between runs in its reference flags: harmless,
    since the file is only ever read back whole.
    """
    code = {
        name: compile(text, f"pg_jobmon/{name}.py", "exec", dont_inherit=True)
        for name, text in sorted(sources.items())
    }
    payload = marshal.dumps(code)
    return (
        importlib.util.MAGIC_NUMBER
        + sources_digest(sources).encode("ascii")
        + zlib.crc32(payload).to_bytes(4, "little")
        + payload
    )


def loader_function(version: str, sources: dict[str, str]) -> str:
    embedded = "".join(f"    {name!r}: {text!r},\n" for name, text in sources.items())
    body = (
        f"{loader_code()}\n\nSOURCES = {{\n{embedded}}}\n"
        f"SOURCES_DIGEST = {sources_digest(sources)!r}\n\n"
        f"load_package(GD, {version!r}, SOURCES, SOURCES_DIGEST)\n"
    )
    return (
        "-- _load_package(): imports the embedded plpython_src once per backend, into GD.\n"
        "CREATE OR REPLACE FUNCTION @extschema@._load_package()\n"
        "    RETURNS void\n"
        "    LANGUAGE plpython3u\n"
        f"    {FUNCTION_OPTIONS}\n"
        f"AS {PYTHON_TAG}\n{body}{PYTHON_TAG};\n"
        "REVOKE ALL ON FUNCTION @extschema@._load_package() FROM PUBLIC;\n"
    )


def wrapper_function(entry: EntryPoint, version: str) -> str:
    key = gd_key(version)
    declared = ", ".join(
        f"{a.name} {a.type}" + (f" DEFAULT {a.default}" if a.default else "")
        for a in entry.arguments
    )
    types = ", ".join(a.type for a in entry.arguments)
    call_args = "".join(f", {a.name}" for a in entry.arguments)
    # SECURITY DEFINER code must never run under the caller's search_path.
    security = f"    SECURITY DEFINER\n    {FUNCTION_OPTIONS}\n" if entry.security_definer else ""
    # The schema goes in a triple-quoted string: @extschema@ may be a quoted identifier.
    body = (
        f"api = GD.get({key!r})\n"
        "if api is None:\n"
        "    plpy.execute('''SELECT @extschema@._load_package()''')\n"
        f"    api = GD[{key!r}]\n"
        f"return api.{entry.python_name}(plpy{call_args})\n"
    )
    return (
        f"CREATE OR REPLACE FUNCTION @extschema@.{entry.sql_name}({declared})\n"
        f"    RETURNS {entry.returns}\n"
        "    LANGUAGE plpython3u\n"
        f"{security}"
        f"AS {PYTHON_TAG}\n{body}{PYTHON_TAG};\n"
        f"REVOKE ALL ON FUNCTION @extschema@.{entry.sql_name}({types}) FROM PUBLIC;\n"
    )


def sql_files(folder: str) -> list[Path]:
    return sorted((EXTENSION / folder).glob("*.sql"))


def object_number(path: Path) -> int:
    match = re.match(r"(\d+)_", path.name)
    if match is None:
        raise BuildError(f"{path.parent.name}/{path.name} does not start with its number")
    return int(match.group(1))


def sql_function_identities(source: str) -> list[str]:
    """``name(type, ...)`` of each function that ``source`` creates, IN arguments only.

    Arguments are written ``name type [DEFAULT x]``, or, unnamed, ``type [DEFAULT x]``
    with a one-word type; OUT arguments are not part of a function's identity.
    """
    identities = []
    for match in re.finditer(r"CREATE OR REPLACE FUNCTION @extschema@\.(\w+)\(", source):
        closing = source.find(")", match.end())
        if closing < 0:
            raise BuildError(f"unclosed argument list of {match.group(1)}")
        types = []
        for argument in filter(None, (a.strip() for a in source[match.end() : closing].split(","))):
            words = argument.split(" DEFAULT ")[0].split()
            if words[0] == "OUT":
                continue
            types.append(" ".join(words[1:]) if len(words) > 1 else words[0])
        identities.append(f"{match.group(1)}({', '.join(types)})")
    return identities


def function_identities(version: str) -> list[str]:
    """``name(type, ...)`` of every function that functions_part() creates."""
    identities = []
    for _, text in functions_part(version):
        identities += sql_function_identities(text)
    return identities


def functions_part(version: str) -> list[tuple[str, str]]:
    """Every function, as (source, text): rerunnable, so update scripts repeat it."""
    parts = [("plpython_src/ (embedded)", loader_function(version, package_sources()))]
    for entry in entry_points((PACKAGE / "api.py").read_text()):
        parts.append(
            (f"plpython_src/api.py: {entry.python_name}", wrapper_function(entry, version))
        )
    parts += [(f"extension/functions/{p.name}", p.read_text()) for p in sql_files("functions")]
    return parts


def source_parts(paths: list[Path]) -> list[tuple[str, str]]:
    return [(str(p.relative_to(ROOT)), p.read_text()) for p in paths]


def late_objects() -> list[Path]:
    return [p for p in sql_files("objects") if object_number(p) >= FIRST_LATE_OBJECT]


def install_script(version: str) -> str:
    early = [p for p in sql_files("objects") if object_number(p) < FIRST_LATE_OBJECT]
    parts = source_parts(early) + functions_part(version) + source_parts(late_objects())
    guard = "CREATE EXTENSION pg_jobmon"
    return assemble(f"pg_jobmon--{version}.sql", guard, parts)


def update_functions_statement(version: str) -> str:
    identities = function_identities(version)
    for identity in identities:
        if not re.fullmatch(r"\w+\([\w, ]*\)", identity):
            raise BuildError(f"unexpected function identity {identity!r}")
    return (
        f"-- The functions of {version}, for the steps that follow: an old function that is\n"
        "-- not among them goes, one that is gets replaced in place.\n"
        f"SELECT pg_catalog.set_config(\n    '{UPDATE_FUNCTIONS_SETTING}',\n"
        + "\n".join(f"    '{identity};'" for identity in identities)
        + "\n    '',\n    true\n);\n"
    )


def update_script(old_version: str, version: str) -> str:
    folder = f"{old_version}--{version}"
    steps = sql_files(f"updates/{folder}")
    if not steps:
        raise BuildError(f"no update steps in extension/updates/{folder}/")
    first = [p for p in steps if object_number(p) < FIRST_FINAL_UPDATE_STEP]
    final = [p for p in steps if object_number(p) >= FIRST_FINAL_UPDATE_STEP]
    parts = [("extension/build.py", update_functions_statement(version))]
    parts += source_parts(first) + functions_part(version) + source_parts(late_objects())
    parts += source_parts(final)
    guard = f"ALTER EXTENSION pg_jobmon UPDATE TO '{version}'"
    return assemble(f"pg_jobmon--{folder}.sql", guard, parts)


def assemble(script_name: str, guard: str, parts: list[tuple[str, str]]) -> str:
    header = (
        f"-- {script_name}: generated by extension/build.py from extension/objects/,\n"
        "-- extension/functions/, extension/updates/ and plpython_src/. Do not edit: edit\n"
        "-- those and run make.\n\n"
        f'\\echo Use "{guard}" to load this file. \\quit\n'
    )
    body = "".join(f"\n-- source: {source}\n{text.rstrip()}\n" for source, text in parts)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-from", metavar="OLD", help="the update script from OLD")
    parser.add_argument(
        "--code-cache",
        action="store_true",
        help="write the embedded modules' code cache, compiled by this Python",
    )
    parser.add_argument(
        "--output", type=Path, help="default: extension/<script name>, build/<code cache name>"
    )
    args = parser.parse_args(argv)
    version = control_version()
    if args.code_cache:
        output = args.output or ROOT / "build" / f"pg_jobmon--{version}.pycache"
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(code_cache(package_sources()))
        return 0
    try:
        if args.update_from:
            name = f"pg_jobmon--{args.update_from}--{version}.sql"
            script = update_script(args.update_from, version)
        else:
            name = f"pg_jobmon--{version}.sql"
            script = install_script(version)
    except BuildError as error:
        print(f"build.py: {error}", file=sys.stderr)
        return 1
    (args.output or EXTENSION / name).write_text(script)
    return 0


if __name__ == "__main__":
    sys.exit(main())
