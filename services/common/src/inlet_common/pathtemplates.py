"""google.api.http path templates: compiled to a regex, matched against a raw path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote


class TemplateError(ValueError):
    """A path template in an annotation is not valid google.api.http syntax."""


@dataclass(frozen=True)
class PathTemplate:
    """A compiled google.api.http path template, e.g. /v1/{name=workspaces/*}:verb."""

    source: str
    regex: re.Pattern[str]
    # Regex group name → dotted request field path ("ingest_endpoint.name").
    groups: Mapping[str, str]
    # Variables that may span several segments keep their "/" undecoded.
    multi_segment: frozenset[str]
    literal_length: int
    # The custom verb after the last segment ("rotateToken" of .../{name=...}:rotateToken).
    verb: str = ""
    # The literal text before the first variable or wildcard: most routes are told apart by
    # it without running their regex.
    prefix: str = ""

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(self.groups.values())

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Field path → decoded value, or None when `raw_path` (still %-encoded) differs."""
        if not raw_path.startswith(self.prefix):
            return None
        found = self.regex.fullmatch(raw_path)
        if found is None:
            return None
        values: dict[str, str] = {}
        for group, field_path in self.groups.items():
            raw = found.group(group)
            if group in self.multi_segment:
                # Reserved expansion: "/" separates segments, an encoded %2F stays encoded.
                raw = re.sub("%2[Ff]", "%252F", raw)
            values[field_path] = unquote(raw)
        return values


_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_LITERAL = re.compile(r"[^/{}*=:]+")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside braces."""
    parts: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError("unbalanced '}'")
        elif char == sep and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise TemplateError("unbalanced '{'")
    parts.append(text[start:])
    return parts


def _segment_regex(segment: str, where: str) -> tuple[str, bool, int]:
    """(regex, spans several segments, literal characters) for one non-variable segment."""
    if segment == "*":
        return "[^/]+", False, 0
    if segment == "**":
        return ".*", True, 0
    if not _LITERAL.fullmatch(segment):
        raise TemplateError(f"bad segment {segment!r} in {where!r}")
    return re.escape(segment), False, len(segment)


def compile_template(source: str) -> PathTemplate:
    """Compile a path template; `*` is one segment, `**` the rest, `{a.b=x/*}` binds a.b."""
    if not source.startswith("/"):
        raise TemplateError(f"template must start with '/': {source!r}")
    body = source[1:]
    verb = ""
    # A ":verb" suffix sits after the last segment, outside any variable.
    tail = _split_top(body, "/")[-1]
    if ":" in _strip_braces(tail):
        cut = len(body) - len(tail) + _last_top_colon(tail)
        body, verb = body[:cut], body[cut + 1 :]
        if not _LITERAL.fullmatch(verb):
            raise TemplateError(f"bad verb in {source!r}")
    pieces: list[str] = []
    groups: dict[str, str] = {}
    multi: set[str] = set()
    literal_length = 0
    for segment in _split_top(body, "/"):
        if segment.startswith("{"):
            if not segment.endswith("}"):
                raise TemplateError(f"bad variable {segment!r} in {source!r}")
            name, _, pattern = segment[1:-1].partition("=")
            if not _FIELD_PATH.fullmatch(name):
                raise TemplateError(f"bad field path {name!r} in {source!r}")
            if name in groups.values():
                raise TemplateError(f"{name!r} bound twice in {source!r}")
            inner: list[str] = []
            spans = False
            for sub in (pattern or "*").split("/"):
                regex, sub_spans, length = _segment_regex(sub, source)
                inner.append(regex)
                spans = spans or sub_spans or len(pattern.split("/")) > 1
                literal_length += length
            group = f"v{len(groups)}"
            groups[group] = name
            if spans:
                multi.add(group)
            pieces.append(f"(?P<{group}>{'/'.join(inner)})")
        else:
            regex, _, length = _segment_regex(segment, source)
            literal_length += length
            pieces.append(regex)
    pattern_text = "/" + "/".join(pieces) + (":" + re.escape(verb) if verb else "")
    opens = [at for at in (source.find("{"), source.find("*")) if at >= 0]
    return PathTemplate(
        source=source,
        regex=re.compile(pattern_text),
        groups=groups,
        multi_segment=frozenset(multi),
        literal_length=literal_length + len(verb),
        verb=verb,
        prefix=source[: min(opens, default=len(source))],
    )


def _strip_braces(text: str) -> str:
    return re.sub(r"\{[^}]*\}", "", text)


def _last_top_colon(segment: str) -> int:
    depth = 0
    last = -1
    for index, char in enumerate(segment):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ":" and depth == 0:
            last = index
    return last
