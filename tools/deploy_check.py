"""`make deploy-check`: the deploy files checked without a container engine or a cluster.

    python -m tools.deploy_check [DEPLOY_DIR]

- deploy/docker/Dockerfile: hadolint, and inlet's rules (every service a target, bases pinned,
  the last USER of each target numeric and not root, each Python target built in a stage);
- deploy/compose.yaml: the Compose Specification's JSON schema (as vendored by the pinned
  check-jsonschema package), and inlet's rules (dependencies exist and are healthy or done,
  built targets exist, only the edges publish ports);
- deploy/kustomization.yaml: rendered by `kubectl kustomize` (kubectl from PyPI), each
  resource validated strictly against Kubernetes' own schemas (kubernetes-validate, for the
  version it ships), and inlet's rules (probes, resource requests, non-root, an HPA and a PDB
  per Deployment, Services that select pods, images the kustomization names).

Envoy's configuration is checked by `envoy --mode validate` (make envoy-check).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

JSON = dict[str, Any]

# The images the repository builds: Dockerfile target → the service it runs.
SERVICE_TARGETS = ("store", "matcher", "notifier", "gateway", "envoy")
# Compose services allowed to publish ports: the two HTTP edges.
EDGES = frozenset({"gateway", "envoy"})


# --- Dockerfile -------------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str  # after ARG defaults are substituted
    users: list[str] = field(default_factory=list)
    copies_from: list[str] = field(default_factory=list)


def dockerfile_stages(text: str) -> dict[str, Stage]:
    """The stages of a Dockerfile by name (unnamed ones by index), bases resolved."""
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in _logical_lines(text):
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "ARG" and current is None:
            name, _, default = rest.strip().partition("=")
            args[name] = default
        elif word == "FROM":
            parts = rest.split()
            image = parts[0]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else str(len(stages))
            base = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
            current = Stage(name, base)
            stages[name] = current
        elif word == "USER" and current is not None:
            current.users.append(rest.strip())
        elif word == "COPY" and current is not None:
            found = re.search(r"--from=(\S+)", rest)
            if found:
                current.copies_from.append(found.group(1))
    return stages


def _logical_lines(text: str) -> Iterable[str]:
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield pending + line
        pending = ""


def _pinned(image: str) -> bool:
    """name:X.Y.Z[…] or name@sha256:…: a patch release, not a moving tag (latest, 3.11)."""
    if "@sha256:" in image:
        return True
    _, _, tag = image.rpartition(":")
    return "/" not in tag and re.match(r"v?\d+\.\d+\.\d+", tag) is not None


def dockerfile_problems(text: str, targets: Sequence[str] = SERVICE_TARGETS) -> list[str]:
    stages = dockerfile_stages(text)
    problems: list[str] = []
    for stage in stages.values():
        if stage.base not in stages and not _pinned(stage.base):
            problems.append(f"Dockerfile: stage {stage.name}: base {stage.base!r} is not pinned")
    for target in targets:
        found = stages.get(target)
        if found is None:
            problems.append(f"Dockerfile: no target {target!r}")
            continue
        user = _last_user(found, stages)
        if user is None or not re.fullmatch(r"[1-9]\d*(:\d+)?", user):
            problems.append(
                f"Dockerfile: target {target}: runs as {user or 'root'!r}; its last USER must be"
                " a numeric non-root uid"
            )
        if found.base not in stages and not found.copies_from and target != "envoy":
            problems.append(f"Dockerfile: target {target}: not built in a separate stage")
    return problems


def _last_user(stage: Stage, stages: Mapping[str, Stage]) -> str | None:
    while True:
        if stage.users:
            return stage.users[-1]
        parent = stages.get(stage.base)
        if parent is None:
            return None
        stage = parent


# --- compose ----------------------------------------------------------------------------------


def compose_schema() -> JSON:
    """The Compose Specification schema vendored in the pinned check-jsonschema wheel."""
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: JSON = json.loads(vendored.joinpath("compose-spec.json").read_text())
    return schema


def schema_problems(document: Any, schema: JSON, where: str) -> list[str]:
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{where}: {'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    ]


def compose_problems(document: JSON, dockerfile_targets: Iterable[str]) -> list[str]:
    services: JSON = document.get("services") or {}
    targets = set(dockerfile_targets)
    problems: list[str] = []
    for name, service in services.items():
        where = f"compose.yaml: services.{name}"
        for needed, condition in _depends_on(service).items():
            other = services.get(needed)
            if other is None:
                problems.append(f"{where}: depends on unknown service {needed!r}")
            elif condition == "service_healthy" and not other.get("healthcheck"):
                problems.append(f"{where}: waits for {needed} to be healthy; it has no healthcheck")
            elif condition == "service_completed_successfully" and other.get("restart") not in (
                "no",
                None,
            ):
                problems.append(f"{where}: waits for {needed} to finish, which restarts")
        build = service.get("build")
        if isinstance(build, dict) and build.get("target") not in targets:
            problems.append(f"{where}: builds unknown Dockerfile target {build.get('target')!r}")
        if service.get("ports") and name not in EDGES:
            problems.append(f"{where}: publishes ports; only {sorted(EDGES)} may")
    return problems


def _depends_on(service: JSON) -> dict[str, str]:
    found = service.get("depends_on") or {}
    if isinstance(found, list):
        return {name: "service_started" for name in found}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in found.items()}


# --- Kubernetes -------------------------------------------------------------------------------


def kubernetes_problems(resources_: Sequence[JSON], images: Iterable[str]) -> list[str]:
    """inlet's rules over rendered resources."""
    by_kind: dict[str, list[JSON]] = {}
    for resource in resources_:
        by_kind.setdefault(resource.get("kind", ""), []).append(resource)
    problems: list[str] = []
    known_images = set(images)
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in by_kind.get("HorizontalPodAutoscaler", [])
        if h["spec"]["scaleTargetRef"].get("kind") == "Deployment"
    }
    pdb_selectors = [
        p["spec"].get("selector", {}).get("matchLabels", {})
        for p in by_kind.get("PodDisruptionBudget", [])
    ]
    pod_labels: list[JSON] = []
    for deployment in by_kind.get("Deployment", []):
        name = deployment["metadata"]["name"]
        where = f"Deployment {name}"
        template = deployment["spec"]["template"]
        labels = template["metadata"].get("labels", {})
        pod_labels.append(labels)
        problems += _pod_problems(where, template["spec"], known_images)
        if name not in hpa_targets:
            problems.append(f"{where}: no HorizontalPodAutoscaler scales it")
        if not any(_selects(selector, labels) for selector in pdb_selectors):
            problems.append(f"{where}: no PodDisruptionBudget covers its pods")
    for job in by_kind.get("Job", []):
        template = job["spec"]["template"]
        problems += _pod_problems(f"Job {job['metadata']['name']}", template["spec"], known_images)
    for service in by_kind.get("Service", []):
        selector = service["spec"].get("selector", {})
        if selector and not any(_selects(selector, labels) for labels in pod_labels):
            problems.append(f"Service {service['metadata']['name']}: selects no Deployment's pods")
    return problems


def _pod_problems(where: str, spec: JSON, images: set[str]) -> list[str]:
    problems: list[str] = []
    if not spec.get("securityContext", {}).get("runAsNonRoot"):
        problems.append(f"{where}: pods may run as root (securityContext.runAsNonRoot)")
    long_running = not where.startswith("Job ")
    for container in spec.get("containers", []):
        here = f"{where}: container {container.get('name')}"
        image = str(container.get("image", ""))
        if image.split(":")[0].split("@")[0] not in images:
            problems.append(f"{here}: image {image!r} is not one the kustomization names")
        requests = container.get("resources", {}).get("requests", {})
        if not {"cpu", "memory"} <= set(requests):
            problems.append(f"{here}: no cpu and memory requests")
        if container.get("securityContext", {}).get("allowPrivilegeEscalation") is not False:
            problems.append(f"{here}: allowPrivilegeEscalation is not false")
        if not long_running:
            continue
        ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            found = container.get(probe)
            if not found:
                problems.append(f"{here}: no {probe}")
            elif "grpc" in ports and "grpc" not in found:
                problems.append(f"{here}: {probe} of a gRPC server is not a grpc health probe")
    return problems


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def kustomization_images(path: Path) -> list[str]:
    document = yaml.safe_load(path.read_text())
    return [str(image["name"]) for image in document.get("images", [])]


def render(deploy_dir: Path) -> list[JSON]:
    """`kubectl kustomize` of the directory: every resource it renders."""
    kubectl = Path(sys.executable).with_name("kubectl")
    rendered = subprocess.run(
        [str(kubectl), "kustomize", str(deploy_dir)], capture_output=True, text=True, check=False
    )
    if rendered.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {deploy_dir} failed:\n{rendered.stderr}")
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def kubernetes_schema_problems(resources_: Sequence[JSON]) -> list[str]:
    """Each resource against the Kubernetes JSON schemas that kubernetes-validate ships
    (strict: an unknown field is an error)."""
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    problems: list[str] = []
    for resource in resources_:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            name = f"{resource.get('kind')} {resource.get('metadata', {}).get('name')}"
            problems.append(f"{name}: {error.message} (Kubernetes {version} schema)")
    return problems


def hadolint_problems(dockerfile: Path) -> list[str]:
    hadolint = Path(sys.executable).with_name("hadolint")
    linted = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [] if linted.returncode == 0 else [f"hadolint: {linted.stdout}{linted.stderr}".strip()]


# --- all of it --------------------------------------------------------------------------------


def check(deploy_dir: Path) -> tuple[list[str], list[str]]:
    """(problems, what was checked)."""
    done: list[str] = []
    dockerfile = deploy_dir / "docker" / "Dockerfile"
    text = dockerfile.read_text()
    problems = hadolint_problems(dockerfile) + dockerfile_problems(text)
    done.append(f"{dockerfile}: hadolint, {len(dockerfile_stages(text))} stages, targets pinned")

    compose_path = deploy_dir / "compose.yaml"
    compose = yaml.safe_load(compose_path.read_text())
    problems += schema_problems(compose, compose_schema(), "compose.yaml")
    problems += compose_problems(compose, dockerfile_stages(text))
    done.append(f"{compose_path}: compose-spec schema, {len(compose['services'])} services")

    rendered = render(deploy_dir)
    images = kustomization_images(deploy_dir / "kustomization.yaml")
    problems += kubernetes_schema_problems(rendered)
    problems += kubernetes_problems(rendered, images)
    kinds = sorted({f"{r['kind']}" for r in rendered})
    done.append(f"kubectl kustomize {deploy_dir}: {len(rendered)} resources ({', '.join(kinds)})")
    return problems, done


def main(argv: Sequence[str]) -> int:
    deploy_dir = Path(argv[0]) if argv else Path("deploy")
    problems, done = check(deploy_dir)
    for line in done:
        sys.stdout.write(f"checked {line}\n")
    for problem in problems:
        sys.stderr.write(f"{problem}\n")
    if problems:
        sys.stderr.write(f"{len(problems)} deploy problem(s)\n")
        return 1
    sys.stdout.write("deploy files are valid\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
