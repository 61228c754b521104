"""A service's `python -m` entry: config errors are one line and exit 2; uvloop runs it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from inlet_common.config import ConfigError

log = logging.getLogger(__name__)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main` on uvloop; a ConfigError ends the process with its message and code 2."""
    try:
        uvloop.run(main())
    except ConfigError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        pass
