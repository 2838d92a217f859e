VENV ?= .venv
PY := $(VENV)/bin/python
PIP_FLAGS := -c constraints.txt $(if $(wildcard /opt/wheels),--find-links /opt/wheels)
EXTRAS ?= test,scalesim,ray,hf

.PHONY: demo test bench bench-check install clean

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

# Each benchmark prints `check: ... measured OP bar ...: ok|MISSED` lines and exits 1 when one misses
# (benchmarks/bars.py). Both targets run every benchmark of their list, then fail naming those that missed.
BENCH_ALL := bench_simulator.py;bench_mapper.py;bench_fusion.py;bench_llama.py;bench_predictor.py;\
	bench_hw_predictor.py;bench_supernet.py;bench_search.py;bench_codesign.py;bench_joint.py;bench_validation.py;\
	bench_supernet_ranking.py;bench_quality_predictor.py;bench_memory.py;bench_memory_dse.py;bench_silicon.py
# The fast ones (under about 2 minutes each on 2 cores), some with reduced flags.
BENCH_CHECK := bench_fusion.py;bench_llama.py --skip-training;bench_validation.py --repeats 1;\
	bench_supernet.py --steps 10;bench_simulator.py --repeats 500 --dataflows ws;bench_search.py --seeds 2;\
	bench_codesign.py --seeds 2;bench_memory.py;bench_memory_dse.py;bench_silicon.py

define run_benchmarks
	@set -f; list='$(1)'; failed=""; IFS=';'; for b in $$list; do IFS=' '; b=$$(echo $$b); echo "== benchmarks/$$b"; \
		$(PY) benchmarks/$$b || failed="$$failed, $$b"; done; \
	if [ -n "$$failed" ]; then echo "bars missed (or a benchmark failed): $${failed#, }"; exit 1; fi; \
	echo "every benchmark met its bars"
endef

bench: install
	$(call run_benchmarks,$(BENCH_ALL))

bench-check: install
	$(call run_benchmarks,$(BENCH_CHECK))

clean:
	rm -rf $(VENV) .pytest_cache runs
