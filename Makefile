# Developer commands (README) and the targets `sam build` runs for BuildMethod: makefile.
PYTHON ?= python3.11
VENV ?= .venv
# The functions' Lambda runtime (template.yaml Globals): Amazon Linux 2023, glibc 2.34, so the layer may hold
# manylinux_2_28 wheels (soundfile's libsndfile for the upload check)
LAMBDA_PYTHON := 3.12

.PHONY: local test test-fast sam checkov system-deps

system-deps:  ## Debian packages: espeak-ng (English G2P), chromium + chromedriver (the demo page's browser test)
	@{ command -v espeak-ng && command -v chromium && command -v chromedriver; } >/dev/null || { apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng chromium chromium-driver >/dev/null; } \
		|| { echo "install them: apt-get install espeak-ng chromium chromium-driver" >&2; exit 1; }

$(VENV)/.installed: pyproject.toml functions/requirements.txt infrastructure/local/requirements.txt requirements-dev.txt \
		inference_container/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev,worker]"
	touch $@

local: system-deps $(VENV)/.installed  ## the whole service locally: moto server, API, status dispatcher, CPU worker
	$(VENV)/bin/diffrhythm local

test: system-deps $(VENV)/.installed .venv-sam/.installed .venv-checkov/.installed  ## lint the code and the templates, then run every test
	VENV=$(VENV) bash scripts/test.sh

test-fast: system-deps $(VENV)/.installed  ## ruff, mypy and the fast tier: no server, no subprocess, no browser
	VENV=$(VENV) TIER=fast bash scripts/test.sh

sam: .venv-sam/.installed  ## SAM CLI in its own virtual environment (its pins differ from the project's)
.venv-sam/.installed:
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install --quiet aws-sam-cli
	touch $@

# pinned: a new release brings new checks, which would fail CI without a change here
CHECKOV_VERSION ?= 3.3.30
checkov: .venv-checkov/.installed  ## checkov (IaC policy checks) in its own virtual environment: it pins many packages
.venv-checkov/.installed: Makefile
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet "checkov==$(CHECKOV_VERSION)"
	touch $@

# ---- sam build (template.yaml: Metadata BuildMethod makefile) ----
build-DependenciesLayer build-DispatchDependenciesLayer:
	pip install --quiet --target "$(ARTIFACTS_DIR)/python" --platform manylinux_2_28_aarch64 \
		--platform manylinux2014_aarch64 --implementation cp --python-version $(LAMBDA_PYTHON) --only-binary=:all: \
		-r functions/requirements.txt

# every function of template.yaml and infrastructure/gpu/compute.yaml ships shared/ and functions/ (a test checks the list)
build-ApiFunction build-StatusFunction build-DeadLetterFunction build-ReconcileFunction build-WebhookFunction \
build-UploadCheckFunction build-SageMakerDispatchFunction:
	mkdir -p "$(ARTIFACTS_DIR)"
	cp -r shared functions "$(ARTIFACTS_DIR)/"
	find "$(ARTIFACTS_DIR)" -name __pycache__ -prune -exec rm -rf {} +
