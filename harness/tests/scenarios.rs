//! One trial per scenario × variant × fixture Prosody version, so `cargo nextest run` lists and runs
//! them in parallel, each in its own process. Listing only reads the scenario files; a trial starts its own fixture
//! stack, runs the scenario, and compares the timeline with the golden snapshot
//! `snapshots/fixture/<scenario>@<variant>.snap` through insta (so `cargo insta review` accepts changes).
//!
//! Trial names: `prosody13::auto_owner_hands_over@jwt-auto-owner`; scenarios with a browser participant
//! get a `browser::` segment (`prosody13::browser::…`), which nextest's config gives more threads.
//!
//! Nothing is skipped silently: a scenarios folder that cannot be read, or holds no scenario, is a failing
//! trial (`scenarios::discover`), and so is a scenario file that does not load (`invalid::<file>`). An
//! unmet expectation fails its trial whatever the golden snapshot says. A browser trial without Chromium
//! is skipped at listing time with the reason (failed when `CI` is set; `tests/skip/mod.rs`). A golden
//! snapshot no trial reads fails `snapshots::every_golden_has_a_trial`. `JITSI_HARNESS_SCENARIOS` points
//! at another scenarios folder, as for the CLI; the goldens are then read from `snapshots/` next to it.

mod skip;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use harness::participant::DriverOptions;
use harness::runner::outcome::UnmetExpectation;
use harness::runner::{run_scenario, RunOptions};
use harness::scenario::{self, Scenario, Transport};
use harness::snapshot::{self, Comparison};
use harness::stack::{Family, Variants};
use libtest_mimic::{Arguments, Failed, Trial};

const VERSIONS: &[(&str, &str)] = &[("prosody012", "0.12"), ("prosody13", "13")];

fn main() {
    let args = Arguments::from_args();
    let dir = std::env::var_os("JITSI_HARNESS_SCENARIOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join("scenarios"));
    let snapshots = dir.join("..").join("snapshots");
    let mut trials = Vec::new();
    let variants = match Variants::load(&dir.join("variants.toml")) {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            trials.push(Trial::test("scenarios::variants_toml", move || {
                Err(msg.into())
            }));
            libtest_mimic::run(&args, trials).exit();
        }
    };
    let paths = match scenario::discover(&dir, None) {
        Ok(paths) if paths.is_empty() => {
            let msg = format!("no scenario file in {}", dir.display());
            trials.push(Trial::test("scenarios::discover", move || Err(msg.into())));
            Vec::new()
        }
        Ok(paths) => paths,
        Err(e) => {
            let msg = format!(
                "cannot list the scenarios in {}: {:?}",
                dir.display(),
                miette::Report::new(e)
            );
            trials.push(Trial::test("scenarios::discover", move || Err(msg.into())));
            Vec::new()
        }
    };
    // Decided once, while listing: a browser trial that cannot start Chromium is skipped with the reason.
    let no_browser = DriverOptions::from_env()
        .check_installed()
        .err()
        .map(|e| e.to_string());
    let mut expected_goldens = Vec::new();
    let mut all_loaded = true;
    for path in paths {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match scenario::load(&path, &variants) {
            Err(e) => {
                all_loaded = false;
                let msg = format!("{:?}", miette::Report::new(e));
                trials.push(Trial::test(format!("invalid::{stem}"), move || {
                    Err(msg.into())
                }));
            }
            Ok(s) => {
                let browser = s
                    .participants
                    .iter()
                    .any(|p| p.transport == Transport::Browser);
                for variant in &s.variants {
                    // Names were validated when the scenario loaded, so the path exists; a refused one
                    // would have failed the load.
                    if let Ok(path) = snapshot::path(&snapshots, Family::Fixture, &s.name, variant)
                    {
                        expected_goldens.push(path);
                    }
                    for (prefix, version) in VERSIONS {
                        let segment = if browser { "browser::" } else { "" };
                        let name = format!("{prefix}::{segment}{}@{variant}", s.name);
                        let (s, variant, variants, version, snapshots) = (
                            s.clone(),
                            variant.clone(),
                            variants.clone(),
                            version.to_string(),
                            snapshots.clone(),
                        );
                        // A feature the scenario `requires` that the fixture cannot provide: skipped with
                        // the reason, in CI too (it is the scenario's declaration, not a missing tool).
                        let lacks = fixture_lacks(&s, &variant, &variants, &version);
                        let (missing, required) = match &lacks {
                            Some(why) => (Some(why.as_str()), false),
                            None if browser => (no_browser.as_deref(), skip::in_ci()),
                            None => (None, skip::in_ci()),
                        };
                        trials.push(skip::trial(&args, name, missing, required, move || {
                            trial(&s, &variant, &variants, &version, &snapshots)
                        }));
                    }
                }
            }
        }
    }
    if all_loaded {
        // A scenario that does not load already fails; its goldens would only repeat that failure.
        trials.push(Trial::test(
            "snapshots::every_golden_has_a_trial",
            move || orphans(&snapshots, &expected_goldens),
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Why the fixture of `version` cannot run `scenario` under `variant` for want of a feature it `requires`.
fn fixture_lacks(
    scenario: &Scenario,
    variant: &str,
    variants: &Variants,
    version: &str,
) -> Option<String> {
    let target: harness::stack::StackTarget = format!("fixture:{version}").parse().ok()?;
    let variant = variants.get(variant).ok()?;
    harness::stack::features::lacks(&target, variant, &scenario.requires)
}

/// Fails naming every `.snap` under `snapshots/<family>/` that no trial reads (a renamed scenario, a
/// dropped variant), and every folder that is not a snapshot family. Pending `.snap.new` files are
/// `cargo insta review`'s business, not goldens.
fn orphans(snapshots: &std::path::Path, expected: &[PathBuf]) -> Result<(), Failed> {
    let read = |dir: &std::path::Path| -> Result<Vec<PathBuf>, Failed> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Failed::from(format!("cannot list {}: {e}", dir.display())))?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| Failed::from(format!("cannot list {}: {e}", dir.display())))?;
            paths.push(entry.path());
        }
        paths.sort();
        Ok(paths)
    };
    let mut problems = Vec::new();
    for family in read(snapshots)? {
        let name = family.file_name().map(|n| n.to_string_lossy().into_owned());
        // The Jitsi-shaped local images' goldens (`local-images/jitsi/`) are read, and checked for
        // orphans, by jitsi_stack.rs (`jitsi_local::snapshots::every_golden_has_a_trial`).
        if family.is_dir() && name.as_deref() == Some("local-images") {
            continue;
        }
        let known = [Family::Fixture, Family::Jitsi, Family::External].map(|f| f.as_str());
        if !family.is_dir() || !name.as_deref().is_some_and(|n| known.contains(&n)) {
            problems.push(format!(
                "{}: not a snapshot family folder (expected {known:?})",
                family.display()
            ));
            continue;
        }
        for golden in read(&family)? {
            let is_snap = golden.extension().is_some_and(|e| e == "snap");
            let pending = golden.extension().is_some_and(|e| e == "new");
            if pending {
                continue;
            }
            // Fixture goldens are read by this binary's trials; the other families' goldens (read by the
            // CLI) must still name a scenario × variant.
            let fixture = name.as_deref() == Some(Family::Fixture.as_str());
            let read_by_a_trial = expected
                .iter()
                .any(|e| e.file_name() == golden.file_name() && (!fixture || e == &golden));
            if !is_snap || !read_by_a_trial {
                problems.push(format!(
                    "{}: no scenario × variant reads this golden (rename or delete it; \
                     `cargo insta test --unreferenced=reject` reports the same)",
                    golden.display()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn trial(
    scenario: &Scenario,
    variant_name: &str,
    variants: &Variants,
    version: &str,
    snapshots_root: &std::path::Path,
) -> Result<(), Failed> {
    let variant = variants
        .get(variant_name)
        .map_err(|e| e.to_string())?
        .clone();
    let test = format!("{}-{variant_name}-{version}", scenario.name);
    let artifacts = support::artifacts(&test);
    let timeline = support::runtime().block_on(async {
        let stack = support::start(version, &variant, &test).await;
        let mut options = RunOptions::new(artifacts.join("run"));
        options.settle = Duration::from_millis(300);
        let outcome = run_scenario(scenario, &variant, &stack, &options).await;
        let closed = stack.close().await;
        let timeline = outcome.map_err(|e| format!("{e}\n(artifacts: {})", artifacts.display()))?;
        closed.map_err(|e| format!("closing the stack: {e}"))?;
        Ok::<_, String>(timeline)
    })?;
    let unmet = UnmetExpectation::of(&timeline);
    if !unmet.is_empty() {
        // The scenario file overrules any snapshot; nothing is written for review either.
        let listed: Vec<String> = unmet.iter().map(|u| format!("  {u}")).collect();
        return Err(format!(
            "{} under {variant_name} on fixture:{version}: expectations not met:\n{}\nartifacts: {}",
            scenario.name,
            listed.join("\n"),
            artifacts.display()
        )
        .into());
    }
    let body = snapshot::render(&timeline, scenario);
    let snapshots: PathBuf = snapshots_root.join(Family::Fixture.as_str());
    let golden = snapshot::path(
        snapshots_root,
        Family::Fixture,
        &scenario.name,
        variant_name,
    )
    .map_err(|e| e.to_string())?;
    let explanation = match snapshot::compare(&golden, &body) {
        Ok(Comparison::Same) => None,
        Ok(Comparison::Changed { diff }) => Some(format!(
            "{} under {variant_name} on fixture:{version}: the timeline changed (golden {}):\n{diff}",
            scenario.name,
            golden.display()
        )),
        Ok(Comparison::New) => Some(format!(
            "{} under {variant_name} on fixture:{version}: no golden snapshot {} yet:\n{body}",
            scenario.name,
            golden.display()
        )),
        Err(e) => Some(format!("cannot read {}: {e}", golden.display())),
    };
    if let Some(text) = &explanation {
        eprintln!("{text}\nartifacts: {}", artifacts.display());
    }
    // insta owns the snapshot workflow: INSTA_UPDATE, CI (never writes), .snap.new for `cargo insta review`.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&snapshots);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_suffix(variant_name);
    settings.set_input_file(&scenario.path);
    settings.set_description(
        scenario
            .description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    );
    settings.set_omit_expression(true);
    let name = scenario.name.clone();
    let asserted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        settings.bind(|| insta::assert_snapshot!(name, body));
    }));
    match (asserted, explanation) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(text)) => Err(text.into()),
        (Err(_), None) => Err("insta rejected the snapshot".into()),
    }
}
