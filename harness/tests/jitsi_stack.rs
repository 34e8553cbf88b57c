//! The real-release path (`run --stack jitsi:TAG`) end to end, against the Jitsi-shaped local images of
//! `docker/jitsi/` (`jitsi-harness.local/jitsi/{prosody,jicofo,jvb,web}:TAG`), started through
//! `StartOptions::registry` — the code path `--registry jitsi-harness.local/jitsi` takes, and the one real
//! images take (plan, image check, network, env, read-only root, tmpfs, volumes, waits, endpoints). A
//! `harness = false` test binary (libtest-mimic):
//!
//! * `jitsi_local::<release>::browser::<variant>::agree_and_goldens`, for stable-11031 and stable-11146
//!   × every variant of `scenarios/variants.toml`: one stack per (release, variant), its start time
//!   printed; a seed scenario with one browser (page kind `JitsiMeet`) and bots; after every step the
//!   observers agree, jicofo's REST view is recorded and agrees, the expectations hold. Then, on the same
//!   stack (as `./just jitsi` shares it), every scenario of `scenarios/` under that variant, each timeline
//!   compared with its golden `snapshots/local-images/jitsi/<scenario>@<variant>.snap` (the local images'
//!   own family: their results are the stand-ins', never Jitsi's); an unmet expectation or a changed or
//!   missing golden fails the trial, naming the scenario; `./just jitsi --accept` writes goldens after
//!   review. After close nothing of the stack is left (containers, networks, volumes).
//! * `jitsi_local::<release>::goldens::<scenario>@<variant>`: a scenario that breaks a service
//!   (`restart`, `stop`, `pause`) on a stack of its own, as `run` gives it, compared with its golden.
//! * `jitsi_local::stable_11146::a_jicofo_wait_that_never_holds_fails_in_time`: with jicofo's REST wait
//!   switched to `/about/health` (which jicofo serves only with `JICOFO_ENABLE_HEALTH_CHECKS`, never set
//!   by the plan) the start fails within its deadline, naming that wait and quoting jicofo's last lines.
//! * `jitsi_local::stable_11146::two_stacks_side_by_side`: two stacks of one release at once; each web's
//!   HTTPS port is the one its `config.js` (from `PUBLIC_URL`) names.
//! * `jitsi_local::snapshots::every_golden_has_a_trial`: every file under `snapshots/local-images/` is
//!   `jitsi/<scenario>@<variant>.snap` of a scenario × variant the golden trials read (needs no Docker).
//!
//! Prerequisites are decided while listing: Docker, the eight images (`./just jitsi-images`) and the
//! browser (Debian's chromium + chromium-driver). Missing, a trial is reported ignored with the reason;
//! with `CI` set it fails instead (never a silent skip). The timelines are the stand-ins', not Jitsi's:
//! nothing here reads or writes `snapshots/jitsi/`.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use harness::http::{Http, HttpOptions};
use harness::participant::browser::DriverOptions;
use harness::runner::outcome::UnmetExpectation;
use harness::runner::{run_scenario, RunOptions};
use harness::scenario::{self, Scenario};
use harness::snapshot::{self, Comparison};
use harness::stack::docker::{self, LABEL_RUN, LABEL_STACK};
use harness::stack::jitsi::{JitsiStack, Ready, StartHooks};
use harness::stack::{Family, Stack, StackError, StackTarget, StartOptions, Variant, Variants};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use testcontainers::bollard::Docker;

const REGISTRY: &str = "jitsi-harness.local/jitsi";
const RELEASES: [&str; 2] = ["stable-11031", "stable-11146"];
const SERVICES: [&str; 4] = ["prosody", "jicofo", "jvb", "web"];
/// The stacks start in 15–20 s on a loaded 2-core machine; generous.
const STARTUP: Duration = Duration::from_secs(120);
/// Deadline of the negative start: the wrong wait must fail by then, not hang.
const NEGATIVE_STARTUP: Duration = Duration::from_secs(45);

fn main() {
    let args = Arguments::from_args();
    let required = std::env::var_os("CI").is_some();
    let reason = missing_prerequisite();
    let mut trials = Vec::new();
    let mut add = |name: String, body: Box<dyn FnOnce() -> Result<(), Failed> + Send>| {
        trials.push(match reason.clone() {
            Some(r) if required => Trial::test(name, move || {
                Err(Failed::from(format!(
                    "{r} (CI is set: the Jitsi-shaped images and the browser are required)"
                )))
            }),
            Some(r) => {
                eprintln!("{name}: skipped: {r}");
                Trial::test(name, move || {
                    Err(Failed::from(format!("not runnable here: {r}")))
                })
                .with_ignored_flag(true)
            }
            None => Trial::ignorable_test(name, move || body().map(|()| Completion::Completed)),
        });
    };
    let variant_names: Vec<String> = match variants() {
        Ok(v) => v.by_name.keys().cloned().collect(),
        Err(e) => {
            let msg = e
                .message()
                .unwrap_or("cannot load variants.toml")
                .to_owned();
            add(
                "jitsi_local::variants_toml".into(),
                Box::new(move || Err(Failed::from(msg))),
            );
            Vec::new()
        }
    };
    // The goldens: every scenario of `scenarios/` under each variant it names.
    let golden_cells = match golden_cells() {
        Ok(cells) => cells,
        Err(e) => {
            add(
                "jitsi_local::goldens::scenarios".into(),
                Box::new(move || Err(Failed::from(e))),
            );
            Default::default()
        }
    };
    let expected: Vec<String> = golden_cells
        .iter()
        .flat_map(|(variant, scenarios)| {
            scenarios
                .iter()
                .map(move |s| format!("{}@{variant}.snap", s.name))
        })
        .collect();
    // A scenario × variant without a local-images golden yet (a new scenario, or one whose variant the
    // images cannot serve) is listed as skipped with the way to record it, never run as a pass.
    let mut pending = Vec::new();
    let golden_cells: BTreeMap<String, Vec<Scenario>> = golden_cells
        .into_iter()
        .map(|(variant, scenarios)| {
            let (have, missing): (Vec<Scenario>, Vec<Scenario>) =
                scenarios.into_iter().partition(|s| {
                    snapshot::path(&goldens_root(), Family::Jitsi, &s.name, &variant)
                        .is_ok_and(|p| p.is_file())
                });
            pending.extend(missing.into_iter().map(|s| format!("{}@{variant}", s.name)));
            (variant, have)
        })
        .collect();
    let mut pending_trials = Vec::new();
    for cell in pending {
        let name = format!("jitsi_local::goldens_pending::{cell}");
        eprintln!(
            "{name}: skipped: no golden in snapshots/{}/jitsi/ yet: run `./just jitsi --accept --scenario {}`, \
             review the timeline, commit it (or make the scenario `requires` what the images lack)",
            harness::stack::jitsi::LOCAL_IMAGES_SNAPSHOTS,
            cell.split('@').next().unwrap_or_default()
        );
        pending_trials.push(
            Trial::test(name, || Err(Failed::from("no local-images golden yet")))
                .with_ignored_flag(true),
        );
    }
    for release in RELEASES {
        for variant in &variant_names {
            let (shared, own): (Vec<Scenario>, Vec<Scenario>) = golden_cells
                .get(variant)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .partition(|s| !breaks_a_service(s));
            let (r, v) = (release.to_owned(), variant.clone());
            add(
                // The `browser::` segment: nextest gives browser trials both cores.
                format!(
                    "jitsi_local::{}::browser::{}::agree_and_goldens",
                    release.replace('-', "_"),
                    variant.replace('-', "_")
                ),
                Box::new(move || agree(&r, &v, &shared)),
            );
            // A scenario that breaks a service gets a stack of its own, as `run` gives it.
            for scenario in own {
                let (r, v) = (release.to_owned(), variant.clone());
                add(
                    format!(
                        "jitsi_local::{}::goldens::{}@{variant}",
                        release.replace('-', "_"),
                        scenario.name
                    ),
                    Box::new(move || own_stack_golden(&r, &v, &scenario)),
                );
            }
        }
    }
    // Reads files only: runs wherever the binary runs.
    let orphan_check = Trial::test(
        "jitsi_local::snapshots::every_golden_has_a_trial",
        move || orphans(&expected),
    );
    add(
        "jitsi_local::stable_11146::a_jicofo_wait_that_never_holds_fails_in_time".into(),
        Box::new(|| wrong_wait_fails("stable-11146")),
    );
    add(
        "jitsi_local::stable_11146::two_stacks_side_by_side".into(),
        Box::new(|| side_by_side("stable-11146")),
    );
    for release in RELEASES {
        add(
            format!(
                "jitsi_local::{}::custom_prosody_modules_load",
                release.replace('-', "_")
            ),
            Box::new(move || custom_modules_load(release)),
        );
    }
    trials.push(orphan_check);
    trials.extend(pending_trials);
    libtest_mimic::run(&args, trials).exit();
}

/// Where the local images' goldens live: `snapshots/local-images/` (`stack::jitsi::LOCAL_IMAGES_SNAPSHOTS`),
/// then the family folder `jitsi/`, as `run --registry jitsi-harness.local/jitsi` writes them.
fn goldens_root() -> std::path::PathBuf {
    support::repo_root()
        .join("snapshots")
        .join(harness::stack::jitsi::LOCAL_IMAGES_SNAPSHOTS)
}

/// Every variant that some scenario of `scenarios/` runs under, with those scenarios (sorted by name).
fn golden_cells() -> Result<BTreeMap<String, Vec<Scenario>>, String> {
    let dir = support::repo_root().join("scenarios");
    let variants = Variants::load(&dir.join("variants.toml")).map_err(|e| e.to_string())?;
    let paths = scenario::discover(&dir, None).map_err(|e| {
        format!(
            "cannot list {}: {:?}",
            dir.display(),
            miette::Report::new(e)
        )
    })?;
    let mut by_variant: BTreeMap<String, Vec<Scenario>> = BTreeMap::new();
    for path in paths {
        let s = scenario::load(&path, &variants)
            .map_err(|e| format!("{:?}", miette::Report::new(e)))?;
        for v in &s.variants {
            by_variant.entry(v.clone()).or_default().push(s.clone());
        }
    }
    for scenarios in by_variant.values_mut() {
        scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(by_variant)
}

/// Fails naming every file under `snapshots/local-images/` that is not the golden of a scenario ×
/// variant the golden trials read (a renamed scenario, a dropped variant, a stray folder). Pending
/// `.snap.new` files are `cargo insta review`'s business.
fn orphans(expected: &[String]) -> Result<(), Failed> {
    let root = goldens_root();
    let list = |dir: &Path| -> Result<Vec<std::path::PathBuf>, Failed> {
        let mut paths = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Failed::from(format!("cannot list {}: {e}", dir.display())))?;
        for entry in entries {
            paths.push(
                entry
                    .map_err(|e| Failed::from(format!("cannot list {}: {e}", dir.display())))?
                    .path(),
            );
        }
        paths.sort();
        Ok(paths)
    };
    if !root.exists() {
        return Err(Failed::from(format!(
            "{} is missing: the local images' goldens are part of the suite",
            root.display()
        )));
    }
    let mut problems = Vec::new();
    for family in list(&root)? {
        if family.file_name().and_then(|n| n.to_str()) != Some(Family::Jitsi.as_str())
            || !family.is_dir()
        {
            problems.push(format!(
                "{}: not a snapshot family of the local images (only `jitsi/`)",
                family.display()
            ));
            continue;
        }
        for golden in list(&family)? {
            let name = golden
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.ends_with(".snap.new") {
                continue;
            }
            if !expected.contains(&name) {
                problems.push(format!(
                    "{}: no scenario × variant reads this golden (rename or delete it)",
                    golden.display()
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(problems.join("\n")))
    }
}

/// Why the trials cannot run here, if they cannot: Docker, an image, the browser.
fn missing_prerequisite() -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let images = rt.block_on(async {
        let docker = match docker::connect().await {
            Ok(d) => d,
            Err(e) => return Some(format!("Docker is not reachable: {e}")),
        };
        let mut missing = Vec::new();
        for release in RELEASES {
            for service in SERVICES {
                let image = format!("{REGISTRY}/{service}:{release}");
                if !docker::image_present(&docker, &image)
                    .await
                    .unwrap_or(false)
                {
                    missing.push(image);
                }
            }
        }
        (!missing.is_empty()).then(|| {
            format!(
                "images not built: {} (build them with `./just jitsi-images`)",
                missing.join(", ")
            )
        })
    });
    images.or_else(|| {
        DriverOptions::from_env()
            .check_installed()
            .err()
            .map(|e| format!("no browser: {e}"))
    })
}

fn variants() -> Result<Variants, Failed> {
    Variants::load(&support::repo_root().join("scenarios/variants.toml"))
        .map_err(|e| Failed::from(e.to_string()))
}

fn variant(name: &str) -> Result<Variant, Failed> {
    variants()?
        .get(name)
        .cloned()
        .map_err(|e| Failed::from(e.to_string()))
}

fn target(release: &str) -> Result<StackTarget, Failed> {
    format!("jitsi:{release}")
        .parse()
        .map_err(|e: harness::stack::StackTargetError| Failed::from(e.to_string()))
}

fn options(test: &str, startup: Duration) -> StartOptions {
    let mut options = StartOptions::new(support::artifacts(test));
    options.startup_timeout = startup;
    options.registry = Some(REGISTRY.to_owned());
    options
}

/// The seed scenario of a variant: one browser (alice), bots, expectations as the variant means them. A
/// bot (bob) is in the room from the first step to the last: jicofo's view names members by real JID, and
/// the names of JIDs other than the bots' own come from what the bots see.
fn seed_scenario(variant: &str) -> Result<&'static str, Failed> {
    Ok(match variant {
        "jwt-auto-owner" => {
            r#"participants = { alice = { transport = "browser" }, bob = {}, carol = {} }
[[step]]
join = ["bob"]
moderators = ["bob"]
[[step]]
join = ["alice", "carol"]
moderators = ["bob"]
[[step]]
leave = "carol"
moderators = ["bob"]
"#
        }
        // JWT_ALLOW_EMPTY changes nothing for token holders: the jicofo-auth seed holds.
        "jwt-jicofo-auth" | "jwt-allow-empty" => {
            r#"participants = { alice = { transport = "browser" }, bob = {} }
[[step]]
join = ["bob"]
moderators = ["bob"]
[[step]]
join = ["alice"]
moderators = ["alice", "bob"]
"#
        }
        "jwt-no-auto-owner" => {
            r#"participants = { alice = { transport = "browser" }, bob = {} }
[[step]]
join = ["bob"]
moderator_count = 0
[[step]]
join = ["alice"]
moderator_count = 0
"#
        }
        "jwt-guests" | "jwt-allow-empty-guests" => {
            r#"participants = { alice = { transport = "browser" }, bob = {}, guest = { login = "guest" } }
[[step]]
join = ["bob"]
moderators = ["bob"]
[[step]]
join = ["alice", "guest"]
moderators = ["alice", "bob"]
"#
        }
        // PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT: the clients' own nicks (the first 8 characters of
        // their login) pass, a chosen nick is refused.
        "jwt-auto-owner-strict" => {
            r#"participants = { alice = { transport = "browser" }, bob = {}, mallory = { nick = "mallory" } }
[[step]]
join = ["bob"]
moderators = ["bob"]
[[step]]
join = ["alice", "mallory"]
rejected = ["mallory"]
moderators = ["bob"]
"#
        }
        // With the lobby available but off, a room behaves as without it.
        "jwt-lobby" => {
            r#"participants = { alice = { transport = "browser" }, bob = {}, carol = {} }
[[step]]
join = ["bob"]
moderators = ["bob"]
[[step]]
join = ["alice", "carol"]
moderators = ["bob"]
"#
        }
        "jwt-guests-lobby" => {
            r#"participants = { alice = { transport = "browser" }, bob = {}, guest = { login = "guest" } }
[[step]]
join = ["bob"]
moderators = ["bob"]
[[step]]
join = ["alice", "guest"]
moderators = ["alice", "bob"]
"#
        }
        // muc_wait_for_host is not in the Jitsi-shaped images (docker/jitsi/README.md): only token holders
        // join, and only agreement is checked (real images make them owners unless auto-owners are off).
        "jwt-guests-wait-for-host" | "jwt-guests-wait-for-host-fixed" => {
            r#"participants = { alice = { transport = "browser" }, bob = {} }
[[step]]
join = ["bob"]
[[step]]
join = ["alice"]
"#
        }
        // XMPP_MUC_MODULES=token_affiliation: the token's claims decide owner or member (the image ships the
        // fixture's module under that name); jicofo grants nothing.
        "jwt-token-affiliation" => {
            r#"participants = { alice = { transport = "browser", token = { claims = { "context.user.moderator" = true } } }, bob = { token = { claims = { "context.user.affiliation" = "member" } } } }
[[step]]
join = ["bob"]
moderator_count = 0
affiliations = { bob = "member" }
[[step]]
join = ["alice"]
moderators = ["alice"]
affiliations = { alice = "owner", bob = "member" }
"#
        }
        // token_affiliation under jicofo authentication: jicofo makes the member owner anyway.
        "jwt-jicofo-auth-token-affiliation" => {
            r#"participants = { alice = { transport = "browser" }, bob = { token = { claims = { "context.user.affiliation" = "member" } } } }
[[step]]
join = ["bob"]
moderators = ["bob"]
affiliations = { bob = "owner" }
[[step]]
join = ["alice"]
moderators = ["alice", "bob"]
"#
        }
        // AUTH_TYPE=internal with guests: registered accounts (password logins, bots only: the browser
        // profile does not type passwords) are owners, the guest never is.
        "internal-guests" => {
            r#"participants = { alice = { login = "password" }, bob = { login = "password" }, guest = { login = "guest" } }
[[step]]
join = ["alice"]
moderators = ["alice"]
[[step]]
join = ["bob", "guest"]
moderators = ["alice", "bob"]
"#
        }
        other => {
            return Err(Failed::from(format!(
                "no seed scenario for variant `{other}`: add one to harness/tests/jitsi_stack.rs"
            )))
        }
    })
}

fn load_seed(variant: &str, variants: &Variants) -> Result<Scenario, Failed> {
    let body = seed_scenario(variant)?;
    let text = format!(
        "description = \"Seed: one browser and bots agree with jicofo on {variant}.\"\n\
         variants = [\"{variant}\"]\n{body}"
    );
    let path = Path::new("harness/tests/jitsi_stack.rs").with_file_name(format!(
        "jitsi_local_seed_{}.toml",
        variant.replace('-', "_")
    ));
    scenario::parse(&path, &text, variants)
        .map_err(|e| Failed::from(format!("{:?}", miette::Report::new(e))))
}

/// Starts `release` for `variant` through the registry override, printing the start time.
async fn start(
    release: &str,
    variant: &Variant,
    test: &str,
    startup: Duration,
) -> Result<Stack, Failed> {
    let target = target(release)?;
    let t0 = Instant::now();
    let stack = Stack::start(&target, variant, &options(test, startup))
        .await
        .map_err(|e| Failed::from(format!("{target} ({}) did not start: {e}", variant.name)))?;
    eprintln!(
        "{target} {} via {REGISTRY} started in {:.1} s",
        variant.name,
        t0.elapsed().as_secs_f64()
    );
    Ok(stack)
}

fn agree(release: &str, variant_name: &str, goldens: &[Scenario]) -> Result<(), Failed> {
    let variants = variants()?;
    let variant = variant(variant_name)?;
    let scenario = load_seed(variant_name, &variants)?;
    let test = format!("jitsi-local-{release}-{variant_name}");
    let label = format!("jitsi:{release}/{variant_name}");
    support::runtime().block_on(async {
        let docker = docker::connect()
            .await
            .map_err(|e| Failed::from(e.to_string()))?;
        let stack = start(release, &variant, &test, STARTUP).await?;
        let outcome = run_scenario(
            &scenario,
            &variant,
            &stack,
            &RunOptions::new(support::artifacts(&test).join("run")),
        )
        .await;
        // The repository's scenarios of this variant share the stack, as `run` shares it.
        let mut problems = Vec::new();
        for golden in goldens {
            problems.extend(golden_problem(&stack, &variant, golden, &test).await);
        }
        let closed = stack.close().await;
        let timeline = outcome.map_err(|e| Failed::from(format!("{test}: {e}")))?;
        closed.map_err(|e| Failed::from(format!("closing {test}: {e}")))?;
        nothing_left(&docker, &label).await?;

        problems.extend(
            UnmetExpectation::of(&timeline)
                .iter()
                .map(|u| u.to_string()),
        );
        for step in &timeline.steps {
            if !step.observers_agree() {
                problems.push(format!(
                    "step `{}`: bots and browser disagree: {:?}",
                    step.label, step.views
                ));
            }
            let consensus = step.consensus().map(|v| v.moderators());
            match &step.jicofo {
                None => problems.push(format!(
                    "step `{}`: jicofo's REST view was not recorded",
                    step.label
                )),
                Some(j) if Some(j.moderators()) != consensus => problems.push(format!(
                    "step `{}`: jicofo sees moderators {:?}, the participants {:?}",
                    step.label,
                    j.moderators(),
                    consensus
                )),
                Some(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Failed::from(format!(
                "{release} {variant_name} (local images, not Jitsi's):\n  {}\n(artifacts: {})",
                problems.join("\n  "),
                support::artifacts(&test).display()
            )))
        }
    })
}

/// Whether `scenario` breaks a service (`restart`, `stop`, `pause`): `run` gives it a stack of its own.
fn breaks_a_service(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|s| s.action.service().is_some())
}

/// A scenario that breaks a service, on a stack of its own, compared with its local-images golden.
fn own_stack_golden(release: &str, variant_name: &str, scenario: &Scenario) -> Result<(), Failed> {
    let variant = variant(variant_name)?;
    let test = format!("jitsi-local-{release}-{variant_name}-{}", scenario.name);
    let label = format!("jitsi:{release}/{variant_name}");
    support::runtime().block_on(async {
        let docker = docker::connect()
            .await
            .map_err(|e| Failed::from(e.to_string()))?;
        let stack = start(release, &variant, &test, STARTUP).await?;
        let problem = golden_problem(&stack, &variant, scenario, &test).await;
        stack
            .close()
            .await
            .map_err(|e| Failed::from(format!("closing {label}: {e}")))?;
        nothing_left(&docker, &label).await?;
        match problem {
            None => Ok(()),
            Some(p) => Err(Failed::from(format!(
                "{label} (local images, not Jitsi's): {p}"
            ))),
        }
    })
}

/// A variant's own module folder (`prosody_plugins`, here `harness/tests/prosody-plugins`) is mounted
/// read-only at `/prosody-plugins-custom` and its module enabled with `XMPP_MUC_MODULES` loads: Prosody's log
/// shows it loading on the MUC host and logging the bots' joins.
fn custom_modules_load(release: &str) -> Result<(), Failed> {
    let variants = variants()?;
    let mut variant = variant("jwt-auto-owner")?;
    variant.name = "jwt-auto-owner-custom-modules".into();
    variant.prosody_plugins = Some(support::repo_root().join("harness/tests/prosody-plugins"));
    variant.xmpp_muc_modules = vec!["jh_occupant_log".into()];
    let text = "description = \"Seed: bots join a room with a custom module loaded.\"\n\
                variants = [\"jwt-auto-owner\"]\n\
                participants = { bob = {}, carol = {} }\n\
                [[step]]\njoin = [\"bob\", \"carol\"]\nmoderator_count = 1\n";
    let scenario = scenario::parse(
        Path::new("harness/tests/jitsi_local_custom_modules.toml"),
        text,
        &variants,
    )
    .map_err(|e| Failed::from(format!("{:?}", miette::Report::new(e))))?;
    let test = format!("jitsi-local-{release}-custom-modules");
    let label = format!("jitsi:{release}/{}", variant.name);
    support::runtime().block_on(async {
        let docker = docker::connect()
            .await
            .map_err(|e| Failed::from(e.to_string()))?;
        let stack = start(release, &variant, &test, STARTUP).await?;
        let outcome = run_scenario(
            &scenario,
            &variant,
            &stack,
            &RunOptions::new(support::artifacts(&test).join("run")),
        )
        .await;
        let closed = stack.close().await;
        // The whole followed log (the load line comes long before the joins).
        let log_path = support::artifacts(&test).join("prosody.log");
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let timeline = outcome.map_err(|e| Failed::from(format!("{test}: {e}")))?;
        closed.map_err(|e| Failed::from(format!("closing {test}: {e}")))?;
        nothing_left(&docker, &label).await?;
        let unmet: Vec<String> = UnmetExpectation::of(&timeline)
            .iter()
            .map(|u| u.to_string())
            .collect();
        let loaded = log
            .lines()
            .any(|l| l.contains("jh_occupant_log: loaded on muc.meet.jitsi"));
        let joins = log
            .lines()
            .filter(|l| l.contains("jh_occupant_log: ") && l.contains(" joined "))
            .count();
        // bob, carol and the focus join.
        if unmet.is_empty() && loaded && joins >= 2 {
            Ok(())
        } else {
            Err(Failed::from(format!(
                "{release}: unmet {unmet:?}; module loaded: {loaded}; join lines: {joins}\nprosody's log:\n{log}"
            )))
        }
    })
}

/// Runs `scenario` on `stack` and compares its timeline with its golden in `snapshots/local-images/`;
/// what is wrong, if anything (it did not run to its end, an unmet expectation, a changed or missing
/// golden). Prints how long it ran.
async fn golden_problem(
    stack: &Stack,
    variant: &Variant,
    scenario: &Scenario,
    test: &str,
) -> Option<String> {
    let t0 = Instant::now();
    let artifacts = support::artifacts(test).join(&scenario.name);
    let outcome = run_scenario(scenario, variant, stack, &RunOptions::new(&artifacts)).await;
    eprintln!(
        "{} {} {}: {:.1} s",
        stack.target(),
        variant.name,
        scenario.name,
        t0.elapsed().as_secs_f64()
    );
    let timeline = match outcome {
        Ok(t) => t,
        Err(e) => {
            return Some(format!(
                "{}: did not run to its end: {e} (artifacts: {})",
                scenario.name,
                artifacts.display()
            ))
        }
    };
    let unmet: Vec<String> = UnmetExpectation::of(&timeline)
        .iter()
        .map(|u| format!("    {u}"))
        .collect();
    if !unmet.is_empty() {
        return Some(format!(
            "{}: expectations not met:\n{}",
            scenario.name,
            unmet.join("\n")
        ));
    }
    let body = snapshot::render(&timeline, scenario);
    let golden = match snapshot::path(
        &goldens_root(),
        Family::Jitsi,
        &scenario.name,
        &variant.name,
    ) {
        Ok(g) => g,
        Err(e) => return Some(e.to_string()),
    };
    match snapshot::compare(&golden, &body) {
        Ok(Comparison::Same) => None,
        Ok(Comparison::Changed { diff }) => Some(format!(
            "{}: the timeline differs from {}:\n{diff}",
            scenario.name,
            golden.display()
        )),
        Ok(Comparison::New) => Some(format!(
            "{}: no golden {} yet; review this timeline and accept it with `./just jitsi --accept`:\n{body}",
            scenario.name,
            golden.display()
        )),
        Err(e) => Some(format!("cannot read {}: {e}", golden.display())),
    }
}

/// Nothing carrying this run's id and `stack` label is left: containers, networks, volumes.
async fn nothing_left(docker: &Docker, stack: &str) -> Result<(), Failed> {
    let run = format!("{LABEL_RUN}={}", docker::run_id());
    let stack = format!("{LABEL_STACK}={stack}");
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![run.as_str(), &stack])]);
    let api = |e: testcontainers::bollard::errors::Error| Failed::from(e.to_string());
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(api)?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(api)?;
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(api)?
        .volumes
        .unwrap_or_default();
    if containers.is_empty() && networks.is_empty() && volumes.is_empty() {
        Ok(())
    } else {
        Err(Failed::from(format!(
            "left behind by {stack}: containers {:?}, networks {:?}, volumes {:?}",
            containers.iter().map(|c| &c.names).collect::<Vec<_>>(),
            networks.iter().map(|n| &n.name).collect::<Vec<_>>(),
            volumes.iter().map(|v| &v.name).collect::<Vec<_>>()
        )))
    }
}

fn wrong_wait_fails(release: &str) -> Result<(), Failed> {
    let mut variant = variant("jwt-auto-owner")?;
    // Its own stack label, so the leftover check cannot see another trial's stack.
    variant.name = "jwt-auto-owner-wrong-wait".into();
    let test = format!("jitsi-local-{release}-wrong-wait");
    let label = format!("jitsi:{release}/{}", variant.name);
    let target = target(release)?;
    support::runtime().block_on(async {
        let docker = docker::connect()
            .await
            .map_err(|e| Failed::from(e.to_string()))?;
        let hooks = StartHooks {
            jicofo_rest_wait: Some(Ready::http(8888, "/about/health", 200)),
        };
        let t0 = Instant::now();
        let result =
            JitsiStack::start_with(&target, &variant, &options(&test, NEGATIVE_STARTUP), hooks)
                .await;
        let took = t0.elapsed();
        let error = match result {
            Ok(stack) => {
                let _ = stack.close().await;
                return Err(Failed::from(
                    "the stack became ready although jicofo serves no /about/health without \
                     JICOFO_ENABLE_HEALTH_CHECKS",
                ));
            }
            Err(e) => e,
        };
        let text = error.to_string();
        if !matches!(error, StackError::NotReady { .. }) {
            return Err(Failed::from(format!("expected NotReady, got: {text}")));
        }
        // The wait it names, the container, and jicofo's own last lines (it logged the bridge first).
        for needle in ["/about/health", "jicofo", "Added new videobridge"] {
            if !text.contains(needle) {
                return Err(Failed::from(format!("`{needle}` missing from: {text}")));
            }
        }
        // Within its deadline (plus the engine's removal of what it started).
        if took > NEGATIVE_STARTUP + Duration::from_secs(30) {
            return Err(Failed::from(format!(
                "failed only after {} s (deadline {} s)",
                took.as_secs(),
                NEGATIVE_STARTUP.as_secs()
            )));
        }
        eprintln!(
            "wrong wait failed after {:.1} s: {text}",
            took.as_secs_f64()
        );
        nothing_left(&docker, &label).await
    })
}

fn side_by_side(release: &str) -> Result<(), Failed> {
    let base = variant("jwt-auto-owner")?;
    let (mut a, mut b) = (base.clone(), base);
    a.name = "jwt-auto-owner-side-a".into();
    b.name = "jwt-auto-owner-side-b".into();
    support::runtime().block_on(async {
        let docker = docker::connect()
            .await
            .map_err(|e| Failed::from(e.to_string()))?;
        let (test_a, test_b) = (
            format!("jitsi-local-{release}-side-a"),
            format!("jitsi-local-{release}-side-b"),
        );
        let (sa, sb) = tokio::join!(
            start(release, &a, &test_a, STARTUP),
            start(release, &b, &test_b, STARTUP),
        );
        let checked = match (&sa, &sb) {
            (Ok(x), Ok(y)) => check_public_urls(x, y).await,
            (Err(e), _) | (_, Err(e)) => Err(Failed::from(
                e.message().unwrap_or("a stack did not start").to_owned(),
            )),
        };
        for stack in [sa, sb].into_iter().flatten() {
            stack
                .close()
                .await
                .map_err(|e| Failed::from(format!("close: {e}")))?;
        }
        checked?;
        for v in [&a, &b] {
            nothing_left(&docker, &format!("jitsi:{release}/{}", v.name)).await?;
        }
        Ok(())
    })
}

/// Each stack's web URL is its own, and its `config.js` (rendered from `PUBLIC_URL`) names that origin.
async fn check_public_urls(a: &Stack, b: &Stack) -> Result<(), Failed> {
    let http = Http::new(HttpOptions {
        timeout: Duration::from_secs(10),
        insecure_tls: true,
    })
    .map_err(|e| Failed::from(e.to_string()))?;
    let mut webs = Vec::new();
    for stack in [a, b] {
        let web = stack
            .endpoints()
            .web
            .clone()
            .ok_or_else(|| Failed::from("a jitsi stack without a web endpoint"))?;
        let url = format!("{web}/config.js");
        let r = http
            .get(&url)
            .await
            .map_err(|e| Failed::from(format!("GET {url}: {e}")))?;
        let origin = web.trim_start_matches("https://");
        if r.status != 200 || !r.text().contains(origin) {
            return Err(Failed::from(format!(
                "GET {url}: {} without `{origin}`:\n{}",
                r.status,
                r.text()
            )));
        }
        webs.push(web);
    }
    if webs[0] == webs[1] {
        return Err(Failed::from(format!(
            "both stacks publish web on {}",
            webs[0]
        )));
    }
    Ok(())
}
