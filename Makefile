# make test   create or update .venv, install graphflow editable with the test extra, run pytest
# make demo   create or update .venv (bench and examples extras), run the graph basics and
#             train the tutorial convnet (out/convnet_training.png, out/convnet_graph.svg)
# make bench  run the benchmark suite (BENCH_ARGS="--quick -k session"; TF1 column: see tf-venv)
# make tf-venv  create .venv-tf with TensorFlow for the TF1 column (never a graphflow dependency);
#               a machine with a TensorFlow venv elsewhere can pass TF_PYTHON=/path/bin/python
# Needs only Python 3 with venv and pip; everything else is installed here.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TF_VENV := .venv-tf
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: test demo bench tf-venv graphviz

# The CUDA tests run in a second pytest process under Numba's CUDA simulator (the switch
# must be set before numba is imported); the first process compiles every CUDA kernel to PTX.
test: $(VENV)/.installed-test graphviz
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/cuda $(PYTEST_ARGS)
	NUMBA_ENABLE_CUDASIM=1 $(PY) -m pytest -q -p no:cacheprovider tests/cuda $(PYTEST_ARGS)

# The seed snippets, then the tutorial convnet trained on the default data (Fashion-MNIST
# when installed, else scikit-learn's digits): accuracy printed, plot and graph in out/.
DEMO_STEPS ?= 1000
demo: $(VENV)/.installed-demo graphviz
	$(PY) examples/graph_basics.py
	mkdir -p out
	$(PY) examples/mnist_3.0_convolutional.py --steps $(DEMO_STEPS) \
	    --plot out/convnet_training.png --graph out/convnet_graph.svg

bench: $(VENV)/.installed-bench
	$(PY) -m benchmarks $(if $(TF_PYTHON),--tf-python $(TF_PYTHON)) $(BENCH_ARGS)

tf-venv: $(TF_VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)

# The extras each target installs; one stamp per target, redone when the metadata changes.
EXTRAS_test := test
EXTRAS_demo := bench,examples
EXTRAS_bench := bench
$(VENV)/.installed-%: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS_$*)]'
	touch $@

$(TF_VENV)/.installed:
	$(PYTHON) -m venv $(TF_VENV)
	$(TF_VENV)/bin/python -m pip install --quiet tensorflow-cpu pytensor threadpoolctl
	touch $@

# The dot binary renders graphs; tests that need it skip (saying why) when it is missing.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing graphviz for the dot binary"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq graphviz >/dev/null; } \
	    || echo "graphviz could not be installed: tests that need dot will skip"; \
	  else \
	    echo "no dot binary and no way to install it: tests that need dot will skip"; \
	  fi; }
