#!/usr/bin/env bash
# The crates that only run while building (proc macros, build scripts and what they use): the
# names Cargo.toml's [profile.dev.package] table keeps unoptimized. Prints one TOML line each.
set -euo pipefail
cd "$(dirname "$0")/.."
tree() { cargo tree --workspace --locked --prefix none --target all "$@" | awk '{print $1}' | sort -u; }
comm -23 <(tree -e normal,build,dev) <(tree -e normal,dev,no-proc-macro) |
    sed 's/.*/& = { opt-level = 0 }/'
