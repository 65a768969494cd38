# The front door. `make demo` sets up and runs a local sandbox demo;
# `make test` sets up and runs every test. See README.md.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: bench bench-quick all deps build stage demo test test-docs test-c test-asan check-abi \
        abi-update build-clang check-install test-python test-go test-lua test-scenarios \
        test-fuzz fuzz soak clean test-mcp

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@home=$$(mktemp -d); NOXRUNNER_HOME=$$home ./$(BUILD)/nox-demo; rc=$$?; \
	 rm -rf "$$home"; exit $$rc

# A skip is a skip, never a pass; and on a host that can run them (root,
# as CI is), the suites CI must run may not be skipped at all: NOX_REQUIRE
# (tests/require.sh's probe, e.g. "namespaces,cgroups,nobody") turns their
# skips into failures with the reason. `make test NOX_REQUIRE=` lifts it.
test: export NOX_REQUIRE ?= $(shell tests/require.sh)
test: test-docs test-c test-asan build-clang check-abi check-install test-python test-go \
      test-lua test-scenarios test-fuzz test-mcp
	@echo "make test: all suites passed (required, never skipped: $${NOX_REQUIRE:-nothing})"

test-c: build
	cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DNOX_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

# A second compiler's warnings, as errors too (build only).
build-clang: deps
	@command -v clang >/dev/null || scripts/install-deps.sh clang
	CC=clang cmake -S . -B build-clang $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release
	cmake --build build-clang -j $(JOBS)

# Every relative link in README.md, docs/ and bindings/*/README.md resolves
# inside the repository (files and #anchors).
test-docs:
	python3 tests/docs/check_links.py

check-abi: build
	abi/check.sh $(BUILD)

abi-update: build
	abi/check.sh --update $(BUILD)

check-install: build
	scripts/check-install.sh $(BUILD)

test-python: deps
	tests/python/run.sh
	tests/python/check_wheel.sh

# The MCP server (noxrunner-mcp) driven by the official MCP Python SDK and
# by raw JSON-RPC (tests/mcp/run.sh; its own venv, build/mcp-venv).
test-mcp: build
	NOX_BUILD=$(abspath $(BUILD)) tests/mcp/run.sh

# A staged install in the build tree: what the Go and Lua bindings and the
# scenario runners build against, exactly as users would.
STAGE := $(abspath $(BUILD))/stage
stage: build
	cmake --install $(BUILD) --prefix $(STAGE) >/dev/null

test-go: stage
	@if [ -x bindings/go/run-tests.sh ]; then NOX_PREFIX=$(STAGE) bindings/go/run-tests.sh; \
	 else echo "test-go: no Go binding yet"; fi

test-lua: stage
	@if [ -x bindings/lua/run-tests.sh ]; then NOX_PREFIX=$(STAGE) bindings/lua/run-tests.sh; \
	 else echo "test-lua: no Lua binding yet"; fi

SCENARIO_ENV = NOXRUNNERD=$(STAGE)/bin/noxrunnerd \
  NOXRUNNER_AGENT=$(STAGE)/libexec/noxrunner/nox-sandbox \
  NOX_SCENARIOS=$(CURDIR)/tests/scenarios
PY_VENV := build/py-venv
test-scenarios: stage
	$(SCENARIO_ENV) ./$(BUILD)/scenario_runner
	@[ -x $(PY_VENV)/bin/python ] && $(PY_VENV)/bin/python -c 'import noxrunner' 2>/dev/null \
	  || NOX_PY_VENV=$(CURDIR)/$(PY_VENV) NOX_PY_INSTALL_ONLY=1 tests/python/run.sh
	$(SCENARIO_ENV) $(PY_VENV)/bin/python tests/python/scenario_runner.py

# Fuzzing (clang's libFuzzer, ASan + UBSan): test-fuzz replays the seed
# corpora in fuzz/corpus and fuzzes each target briefly; `make fuzz` runs
# each for FUZZ_SECONDS (e.g. make fuzz FUZZ_SECONDS=900).
FUZZ_SECONDS ?= 300
test-fuzz: deps
	scripts/fuzz.sh --replay
	scripts/fuzz.sh --seconds 10

fuzz: deps
	scripts/fuzz.sh --seconds $(FUZZ_SECONDS)

# A long run against noxrunnerd and the local backend with faults injected,
# then a check that nothing leaked (tests/soak/soak.py). Not part of test.
SOAK_MINUTES ?= 30
soak: stage
	@[ -x $(PY_VENV)/bin/python ] && $(PY_VENV)/bin/python -c 'import noxrunner' 2>/dev/null \
	  || NOX_PY_VENV=$(CURDIR)/$(PY_VENV) NOX_PY_INSTALL_ONLY=1 tests/python/run.sh
	$(PY_VENV)/bin/python tests/soak/soak.py --minutes $(SOAK_MINUTES)

# Benchmarks are not tests: they print numbers (and ratios against
# baselines measured in the same run) for a person to read.
bench: deps
	bench/run.sh

bench-quick: deps
	bench/run.sh --quick

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
