"""The pieces that make both HTTP edges one contract: the twins in Envoy's descriptor set,
the transcoder's service list, and Envoy's local replies generated from the envelopes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from google.protobuf import descriptor_pb2

from inlet_common.config import DEFAULT_EXTERNAL_PROBLEM_BASE
from inlet_common.httptwins import HTTP_BODY_FIELD
from inlet_common.twindescriptors import twin_files
from inlet_devstack import envoy
from inlet_gateway import edge_headers, limits
from tools import envoy_replies

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTORS = ROOT / "gen" / "inlet.binpb"


def _descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTORS.read_bytes())


def _transcoder() -> dict[str, object]:
    config = yaml.safe_load(envoy_replies.CONFIG.read_text())
    (listener,) = config["static_resources"]["listeners"]
    (manager,) = listener["filter_chains"][0]["filters"]
    for http_filter in manager["typed_config"]["http_filters"]:
        if http_filter["name"] == "envoy.filters.http.grpc_json_transcoder":
            found: dict[str, object] = http_filter["typed_config"]
            return found
    raise AssertionError("no transcoder in envoy.yaml")


def test_the_descriptor_set_holds_every_twin_as_the_services_build_them() -> None:
    found = _descriptor_set()
    ours = [f for f in found.file if f.name.startswith("inlet/") and "_http" not in f.name]
    twins = [f for f in found.file if f.name.endswith("_http.proto")]
    assert twins == twin_files(ours)


def test_each_twin_file_builds_in_protobufs_own_descriptor_builder(tmp_path: Path) -> None:
    # Envoy builds its pool with the C++ builder, stricter than Python's (imports).
    for twin in (f for f in _descriptor_set().file if f.name.endswith("_http.proto")):
        built = subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"--descriptor_set_in={DESCRIPTORS}",
                f"--descriptor_set_out={tmp_path / 'out.binpb'}",
                twin.name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert built.returncode == 0, built.stderr


def test_the_transcoder_serves_exactly_the_twins() -> None:
    twins = {
        f"{f.package}.{s.name}"
        for f in _descriptor_set().file
        if f.name.endswith("_http.proto")
        for s in f.service
    }
    assert set(_transcoder()["services"]) == twins  # type: ignore[call-overload]


def test_a_json_body_twin_takes_the_body_as_sent() -> None:
    twin = next(f for f in _descriptor_set().file if f.name == "inlet/admin/v1/admin_http.proto")
    (service,) = twin.service
    create = next(m for m in service.method if m.name == "CreateEntityType")
    assert create.input_type == ".inlet.admin.v1.CreateEntityTypeRequestHttp"
    carrier = next(m for m in twin.message_type if m.name == "CreateEntityTypeRequestHttp")
    assert [f.name for f in carrier.field][-1] == HTTP_BODY_FIELD
    assert create.output_type == ".google.api.HttpBody"


def test_envoys_local_replies_are_generated_from_the_envelopes() -> None:
    text = envoy_replies.CONFIG.read_text()
    assert envoy_replies.rendered(text) == text, "run `make protos`"


def test_a_local_reply_is_the_gateways_envelope_with_envoys_operators() -> None:
    mappers = envoy_replies.mappers()
    external_404 = mappers[0]["body_format_override"]
    assert external_404["content_type"] == "application/problem+json"
    assert external_404["json_format"]["timestamp"] == envoy_replies.TIMESTAMP
    stream_413 = next(
        m["body_format_override"]["json_format"]
        for m in mappers
        if m["body_format_override"]["json_format"].get("error", {}).get("code")
        == "PAYLOAD_TOO_LARGE"
    )
    assert stream_413 == {
        "success": False,
        "error": {
            "code": "PAYLOAD_TOO_LARGE",
            "message": "%LOCAL_REPLY_BODY%",
            "request_id": "%REQ(X-REQUEST-ID)%",
        },
    }


def test_envoy_answers_a_wrong_method_with_the_gateways_allow_list() -> None:
    allowed = dict(envoy_replies.allowed_methods())
    assert allowed["/api/v1/ingest/(?P<v0>[^/:]+)"] == ["POST"]
    assert allowed["/api/v1/external/form"] == ["POST", "OPTIONS"]
    assert allowed["/healthz"] == ["GET", "HEAD"]
    config = yaml.safe_load(envoy_replies.CONFIG.read_text())
    routes = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0][
        "typed_config"
    ]["route_config"]["virtual_hosts"][0]["routes"]
    # Before every other route, so a capped route's prefix never takes a wrong method.
    first = routes[: len(allowed)]
    assert all(route["direct_response"]["status"] == 405 for route in first)


def test_envoys_lua_filter_holds_the_gateways_header_rules() -> None:
    text = envoy_replies.CONFIG.read_text()
    assert envoy_replies.lua_block() in text
    rules = "\n".join(envoy_replies.lua_rules())
    for name, cap in edge_headers.HEADER_CAPS.items():
        assert f'["{name.decode()}"] = {cap}' in rules
    assert f'["user-agent"] = {edge_headers.INFORMATIONAL_CAPS[b"user-agent"]}' in rules
    assert f'"{edge_headers.HEADER_BLOCK_MESSAGE}"' in rules
    # Envoy's own codec limits lie past the gateway's block cap, so the Lua filter judges it.
    (listener,) = yaml.safe_load(text)["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["max_request_headers_kb"] * 1024 > edge_headers.MAX_HEADER_BLOCK_BYTES
    assert manager["request_timeout"] == f"{envoy_replies.BODY_TIMEOUT_SECONDS:g}s"


def test_the_launcher_renders_the_gateways_settings_into_envoys_config() -> None:
    text = envoy_replies.CONFIG.read_text()
    env = {
        "INLET_GATEWAY_BODY_TIMEOUT_SECONDS": "2.5",
        "INLET_GATEWAY_HEADER_TIMEOUT_SECONDS": "7",
        "INLET_EXTERNAL_PROBLEM_BASE": "https://errors.example.com/",
    }
    rendered = envoy.with_settings(text, env)
    assert "request_timeout: 2.5s" in rendered
    assert "request_headers_timeout: 7s" in rendered
    assert limits.body_timeout_message(2.5) in rendered
    assert limits.body_timeout_message(30) not in rendered
    assert "type: https://errors.example.com/not-found/route" in rendered
    assert DEFAULT_EXTERNAL_PROBLEM_BASE not in rendered
    assert envoy.with_settings(text, {}) == text


def test_upstreams_at_ip_addresses_are_static_clusters_and_names_stay_resolved() -> None:
    def cluster_types(store: str) -> set[str]:
        text = envoy.render(8081, matcher="127.0.0.1:1", store=store, notifier="127.0.0.1:3")
        return {c["type"] for c in yaml.safe_load(text)["static_resources"]["clusters"]}

    # An address needs no resolving, so no cluster re-resolves it on a timer.
    assert cluster_types("127.0.0.1:2") == {"STATIC"}
    assert cluster_types("store.inlet.svc:50052") == {"STRICT_DNS"}
