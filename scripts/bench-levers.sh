#!/usr/bin/env bash
# Measures each CPU lever of BENCHMARKS.md in one session: cifar-tui with burn's own kernels,
# with each of ours switched on alone, with all of ours, and the PyTorch reference.
# usage: scripts/bench-levers.sh DATA_DIR OUT_DIR [REPS]
set -euo pipefail
data=$1; out=$2; reps=${3:-3}
mkdir -p "$out"
bin=${CIFAR_TUI_BIN:-target/release/cifar-tui}
run() { # name, kernels handed back to burn, extra args...
    local name=$1 burn=$2; shift 2
    echo "== $name (burn kernels: ${burn:-none})" >&2
    CIFAR_TUI_BURN_KERNELS=$burn "$bin" --data "$data" --device cpu bench --reps "$reps" \
        --json "$out/$name.json" "$@" | tee "$out/$name.txt"
}
run all-burn all --no-reference
run conv-only pool,gather,mask --no-reference
run conv-pool gather,mask --no-reference
run ours "" ${PYTHON:+--python "$PYTHON"}
