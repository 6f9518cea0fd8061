# The two commands of the README: `make demo` and `make test`.  Each installs what
# it needs (scripts/install-deps.sh), fetches lwIP, configures, builds and runs;
# so does `make bench`.
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

# The benchmark suite (not one of the two commands): the xway ring, xway's own TCP
# path, kernel TCP over loopback and AF_UNIX, plus iperf3 and sockperf natively and
# under xway-run; results.{json,csv,md} and PNG plots in BENCH_OUT.
# QUICK=1: the quick subset (a few minutes); BENCH_FLAGS: more options
# (python3 scripts/bench/bench.py --help).
BENCH_OUT ?= $(BUILD)/bench
BENCH_FLAGS ?=
bench: build
	python3 scripts/bench/bench.py --build $(BUILD) --out $(BENCH_OUT) \
	    $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_FLAGS)

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, tests run.
# Not the shim's tests (label shim) nor the install test: a sanitized library
# cannot be preloaded into, or linked by, the unsanitized programs they run.
# Except shim tests whose programs are all ours, so sanitized too (the
# preloaded shim then precedes libasan in the load order, which is fine).
# The fork tests run without LeakSanitizer: a process forked while another
# thread held a lock of the sanitizer's allocator inherits it locked, and the
# leak check at its exit then waits for ever (seen: a daemon's server hung in
# __lsan::LockAllocator at exit, 2 runs in 10); memory errors are still caught.
# The same lock also hangs a child's first allocation of that size (GCC 12's
# ASan has no fork handler for its allocator; seen: a pre-fork worker's thread
# in SizeClassAllocator64::GetFromAllocator -> Mutex::Lock, about 1 run in 6 of
# fork_prefork's "owner exits" case, also at commits before the shim's
# user-space readiness): a fork test that fails is run again, up to 3 times.
asan: deps
	cmake -S . -B $(BUILD)-asan -DXWAY_WERROR=ON -DXWAY_SANITIZE=ON -DXWAY_XEN_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j2 -E '^install$$' -LE '^shim$$' $(CTEST_FLAGS)
	cd $(BUILD)-asan && ASAN_OPTIONS=verify_asan_link_order=0 ctest --output-on-failure -R '^(shim_fdrace|shim_exec|shim_select|shim_epoll_modes|shim_epoll_more|shim_epoll_et)$$' $(CTEST_FLAGS)
	cd $(BUILD)-asan && ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 ctest --output-on-failure --repeat until-pass:3 -R '^(fork_prefork|fork_signals|fork_spawn|fork_outgoing|fork_claim)$$' $(CTEST_FLAGS)

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

clean:
	rm -rf $(BUILD) $(BUILD)-asan
