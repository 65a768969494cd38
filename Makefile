# The front door. `make demo` sets up and runs a local sandbox demo;
# `make test` sets up and runs every test. See README.md.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all deps build demo test test-c test-asan check-abi abi-update \
        check-install test-python clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@NOXRUNNER_HOME=$${NOXRUNNER_HOME:-$$(mktemp -d)} ./$(BUILD)/nox-demo

test: test-c test-asan check-abi check-install test-python
	@echo "make test: all suites passed"

test-c: build
	cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug \
	  -DNOX_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

check-abi: build
	abi/check.sh $(BUILD)

abi-update: build
	abi/check.sh --update $(BUILD)

check-install: build
	scripts/check-install.sh $(BUILD)

test-python: deps
	@if [ -x tests/python/run.sh ]; then tests/python/run.sh; \
	 else echo "test-python: no Python package yet"; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
