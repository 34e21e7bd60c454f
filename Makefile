# bilin: `make run` trains the main job, `make test` runs the tests. Both set everything up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BILIN := $(VENV)/bin/bilin
# Data: bilin finds it itself, by the rule in bilin/data/roots.py (BILIN_DATA if set, else ./data,
# else ../shared/data, ...), so `make run` and `bilin` typed by hand read the same folder.

.PHONY: help setup run test test-fast lint format docs wheel-check bench bench-full chromium chromedriver slurm clean \
	fig2 fig3 fig4 fig-explain fig-accuracy fig-truncation fig-similarity fig-featvis fig-featvis-resnet fig-csf fig-frequency \
	fig-adversarial fig-augment fig-challenge fig-compare fig-diff fig-shared figures figures-quick report

help:
	@echo "make run        set up .venv and train: bilin train model=bilinear data=fmnist"
	@echo "make test       set up .venv and run the test suite (what CI runs)"
	@echo "make test-fast  the suite without the slow end-to-end runs: the edit loop (under 2 minutes)"
	@echo "make docs       the documentation site (MkDocs, offline) into site/; command pages from the schemas"
	@echo "make lint       ruff check and ruff format --check (CI runs it); make format fixes both"
	@echo "make wheel-check  build the wheel, install it in a fresh venv, run every command's smoke preset"
	@echo "make bench      seconds per epoch (d=512, MNIST) on CPU and CUDA when present; whole bilin train"
	@echo "                processes against the paper authors' trainer, alternating; the analysis commands and a sweep (~6 min)"
	@echo "make bench-full the 100-epoch accuracy runs of the three models on both datasets"
	@echo "make figures    every paper figure at the paper's settings (fig2 fig3 fig4 fig-explain"
	@echo "                fig-accuracy fig-truncation fig-similarity one by one)"
	@echo "make figures-quick  a reduced version of all of them (minutes on a CPU), then their report"
	@echo "make report     every run under outputs/ as one offline site: outputs/report/index.html"
	@echo "make fig-featvis / fig-featvis-resnet / fig-csf   featvis ladders and the probe CSF (GPU advised)"
	@echo "make fig-adversarial masks from the weights vs random, mean-image and PGD controls (3 seeds x 2 datasets)"
	@echo "make fig-shared      HOSVD and rank-30 CP shared across classes (d=512, MNIST and Fashion-MNIST)"
	@echo "make fig-challenge   a planted rule read back from the weights vs shuffled-label controls (minutes on a CPU)"
	@echo "make fig-compare     every pair of a grid's models by exact functional similarity, CKA, eigenvectors, weights"
	@echo "make fig-diff        what changed between noise 0 and noise 0.5 (MNIST, d=512, seed 0, 20 epochs each)"
	@echo "make fig-frequency   the frequency study at d=512 (README's table: 30 models, ~30 min to train on a CPU)"
	@echo "make fig-augment     the appendix grids: noise against blur, rotation and translation (GPU advised)"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed chromium

# Kaleido needs Chrome or Chromium for PNG/SVG figures. When none is there and it can be (root,
# apt-get), Debian's chromium-headless-shell is installed: Chromium's old headless mode alone, which
# starts on much less CPU than the full browser (docs/performance.md); chromium if the shell is not
# in the archive. Otherwise one line says how. Silent when a browser is there.
CHROME_NAMES := chromium-headless-shell chrome-headless-shell chromium chromium-browser google-chrome google-chrome-stable
chromium:
	@for name in $(CHROME_NAMES); do command -v $$name >/dev/null 2>&1 && exit 0; done; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "setup: installing Debian's chromium-headless-shell (kaleido needs a browser for PNG/SVG figures)"; \
	  apt-get update -qq; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null 2>&1 \
	    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || echo "setup: chromium could not be installed; figures will be HTML only (see README, Set-up)"; \
	else \
	  echo "setup: no Chrome/Chromium, so figures will be HTML only; for PNG/SVG: sudo apt-get install -y chromium-headless-shell (or chromium, or $(VENV)/bin/plotly_get_chrome)"; \
	fi

# The report's browser tests drive that chromium through Debian's chromedriver (Selenium).
chromedriver: chromium
	@command -v chromedriver >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "setup: installing Debian's chromium-driver (the report's browser tests use it)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-driver >/dev/null) \
	    || echo "setup: chromium-driver could not be installed; the browser tests will fail"; \
	else \
	  echo "setup: no chromedriver, so the browser tests will fail: sudo apt-get install -y chromium-driver"; \
	fi

# The Slurm tests (tests/slurm) start a one-node Slurm on localhost from Debian's slurm-wlm and munge.
slurm:
	@command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "setup: installing Debian's slurm-wlm and munge (the Slurm tests run a one-node cluster)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null) \
	    || echo "setup: slurm-wlm and munge could not be installed; the Slurm tests will fail"; \
	else \
	  echo "setup: no Slurm, so the Slurm tests are skipped: sudo apt-get install -y slurm-wlm munge (they run as root)"; \
	fi

run: setup
	$(BILIN) train model=bilinear data=fmnist

test: setup chromedriver slurm
	$(PY) -m pytest -q -n auto

test-fast: setup
	$(PY) -m pytest -q -n auto -m "not slow"

# The docs extra (mkdocs, mkdocs-material) is installed once; docs_hooks.py generates the command pages.
$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,docs]'
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

wheel-check: setup
	bash .ci/wheel-check

bench: setup
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_decompose.py
	$(PY) benchmarks/bench_cp.py
	$(PY) benchmarks/bench_batched.py
	$(PY) benchmarks/bench_featvis.py
	$(PY) benchmarks/bench_csf.py
	$(PY) benchmarks/bench_frequency.py
	$(PY) benchmarks/bench_psychometric_coverage.py
	$(PY) benchmarks/bench_compare.py
	$(PY) benchmarks/bench_process.py
	$(PY) benchmarks/bench_commands.py

bench-full: setup
	$(PY) benchmarks/bench_train.py --full

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info site

# -- paper figures --------------------------------------------------------------------------
# Each command's defaults are the paper's settings for its figure; presets (experiment=...) hold
# what deviates: bilin/configs/experiment/<command>/. Models come from outputs/cache, trained once.
fig2: setup
	$(BILIN) decompose data=mnist panel=true
fig3: setup
	$(BILIN) decompose data=mnist
	$(BILIN) decompose data=fmnist
fig4: setup
	$(BILIN) noise-sweep
fig-explain: setup
	$(BILIN) decompose data=mnist explain=0
fig-accuracy: setup
	$(BILIN) accuracy
fig-truncation: setup
	$(BILIN) truncate
fig-similarity: setup
	$(BILIN) similarity
# every pair of sizes x seeds x noises 0 / 0.4 by exact functional similarity, beside CKA, eigenvectors and weights
fig-compare: setup
	$(BILIN) compare
# featvis ladders: the paper's bilinear Fashion-MNIST model (from the cache) and a random-weight ResNet18
fig-featvis: setup
	$(BILIN) decompose data=fmnist quiet=true
	$(BILIN) featvis experiment=ladder run=$$(ls -d outputs/cache/bilinear-fmnist-d512-n0.5-s420-* | head -1)
fig-featvis-resnet: setup
	$(BILIN) featvis experiment=resnet_ladder
# contrast sensitivity of ResNet50's four stages (ImageNet weights: needs the internet once)
fig-csf: setup
	$(BILIN) probe-csf experiment=stages
# weights, probe and features on one question: spatial frequency vs training noise
fig-frequency: setup
	$(BILIN) frequency experiment=d512
# adversarial masks read from the weights (section 4.4) against controls of equal norm, targeted and untargeted
fig-adversarial: setup
	$(BILIN) adversarial
	$(BILIN) adversarial target=null
# a planted rule read back from the weights (section 4.3): d=64 with biases, 3 seeds and shuffled-label controls
fig-challenge: setup
	$(BILIN) challenge
# what changed when the same seed trains with input noise: two train runs (kept; trained once), then bilin diff
DIFF_MODELS := outputs/diff-models
DIFF_RECIPE := data=mnist d_hidden=512 epochs=20 seed=0 precision=fp32 quiet=true
fig-diff: setup
	test -f $(DIFF_MODELS)/noise0/model.json || $(BILIN) train $(DIFF_RECIPE) noise=0 hydra.run.dir=$(DIFF_MODELS)/noise0
	test -f $(DIFF_MODELS)/noise0.5/model.json || $(BILIN) train $(DIFF_RECIPE) noise=0.5 hydra.run.dir=$(DIFF_MODELS)/noise0.5
	$(BILIN) diff run=$(DIFF_MODELS)/noise0 other=$(DIFF_MODELS)/noise0.5
# the appendix grids: the top eigenvector of digit 0 vs input noise and blur, rotation, translation (3 seeds each)
fig-augment: setup
	$(BILIN) augment-grid
	$(BILIN) augment-grid cols=rotate col_values=[0,10,20,30]
	$(BILIN) augment-grid cols=translate col_values=[0,0.05,0.1,0.2]
# decompositions shared across classes: the class tensor's HOSVD and a rank-30 CP, both datasets
fig-shared: setup
	$(BILIN) decompose data=mnist method=hosvd
	$(BILIN) decompose data=mnist method=cp
	$(BILIN) decompose data=fmnist method=hosvd
	$(BILIN) decompose data=fmnist method=cp
figures: fig2 fig3 fig4 fig-explain fig-accuracy fig-truncation fig-similarity fig-featvis

# Reduced settings (experiment=quick) under outputs/quick, with its own cache.
QUICK := experiment=quick outputs_root=outputs/quick quiet=true
figures-quick: setup
	$(BILIN) decompose data=mnist panel=true explain=0 $(QUICK)
	$(BILIN) decompose data=fmnist $(QUICK)
	$(BILIN) noise-sweep $(QUICK)
	$(BILIN) accuracy $(QUICK)
	$(BILIN) truncate $(QUICK)
	$(BILIN) similarity $(QUICK)
	$(BILIN) compare $(QUICK)
	$(BILIN) adversarial $(QUICK)
	$(BILIN) challenge $(QUICK)
	$(BILIN) featvis run=$$(ls -d outputs/quick/cache/bilinear-fmnist-d512-n0.5-s420-* | head -1) $(QUICK)
	$(BILIN) report outputs/quick

# every run under outputs/ as one offline site: outputs/report/index.html
report: setup
	$(BILIN) report
