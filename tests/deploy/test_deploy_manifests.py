"""deploy/, checked offline: the Kubernetes manifests against the Kubernetes schemas that
kubernetes-validate bundles (strict: unknown fields refused), CloudNativePG's resources
against its CRDs' schemas (vendored/), the NATS values against the chart's own keys, the
compose file against the compose spec, the Dockerfile with hadolint; and what an operator
relies on: probes, non-root, resources, disruption budgets, autoscaling, no secret values."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENDORED = Path(__file__).parent / "vendored"
KUBERNETES_VERSION = "1.31"
IMAGE = "registry.example.org/barometer/baro"
SERVICES = {
    "baro-registration": 8001,
    "baro-audit-ingest-api": 8002,
    "baro-scoring": 8003,
    "baro-billing": 8004,
    "baro-reporting": 8005,
}
# No HTTP port: its health is the API's /ready (part `probe_writer`); it exits when it fails.
WITHOUT_HTTP = {"baro-audit-ingest-writer"}
CRD_KINDS = {"Cluster", "Pooler", "Database", "ScheduledBackup"}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubernetes_documents() -> list[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    paths = [DEPLOY / "k8s" / name for name in kustomization["resources"]]
    paths += [DEPLOY / "otel" / "collector.yaml", DEPLOY / "postgres" / "cluster.yaml"]
    paths.append(DEPLOY / "k8s" / "secret.example.yaml")
    return [(path.name, doc) for path in paths for doc in documents(path)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in kubernetes_documents() if d["kind"] == kind}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return list(spec["template"]["spec"]["containers"])


@pytest.mark.unit
def test_every_kubernetes_manifest_is_valid_against_its_schema() -> None:
    checked = 0
    for name, doc in kubernetes_documents():
        if doc["kind"] in CRD_KINDS:
            schema = json.loads(
                (VENDORED / "cnpg-1.30.0" / f"{doc['kind'].lower()}.json").read_text()
            )
            errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
            assert not errors, f"{name} {doc['kind']}: {errors}"
        elif doc["kind"] == "ExternalSecret":
            continue  # no bundled schema: test_secrets_come_from_the_secret_store checks it
        else:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 30


@pytest.mark.unit
def test_a_typo_in_a_cloudnativepg_field_is_caught() -> None:
    cluster = by_kind("Cluster")["baro-pg"]
    cluster["spec"]["postgresql"]["synchronous"]["dataDurabilty"] = "required"
    schema = json.loads((VENDORED / "cnpg-1.30.0" / "cluster.json").read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(cluster))


@pytest.mark.unit
def test_a_misspelled_kubernetes_field_is_refused() -> None:
    deployment = by_kind("Deployment")["baro-registration"]
    (container,) = containers(deployment)
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.unit
def test_every_service_has_probes_resources_a_budget_and_an_autoscaler() -> None:
    deployments = by_kind("Deployment")
    services, budgets, autoscalers = (
        by_kind("Service"),
        by_kind("PodDisruptionBudget"),
        by_kind("HorizontalPodAutoscaler"),
    )
    assert set(SERVICES) | WITHOUT_HTTP <= set(deployments)
    for name in set(SERVICES) | WITHOUT_HTTP:
        deployment = deployments[name]
        assert deployment["spec"]["replicas"] >= 2, name
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        (container,) = pod["containers"]
        assert container["image"].split(":")[0] == IMAGE, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert "memory" in resources["limits"]
        if name not in WITHOUT_HTTP:
            assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
            assert container["ports"][0]["containerPort"] == SERVICES[name], name
            assert services[name]["spec"]["ports"][0]["port"] == SERVICES[name], name
        budget = budgets[name]["spec"]
        assert budget["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert autoscalers[name]["spec"]["scaleTargetRef"]["name"] == name
        assert autoscalers[name]["spec"]["minReplicas"] >= 2


@pytest.mark.unit
def test_audit_ingest_api_and_probe_writer_are_separate_deployments() -> None:
    deployments = by_kind("Deployment")
    (api,) = containers(deployments["baro-audit-ingest-api"])
    (writer,) = containers(deployments["baro-audit-ingest-writer"])
    # Without --no-writer, `serve` would start a writer child of its own.
    assert api["command"][:3] == ["baro-audit-ingest", "serve", "--no-writer"]
    assert writer["command"] == ["baro-audit-ingest", "writer"]


@pytest.mark.unit
def test_every_image_is_the_one_image_and_pinned() -> None:
    for name, doc in kubernetes_documents():
        if doc["kind"] not in ("Deployment", "CronJob"):
            continue
        for container in containers(doc):
            image = container["image"]
            assert ":" in image, f"{name}: {image}"
            assert not image.endswith(":latest"), f"{name}: {image}"
            if doc["metadata"]["name"] != "otel-collector":
                assert image.split(":")[0] == IMAGE, f"{name}: {image}"


@pytest.mark.unit
def test_secrets_come_from_the_secret_store() -> None:
    for name, doc in kubernetes_documents():
        if doc["kind"] not in ("Deployment", "CronJob"):
            continue
        for container in containers(doc):
            for variable in container.get("env", []):
                if re.search("SECRET|PASSWORD|DATABASE_URL|TOKEN", variable["name"]):
                    assert "secretKeyRef" in variable.get("valueFrom", {}), (name, variable)
    config = by_kind("ConfigMap")["baro-config"]["data"]
    assert not any(re.search("SECRET|PASSWORD|DATABASE_URL", key) for key in config)
    external = by_kind("ExternalSecret")["baro-secrets"]
    assert external["apiVersion"].startswith("external-secrets.io/")
    assert external["spec"]["target"]["name"] == "baro-secrets"
    keys = {item["secretKey"] for item in external["spec"]["data"]}
    referenced = {
        variable["valueFrom"]["secretKeyRef"]["key"]
        for _, doc in kubernetes_documents()
        if doc["kind"] in ("Deployment", "CronJob") and doc["metadata"]["name"] != "otel-collector"
        for container in containers(doc)
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    }
    assert referenced <= keys
    example = by_kind("Secret")["baro-secrets"]["stringData"]
    assert all("PLACEHOLDER" in value for value in example.values())
    assert "secret.example.yaml" not in (DEPLOY / "k8s" / "kustomization.yaml").read_text()


@pytest.mark.unit
def test_the_config_is_what_the_services_read_for_a_cluster() -> None:
    config = by_kind("ConfigMap")["baro-config"]["data"]
    assert config["BARO_ENV"] == "production"
    assert config["BARO_STREAM_REPLICAS"] == "3"
    servers = config["NATS_URL"].split(",")
    assert len(servers) == 3
    assert all(s.startswith("nats://") for s in servers)
    assert int(config["BARO_PG_POOL_MAX"]) > 0
    assert config["OTEL_TRACES_EXPORTER"] == "otlp"


@pytest.mark.unit
def test_postgres_is_three_instances_synchronous_with_required_durability_and_session_pooler() -> (
    None
):
    cluster = by_kind("Cluster")["baro-pg"]["spec"]
    assert cluster["instances"] == 3
    assert cluster["postgresql"]["synchronous"] == {
        "method": "any",
        "number": 1,
        "dataDurability": "required",
    }
    assert "secretAccessKey" in cluster["backup"]["barmanObjectStore"]["s3Credentials"]
    (pooler,) = by_kind("Pooler").values()
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "session"
    assert pooler["spec"]["cluster"]["name"] == "baro-pg"
    databases = {d["spec"]["name"] for d in by_kind("Database").values()}
    databases.add(cluster["bootstrap"]["initdb"]["database"])
    assert databases == {"registration", "audit_ingest", "scoring", "billing", "reporting"}


def key_paths(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if not isinstance(node, dict):
        return {prefix}
    paths = {prefix}
    for key, value in node.items():
        paths |= key_paths(value, (*prefix, str(key)))
    return paths


@pytest.mark.unit
def test_nats_values_are_a_three_node_jetstream_cluster_in_the_charts_keys() -> None:
    values = yaml.safe_load((DEPLOY / "nats" / "values.yaml").read_text())
    assert values["config"]["cluster"]["enabled"] is True
    assert values["config"]["cluster"]["replicas"] == 3
    jetstream = values["config"]["jetstream"]
    assert jetstream["enabled"] is True
    assert jetstream["fileStore"]["pvc"]["enabled"] is True
    chart = yaml.safe_load((VENDORED / "nats-chart-2.14.2-values.yaml").read_text())
    known = key_paths(chart)
    free = {
        ("config", "merge"),
        ("podTemplate", "topologySpreadConstraints"),
        ("container", "resources"),
    }
    unknown = [
        path
        for path in key_paths(values)
        if path not in known and not any(path[: len(f)] == f for f in free)
    ]
    assert not unknown, f"keys the nats chart does not have: {unknown}"


@pytest.mark.unit
def test_compose_file_is_valid_and_a_three_node_cluster_with_every_service() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    schema = json.loads((VENDORED / "compose_spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)
    services = compose["services"]
    nodes = {name for name in services if name.startswith("nats-")}
    assert len(nodes) == 3
    for node in nodes:
        command = services[node]["command"]
        assert "-js" in command
        routes = command[command.index("--routes") + 1].split(",")
        assert {r.removeprefix("nats://").split(":")[0] for r in routes} == nodes - {node}
    for name in (
        "registration",
        "audit-ingest-api",
        "audit-ingest-writer",
        "scoring",
        "billing",
        "reporting",
    ):
        environment = services[name]["environment"]
        assert environment["BARO_STREAM_REPLICAS"] == "3", name
        assert len(environment["NATS_URL"].split(",")) == 3, name
        assert environment["BARO_JWT_SECRET"].startswith("${"), "secrets come from deploy/.env"
    assert "otel-collector" in services
    assert "postgres" in services


@pytest.mark.unit
def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "style", str(DEPLOY / "Dockerfile")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.unit
def test_dockerfile_runs_as_a_fixed_non_root_user_from_pinned_bases() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert bases
    assert all(re.search(r":\d", base) for base in bases)
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users
    assert users[-1].split(":")[0] not in ("0", "root")
    assert "--frozen" in text
    assert "--no-dev" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".data", ".tools"} <= set(ignored)
