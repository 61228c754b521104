"""The CLI's pure parts: durations, output options anywhere, short ids, help text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from inlet_cli.__main__ import hoist_output_options
from inlet_cli.client import CliError, resolve_id
from inlet_cli.commands import app
from inlet_cli.render import short_id, shorten_ids
from inlet_common.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("seconds", "written"),
    [
        (0, "0s"),
        (0.25, "250ms"),
        (1, "1s"),
        (45, "45s"),
        (60, "1m"),
        (90, "1m30s"),
        (600, "10m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (1.5, "1s500ms"),
    ],
)
def test_a_duration_is_written_one_way_and_read_back(seconds: float, written: str) -> None:
    assert format_duration(seconds) == written
    assert parse_duration(written) == timedelta(seconds=seconds)


@pytest.mark.parametrize("typed", ["90s", "1m30s", "90", " 1M30S "])
def test_every_way_of_typing_a_duration_reads_the_same(typed: str) -> None:
    assert parse_duration(typed) == timedelta(seconds=90)


@pytest.mark.parametrize("bad", ["", "soon", "10 m", "1x", "m", "-5s", "1h-1m"])
def test_a_bad_duration_names_itself_and_shows_the_form(bad: str) -> None:
    with pytest.raises(ValueError, match="90s, 10m") as refused:
        parse_duration(bad)
    assert repr(bad) in str(refused.value)


@pytest.mark.parametrize(
    ("given", "hoisted"),
    [
        (["endpoints", "list", "--wide"], ["--wide", "endpoints", "list"]),
        (["endpoints", "list", "-o", "json"], ["-o", "json", "endpoints", "list"]),
        (["records", "list", "x", "-ojson"], ["-ojson", "records", "list", "x"]),
        (["--json", "endpoints", "list"], ["--json", "endpoints", "list"]),
        (["x", "--output=wide", "y"], ["--output=wide", "x", "y"]),
        (["import", "f", "--", "--wide"], ["import", "f", "--", "--wide"]),
    ],
)
def test_output_options_work_after_the_command(given: list[str], hoisted: list[str]) -> None:
    assert hoist_output_options(given) == hoisted


def test_ids_are_shortened_as_tables_show_them() -> None:
    uuid = "34346246-eb85-4d69-a0f2-1399d63220a7"
    assert short_id(uuid) == "34346246"
    assert short_id("req_z2ahwbtay5j76miilea2lksozy") == "req_z2ahwbta"
    assert short_id("bb1df7e3af6570a8") == "bb1df7e3af6570a8"  # short already: kept
    assert shorten_ids(f"record created {uuid}; related {uuid}") == (
        "record created 34346246; related 34346246"
    )


def test_a_short_id_resolves_to_the_one_id_it_starts() -> None:
    ids = ["34346246-aaaa", "34346299-bbbb", "77000000-cccc"]
    assert resolve_id("3434624", ids, "endpoint", "ENDPOINT_NOT_FOUND") == "34346246-aaaa"
    with pytest.raises(CliError, match="give more of it") as ambiguous:
        resolve_id("3434", ids, "endpoint", "ENDPOINT_NOT_FOUND")
    assert ambiguous.value.exit_code == 2
    with pytest.raises(CliError, match="ENDPOINT_NOT_FOUND: no endpoint") as missing:
        resolve_id("99", ids, "endpoint", "ENDPOINT_NOT_FOUND")
    assert missing.value.exit_code == 3


def _commands(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    """Every command of the tree (typer builds it on its own vendored click)."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, [*path, name])


def test_help_shows_the_environment_variable_of_every_option_that_has_one() -> None:
    root = typer.main.get_command(app)
    runner = CliRunner()
    checked = set()
    for path, command in _commands(root, []):
        variables = [p.envvar for p in command.params if getattr(p, "envvar", None)]
        if not variables:
            continue
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"}).output
        for variable in variables:
            assert f"env var: {variable}" in shown, (path, shown)
            checked.add(str(variable))
    assert checked == {
        "INLET_ADMIN_URL",
        "INLET_ADMIN_TOKEN",
        "INLET_WORKSPACE",
        "INLET_INGEST_URL",
        "INLET_NOTIFIER_URL",
        "INLET_ENDPOINT_URL",
    }


def test_the_environment_configures_what_the_flags_do() -> None:
    """No admin API is needed to see that a variable reached the option: the error names
    the address the CLI was pointed at."""
    result = CliRunner().invoke(
        app,
        ["endpoints", "list"],
        env={
            "INLET_ADMIN_URL": "127.0.0.1:9",
            "INLET_ADMIN_TOKEN": "adm_x",
            "INLET_WORKSPACE": "w",
        },
    )
    assert result.exit_code == 6
    assert "the admin API at 127.0.0.1:9 (set INLET_ADMIN_URL or --admin-url)" in result.output


def test_an_unreachable_webhook_api_names_its_own_variable() -> None:
    result = CliRunner().invoke(
        app,
        ["webhooks", "list"],
        env={
            "INLET_NOTIFIER_URL": "127.0.0.1:9",
            "INLET_ADMIN_TOKEN": "adm_x",
            "INLET_WORKSPACE": "w",
        },
    )
    assert result.exit_code == 6
    assert "the webhook API at 127.0.0.1:9 (set INLET_NOTIFIER_URL or --notifier-url)" in (
        result.output
    )
