"""Deployment files agree with ``celeryconfig.py`` and with the Compose Specification.

There is no Docker engine on developer or CI machines, so ``compose.yaml`` is never run
here: it is parsed as YAML, validated against the Compose Specification JSON schema and
cross-checked against the queues declared in ``celeryconfig`` (one queue per stage, one
``workers/<queue>.py`` entry point and one ``worker-<queue>`` service per queue, GPU
stages reserving a GPU).

tests/data/compose-spec.json is the compose-spec project's schema (compose-spec/compose-spec
schema/compose-spec.json), copied verbatim from the npm package dclint 3.1.0, file
package/schemas/compose.schema.json (dclint's update-compose-schema script downloads it
from the compose-spec repository);
sha256 46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import celeryconfig
from dalston.pipeline.stages import STAGES, Stage
from tests import deploy_check

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yaml"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose-spec.json"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
K8S_DIR = ROOT / "deploy" / "k8s"
README = ROOT / "README.md"

#: Stages whose engines need a GPU in a deployment (design.md §4), from the stage table.
GPU_QUEUES = {spec.queue for spec in STAGES if spec.gpu}
#: ``workers/*.py`` entry points that are processes but not stage queues (design.md §2).
NON_QUEUE_ENTRY_POINTS = {"realtime", "beat", "flower"}
_argv = deploy_check.argv
_worker_module = deploy_check.worker_module
_reserves_gpu = deploy_check.reserves_gpu
_k8s_documents = deploy_check.k8s_documents


def _declared_queues() -> set[str]:
    return {q.name for q in celeryconfig.task_queues} | set(celeryconfig.STAGE_QUEUES)


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"missing {COMPOSE_FILE.relative_to(ROOT)}"
    with COMPOSE_FILE.open() as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    assert compose.get("services"), "compose.yaml declares no services"
    return compose["services"]


def _worker_services(services: dict) -> dict[str, str]:
    """Compose service name -> queue, for every service running ``python -m workers.<q>``."""
    found = {}
    for name, svc in services.items():
        argv = _argv((svc or {}).get("command"))
        queue = _worker_module(argv)
        if queue is not None:
            found[name] = queue
    return found


def _schema_validator(schema: dict):
    """The validator class the schema's ``$schema`` names (tolerating https / no '#')."""
    declared = schema.get("$schema", "")
    for marker, cls in (
        ("draft-07", jsonschema.Draft7Validator),
        ("draft/2019-09", jsonschema.Draft201909Validator),
        ("draft/2020-12", jsonschema.Draft202012Validator),
        ("draft-06", jsonschema.Draft6Validator),
        ("draft-04", jsonschema.Draft4Validator),
    ):
        if marker in declared:
            return cls
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)


# (a) ------------------------------------------------------------------------------------


def test_compose_file_matches_compose_specification(compose):
    schema = json.loads(SCHEMA_FILE.read_text())
    cls = _schema_validator(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors
    ]
    assert not problems, "compose.yaml violates the Compose Specification:\n" + "\n".join(problems)


def test_compose_has_no_obsolete_version_key(compose):
    assert "version" not in compose, "compose.yaml has an obsolete top-level 'version:' key"


# (b) ------------------------------------------------------------------------------------


def test_queues_are_declared_consistently():
    queue_names = [q.name for q in celeryconfig.task_queues]
    expected = celeryconfig.STAGE_QUEUES + celeryconfig.OTHER_QUEUES
    assert sorted(queue_names) == sorted(expected), (
        f"celeryconfig.task_queues {queue_names} differ from STAGE_QUEUES + OTHER_QUEUES "
        f"{list(expected)}"
    )


@pytest.mark.parametrize("queue", sorted(_declared_queues()))
def test_every_queue_has_a_compose_worker_service(services, queue):
    running = [name for name, q in _worker_services(services).items() if q == queue]
    assert running, (
        f"no compose service runs `python -m workers.{queue}` for queue {queue!r} "
        f"(expected a service named worker-{queue})"
    )
    assert (
        f"worker-{queue}" in running
    ), f"queue {queue!r} is run by {running}, not by a service named worker-{queue}"


@pytest.mark.parametrize("queue", sorted(_declared_queues()))
def test_every_queue_has_a_worker_entry_point(queue):
    path = ROOT / "workers" / f"{queue}.py"
    assert path.is_file(), f"queue {queue!r} has no entry point workers/{queue}.py"


def test_every_worker_entry_point_is_a_declared_queue():
    declared = _declared_queues()
    entry_points = {
        p.stem
        for p in (ROOT / "workers").glob("*.py")
        if not p.stem.startswith("_") and p.stem not in NON_QUEUE_ENTRY_POINTS
    }
    unknown = sorted(entry_points - declared)
    assert not unknown, (
        f"workers/{{{','.join(unknown)}}}.py look like queue entry points but "
        f"celeryconfig declares no such queue (declared: {sorted(declared)})"
    )


def test_every_compose_worker_service_maps_to_a_declared_queue(services):
    declared = _declared_queues()
    workers = _worker_services(services)
    bad = {name: q for name, q in workers.items() if q not in declared | NON_QUEUE_ENTRY_POINTS}
    assert not bad, f"compose services run workers for undeclared queues: {bad}"
    misnamed = sorted(
        name for name in services if name.startswith("worker-") and name not in workers
    )
    assert not misnamed, f"compose services {misnamed} are named worker-* but run no workers.<q>"
    wrong = {name: q for name, q in workers.items() if q in declared and name != f"worker-{q}"}
    assert not wrong, f"worker services not named worker-<queue>: {wrong}"


def test_worker_services_can_be_scaled(services):
    pinned = sorted(
        name for name in _worker_services(services) if "container_name" in services[name]
    )
    assert not pinned, f"worker services {pinned} set container_name, which breaks --scale"


# (c) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", sorted(GPU_QUEUES))
def test_gpu_workers_reserve_a_gpu_and_read_models_offline(services, queue):
    name = f"worker-{queue}"
    assert name in services, f"no compose service {name} for GPU queue {queue!r}"
    svc = services[name]
    assert _reserves_gpu(svc), (
        f"{name} reserves no GPU (deploy.resources.reservations.devices with driver nvidia, "
        f"capabilities [gpu])"
    )
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    assert str(env.get("HF_HUB_OFFLINE")) == "1", f"{name} does not set HF_HUB_OFFLINE=1"
    assert (
        env.get("DALSTON_MODEL_DIR") == "/models"
    ), f"{name} does not set DALSTON_MODEL_DIR=/models"
    mounts = []
    for vol in svc.get("volumes") or []:
        if isinstance(vol, str):
            parts = vol.split(":")
            mounts.append((parts[1] if len(parts) > 1 else parts[0], parts[2:] == ["ro"]))
        else:
            mounts.append((vol.get("target"), bool(vol.get("read_only"))))
    assert (
        "/models",
        True,
    ) in mounts, f"{name} does not mount a model directory read-only at /models"


def test_cpu_workers_reserve_no_gpu(services):
    cpu = sorted(
        name
        for name, q in _worker_services(services).items()
        if q not in GPU_QUEUES and _reserves_gpu(services[name])
    )
    assert not cpu, f"CPU-only worker services {cpu} reserve a GPU"


# (d) ------------------------------------------------------------------------------------


def test_every_task_route_points_at_a_declared_queue():
    declared = _declared_queues()
    bad = {}
    for task, route in celeryconfig.task_routes.items():
        queue = route.get("queue") if isinstance(route, dict) else route
        queue = getattr(queue, "name", queue)
        if queue not in declared:
            bad[task] = queue
    assert not bad, f"task_routes send tasks to undeclared queues: {bad}"
    assert (
        celeryconfig.task_default_queue in declared
    ), f"task_default_queue {celeryconfig.task_default_queue!r} is not a declared queue"
    stage_tasks = [f"dalston.{q}" for q in celeryconfig.STAGE_QUEUES]
    unrouted = [t for t in stage_tasks if t not in celeryconfig.task_routes]
    assert not unrouted, f"stage tasks without a route in celeryconfig.task_routes: {unrouted}"


# (e) ------------------------------------------------------------------------------------


def test_dockerfiles_referenced_by_compose_exist(services):
    missing = []
    for name, svc in services.items():
        build = (svc or {}).get("build")
        if build is None:
            continue
        if isinstance(build, str):
            context, dockerfile = build, "Dockerfile"
        else:
            context, dockerfile = build.get("context", "."), build.get("dockerfile", "Dockerfile")
        path = ROOT / context / dockerfile
        if not path.is_file():
            missing.append(f"{name}: {path.relative_to(ROOT)}")
    assert not missing, "compose services build from missing Dockerfiles: " + ", ".join(missing)


def test_services_with_no_build_name_an_image(services):
    bare = sorted(n for n, s in services.items() if not s.get("build") and not s.get("image"))
    assert not bare, f"compose services {bare} have neither build nor image"


# (f) ------------------------------------------------------------------------------------


def _env_example_names() -> list[str]:
    names = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.append(line.split("=", 1)[0].removeprefix("export ").strip())
    return names


def test_env_example_lists_the_compose_environment(compose):
    assert ENV_EXAMPLE.is_file(), "missing deploy/.env.example"
    listed = set(_env_example_names())
    shared = compose.get("x-dalston-env") or {}
    missing = sorted(set(shared) - listed)
    assert not missing, f"deploy/.env.example does not list {missing} (set in x-dalston-env)"


def test_env_example_variables_are_documented_in_readme():
    names = [n for n in _env_example_names() if n.startswith("DALSTON_")]
    assert names, "deploy/.env.example lists no DALSTON_* variable"
    if README.is_file():
        readme = README.read_text()
        undocumented = [n for n in names if n not in readme]
        assert (
            not undocumented
        ), f"README.md does not document {undocumented} (listed in deploy/.env.example)"


# Kubernetes manifests ---------------------------------------------------------------------


def test_k8s_manifests_are_namespace_less():
    namespaced = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in _k8s_documents()
        if "namespace" in (d.get("metadata") or {})
    ]
    assert not namespaced, f"deploy/k8s manifests pin a namespace: {namespaced}"


@pytest.mark.parametrize("queue", sorted(_declared_queues()))
def test_every_queue_has_a_k8s_deployment(queue):
    deployments = [d for d in _k8s_documents() if d.get("kind") == "Deployment"]
    running = []
    for dep in deployments:
        for container in dep["spec"]["template"]["spec"]["containers"]:
            if _worker_module(_argv(container.get("command"))) == queue:
                running.append((dep["metadata"]["name"], container))
    assert running, f"no Deployment in deploy/k8s runs `python -m workers.{queue}`"
    if queue in GPU_QUEUES:
        for name, container in running:
            limits = (container.get("resources") or {}).get("limits") or {}
            assert (
                str(limits.get("nvidia.com/gpu")) == "1"
            ), f"Deployment {name} (GPU queue {queue!r}) does not request nvidia.com/gpu: 1"


# The gpu extra -------------------------------------------------------------------------------


def test_gpu_extra_holds_the_hub_engines_and_the_gpu_image_installs_it():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    gpu = cfg["options.extras_require"]["gpu"]
    assert "pyannote.audio" in gpu and "whisperx" in gpu, gpu
    dockerfile = (ROOT / "deploy" / "Dockerfile.worker-gpu").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert any("gpu" in line for line in installs), installs


# The stage table ---------------------------------------------------------------------------


def test_the_stage_table_is_complete_in_the_repository():
    """Every StageSpec has its stage module, task, entry point, compose and k8s services."""
    assert deploy_check.missing(STAGES) == []


def test_queues_and_stage_names_derive_from_the_stage_table():
    assert celeryconfig.STAGE_QUEUES == tuple(spec.queue for spec in STAGES)
    assert [s.value for s in Stage] == [spec.name for spec in STAGES]
    stage_routes = set(celeryconfig.task_routes) - set(celeryconfig.WEBHOOK_ROUTES)
    assert stage_routes == {spec.task_name for spec in STAGES}
