#!/usr/bin/env python3
"""Write pg_jobmon's install script from extension/ and plpython_src/.

The script holds, in order: the objects of extension/objects/ numbered below 500
(tables, sequences, shipped rows), the ``_load_package()`` function that embeds
plpython_src/, one thin plpython3u wrapper per entry point of plpython_src/api.py, the
functions of extension/functions/ (after the wrappers, because the body of a LANGUAGE sql
function is checked against the functions it calls), and the objects numbered 500 and up
(triggers and privileges, which name functions). Same inputs, same bytes.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = ROOT / "extension"
PACKAGE = ROOT / "plpython_src"
CONTROL = ROOT / "pg_jobmon.control"
LOADER = EXTENSION / "loader.py"

PYTHON_TAG = "$python$"
FIRST_LATE_OBJECT = 500
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


def loader_function(version: str, sources: dict[str, str]) -> str:
    embedded = "".join(f"    {name!r}: {text!r},\n" for name, text in sources.items())
    body = (
        f"{loader_code()}\n\nSOURCES = {{\n{embedded}}}\n\nload_package(GD, {version!r}, SOURCES)\n"
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
        raise BuildError(f"objects/{path.name} does not start with its number")
    return int(match.group(1))


def functions_part(version: str) -> list[tuple[str, str]]:
    """Every function, as (source, text): rerunnable, so update scripts repeat it."""
    parts = [("plpython_src/ (embedded)", loader_function(version, package_sources()))]
    for entry in entry_points((PACKAGE / "api.py").read_text()):
        parts.append(
            (f"plpython_src/api.py: {entry.python_name}", wrapper_function(entry, version))
        )
    parts += [(f"extension/functions/{p.name}", p.read_text()) for p in sql_files("functions")]
    return parts


def install_script(version: str) -> str:
    objects = sql_files("objects")
    early = [p for p in objects if object_number(p) < FIRST_LATE_OBJECT]
    late = [p for p in objects if object_number(p) >= FIRST_LATE_OBJECT]
    parts = [(f"extension/objects/{p.name}", p.read_text()) for p in early]
    parts += functions_part(version)
    parts += [(f"extension/objects/{p.name}", p.read_text()) for p in late]
    return assemble(f"pg_jobmon--{version}.sql", parts)


def assemble(script_name: str, parts: list[tuple[str, str]]) -> str:
    header = (
        f"-- {script_name}: generated by extension/build.py from extension/objects/,\n"
        "-- extension/functions/ and plpython_src/. Do not edit: edit those and run make.\n\n"
        '\\echo Use "CREATE EXTENSION pg_jobmon" to load this file. \\quit\n'
    )
    body = "".join(f"\n-- source: {source}\n{text.rstrip()}\n" for source, text in parts)
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="default: extension/pg_jobmon--V.sql")
    args = parser.parse_args(argv)
    version = control_version()
    output = args.output or EXTENSION / f"pg_jobmon--{version}.sql"
    try:
        script = install_script(version)
    except BuildError as error:
        print(f"build.py: {error}", file=sys.stderr)
        return 1
    output.write_text(script)
    return 0


if __name__ == "__main__":
    sys.exit(main())
