"""A service's `python -m` entry: uvloop runs it; config and OS refusals are one line each."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

from inlet_common.config import ConfigError

log = logging.getLogger(__name__)

# Allocations between two young collections (Python's default is 700). A service's work
# comes in batches that live until they are answered (a 1,000-item array is thousands of
# dicts and messages), which the default threshold walks again and again as they age:
# measured on 1,000-item arrays, 20 to 40 % of the store's and the matcher's CPU went to it.
GC_YOUNG_THRESHOLD = 10_000


def tune_gc() -> None:
    """What is loaded by now (modules, descriptors, configuration) lives as long as the
    process: it leaves the collector's generations, which then hold only the work."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run `main` on uvloop. A ConfigError ends the process with its message and code 2; an
    OSError that reaches here (a port already taken, an unreadable file) with code 1."""
    tune_gc()
    try:
        uvloop.run(main())
    except ConfigError as error:
        sys.stderr.write(f"configuration error: {error}\n")
        raise SystemExit(2) from None
    except OSError as error:
        log.error("cannot serve: %s", error)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
