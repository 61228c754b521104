"""make deploy-check: the repository's deploy files pass, and each check fails on what it is
there to catch (a root user, an unpinned base, a missing HPA or PDB, a bad probe, a compose
dependency on nothing, a field Kubernetes does not have)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import deploy_check
from tools.deploy_check import (
    compose_problems,
    compose_schema,
    dockerfile_problems,
    dockerfile_stages,
    kubernetes_problems,
    kubernetes_schema_problems,
    kustomization_images,
    schema_problems,
)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DOCKERFILE = (DEPLOY / "docker" / "Dockerfile").read_text()


@pytest.fixture
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


@pytest.fixture
def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


IMAGES = kustomization_images(DEPLOY / "kustomization.yaml")


def test_the_whole_deploy_directory_passes() -> None:
    problems, done = deploy_check.check(DEPLOY)

    assert problems == []
    assert len(done) == 3


# --- Dockerfile -----------------------------------------------------------------------------


def test_one_pinned_non_root_image_per_service() -> None:
    stages = dockerfile_stages(DOCKERFILE)

    assert set(deploy_check.SERVICE_TARGETS) <= set(stages)
    assert stages["store"].copies_from == ["build-store"]
    assert stages["gateway"].base == "runtime"
    assert stages["runtime"].base.startswith("python:3.11.")
    assert dockerfile_problems(DOCKERFILE) == []


def test_a_root_target_an_unpinned_base_and_a_missing_target_are_named() -> None:
    rootful = DOCKERFILE.replace("USER 10001\nEXPOSE 8080", "USER root\nEXPOSE 8080")
    floating = DOCKERFILE.replace("python:3.11.14-slim-bookworm", "python:3.11-slim")
    no_notifier = DOCKERFILE.replace("AS notifier", "AS notifier-old")

    assert any("target gateway: runs as 'root'" in p for p in dockerfile_problems(rootful))
    assert any("is not pinned" in p for p in dockerfile_problems(floating))
    assert "Dockerfile: no target 'notifier'" in dockerfile_problems(no_notifier)


# --- compose --------------------------------------------------------------------------------


def test_compose_follows_the_schema_and_the_rules(compose: dict[str, Any]) -> None:
    assert schema_problems(compose, compose_schema(), "compose.yaml") == []
    assert compose_problems(compose, dockerfile_stages(DOCKERFILE)) == []


def test_compose_mistakes_are_named(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["matcher"]["depends_on"] = {"storage": {"condition": "service_healthy"}}
    broken["services"]["gateway"]["depends_on"]["matcher"]["condition"] = "when_ready"
    broken["services"]["postgres"]["ports"] = ["5432:5432"]
    broken["services"]["store"]["build"]["target"] = "stor"

    schema = schema_problems(broken, compose_schema(), "compose.yaml")
    rules = compose_problems(broken, dockerfile_stages(DOCKERFILE))

    assert any("services/gateway/depends_on" in p for p in schema)
    assert "compose.yaml: services.matcher: depends on unknown service 'storage'" in rules
    assert any("services.postgres: publishes ports" in p for p in rules)
    assert any("unknown Dockerfile target 'stor'" in p for p in rules)


# --- Kubernetes -----------------------------------------------------------------------------


def test_every_stateless_service_has_probes_requests_an_hpa_and_a_pdb(
    manifests: list[dict[str, Any]],
) -> None:
    deployments = {m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"}
    scaled = {
        m["spec"]["scaleTargetRef"]["name"]
        for m in manifests
        if m["kind"] == "HorizontalPodAutoscaler"
    }

    assert deployments == {"store", "matcher", "notifier", "gateway", "envoy"}
    assert scaled == deployments
    assert kubernetes_problems(manifests, IMAGES) == []


def _without(manifests: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [m for m in manifests if not (m["kind"] == kind and m["metadata"]["name"] == name)]


def _container(manifests: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [deployment] = [
        m for m in manifests if m["kind"] == "Deployment" and m["metadata"]["name"] == name
    ]
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_kubernetes_mistakes_are_named(manifests: list[dict[str, Any]]) -> None:
    broken = _without(
        _without(manifests, "HorizontalPodAutoscaler", "matcher"), "PodDisruptionBudget", "notifier"
    )
    broken = copy.deepcopy(broken)
    _container(broken, "store")["readinessProbe"] = {"tcpSocket": {"port": 50052}}
    del _container(broken, "gateway")["resources"]["requests"]
    _container(broken, "envoy")["image"] = "envoyproxy/envoy:v1.40.0"

    problems = kubernetes_problems(broken, IMAGES)

    assert "Deployment matcher: no HorizontalPodAutoscaler scales it" in problems
    assert "Deployment notifier: no PodDisruptionBudget covers its pods" in problems
    assert (
        "Deployment store: container store: readinessProbe of a gRPC server is not a grpc"
        " health probe" in problems
    )
    assert "Deployment gateway: container gateway: no cpu and memory requests" in problems
    assert any("container envoy: image 'envoyproxy/envoy" in p for p in problems)


def test_kubernetes_schemas_refuse_unknown_fields_and_wrong_types(
    manifests: list[dict[str, Any]],
) -> None:
    assert kubernetes_schema_problems(manifests) == []
    broken = copy.deepcopy(manifests)
    _container(broken, "matcher")["readinesProbe"] = {"grpc": {"port": 50051}}
    _container(broken, "gateway")["ports"][0]["containerPort"] = "eighty"

    problems = kubernetes_schema_problems(broken)

    assert len(problems) == 2
    assert any(p.startswith("Deployment matcher:") and "readinesProbe" in p for p in problems)
    assert any(p.startswith("Deployment gateway:") and "eighty" in p for p in problems)
