"""A JSON route's media type, judged by the service's HTTP twin (both edges pass the
request's Content-Type as sent, as `x-inlet-content-type`)."""

from __future__ import annotations

from inlet_common.errors import InletError, InvalidArgument, Violation

JSON_TYPES = ("application/json",)
# The stream seed marks Content-Type: application/json required.
CONTENT_TYPE_REQUIRED = frozenset({"inlet.ingest.v1.IngestService.IngestStream"})
# Routes that read their body themselves in more than one media type.
OWN_MEDIA_TYPES = frozenset({"inlet.ingest.v1.ExternalIngestService.SubmitForm"})


class UnsupportedMediaType(InvalidArgument):
    reason = "UNSUPPORTED_MEDIA_TYPE"


class ContentTypeRequired(InvalidArgument):
    reason = "INVALID_PAYLOAD"


def check_json_content_type(
    content_type: bytes | str | None, *, required: bool, body: bool
) -> InletError | None:
    """A JSON route's Content-Type: refused when present and not JSON (415), or when the
    contract requires it and it is missing (400 in the stream dialect's own code)."""
    if content_type is None or not content_type.strip():
        if required and body:
            return ContentTypeRequired(
                "Content-Type: application/json is required",
                violations=[Violation("Content-Type", "missing", "REQUIRED")],
            )
        return None
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    media = text.split(";", 1)[0].strip().lower()
    if media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return None
    shown = media or "(empty)"
    violation = Violation("Content-Type", f"{shown} is not JSON", "UNSUPPORTED_MEDIA_TYPE")
    if required:
        return ContentTypeRequired(
            f"Content-Type must be application/json, got {shown}", violations=[violation]
        )
    return UnsupportedMediaType(
        f"Content-Type must be application/json, got {shown}", violations=[violation]
    )
