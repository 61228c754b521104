"""Ready-made mappings for webhooks people point at an ingestion URL: each vendor's payload
is read into a flat document, and a ready-made mapping takes a person from it (no I/O).

An integration of a vendor type may give its own mapping instead; it reads the same flat
document, so `/answers/<field ref>` (Typeform) or `/answers/<question>` (Calendly) work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inlet_common.errors import Violation
from inlet_common.mappings import CALENDLY, TYPEFORM, split_name

# The shape of Typeform's `form_response` webhook, as its documentation shows it:
# https://www.typeform.com/developers/webhooks/example-payload/
TYPEFORM_EXAMPLE_URL = "https://www.typeform.com/developers/webhooks/example-payload/"
# The shape of Calendly's `invitee.created` (and `invitee.canceled`) webhook, as its
# documentation shows it (the payload is the Invitee):
# https://developer.calendly.com/receive-data-from-scheduled-events-in-real-time-with-webhook-subscriptions
# https://developer.calendly.com/api-docs/calendly-api/webhooks/get-sample-webhook-data
CALENDLY_EXAMPLE_URL = (
    "https://developer.calendly.com/receive-data-from-scheduled-events-in-real-time-with-"
    "webhook-subscriptions"
)

# Each maps the usual person fields; a field the integration's entity type does not have
# is skipped. A Typeform's name is its first short-text answer, as in Typeform's example
# ("What is your first name?").
DEFAULT_MAPPINGS: dict[str, dict[str, Any]] = {
    TYPEFORM: {
        "fields": {
            "email": {"pointer": "/email", "transforms": ["trim"]},
            "name": {"pointer": "/name", "transforms": ["trim"]},
            "phone": "/phone",
        }
    },
    CALENDLY: {
        "fields": {
            "email": {"pointer": "/email", "transforms": ["trim"]},
            "name": {"pointer": "/name", "transforms": ["trim"]},
            "first_name": "/first_name",
            "last_name": "/last_name",
            "phone": "/phone",
            "timezone": "/timezone",
        }
    },
}

_TYPEFORM_EVENTS = ("form_response",)
_CALENDLY_EVENTS = ("invitee.created", "invitee.canceled")
# A Typeform answer's value sits under the key its `type` names; choices are their labels.
_TYPEFORM_SCALARS = (
    "text",
    "email",
    "phone_number",
    "number",
    "boolean",
    "date",
    "url",
    "file_url",
)


def document(type_: str, body: Any) -> tuple[dict[str, Any], list[Violation]]:
    """The flat document a vendor type's mapping reads, or why the body is not the
    vendor's webhook (each problem naming where)."""
    read: Callable[[Any], tuple[dict[str, Any], list[Violation]]] = (
        _typeform if type_ == TYPEFORM else _calendly
    )
    return read(body)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _typeform(body: Any) -> tuple[dict[str, Any], list[Violation]]:
    if not isinstance(body, dict):
        return {}, [Violation("body", "a Typeform webhook is a JSON object", "INVALID_TYPE")]
    event = body.get("event_type")
    if event not in _TYPEFORM_EVENTS:
        return {}, [
            Violation(
                "event_type",
                f"Typeform event {event!r} is not processed (form_response is)",
                "EVENT_NOT_SUPPORTED",
            )
        ]
    response = body.get("form_response")
    if not isinstance(response, dict):
        return {}, [
            Violation("form_response", "form_response must be a JSON object", "INVALID_TYPE")
        ]
    definition = {
        str(f.get("id")): f
        for f in _object(response.get("definition")).get("fields") or []
        if isinstance(f, dict)
    }
    answers: dict[str, Any] = {}
    by_id: dict[str, Any] = {}
    first: dict[str, Any] = {}
    for answer in response.get("answers") or []:
        if not isinstance(answer, dict):
            continue
        value = _typeform_value(answer)
        described = _object(answer.get("field"))
        field_id = str(described.get("id", ""))
        defined = _object(definition.get(field_id))
        ref = described.get("ref") or defined.get("ref")
        if ref:
            answers[str(ref)] = value
        if field_id:
            by_id[field_id] = value
        for kind in (described.get("type") or defined.get("type"), answer.get("type")):
            if isinstance(kind, str):
                first.setdefault(kind, value)
    variables = {
        str(v["key"]): v.get(str(v.get("type")))
        for v in response.get("variables") or []
        if isinstance(v, dict) and "key" in v
    }
    return {
        "event_id": body.get("event_id"),
        "event_type": event,
        "form_id": response.get("form_id"),
        "token": response.get("token"),
        "submitted_at": response.get("submitted_at"),
        "landed_at": response.get("landed_at"),
        "hidden": _object(response.get("hidden")),
        "calculated": _object(response.get("calculated")),
        "variables": variables,
        "answers": answers,
        "answers_by_id": by_id,
        "first": first,
        "email": first.get("email"),
        "phone": first.get("phone_number"),
        "name": first.get("short_text"),
        "raw": body,
    }, []


def _typeform_value(answer: dict[str, Any]) -> Any:
    kind = answer.get("type")
    if kind in _TYPEFORM_SCALARS:
        return answer.get(str(kind))
    if kind == "choice":
        choice = _object(answer.get("choice"))
        return choice.get("label", choice.get("other"))
    if kind == "choices":
        choices = _object(answer.get("choices"))
        labels = list(choices.get("labels") or [])
        if choices.get("other"):
            labels.append(choices["other"])
        return labels
    return answer.get(str(kind)) if isinstance(kind, str) else None


def _calendly(body: Any) -> tuple[dict[str, Any], list[Violation]]:
    if not isinstance(body, dict):
        return {}, [Violation("body", "a Calendly webhook is a JSON object", "INVALID_TYPE")]
    event = body.get("event")
    if event not in _CALENDLY_EVENTS:
        return {}, [
            Violation(
                "event",
                f"Calendly event {event!r} is not processed ({' and '.join(_CALENDLY_EVENTS)} are)",
                "EVENT_NOT_SUPPORTED",
            )
        ]
    invitee = body.get("payload")
    if not isinstance(invitee, dict):
        return {}, [Violation("payload", "payload must be a JSON object", "INVALID_TYPE")]
    name = invitee.get("name")
    first, last = split_name(name) if isinstance(name, str) else (None, None)
    scheduled = _object(invitee.get("scheduled_event"))
    event_uri = invitee.get("event")
    return {
        "event": event,
        "created_at": body.get("created_at"),
        "created_by": body.get("created_by"),
        "uri": invitee.get("uri"),
        "email": invitee.get("email"),
        "name": name,
        # Newer payloads carry them; older ones only the full name.
        "first_name": invitee.get("first_name") or first,
        "last_name": invitee.get("last_name") or last,
        "phone": invitee.get("text_reminder_number"),
        "timezone": invitee.get("timezone"),
        "status": invitee.get("status"),
        "rescheduled": invitee.get("rescheduled"),
        "event_uri": event_uri if isinstance(event_uri, str) else scheduled.get("uri"),
        "scheduled_event": scheduled,
        "tracking": _object(invitee.get("tracking")),
        "answers": {
            str(qa["question"]): qa.get("answer")
            for qa in invitee.get("questions_and_answers") or []
            if isinstance(qa, dict) and "question" in qa
        },
        "cancel_url": invitee.get("cancel_url"),
        "reschedule_url": invitee.get("reschedule_url"),
        "payload": invitee,
    }, []
