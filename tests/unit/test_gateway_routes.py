"""Route table from the annotations, path templates, and JSON/query/path → request transcoding."""

from __future__ import annotations

import pytest
from google.protobuf import field_mask_pb2

from inlet.admin.v1 import admin_pb2
from inlet.ingest.v1 import ingest_pb2
from inlet_common.httprules import (
    MethodNotAllowed,
    RouteMatch,
    RouteTable,
    build_routes,
    path_only_request,
    transcode,
)
from inlet_common.jsonmisfits import INVALID_TYPE, UNKNOWN_FIELD
from inlet_common.pathtemplates import TemplateError, compile_template
from inlet_common.transcoding import (
    INVALID_BODY,
    INVALID_PATH,
    INVALID_QUERY,
    MALFORMED_JSON,
    TranscodeError,
)

ROTATE = "/admin/v1/workspaces/w/ingestEndpoints/e:rotateToken"
INGEST = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"]
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]


@pytest.fixture(scope="module")
def table() -> RouteTable:
    return build_routes([(INGEST, "matcher:1"), (ADMIN, "store:2")])


def matched(table: RouteTable, method: str, path: str) -> RouteMatch:
    found = table.match(method, path)
    assert isinstance(found, RouteMatch), found
    return found


# --- templates -----------------------------------------------------------------------------


def test_simple_variable_matches_one_segment() -> None:
    template = compile_template("/api/v1/ingest/{token}")

    assert template.match("/api/v1/ingest/tok_1") == {"token": "tok_1"}
    assert template.match("/api/v1/ingest/a/b") is None
    assert template.match("/api/v1/ingest/") is None
    assert template.match("/api/v1/ingest") is None


def test_single_segment_variable_is_percent_decoded_fully() -> None:
    template = compile_template("/api/v1/ingest/{token}")

    assert template.match("/api/v1/ingest/a%2Fb%20c") == {"token": "a/b c"}


def test_variable_with_a_pattern_binds_the_whole_match() -> None:
    template = compile_template("/admin/v1/{parent=workspaces/*}/entityTypes")

    assert template.match("/admin/v1/workspaces/acme/entityTypes") == {"parent": "workspaces/acme"}
    assert template.match("/admin/v1/workspaces/acme/x/entityTypes") is None
    assert template.match("/admin/v1/projects/acme/entityTypes") is None


def test_nested_field_path_variable() -> None:
    template = compile_template("/admin/v1/{ingest_endpoint.name=workspaces/*/ingestEndpoints/*}")

    assert template.variables == ("ingest_endpoint.name",)
    assert template.match("/admin/v1/workspaces/w/ingestEndpoints/e") == {
        "ingest_endpoint.name": "workspaces/w/ingestEndpoints/e"
    }


def test_multi_segment_variable_keeps_encoded_slashes() -> None:
    template = compile_template("/v1/{name=files/**}")

    assert template.match("/v1/files/a/b%2Fc%20d") == {"name": "files/a/b%2Fc d"}


def test_wildcards_and_verb() -> None:
    template = compile_template("/v1/*/things/{id}:archive")

    assert template.match("/v1/x/things/7:archive") == {"id": "7"}
    assert template.match("/v1/x/things/7") is None
    assert template.variables == ("id",)


@pytest.mark.parametrize(
    ("source", "prefix"),
    [
        ("/v1/*/things/{id}:archive", "/v1/"),
        ("/api/v1/ingest/{token}", "/api/v1/ingest/"),
        ("/v1/health:check", "/v1/health:check"),
        ("/v1/{name=workspaces/*}/keys", "/v1/"),
    ],
)
def test_the_literal_prefix_is_checked_before_the_pattern(source: str, prefix: str) -> None:
    template = compile_template(source)

    assert template.prefix == prefix
    assert template.match(prefix.upper() + "x") is None


@pytest.mark.parametrize(
    "source", ["v1/x", "/v1/{id", "/v1/{}", "/v1/{a-b}", "/v1/{id}/{id}", "/v1/a}b"]
)
def test_bad_templates_are_refused(source: str) -> None:
    with pytest.raises(TemplateError):
        compile_template(source)


# --- the table ---------------------------------------------------------------------------


def test_ingest_routes_come_from_the_annotation() -> None:
    routes = build_routes([(INGEST, "matcher:1")]).routes
    [route] = [r for r in routes if r.method.name == "PushEndpoint"]

    assert route.http_method == "POST"
    assert route.template.source == "/api/v1/ingest/{token}"
    assert route.body == "body"  # a google.api.HttpBody: the bytes as sent
    assert route.full_name == "inlet.ingest.v1.IngestService.PushEndpoint"
    assert route.grpc_path == "/inlet.ingest.v1.IngestService/PushEndpoint"
    assert route.upstream == "matcher:1"
    assert route.request_class is ingest_pb2.PushEndpointRequest
    assert route.response_class is ingest_pb2.PushEndpointResponse


def test_each_service_routes_to_its_own_upstream(table: RouteTable) -> None:
    assert matched(table, "POST", "/api/v1/ingest/t").route.upstream == "matcher:1"
    admin = matched(table, "GET", "/admin/v1/workspaces/acme")
    assert admin.route.upstream == "store:2"
    assert admin.route.full_name == "inlet.admin.v1.AdminService.GetWorkspace"
    assert table.upstreams == ["matcher:1", "store:2"]


def test_literal_route_beats_a_variable_one(table: RouteTable) -> None:
    found = matched(table, "POST", "/admin/v1/workspaces")

    assert found.route.full_name == "inlet.admin.v1.AdminService.CreateWorkspace"


def test_unknown_path_and_wrong_method(table: RouteTable) -> None:
    assert table.match("POST", "/nope") is None
    assert table.match("GET", "/api/v1/ingest/t") == MethodNotAllowed(("POST",))


def test_a_declared_verb_matches_only_routes_with_that_verb(table: RouteTable) -> None:
    # GET/PATCH/DELETE .../ingestEndpoints/{id} must not take "e:rotateToken" as the id.
    assert table.match("GET", ROTATE) == MethodNotAllowed(("POST",))
    assert table.match("DELETE", ROTATE) == MethodNotAllowed(("POST",))
    assert matched(table, "POST", ROTATE).route.method.name == "RotateIngestEndpointToken"


def test_an_undeclared_verb_is_part_of_the_segment(table: RouteTable) -> None:
    found = matched(table, "GET", "/admin/v1/workspaces/w/ingestEndpoints/e:nope")

    assert found.route.method.name == "GetIngestEndpoint"
    assert found.variables == {"name": "workspaces/w/ingestEndpoints/e:nope"}


# --- transcoding ---------------------------------------------------------------------------


def test_body_star_merges_the_object_and_the_path_wins(table: RouteTable) -> None:
    found = matched(table, "POST", ROTATE)
    body = b'{"name": "overridden", "grace_period": "60s"}'

    request = transcode(found.route, found.variables, "ignored=1", body)

    assert isinstance(request, admin_pb2.RotateIngestEndpointTokenRequest)
    assert request.name == "workspaces/w/ingestEndpoints/e"
    assert request.grace_period.seconds == 60


def test_empty_body_is_an_empty_message(table: RouteTable) -> None:
    found = matched(table, "POST", ROTATE)

    request = transcode(found.route, found.variables, "", b"  ")

    assert request == admin_pb2.RotateIngestEndpointTokenRequest(
        name="workspaces/w/ingestEndpoints/e"
    )


def test_http_body_route_passes_the_bytes_untouched(table: RouteTable) -> None:
    found = matched(table, "POST", "/api/v1/ingest/tok_url")
    body = b'{"fields": {"n": 9007199254740993, "d": 0.10, "e": 1e-7}} '

    request = transcode(found.route, found.variables, "", body, content_type="application/json")

    assert isinstance(request, ingest_pb2.PushEndpointRequest)
    assert request.token == "tok_url"
    assert request.body.data == body
    assert request.body.content_type == "application/json"


@pytest.mark.parametrize("query", ["body.data=x", "body=x"])
def test_query_cannot_set_the_raw_body(table: RouteTable, query: str) -> None:
    found = matched(table, "POST", "/api/v1/ingest/t")

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, query, b"{}")

    assert caught.value.reason == INVALID_QUERY
    assert caught.value.code == UNKNOWN_FIELD


def test_body_field_then_nested_path_and_repeated_query(table: RouteTable) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/ingestEndpoints/e")

    request = transcode(
        found.route,
        found.variables,
        "update_mask=display_name&update_mask=enabled",
        b'{"displayName": "Leads", "enabled": true, "name": "overridden"}',
    )

    assert request == admin_pb2.UpdateIngestEndpointRequest(
        ingest_endpoint=admin_pb2.IngestEndpoint(
            name="workspaces/w/ingestEndpoints/e", display_name="Leads", enabled=True
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "enabled"]),
    )


# --- update masks (grpc-gateway's conventions) ----------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "update_mask=display_name,rate_limit",
        "update_mask=display_name&update_mask=rate_limit",
        "updateMask=display_name%2C%20rate_limit",
        "update_mask=display_name,&update_mask=,rate_limit",
    ],
)
def test_a_field_mask_query_parameter_takes_commas_and_repeats(
    table: RouteTable, query: str
) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/ingestEndpoints/e")

    request = transcode(found.route, found.variables, query, b'{"displayName": "Leads"}')

    assert isinstance(request, admin_pb2.UpdateIngestEndpointRequest)
    assert list(request.update_mask.paths) == ["display_name", "rate_limit"]


def test_a_patch_without_mask_names_exactly_the_body_keys(table: RouteTable) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/ingestEndpoints/e")

    request = transcode(
        found.route,
        found.variables,
        "",
        b'{"rateLimit": 10, "enabled": false, "displayName": null, "name": "ignored"}',
    )

    assert isinstance(request, admin_pb2.UpdateIngestEndpointRequest)
    # false and null are sent to be set; the name comes from the URL and changes nothing.
    assert list(request.update_mask.paths) == ["rate_limit", "enabled", "display_name"]
    assert request.ingest_endpoint.name == "workspaces/w/ingestEndpoints/e"


def test_a_nested_resource_gives_dotted_paths(table: RouteTable) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/entityTypes/t/fields/f")

    request = transcode(
        found.route, found.variables, "", b'{"field": {"unique": true, "displayName": "E"}}'
    )

    assert isinstance(request, admin_pb2.UpdateFieldRequest)
    assert list(request.update_mask.paths) == ["field.unique", "field.display_name"]


def test_an_empty_patch_derives_no_mask(table: RouteTable) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/ingestEndpoints/e")

    for body in (b"", b"{}"):
        request = transcode(found.route, found.variables, "", body)
        assert isinstance(request, admin_pb2.UpdateIngestEndpointRequest)
        assert list(request.update_mask.paths) == []


def test_an_explicit_mask_is_not_widened_by_the_body(table: RouteTable) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/ingestEndpoints/e")

    request = transcode(
        found.route, found.variables, "update_mask=enabled", b'{"enabled": true, "rateLimit": 5}'
    )

    assert isinstance(request, admin_pb2.UpdateIngestEndpointRequest)
    assert list(request.update_mask.paths) == ["enabled"]


def test_no_body_query_parameters_set_fields(table: RouteTable) -> None:
    found = matched(table, "GET", "/admin/v1/workspaces/w/ingestEndpoints/e/activityEntries")

    request = transcode(found.route, found.variables, "page_size=20&pageToken=p2", b"")

    assert request == admin_pb2.ListActivityEntriesRequest(
        parent="workspaces/w/ingestEndpoints/e", page_size=20, page_token="p2"
    )


def test_timestamp_query_parameters_take_rfc_3339(table: RouteTable) -> None:
    found = matched(table, "GET", "/admin/v1/workspaces/w/ingestEndpoints/e/activityEntries")

    request = transcode(
        found.route,
        found.variables,
        "start_time=2026-01-31T12:00:00Z&end_time=2026-02-01T00:00:00.5%2B01:00",
        b"",
    )

    assert isinstance(request, admin_pb2.ListActivityEntriesRequest)
    assert request.start_time.ToJsonString() == "2026-01-31T12:00:00Z"
    assert request.end_time.ToJsonString() == "2026-01-31T23:00:00.500Z"


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("nope=1", "nope", UNKNOWN_FIELD),
        ("start_time=yesterday", "start_time", INVALID_TYPE),
        ("page_size=many", "page_size", INVALID_TYPE),
        ("page_size=1&page_size=2", "page_size", INVALID_QUERY),
        # Found by the OpenAPI property test: a bad boolean was a 500.
        ("errors_only=AAA", "errors_only", INVALID_TYPE),
        ("errors_only=1", "errors_only", INVALID_TYPE),
    ],
)
def test_bad_query_parameters_name_the_parameter(
    table: RouteTable, query: str, field: str, code: str
) -> None:
    found = matched(table, "GET", "/admin/v1/workspaces/w/ingestEndpoints/e/activityEntries")

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, query, b"")

    assert caught.value.reason == INVALID_QUERY
    assert caught.value.field == field
    assert caught.value.code == code
    assert field in caught.value.message


def test_unknown_body_field_is_named(table: RouteTable) -> None:
    found = matched(table, "POST", ROTATE)

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, "", b'{"gracez": {"a": 1}}')

    error = caught.value
    assert (error.reason, error.field, error.code) == (INVALID_BODY, "gracez", UNKNOWN_FIELD)
    assert '"gracez"' in error.message


def test_body_of_the_wrong_shape_names_the_field(table: RouteTable) -> None:
    found = matched(table, "POST", ROTATE)

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, "", b'{"name": 5}')

    assert caught.value.reason == INVALID_BODY
    assert caught.value.field == "name"
    assert caught.value.code == INVALID_TYPE
    assert "must be a string, got a number" in caught.value.message


def test_nested_message_errors_carry_the_full_path(table: RouteTable) -> None:
    found = matched(table, "POST", "/admin/v1/workspaces/w/entityTypes")

    with pytest.raises(TranscodeError) as unknown:
        transcode(found.route, found.variables, "", b'{"fields": [{"slug": "a"}, {"bad": 1}]}')
    with pytest.raises(TranscodeError) as enum:
        transcode(found.route, found.variables, "", b'{"fields": [{"type": "FIELD_TYPE_NOPE"}]}')

    assert unknown.value.field == "fields[1].bad"
    assert unknown.value.code == UNKNOWN_FIELD
    assert enum.value.field == "fields[0].type"
    assert "FIELD_TYPE_EMAIL" in enum.value.message


@pytest.mark.parametrize("body", [b"{", b'{"fields": {}}x', b"\xff", b"{'a': 1}"])
def test_invalid_json_is_malformed(table: RouteTable, body: bytes) -> None:
    found = matched(table, "POST", ROTATE)

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, "", body)

    assert caught.value.reason == MALFORMED_JSON
    assert caught.value.field is None
    assert "not valid JSON" in caught.value.message


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"3"])
def test_body_that_is_not_an_object_is_invalid(table: RouteTable, body: bytes) -> None:
    found = matched(table, "POST", ROTATE)

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, "", body)

    assert caught.value.reason == INVALID_BODY
    assert "JSON object" in caught.value.message


def test_body_field_that_is_not_an_object_is_invalid(table: RouteTable) -> None:
    found = matched(table, "POST", "/admin/v1/workspaces/w/entityTypes")

    with pytest.raises(TranscodeError) as caught:
        transcode(found.route, found.variables, "", b"[]")

    assert caught.value.reason == INVALID_BODY


def test_path_only_request_sets_only_the_url_fields(table: RouteTable) -> None:
    found = matched(table, "PATCH", "/admin/v1/workspaces/w/ingestEndpoints/e")

    request = path_only_request(found.route, found.variables)

    assert request == admin_pb2.UpdateIngestEndpointRequest(
        ingest_endpoint=admin_pb2.IngestEndpoint(name="workspaces/w/ingestEndpoints/e")
    )


def test_path_value_of_the_wrong_type_is_invalid_path(table: RouteTable) -> None:
    route = matched(table, "GET", "/admin/v1/workspaces/w/ingestEndpoints/e/activityEntries").route
    # As if a template bound page_size (an int32) from the URL.
    variables = {"parent": "workspaces/w/ingestEndpoints/e", "page_size": "ten"}

    with pytest.raises(TranscodeError) as caught:
        transcode(route, variables, "", b"")

    assert caught.value.reason == INVALID_PATH
    assert caught.value.field == "page_size"
