# Two entry points: `make run` (set up, build the index, start the app) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)
HOST   ?= 127.0.0.1
PORT   ?= 7860

.PHONY: run test setup system-libs browser-deps index eval bench clean

setup: $(STAMP) system-libs

# OpenCV (under the OCR of scanned PDFs) links libGL and GLib; Debian's python images have them, others may not.
system-libs:
	@if ldconfig -p | grep -q "libGL.so.1 " && ldconfig -p | grep -q "libgthread-2.0.so.0 "; then :; else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libgl1 libglib2.0-0 >/dev/null; \
	fi

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Debian's chromium and CJK fonts for the browser tests; playwright never downloads a browser here.
browser-deps:
	@if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
	  echo "chromium and fonts-noto-cjk present"; \
	else \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

# Builds the index when it is missing or the corpus changed; a no-op otherwise.
index: setup
	$(PY) -m retrieval build

run: index
	$(PY) app.py --host $(HOST) --port $(PORT)

test: setup browser-deps index
	$(PY) -m pytest -q

# The three sets (dev; web-dev on corpus/ + web-dev docs; prov-dev on those + prov-dev docs), one summary table;
# then the comparison gold files, cell by cell (prov-dev's on the prov-dev set's corpus and index).
eval: index
	$(PY) -m eval suites --out artifacts/eval
	$(PY) -m eval compare --gold eval/compare-dev.jsonl --out artifacts/eval/compare-dev
	$(PY) -m eval compare --gold eval/compare-prov-dev.jsonl --add-docs ../shared/eval/web-dev/docs \
	  --add-docs ../shared/eval/prov-dev/docs --work artifacts/provdev --out artifacts/eval/compare-prov-dev

bench: index
	$(PY) scripts/benchmark.py

clean:
	rm -rf index artifacts
