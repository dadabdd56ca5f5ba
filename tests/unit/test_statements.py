"""The fixed statements of the logging connection, without a server."""

from __future__ import annotations

from plpython_src import names, statements


def test_every_statement_is_schema_qualified_and_parameterised() -> None:
    for statement in statements.ALL:
        text = statement.prepare('"My Schema"')
        assert text.startswith(f"PREPARE {statement.name} (")
        assert "{schema}" not in text
        # A table of the log, or one of the extension's own functions.
        assert '"My Schema".job_' in text or '"My Schema"._' in text
        for number in range(1, len(statement.param_types) + 1):
            assert f"${number}" in text


def test_session_setup_is_one_batch() -> None:
    batch = statements.session_setup("jobmon")
    commands = batch.split(";\n")
    # Listening comes before anything reads the configuration; the facts come last.
    assert commands[0] == f"LISTEN {names.CONFIG_CHANNEL}"
    prepared = [statement for statement in statements.ALL if not statement.on_demand]
    assert len(commands) == 3 + len(prepared)
    assert commands[-1] == statements.SERVER_FACTS
