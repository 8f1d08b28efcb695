#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a bounded time on its corpus
# (fuzz/corpus/TARGET, kept in the repository and grown by each run); exits
# non-zero on the first crash, hang or stack overflow, leaving the input in
# fuzz/artifacts/TARGET. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# cargo-fuzz drives libFuzzer; the project's toolchain is stable, so the
# build allows its unstable flags with RUSTC_BOOTSTRAP and runs without a
# sanitizer (Rust's own checks catch what matters here: panics, overflows).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(rules message template journey)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --quiet
export RUSTC_BOOTSTRAP=1
cargo fuzz build --sanitizer none -O
for t in "${targets[@]}"; do
    echo "--- fuzz $t for ${seconds}s"
    mkdir -p "corpus/$t"
    cargo fuzz run "$t" --sanitizer none -O "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 2>&1 | grep -E "Done|ERROR|panicked|SUMMARY|Test unit written" || true
    # cargo fuzz exits non-zero on a finding; the pipe above hides that, so look for the artifact.
    if compgen -G "artifacts/$t/*" >/dev/null; then
        echo "fuzz $t found a failing input: $(ls artifacts/$t)"; exit 1
    fi
done
