# The two commands of the README: `make demo` and `make test`.  Each installs what
# it needs (scripts/install-deps.sh), fetches lwIP, configures, builds and runs.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=

.PHONY: all deps build demo test bench install clean asan

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DXWAY_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

demo: build
	bash scripts/demo.sh $(BUILD)

test: build
	cd $(BUILD) && ctest --output-on-failure -j2 $(CTEST_FLAGS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, tests run.
# Not the shim's tests nor the install test: a sanitized library cannot be
# preloaded into, or linked by, the unsanitized programs they run.
asan: deps
	cmake -S . -B $(BUILD)-asan -DXWAY_WERROR=ON -DXWAY_SANITIZE=ON -DXWAY_XEN_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j2 -E '^(install|shim_.*)$$' $(CTEST_FLAGS)

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

clean:
	rm -rf $(BUILD) $(BUILD)-asan
