# jitsi-harness tasks. On a fresh machine start with ./just (it installs just itself).

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() / ".tools/bin" + ":" + env_var("HOME") / ".cargo/bin:" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Run every scenario on the fixture stack (Prosody 0.12 and 13) and compare with the golden snapshots.
run *args: setup
    cargo build --bins --quiet
    ./target/debug/jitsi-harness run {{args}}

# The test suite: formatting, lints, unit and integration tests (nextest), doc tests.
test: setup
    cargo fmt --all -- --check
    cargo clippy --all-targets --quiet -- -D warnings
    cargo nextest run --workspace --profile ci
    cargo test --doc --quiet
    @echo "Skipped tests and why (each binary decides while listing; see harness/tests/skip/mod.rs):"
    @cargo test --quiet -p jitsi-harness --test scenarios --test browser --test jitsi_stack -- --list --ignored 2>&1 >/dev/null | grep ': skipped: ' || echo "  none"

# Install what runs and tests need: apt packages, cargo-nextest, the fixture images.
setup:
    bash .ci/setup

# Build the fixture stack's Prosody images from Debian packages (no registry needed).
images:
    bash docker/fixture/build.sh

# Build the Jitsi-shaped local images (docker/jitsi/: jitsi-harness.local/jitsi/*:stable-11031 and
# :stable-11146) after the stand-in binary their jicofo and jvb run; images whose inputs did not change are kept.
jitsi-images:
    cargo build --bin jitsi-harness-standin --quiet
    bash docker/jitsi/build.sh

# Every scenario on both local-image releases through the real-release path (`--registry`); their
# timelines go to snapshots/local-images/, never snapshots/jitsi/. One stack at a time: Chromium aborts a
# page load (ERR_NETWORK_CHANGED) when another stack's network appears on the host.
jitsi *args: setup jitsi-images
    cargo build --bins --quiet
    ./target/debug/jitsi-harness run --stack jitsi:stable-11031,jitsi:stable-11146 --registry jitsi-harness.local/jitsi --parallel 1 {{args}}

# Benchmarks (bots vs the plain Python client, browsers vs bots), side by side on the fixture stack.
bench *args: setup
    bash .ci/bench {{args}}

# Review pending snapshots (.snap.new) with cargo-insta.
review:
    command -v cargo-insta >/dev/null || cargo install cargo-insta --locked
    cargo insta review --workspace-root . --snapshot snapshots

# Fuzz each cargo-fuzz target of fuzz/ for SECONDS (scenario files, token claim overrides, presence stanzas).
# cargo-fuzz needs nightly flags: stable with RUSTC_BOOTSTRAP=1. No sanitizer: the harness has no unsafe code,
# and without ASan the targets run several times faster. Crashes land in fuzz/artifacts/TARGET/.
fuzz seconds="120":
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    cd fuzz
    mkdir -p logs
    for t in scenario token_claims presence; do
      seeds=()
      [ "$t" = scenario ] && seeds=(../scenarios)
      mkdir -p "corpus/$t"
      echo "fuzz: $t for {{seconds}} s (log: fuzz/logs/$t.log)"
      status=0
      RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$t" "corpus/$t" "${seeds[@]}" -- \
        -max_total_time={{seconds}} -max_len=65536 -print_final_stats=1 >"logs/$t.log" 2>&1 || status=$?
      grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "logs/$t.log" || true
      if [ "$status" != 0 ]; then
        tail -n 40 "logs/$t.log" >&2
        echo "fuzz: $t failed (exit $status); a crash input is in fuzz/artifacts/$t/" >&2
        exit 1
      fi
    done

# Remove containers and networks left by killed or --keep-stack runs, and old artifacts.
clean:
    cargo run --quiet --bin jitsi-harness -- clean --kept
    rm -rf artifacts target/test-artifacts
