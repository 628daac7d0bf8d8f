"""The compose stack, the Prometheus config, the Grafana dashboard and the Kubernetes manifests.

No Docker engine runs here: `docker compose config` (or docker-compose v1) needs only the
client. Where no compose client is installed the structural checks below still run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from core import observability

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy/prometheus/prometheus.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/somo.json"
K8S = ROOT / "deploy/k8s/base"
ENV = {**os.environ, "SECRET_KEY": "test-secret", "GRAFANA_ADMIN_PASSWORD": "test-password"}


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def defined_series() -> set[str]:
    """Every series name Somo exposes: the metric objects plus the scrape-time gauges."""
    names = {"somo_queue_depth", "somo_job_age_seconds", "somo_active_students"}
    for obj in vars(observability).values():
        if hasattr(obj, "_type") and getattr(obj, "_name", "").startswith("somo_"):
            base = obj._name
            if obj._type == "counter":
                names.add(base + "_total")
            elif obj._type == "histogram":
                names |= {base + "_bucket", base + "_count", base + "_sum"}
    return names


def metrics_ports(service: dict) -> list[int]:
    """The ports on which a compose service serves /metrics."""
    command = [str(c) for c in service.get("command") or []]
    ports = []
    if command[:2] == ["somo", "serve"]:
        ports.append(int(command[command.index("--port") + 1]))
    if "--metrics-port" in command:
        ports.append(int(command[command.index("--metrics-port") + 1]))
    return ports


def scraped_targets() -> set[tuple[str, int]]:
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                host, _, port = target.partition(":")
                targets.add((host, int(port)))
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                targets.add((name, int(sd["port"])))
    return targets


def test_the_stack_has_every_service_with_several_api_workers():
    services = load_compose()["services"]
    assert {"api", "worker", "scheduler", "postgres", "redis", "qdrant", "prometheus", "grafana"} <= set(services)
    api = services["api"]
    workers = api["command"][api["command"].index("--workers") + 1]
    assert re.fullmatch(r"\$\{API_WORKERS:-(\d+)\}", workers) and int(workers.split("-")[1][:-1]) >= 2
    assert api["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/run/somo-metrics"
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name in ("api", "worker", "scheduler", "migrate"):
        assert services[name]["build"] == ".", f"{name} must be built from the repo's Dockerfile"


def test_prometheus_scrapes_every_service_that_exposes_metrics():
    services = load_compose()["services"]
    exposing = {(name, port) for name, svc in services.items() for port in metrics_ports(svc)}
    assert {("api", 8000), ("worker", 9101), ("scheduler", 9101)} <= exposing
    missing = exposing - scraped_targets()
    assert not missing, f"deploy/prometheus/prometheus.yml does not scrape {sorted(missing)}"


def test_prometheus_and_grafana_mount_files_that_exist():
    services = load_compose()["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    provisioning = ROOT / "deploy/grafana/provisioning"
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["uid"] == "somo-prometheus"
    provider = yaml.safe_load((provisioning / "dashboards/somo.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_covers_traffic_latency_errors_queue_cost_with_real_series():
    dashboard = json.loads(DASHBOARD.read_text())
    rows = {p["title"] for p in dashboard["panels"] if p["type"] == "row"}
    assert {"Traffic", "Latency", "Errors", "Queue", "Cost"} <= rows
    used = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "somo-prometheus"
            used |= set(re.findall(r"somo_[a-z_]+", target["expr"]))
    unknown = used - defined_series()
    assert not unknown, f"the dashboard queries series nobody exports: {sorted(unknown)}"
    for series in ("somo_inbound_messages_total", "somo_webhook_seconds_bucket", "somo_queue_depth",
                   "somo_llm_cost_usd_total", "somo_job_failures_total", "somo_sms_segments_total"):
        assert series in used


def test_alert_rules_use_only_exported_series():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    used = {name for rule in rules for name in re.findall(r"somo_[a-z_]+", rule["expr"])}
    assert used and not used - defined_series(), sorted(used - defined_series())


def compose_cli() -> list[str] | None:
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_client_accepts_the_stack_and_rejects_a_broken_one(tmp_path):
    cli = compose_cli()
    if cli is None:
        # No compose client on this machine: the structural tests above are the check.
        assert load_compose()["services"]["api"]["build"] == "."
        return
    ok = subprocess.run([*cli, "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    broken = load_compose()
    broken["services"]["api"]["healthcheck"]["interval"] = {"not": "a duration"}
    bad_file = tmp_path / "docker-compose.yml"
    bad_file.write_text(yaml.safe_dump(broken))
    bad = subprocess.run([*cli, "-f", str(bad_file), "config", "-q"], cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert bad.returncode != 0 and "interval" in (bad.stderr + bad.stdout)


# --- Kubernetes ------------------------------------------------------------------------

def kustomize_build() -> list[dict]:
    """`kubectl kustomize` when installed; else the resources listed in kustomization.yaml."""
    if shutil.which("kubectl"):
        out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return [d for d in yaml.safe_load_all(out.stdout) if d]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        path = K8S / resource
        assert path.is_file(), f"kustomization.yaml lists {resource}, which does not exist"
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize_build()}


def test_every_manifest_passes_the_kubernetes_schema(manifests):
    import kubernetes_validate  # a dev dependency: schemas of every Kubernetes release, offline
    for (kind, name), doc in manifests.items():
        try:
            kubernetes_validate.validate(doc, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{kind}/{name}: {exc.message} at {list(exc.path)}")


def test_workloads_have_probes_resources_config_and_secret(manifests):
    for name in ("somo-api", "somo-worker", "somo-scheduler"):
        pod = manifests[("Deployment", name)]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["image"].startswith("ghcr.io/example/somo:"), "the image transformer must apply"
        assert {"requests", "limits"} <= set(container["resources"]), name
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == {"somo-config", "somo-secrets"}, name
        assert "livenessProbe" in container, name
    api = manifests[("Deployment", "somo-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert int(api["command"][api["command"].index("--workers") + 1]) >= 2
    assert {"name": "PROMETHEUS_MULTIPROC_DIR", "value": "/run/somo-metrics"} in api["env"]
    assert manifests[("ConfigMap", "somo-config")]["data"]["QDRANT_URL"].startswith("https://")
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(manifests[("Secret", "somo-secrets")]["stringData"])


def test_api_scales_on_cpu_and_workers_on_queue_depth(manifests):
    api = manifests[("HorizontalPodAutoscaler", "somo-api")]["spec"]
    assert api["scaleTargetRef"]["name"] == "somo-api"
    assert api["metrics"][0]["resource"]["name"] == "cpu"
    worker = manifests[("HorizontalPodAutoscaler", "somo-worker")]["spec"]
    assert worker["scaleTargetRef"]["name"] == "somo-worker"
    assert worker["metrics"][0]["type"] == "External"
    assert worker["metrics"][0]["external"]["metric"]["name"] == "somo_queue_depth"
    assert "somo_queue_depth" in defined_series()


def test_the_schema_check_rejects_a_broken_deployment(manifests):
    import copy

    import kubernetes_validate

    broken = copy.deepcopy(manifests[("Deployment", "somo-api")])
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)
