"""Push transfer webhook options ({"endpoint": url, "metadata": {…}}), checked one way for
transfers and for a session's defaults."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from inlet_common.errors import Violation

# Body field → the short name events and the store use.
OPTIONS = {"data_webhook": "data", "completed_webhook": "completed", "error_webhook": "error"}
MAX_URL = 2048


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a number"


def url_problem(url: Any) -> str:
    """Why `url` cannot be a webhook target ("" when it can); private targets are the
    notifier's to refuse, when it delivers."""
    if not isinstance(url, str) or not url.strip():
        return f"must be an http or https URL, got {_kind(url)}"
    if len(url) > MAX_URL:
        return f"must be at most {MAX_URL} characters"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        return f"is not a URL: {error}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http or https URL with a host, got {url!r}"
    del port
    return ""


def webhook_option(path: str, value: Any) -> tuple[dict[str, Any] | None, list[Violation]]:
    """{endpoint, metadata} of an option as sent (null: none), and every problem with it.
    `url` is taken for `endpoint`, as Endgrate's own examples sometimes write it."""
    if value is None:
        return None, []
    if not isinstance(value, dict):
        message = f'must be an object {{"endpoint": url, "metadata": {{…}}}}, got {_kind(value)}'
        return None, [Violation(path, message, "INVALID_TYPE")]
    problems: list[Violation] = []
    for key in value:
        if key not in ("endpoint", "url", "metadata"):
            problems.append(
                Violation(
                    f"{path}.{key}",
                    f"unknown field {key!r} (a webhook option has endpoint and metadata)",
                    "UNKNOWN_FIELD",
                )
            )
    key = "endpoint" if "endpoint" in value or "url" not in value else "url"
    endpoint = value.get(key)
    if endpoint is None:
        problems.append(
            Violation(f"{path}.endpoint", "endpoint is required", "REQUIRED_FIELD_MISSING")
        )
    else:
        problem = url_problem(endpoint)
        if problem:
            problems.append(Violation(f"{path}.{key}", f"{key} {problem}", "INVALID_URL"))
    metadata = value.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(
            Violation(
                f"{path}.metadata",
                f"metadata must be an object, got {_kind(metadata)}",
                "INVALID_TYPE",
            )
        )
    if problems:
        return None, problems
    option: dict[str, Any] = {"endpoint": str(endpoint).strip()}
    if metadata is not None:
        option["metadata"] = metadata
    return option, []
