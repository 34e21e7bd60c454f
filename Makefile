# bilin: `make run` trains the main job, `make test` runs the tests. Both set everything up.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BILIN := $(VENV)/bin/bilin
SHARED_DATA := $(abspath ../shared/data)
# Use the datasets shipped beside the repository when they exist (BILIN_DATA wins if set).
export BILIN_DATA ?= $(if $(wildcard $(SHARED_DATA)),$(SHARED_DATA),$(abspath data))

.PHONY: help setup run test bench bench-full chromium clean \
	fig2 fig3 fig4 fig-explain fig-accuracy fig-truncation fig-similarity fig-featvis fig-featvis-resnet fig-csf \
	figures figures-quick

help:
	@echo "make run        set up .venv and train: bilin train model=bilinear data=fmnist"
	@echo "make test       set up .venv and run the test suite"
	@echo "make bench      seconds per epoch (d=512, MNIST) on CPU and CUDA when present"
	@echo "make bench-full the 100-epoch accuracy runs of the three models on both datasets"
	@echo "make figures    every paper figure at the paper's settings (fig2 fig3 fig4 fig-explain"
	@echo "                fig-accuracy fig-truncation fig-similarity one by one)"
	@echo "make figures-quick  a reduced version of all of them (minutes on a CPU)"
	@echo "make fig-featvis / fig-featvis-resnet / fig-csf   featvis ladders and the probe CSF (GPU advised)"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed
	@command -v chromium >/dev/null || command -v google-chrome >/dev/null || \
	  echo "note: no Chrome/Chromium: figures are written as HTML; 'make chromium' adds PNG/SVG export"

chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

run: setup
	$(BILIN) train model=bilinear data=fmnist

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_decompose.py
	$(PY) benchmarks/bench_batched.py
	$(PY) benchmarks/bench_featvis.py
	$(PY) benchmarks/bench_csf.py

bench-full: setup
	$(PY) benchmarks/bench_train.py --full

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# -- paper figures (models come from outputs/cache; nothing is trained twice) ---------------
PAPER := noise=0.5 d_hidden=512 seed=420 epochs=100
GRID := sizes=[30,50,100,300,500,1000] seeds=[0,1,2,3,4] noise=0.4 epochs=100

fig2: setup
	$(BILIN) decompose data=mnist panel=true $(PAPER)
fig3: setup
	$(BILIN) decompose data=mnist $(PAPER)
	$(BILIN) decompose data=fmnist $(PAPER)
fig4: setup
	$(BILIN) noise-sweep noises=[0,0.2,0.4,0.6,0.8] d_hidden=512 seed=420 epochs=50
fig-explain: setup
	$(BILIN) decompose data=mnist explain=0 $(PAPER)
fig-accuracy: setup
	$(BILIN) accuracy $(PAPER)
fig-truncation: setup
	$(BILIN) truncate $(GRID) k_max=30
fig-similarity: setup
	$(BILIN) similarity $(GRID) ranks=20 reference_size=300
# featvis ladders: the paper's bilinear Fashion-MNIST model (from the cache) and a random-weight ResNet18
fig-featvis: setup
	$(BILIN) decompose data=fmnist $(PAPER) quiet=true
	$(BILIN) featvis run=$$(ls -d outputs/cache/bilinear-fmnist-d512-n0.5-s420-* | head -1) ladder=true images_per_target=4
fig-featvis-resnet: setup
	$(BILIN) featvis net=tv:resnet18 weights=none target=[class:0,class:1,class:2,class:3,class:4,class:5,class:6,class:7,class:8,class:9] ladder=true images_per_target=2
# contrast sensitivity of ResNet50's four stages (ImageNet weights: needs the internet once)
fig-csf: setup
	$(BILIN) probe-csf layers=[layer1,layer2,layer3,layer4]
figures: fig2 fig3 fig4 fig-explain fig-accuracy fig-truncation fig-similarity fig-featvis

# Reduced settings (fewer epochs, sizes and seeds) under outputs/quick, with its own cache.
QUICK := outputs_root=outputs/quick quiet=true
QUICK_PAPER := noise=0.5 d_hidden=512 seed=420 epochs=10
QUICK_GRID := sizes=[30,100,300] seeds=[0,1,2] noise=0.4 epochs=10
figures-quick: setup
	$(BILIN) decompose data=mnist panel=true explain=0 $(QUICK_PAPER) $(QUICK)
	$(BILIN) decompose data=fmnist $(QUICK_PAPER) $(QUICK)
	$(BILIN) noise-sweep d_hidden=256 seed=420 epochs=10 $(QUICK)
	$(BILIN) accuracy $(QUICK_PAPER) $(QUICK)
	$(BILIN) truncate $(QUICK_GRID) k_max=30 $(QUICK)
	$(BILIN) similarity $(QUICK_GRID) ranks=20 reference_size=300 $(QUICK)
	$(BILIN) featvis run=$$(ls -d outputs/quick/cache/bilinear-fmnist-d512-n0.5-s420-* | head -1) ladder=true \
	  images_per_target=4 steps=256 $(QUICK)
