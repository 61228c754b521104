"""The OpenAPI document `make protos` generated, and a self-contained HTML page of it."""

from __future__ import annotations

import html
import importlib.resources
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

JSON = dict[str, Any]

# The page loads nothing: no script, no font, no stylesheet from anywhere.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fff}
main{max-width:72rem;margin:0 auto;padding:1rem 2rem 4rem}
nav{font-size:13px;margin:1rem 0 2rem}nav a{text-decoration:none;white-space:nowrap}
h1{margin:.5rem 0}h2{border-bottom:2px solid #d6dbe4;padding-top:1.5rem}
h3{font-size:16px;margin:2rem 0 .3rem}code,pre{font:13px/1.4 ui-monospace,monospace}
pre{white-space:pre-wrap;background:#f5f7fa;padding:.6rem .8rem;border-radius:4px}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:14px}
th,td{border:1px solid #d6dbe4;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f3f7}.m{display:inline-block;min-width:4.2em;font:bold 12px monospace;
padding:.1rem .3rem;border-radius:3px;color:#fff;background:#5a6478;text-align:center}
.get{background:#2f7d4f}.post{background:#2b5fab}.patch{background:#9a6a12}
.delete{background:#a33a3a}.head{background:#6b5aa3}.muted{color:#5a6478}
"""

_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def load_document() -> bytes:
    """The committed document (package data of the generated `inlet` distribution)."""
    return importlib.resources.files("inlet").joinpath("openapi.json").read_bytes()


def render_page(document: bytes) -> bytes:
    """The document as one HTML page: operations by tag, then every schema."""
    spec: JSON = orjson.loads(document)
    info = spec.get("info", {})
    out: list[str] = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        f"<title>{_e(info.get('title', 'API'))} API</title><style>{_STYLE}</style></head>",
        "<body><main>",
        f"<h1>{_e(info.get('title', 'API'))} <span class=muted>{_e(info.get('version', ''))}"
        "</span></h1>",
        _paragraphs(info.get("description", "")),
        '<p>The machine-readable document: <a href="/openapi.json">/openapi.json</a>'
        " (OpenAPI 3.1).</p>",
    ]
    by_tag = _operations_by_tag(spec)
    out.append("<nav>")
    for tag, operations in by_tag.items():
        out.append(f"<b>{_e(tag)}</b><br>")
        for method, path, operation in operations:
            out.append(
                f'<a href="#{_anchor(operation, method, path)}"><span class="m {method}">'
                f"{method.upper()}</span> <code>{_e(path)}</code></a><br>"
            )
    out.append('<b>Schemas</b><br><a href="#schemas">components</a></nav>')
    descriptions = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    for tag, operations in by_tag.items():
        out.append(f"<h2>{_e(tag)}</h2>{_pre(descriptions.get(tag, ''))}")
        for method, path, operation in operations:
            out.extend(_operation(spec, method, path, operation))
    out.append('<h2 id="schemas">Schemas</h2>')
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out.extend(_schema_section(name, schema))
    out.append("</main></body></html>")
    return "\n".join(out).encode()


def _operations_by_tag(spec: JSON) -> dict[str, list[tuple[str, str, JSON]]]:
    found: dict[str, list[tuple[str, str, JSON]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or ["Other"])[0]
            found.setdefault(tag, []).append((method, path, operation))
    return found


def _operation(spec: JSON, method: str, path: str, operation: JSON) -> Iterator[str]:
    yield (
        f'<h3 id="{_anchor(operation, method, path)}"><span class="m {method}">'
        f"{method.upper()}</span> <code>{_e(path)}</code></h3>"
    )
    yield f"<p>{_e(operation.get('summary', ''))}</p>"
    if operation.get("description"):
        yield _pre(operation["description"])
    security = operation.get("security")
    if security is not None:
        names = [name for requirement in security for name in requirement]
        text = ", ".join(f"bearer <code>{_e(n)}</code>" for n in names) or "none (the URL)"
        yield f"<p>Authentication: {text}</p>"
    parameters = [_resolve(spec, p) for p in operation.get("parameters", [])]
    if parameters:
        yield "<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>"
        for p in parameters:
            required = " <b>required</b>" if p.get("required") else ""
            yield (
                f"<tr><td><code>{_e(p['name'])}</code>{required}</td><td>{_e(p['in'])}</td>"
                f"<td>{_type(p.get('schema', {}))}</td><td>{_e(p.get('description', ''))}</td>"
                "</tr>"
            )
        yield "</table>"
    body = operation.get("requestBody")
    if body:
        for content_type, media in body.get("content", {}).items():
            required = "required" if body.get("required") else "optional"
            yield (
                f"<p>Request body ({required}), <code>{_e(content_type)}</code>: "
                f"{_type(media.get('schema', {}))}</p>"
            )
            schema = media.get("schema", {})
            if "$ref" not in schema and (schema.get("properties") or schema.get("oneOf")):
                yield from _properties_table(schema)
            for name, example in media.get("examples", {}).items():
                text = orjson.dumps(example.get("value"), option=orjson.OPT_INDENT_2).decode()
                yield f"<p class=muted>Example <i>{_e(name)}</i>:</p><pre>{_e(text)}</pre>"
    yield "<table><tr><th>status</th><th>when</th><th>body</th></tr>"
    for status, response in operation.get("responses", {}).items():
        bodies = ", ".join(
            f"<code>{_e(ct)}</code> {_type(media.get('schema', {}))}"
            for ct, media in response.get("content", {}).items()
        )
        yield (
            f"<tr><td><b>{_e(status)}</b></td><td>{_e(response.get('description', ''))}</td>"
            f"<td>{bodies}</td></tr>"
        )
    yield "</table>"


def _schema_section(name: str, schema: JSON) -> Iterator[str]:
    yield f'<h3 id="schema-{_e(name)}"><code>{_e(name)}</code></h3>'
    if schema.get("description"):
        yield _pre(schema["description"])
    if schema.get("properties") or schema.get("oneOf"):
        yield from _properties_table(schema)
    else:
        yield f"<p>{_type(schema)}</p>"


def _properties_table(schema: JSON) -> Iterator[str]:
    if schema.get("oneOf"):
        yield f"<p>One of: {' | '.join(_type(s) for s in schema['oneOf'])}</p>"
        return
    required = set(schema.get("required", []))
    yield "<table><tr><th>field</th><th>type</th><th>description</th></tr>"
    for prop, sub in schema.get("properties", {}).items():
        mark = " <b>required</b>" if prop in required else ""
        yield (
            f"<tr><td><code>{_e(prop)}</code>{mark}</td><td>{_type(sub)}</td>"
            f"<td>{_e(sub.get('description', ''))}</td></tr>"
        )
    yield "</table>"


def _type(schema: Mapping[str, Any]) -> str:
    """A schema in a few words, its references linked."""
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}"><code>{_e(name)}</code></a>'
    for combinator in ("oneOf", "anyOf"):
        if combinator in schema:
            return " | ".join(_type(s) for s in schema[combinator])
    if "const" in schema:
        return f"<code>{_e(orjson.dumps(schema['const']).decode())}</code>"
    if "enum" in schema:
        return " | ".join(f"<code>{_e(str(v))}</code>" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of string → {_type(schema['additionalProperties'])}"
    if kind is None:
        return "any JSON value"
    words = str(kind)
    if schema.get("format"):
        words += f" ({schema['format']})"
    return _e(words)


def _resolve(spec: JSON, item: JSON) -> JSON:
    ref = item.get("$ref")
    if not isinstance(ref, str):
        return item
    found: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return dict(found)


def _anchor(operation: JSON, method: str, path: str) -> str:
    return _e(operation.get("operationId") or re.sub(r"[^A-Za-z0-9]+", "-", f"{method}{path}"))


def _paragraphs(text: str) -> str:
    return "".join(f"<p>{_e(p)}</p>" for p in text.split("\n\n") if p.strip())


def _pre(text: str) -> str:
    return f"<pre>{_e(text)}</pre>" if text else ""


def _e(text: str) -> str:
    return html.escape(text, quote=True)
