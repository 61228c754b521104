"""`inlet …` / `python -m inlet_cli …`."""

from __future__ import annotations

import sys

from inlet_cli.commands import app

_FLAGS = {"--json", "--wide"}
_VALUED = {"-o", "--output"}


def hoist_output_options(args: list[str]) -> list[str]:
    """The output options (-o/--output, --wide, --json) moved to the front, so they work
    after the command too (`inlet endpoints list --wide`), as people write them."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if (
            arg in _FLAGS
            or arg.startswith("--output=")
            or (arg.startswith("-o") and not arg.startswith("--") and len(arg) > 2)
        ):
            front.append(arg)
        elif arg in _VALUED and i + 1 < len(args):
            front.extend(args[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    app(args=hoist_output_options(sys.argv[1:]), prog_name="inlet")


if __name__ == "__main__":
    main()
