VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS := -c constraints.txt $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
EXTRAS ?= test,scalesim,ray,hf

.PHONY: demo test bench install clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(PIP_FLAGS) -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/hwnas run searches/codesign-demo.yaml

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/bench_simulator.py
	$(PY) benchmarks/bench_mapper.py
	$(PY) benchmarks/bench_fusion.py
	$(PY) benchmarks/bench_llama.py
	$(PY) benchmarks/bench_predictor.py
	$(PY) benchmarks/bench_hw_predictor.py
	$(PY) benchmarks/bench_supernet.py
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_codesign.py
	$(PY) benchmarks/bench_joint.py
	$(PY) benchmarks/bench_validation.py
	$(PY) benchmarks/bench_supernet_ranking.py
	$(PY) benchmarks/bench_quality_predictor.py

clean:
	rm -rf $(VENV) .pytest_cache runs
