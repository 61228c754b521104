"""`inlet …` / `python -m inlet_cli …`."""

from __future__ import annotations

from inlet_cli.commands import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
