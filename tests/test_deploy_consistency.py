"""Deployment files agree with ``celeryconfig.py`` and with the Compose Specification.

There is no Docker engine on developer or CI machines, so ``compose.yaml`` is never run
here: it is parsed as YAML, validated against the Compose Specification JSON schema and
cross-checked against the queues declared in ``celeryconfig`` (one queue per stage plus
``webhooks``, one ``workers/<queue>.py`` entry point and one ``worker-<queue>`` service per
queue and for the realtime worker, GPU stages reserving a GPU), against
``deploy/.env.example``, ``dalston/config.py`` and the README (every variable listed and
documented), and for what an operator relies on: health checks, start order, Flower behind
authentication, ports on loopback by default. The Kubernetes side is
``tests/test_deploy_schemas.py``.

tests/data/compose-spec.json is the compose-spec project's schema (compose-spec/compose-spec
schema/compose-spec.json), copied verbatim from the npm package dclint 3.1.0, file
package/schemas/compose.schema.json (dclint's update-compose-schema script downloads it
from the compose-spec repository);
sha256 46b7d35f19dd93a05f8fea530291bf84d881c1791ec167ecf0e6fb94e639d496.
"""

from __future__ import annotations

import json
import re
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
#: Celery queues that are not stages: webhook deliveries (``python -m workers.webhooks``).
AUX_QUEUES = {"webhooks"}
#: Every worker process the deployment runs: the stage queues, AUX_QUEUES and realtime.
WORKER_PROCESSES = sorted({spec.queue for spec in STAGES} | AUX_QUEUES | {"realtime"})
#: Worker processes that reserve a GPU: the GPU stages and the realtime worker.
GPU_PROCESSES = GPU_QUEUES | {"realtime"}
#: Compose services that run to completion (no health check, no restart).
ONE_SHOT = {"migrate", "minio-init"}
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
    assert set(celeryconfig.STAGE_QUEUES) <= set(queue_names), (
        f"celeryconfig.task_queues {queue_names} lack some of STAGE_QUEUES "
        f"{list(celeryconfig.STAGE_QUEUES)}"
    )
    extra = set(queue_names) - set(celeryconfig.STAGE_QUEUES)
    assert extra <= AUX_QUEUES, f"queues {sorted(extra)} have no worker in the deployment files"
    assert len(queue_names) == len(set(queue_names)), f"a queue is declared twice: {queue_names}"


@pytest.mark.parametrize("process", WORKER_PROCESSES)
def test_every_worker_process_has_exactly_one_compose_service(services, process):
    running = sorted(name for name, q in _worker_services(services).items() if q == process)
    assert running == [f"worker-{process}"], f"services running workers.{process}: {running}"


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
    known = declared | NON_QUEUE_ENTRY_POINTS | AUX_QUEUES
    bad = {name: q for name, q in workers.items() if q not in known}
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


@pytest.mark.parametrize("queue", sorted(GPU_PROCESSES))
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
        if q not in GPU_PROCESSES and _reserves_gpu(services[name])
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


#: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}`` … (``$$`` is a literal dollar).
_INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def _interpolations() -> list[tuple[str, str, str]]:
    """``(name, operator, argument)`` of every interpolation in compose.yaml."""
    text = COMPOSE_FILE.read_text()
    return [(m.group(1), m.group(2) or "", m.group(3) or "") for m in _INTERPOLATION.finditer(text)]


def test_env_example_lists_every_variable_compose_reads():
    assert ENV_EXAMPLE.is_file(), "missing deploy/.env.example"
    listed = set(_env_example_names())
    used = {name for name, _, _ in _interpolations()}
    assert used, "compose.yaml interpolates no variable (the regex is wrong)"
    missing = sorted(used - listed)
    assert not missing, f"deploy/.env.example does not list {missing} (read by compose.yaml)"
    unused = sorted(listed - used)
    assert not unused, f"deploy/.env.example lists {unused}, which compose.yaml never reads"


def test_secrets_have_no_default_and_the_example_leaves_them_empty():
    required = {name for name, op, _ in _interpolations() if op == ":?"}
    assert {"POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "FLOWER_BASIC_AUTH"} <= required
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    filled = sorted(name for name in required if values.get(name, "").strip())
    assert not filled, f"deploy/.env.example ships values for the secrets {filled}"


def _container_env(svc: dict) -> dict:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return env


def test_dalston_variables_set_in_containers_are_settings():
    """A DALSTON_* variable compose or Kubernetes sets must be one dalston/config.py reads."""
    config = (ROOT / "dalston" / "config.py").read_text()
    names = set()
    for svc in yaml.safe_load(COMPOSE_FILE.read_text())["services"].values():
        names |= set(_container_env(svc))
    for doc in _k8s_documents():
        if doc.get("kind") == "ConfigMap":
            names |= set(doc.get("data") or {})
        if doc.get("kind") in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                names |= {e["name"] for e in container.get("env", [])}
    unknown = sorted(n for n in names if n.startswith("DALSTON_") and f'"{n}"' not in config)
    assert not unknown, f"deployment files set {unknown}, which dalston/config.py never reads"


def test_every_setting_is_documented():
    """Every DALSTON_* variable dalston/config.py reads is in deploy/.env.example or the README."""
    config = (ROOT / "dalston" / "config.py").read_text()
    read = set(re.findall(r'"(DALSTON_[A-Z0-9_]+)"', config))
    assert "DALSTON_DATABASE_URL" in read, "the regex finds no setting in dalston/config.py"
    documented = README.read_text() + ENV_EXAMPLE.read_text()
    missing = sorted(n for n in read if n not in documented)
    assert not missing, f"settings {missing} are in neither README.md nor deploy/.env.example"


# Operating the stack ------------------------------------------------------------------------


def test_every_long_running_service_has_a_health_check(services):
    missing = sorted(
        name
        for name, svc in services.items()
        if name not in ONE_SHOT and not svc.get("healthcheck")
    )
    assert not missing, f"compose services without a healthcheck: {missing}"
    one_shot_restarting = sorted(n for n in ONE_SHOT if services[n].get("restart") != "no")
    assert not one_shot_restarting, f"one-shot services that restart: {one_shot_restarting}"


def test_health_checks_run_the_shipped_script(services):
    """Each check that calls deploy/healthcheck.py names a check it has, and the images
    that run it copy it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, svc in services.items():
        test = (svc.get("healthcheck") or {}).get("test") or []
        words = " ".join(test[1:]).split() if test else []
        if "deploy/healthcheck.py" not in words:
            continue
        kind = words[words.index("deploy/healthcheck.py") + 1]
        assert kind in module.CHECKS, f"{name}: healthcheck.py has no check {kind!r}"
        dockerfile = ROOT / svc["build"]["dockerfile"]
        assert "healthcheck.py" in dockerfile.read_text(), f"{dockerfile.name} lacks it"
        if kind == "celery":
            queue = _worker_module(_argv(svc["command"]))
            assert words[-1] == f"{queue}@$$HOSTNAME", f"{name} pings {words[-1]}"


def test_start_order_waits_for_health_and_migrations(services):
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on without conditions"
        for dep, cond in deps.items():
            assert cond.get("condition") in (
                "service_healthy",
                "service_completed_successfully",
            ), f"{name} → {dep}: {cond}"
            want = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert cond["condition"] == want, f"{name} → {dep}: {cond['condition']}"
    for name, queue in _worker_services(services).items():
        assert "migrate" in services[name]["depends_on"], f"{name} starts before migrations"
    assert (
        "migrate" in services["api"]["depends_on"] and "migrate" in services["beat"]["depends_on"]
    )


def test_published_ports_listen_on_loopback_by_default(services):
    ports = {}
    for name, svc in services.items():
        for port in svc.get("ports") or []:
            ports[name] = port
            m = re.fullmatch(r"\$\{(\w+):-([^}]*)\}:(\d+)", str(port))
            assert m, f"{name}: port {port!r} is not ${{VAR:-127.0.0.1:host}}:container"
            assert m.group(2).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert {"api", "flower"} <= set(ports), ports
    assert ports["api"].endswith(":8000") and ports["flower"].endswith(":5555")


def test_flower_refuses_unauthenticated_requests(services):
    flower = services["flower"]
    assert "flower" in _argv(flower["command"])
    env = _container_env(flower)
    assert str(env.get("FLOWER_BASIC_AUTH", "")).startswith("${FLOWER_BASIC_AUTH:?")
    assert "FLOWER_UNAUTHENTICATED_API:" not in COMPOSE_FILE.read_text()
    for name, svc in services.items():
        assert "FLOWER_UNAUTHENTICATED_API" not in _container_env(svc), name


def test_beat_runs_the_celeryconfig_schedule_once(services):
    beat = services["beat"]
    args = _argv(beat["command"])
    assert args[:4] == ["celery", "-A", "dalston.celery_app", "beat"], args
    assert (beat.get("deploy") or {}).get("replicas", 1) == 1
    # Every periodic task goes to a queue that a compose service consumes.
    schedule = getattr(celeryconfig, "beat_schedule", {}) or {}
    consumed = set(_worker_services(services).values())
    for entry, item in schedule.items():
        options = item.get("options") or {}
        route = celeryconfig.task_routes.get(item["task"]) or {}
        queue = options.get("queue") or route.get("queue") or celeryconfig.task_default_queue
        assert queue in consumed, f"beat entry {entry} goes to {queue!r}, which nothing consumes"


def test_make_deploy_uses_the_compose_file_and_the_env_example():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^deploy:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the Makefile has no deploy target"
    body = recipe.group(1)
    assert "docker compose" in body and "--env-file deploy/.env" in body, body
    for path in re.findall(r"(?<![\w/.-])((?:deploy/)?[\w.-]+\.(?:yaml|example))\b", body):
        assert (ROOT / path).is_file(), f"make deploy refers to missing {path}"
    assert "deploy/.env.example" in body
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "deploy/.env" in ignored, "deploy/.env (passwords) is not git-ignored"


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
    stage_tasks = {spec.task_name for spec in STAGES}
    assert stage_tasks <= set(celeryconfig.task_routes)
    for task, route in celeryconfig.task_routes.items():
        queue = route.get("queue") if isinstance(route, dict) else route
        if task in stage_tasks:
            assert queue == task.removeprefix("dalston."), f"{task} is routed to {queue!r}"
        else:  # a task that is no stage (webhook delivery) goes to a non-stage queue
            assert queue in AUX_QUEUES, f"{task} is routed to {queue!r}, not a worker's queue"


def test_the_api_listens_on_loopback_outside_containers_only(services):
    """``make api`` (gunicorn.conf.py) binds 127.0.0.1 unless DALSTON_HOST says otherwise;
    the API image, compose and Kubernetes set it to every interface of the container."""
    import os
    import subprocess
    import sys

    def bind(**env) -> str:
        environ = {k: v for k, v in os.environ.items() if k != "DALSTON_HOST"}
        code = "import runpy; print(runpy.run_path('deploy/gunicorn.conf.py')['bind'])"
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**environ, **env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout.strip()

    assert bind() == "127.0.0.1:8000"
    assert bind(DALSTON_HOST="0.0.0.0") == "0.0.0.0:8000"
    assert "DALSTON_HOST=0.0.0.0" in (ROOT / "deploy" / "Dockerfile.api").read_text()
    assert _container_env(services["api"]).get("DALSTON_HOST") == "0.0.0.0"
    (api,) = [
        d
        for d in _k8s_documents()
        if d["metadata"]["name"] == "dalston-api" and d["kind"] == "Deployment"
    ]
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert {"name": "DALSTON_HOST", "value": "0.0.0.0"} in container["env"]


def test_the_metrics_directory_exists_wherever_it_is_named(services):
    """prometheus-client's multiprocess mode fails on a missing directory: where the
    Kubernetes ConfigMap names one, every image creates it; where compose names one, the
    service mounts a tmpfs there."""
    (configmap,) = [
        d
        for d in _k8s_documents()
        if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "dalston-env"
    ]
    directory = configmap["data"]["PROMETHEUS_MULTIPROC_DIR"]
    for image in ("Dockerfile.api", "Dockerfile.worker-cpu", "Dockerfile.worker-gpu"):
        text = (ROOT / "deploy" / image).read_text()
        assert f"install -d -o dalston -g dalston {directory}" in text, image
    for name, service in services.items():
        named = _container_env(service).get("PROMETHEUS_MULTIPROC_DIR")
        if named:
            assert named in (service.get("tmpfs") or []), f"{name} names {named} without a tmpfs"
