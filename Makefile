# Developer commands (README) and the targets `sam build` runs for BuildMethod: makefile.
PYTHON ?= python3.11
VENV ?= .venv
# The functions' Lambda runtime (template.yaml Globals): Amazon Linux 2023, glibc 2.34, so the layer may hold
# manylinux_2_28 wheels (soundfile's libsndfile for the upload check)
LAMBDA_PYTHON := 3.12

.PHONY: local test test-fast sam checkov system-deps lock image

system-deps:  ## Debian packages: espeak-ng (English G2P), chromium + chromedriver (the demo page's browser test), tcmalloc (the CPU worker's allocator)
	@{ command -v espeak-ng && command -v chromium && command -v chromedriver \
		&& ls /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4; } >/dev/null 2>&1 || { apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng chromium chromium-driver \
			libtcmalloc-minimal4 >/dev/null; } \
		|| { echo "install them: apt-get install espeak-ng chromium chromium-driver libtcmalloc-minimal4" >&2; exit 1; }

# Every environment installs from its lock in locks/ (scripts/install-locked.sh: hashes checked, nothing resolved);
# `make lock` is the one way to move versions (docs/dependencies.md: "Upgrading a dependency").
$(VENV)/.locked: locks/build.txt locks/dev.txt scripts/install-locked.sh  # a new lock: a new venv
	PYTHON=$(PYTHON) bash scripts/install-locked.sh $(VENV) locks/dev.txt
	touch $@
$(VENV)/.installed: $(VENV)/.locked pyproject.toml  # the project itself, editable (its dependencies are the lock's)
	$(VENV)/bin/pip install --quiet --no-deps --no-build-isolation --disable-pip-version-check -e .
	touch $@

local: system-deps $(VENV)/.installed  ## the whole service locally: moto server, API, status dispatcher, CPU worker
	$(VENV)/bin/diffrhythm local

test: system-deps $(VENV)/.installed .venv-sam/.installed .venv-checkov/.installed  ## lint the code and the templates, then run every test
	bash scripts/docker-engine.sh start  # the container tier builds and runs the worker image
	VENV=$(VENV) bash scripts/test.sh

test-fast: system-deps $(VENV)/.installed  ## ruff, mypy and the fast tier: no server, no subprocess, no browser
	VENV=$(VENV) TIER=fast bash scripts/test.sh

sam: .venv-sam/.installed  ## SAM CLI in its own virtual environment (locks/sam.txt: its pins differ from the project's)
.venv-sam/.installed: locks/build.txt locks/sam.txt scripts/install-locked.sh
	PYTHON=$(PYTHON) bash scripts/install-locked.sh .venv-sam locks/sam.txt >/dev/null
	touch $@

checkov: .venv-checkov/.installed  ## checkov (IaC policy checks) in its own virtual environment (locks/checkov.txt)
.venv-checkov/.installed: locks/build.txt locks/checkov.txt scripts/install-locked.sh
	PYTHON=$(PYTHON) bash scripts/install-locked.sh .venv-checkov locks/checkov.txt >/dev/null
	touch $@

WEIGHTS ?= tiny
image:  ## the worker image on a Debian base made here (debootstrap); WEIGHTS=tiny (TINY RANDOM bundle) or published
	WEIGHTS=$(WEIGHTS) bash scripts/image.sh

UV_VERSION := 0.13.9
lock:  ## re-resolve every environment into locks/ (the one way to move versions; ARGS="--upgrade-package boto3")
	@[ -x .venv-lock/bin/uv ] && .venv-lock/bin/uv --version | grep -q " $(UV_VERSION) " || { \
		$(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install --quiet "uv==$(UV_VERSION)"; }
	UV=.venv-lock/bin/uv LAMBDA_PYTHON=$(LAMBDA_PYTHON) bash scripts/lock.sh $(ARGS)

# ---- sam build (template.yaml: Metadata BuildMethod makefile) ----
build-DependenciesLayer build-DispatchDependenciesLayer:
	pip install --quiet --require-hashes --no-deps --no-compile --target "$(ARTIFACTS_DIR)/python" \
		--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 --implementation cp \
		--python-version $(LAMBDA_PYTHON) --only-binary=:all: -r locks/layer.txt

# every function of template.yaml and infrastructure/gpu/compute.yaml ships shared/ and functions/ (a test checks the list)
build-ApiFunction build-StatusFunction build-DeadLetterFunction build-ReconcileFunction build-WebhookFunction \
build-UploadCheckFunction build-SageMakerDispatchFunction:
	mkdir -p "$(ARTIFACTS_DIR)"
	cp -r shared functions "$(ARTIFACTS_DIR)/"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -prune -exec rm -rf {} +
