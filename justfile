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
    @cargo test --quiet -p jitsi-harness --test scenarios --test browser --test jitsi_stack --test workflows --test bisect -- --list --ignored 2>&1 >/dev/null | grep ': skipped: ' || echo "  none"

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
# timelines go to snapshots/local-images/, never snapshots/jitsi/ (`--accept` writes them after review).
# One stack at a time: each takes both cores of a 2-core machine while it starts.
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

# Every docker-jitsi-meet stable release newer than the tag recorded in STATE (a file; `releases
# --new-since`), oldest first, each paired with the release before it; with TAG, that one release; without a
# STATE file, the newest. .github/workflows/release.yml runs this to make its job matrix. These recipes
# build the binary unless JITSI_HARNESS_BIN names one.
# The releases to test next, as JSON [{"prev": TAG, "new": TAG}, ...].
[positional-arguments]
release-pairs state="last-tested-release" tag="":
    #!/usr/bin/env bash
    set -euo pipefail
    state="$1" tag="${2:-}"
    h="${JITSI_HARNESS_BIN:-./target/debug/jitsi-harness}"
    [ -n "${JITSI_HARNESS_BIN:-}" ] || cargo build --bin jitsi-harness --quiet
    all=$("$h" releases --format json)
    if [ -n "$tag" ]; then
      new=$(python3 -c 'import json, sys; print(json.dumps([{"tag": sys.argv[1]}]))' "$tag")
    elif [ -f "$state" ]; then
      new=$("$h" releases --new-since "$state" --format json)
    else
      echo "release-pairs: no state file $state: testing the newest release only" >&2
      new=$(python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])[:1]))' "$all")
    fi
    python3 - "$all" "$new" <<'PY'
    import json, sys
    releases = [r["tag"] for r in json.loads(sys.argv[1])]  # newest first
    pairs = []
    for tag in reversed([r["tag"] for r in json.loads(sys.argv[2])]):
        if tag not in releases:
            sys.exit(f"release-pairs: {tag} is not a published stable release; see `jitsi-harness releases`")
        i = releases.index(tag)
        if i + 1 == len(releases):
            print(f"release-pairs: {tag} is the oldest release, nothing before it to compare with", file=sys.stderr)
            continue
        pairs.append({"prev": releases[i + 1], "new": tag})
    for p in pairs:
        print(f"release-pairs: {p['prev']} -> {p['new']}", file=sys.stderr)
    print(json.dumps(pairs))
    PY

# Images pulled from upstream's registry (or --registry); reports (JUnit, Markdown summary, HTML) in
# artifacts/reports/PREV..NEW/; exit 1 when a timeline changed. Extra arguments go to `run`.
# Every scenario on release PREV, then NEW: each against the golden snapshots, and NEW against PREV.
[positional-arguments]
release-check prev new *args:
    #!/usr/bin/env bash
    set -euo pipefail
    prev="$1" new="$2"; shift 2
    for t in "$prev" "$new"; do
      [[ "$t" =~ ^(stable|unstable)(-[0-9][0-9-]*)?$ ]] || { echo "release-check: '$t' is not a release tag (stable-NNNN[-N], unstable-YYYY-MM-DD)" >&2; exit 2; }
    done
    h="${JITSI_HARNESS_BIN:-./target/debug/jitsi-harness}"
    [ -n "${JITSI_HARNESS_BIN:-}" ] || cargo build --bin jitsi-harness --quiet
    out="artifacts/reports/$prev..$new"
    "$h" run --stack "jitsi:$prev,jitsi:$new" --parallel 1 \
      --junit "$out/junit.xml" --markdown "$out/summary.md" --html "$out/html" "$@"

# Upstream publishes unstable images daily; .github/workflows/nightly.yml runs this. Extra arguments go to `run`.
# The newest stable release against unstable-DATE (default: today, UTC), as release-check does.
[positional-arguments]
nightly-check date="" *args:
    #!/usr/bin/env bash
    set -euo pipefail
    day="${1:-$(date -u +%F)}"
    shift || true
    [[ "$day" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] || { echo "nightly-check: '$day' is not a date (YYYY-MM-DD)" >&2; exit 2; }
    h="${JITSI_HARNESS_BIN:-./target/debug/jitsi-harness}"
    [ -n "${JITSI_HARNESS_BIN:-}" ] || cargo build --bin jitsi-harness --quiet
    stable=$("$h" releases --format json |
      python3 -c 'import json, sys; r = json.load(sys.stdin); print(r[0]["tag"]) if r else sys.exit("nightly-check: no stable release listed")')
    ./just release-check "$stable" "unstable-$day" "$@"

# Check the GitHub workflows as the test suite does: GitHub's workflow schema and zizmor (offline).
lint-workflows: setup-tools
    .tools/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
    .tools/bin/zizmor --offline .github/workflows

# The workflow linters only (check-jsonschema, zizmor from PyPI into .tools/); `setup` installs them too.
setup-tools:
    bash .ci/setup --tools-only
