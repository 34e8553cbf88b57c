//! The GitHub workflows under `.github/workflows/`: each passes GitHub's workflow schema
//! (check-jsonschema's built-in `vendor.github-workflows`) and zizmor's offline audits with no finding (a
//! waiver sits in place with its reason), keeps the rules README "Run it in CI" promises (pinned actions,
//! least permissions, no scheduled run on the hour, artifacts kept always, forks skipped), and calls only
//! `./just` recipes the justfile has; `./just release-pairs`, which makes release.yml's job matrix, is run
//! against a local server in the shape of GitHub's releases API.
//!
//! Both linters are wheels from PyPI in the project's `.tools/` venv, installed by `.ci/setup` (`./just
//! setup-tools`). Without them the linter trials are skipped at listing time with the reason
//! (`tests/skip/mod.rs`), unless `CI` is set, where they fail. Each linter is also shown a bad workflow it
//! must reject, so a linter that passes everything fails here.

mod skip;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

/// A workflow with an injection zizmor must report: an issue title (attacker-controlled) expanded into a
/// shell script.
const INJECTABLE: &str = r#"name: injectable
on: issues
permissions: {}
jobs:
  greet:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ github.event.issue.title }}"
"#;

/// A workflow GitHub's schema must reject: a job with neither `runs-on` nor `uses`.
const SCHEMALESS: &str = r#"name: schemaless
on: push
jobs:
  build:
    steps:
      - run: true
"#;

/// Workflows that run on a schedule against published releases: forks skip them, runs never overlap.
const SCHEDULED: [&str; 2] = ["release.yml", "nightly.yml"];

fn root() -> PathBuf {
    let root = support::repo_root();
    std::fs::canonicalize(&root).unwrap_or(root)
}

fn tool(name: &str) -> PathBuf {
    root().join(".tools/bin").join(name)
}

/// The workflow files, sorted by name.
fn workflows() -> Vec<PathBuf> {
    let dir = root().join(".github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Result<String, Failed> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// Runs a tool and returns (success, stdout + stderr).
fn run(program: &Path, args: &[&str]) -> Result<(bool, String), Failed> {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

fn check_schema(path: &Path) -> Result<(bool, String), Failed> {
    run(
        &tool("check-jsonschema"),
        &[
            "--builtin-schema",
            "vendor.github-workflows",
            &path.to_string_lossy(),
        ],
    )
}

fn zizmor(path: &Path) -> Result<(bool, String), Failed> {
    run(
        &tool("zizmor"),
        &["--offline", "--no-progress", &path.to_string_lossy()],
    )
}

/// A workflow as JSON, parsed by the YAML 1.2 library check-jsonschema itself uses (so `on` stays a key).
fn parse(path: &Path) -> Result<Value, Failed> {
    const TO_JSON: &str = "import json, sys\nfrom ruamel.yaml import YAML\n\
        print(json.dumps(YAML(typ='safe').load(open(sys.argv[1]))))";
    let (ok, text) = run(&tool("python"), &["-c", TO_JSON, &path.to_string_lossy()])?;
    if !ok {
        return Err(format!("cannot parse {}: {text}", path.display()).into());
    }
    serde_json::from_str(&text)
        .map_err(|e| format!("{}: not JSON after parsing: {e}", path.display()).into())
}

/// The recipe names a justfile defines (`name args…:` at the start of a line; settings and variables,
/// `name := …`, are not recipes).
fn recipes(justfile: &str) -> BTreeSet<String> {
    justfile
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter(|l| !l.contains(":=") && !l.starts_with("set ") && !l.starts_with("export "))
        .filter_map(|l| {
            let head = l.split(':').next()?;
            let name = head.split_whitespace().next()?;
            (l.contains(':')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .then(|| name.to_owned())
        })
        .collect()
}

/// The recipes a workflow calls: every `./just NAME` in its text.
fn just_calls(workflow: &str) -> Vec<String> {
    workflow
        .split("./just ")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

/// The recipes `workflow` calls that `justfile` lacks.
fn missing_recipes(workflow: &str, justfile: &str) -> Vec<String> {
    let known = recipes(justfile);
    just_calls(workflow)
        .into_iter()
        .filter(|r| !known.contains(r))
        .collect()
}

/// Problems with the rules every workflow keeps (raw text for pins, parsed form for the rest).
fn rule_problems(name: &str, text: &str, doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    // Actions pinned to a full commit SHA, the version in a comment.
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line
            .trim_start()
            .trim_start_matches("- ")
            .strip_prefix("uses:")
        else {
            continue;
        };
        let rest = rest.trim();
        let (action, comment) = rest.split_once('#').unwrap_or((rest, ""));
        let sha = action.trim().rsplit_once('@').map(|(_, r)| r).unwrap_or("");
        let pinned = sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit());
        if !pinned || !comment.trim().starts_with('v') {
            problems.push(format!(
                "{name}:{}: `{}` is not pinned to a full commit SHA with a `# vX.Y.Z` comment",
                i + 1,
                rest
            ));
        }
    }
    // Least permissions: none for the workflow, each job names its own.
    if doc.get("permissions") != Some(&Value::Object(Default::default())) {
        problems.push(format!("{name}: top-level `permissions: {{}}` missing"));
    }
    let jobs = doc
        .get("jobs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if jobs.is_empty() {
        problems.push(format!("{name}: no jobs"));
    }
    for (id, job) in &jobs {
        for key in ["permissions", "timeout-minutes"] {
            if job.get(key).is_none() {
                problems.push(format!("{name}: job `{id}` has no `{key}`"));
            }
        }
        let steps = job
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for step in &steps {
            let uses = step.get("uses").and_then(Value::as_str).unwrap_or("");
            if uses.starts_with("actions/upload-artifact@") {
                let cond = step.get("if").and_then(Value::as_str).unwrap_or("");
                if !(cond.contains("always()") || cond.contains("failure()")) {
                    problems.push(format!(
                        "{name}: job `{id}` uploads artifacts without `if: always()` (or `failure()`)"
                    ));
                }
                if step.pointer("/with/retention-days").is_none() {
                    problems.push(format!(
                        "{name}: job `{id}` uploads artifacts without `retention-days`"
                    ));
                }
            }
        }
    }
    if SCHEDULED.contains(&name) {
        let crons: Vec<&str> = doc
            .pointer("/on/schedule")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(|e| e.get("cron").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        if crons.is_empty() {
            problems.push(format!("{name}: no `schedule`"));
        }
        for cron in crons {
            let minute = cron.split_whitespace().next().unwrap_or("");
            if minute.parse::<u32>().map_or(true, |m| m == 0) {
                problems.push(format!(
                    "{name}: cron `{cron}` must run at a fixed minute off the hour (GitHub delays or drops runs at :00)"
                ));
            }
        }
        if doc.pointer("/on/workflow_dispatch").is_none() {
            problems.push(format!(
                "{name}: cannot be run by hand (`workflow_dispatch`)"
            ));
        }
        if doc.get("concurrency").is_none() {
            problems.push(format!("{name}: no `concurrency` group"));
        }
        // Forks have no use for runs against the releases (and would burn their minutes): every job that
        // starts a run (no `needs`) is skipped there; the others need it.
        for (id, job) in &jobs {
            let cond = job.get("if").and_then(Value::as_str).unwrap_or("");
            if job.get("needs").is_none() && !cond.contains("fork") {
                problems.push(format!("{name}: job `{id}` is not skipped on forks"));
            }
        }
    }
    if SCHEDULED.contains(&name) && !text.contains("GITHUB_STEP_SUMMARY") {
        problems.push(format!("{name}: writes no summary to $GITHUB_STEP_SUMMARY"));
    }
    let writers = jobs
        .values()
        .filter(|j| j.pointer("/permissions/contents").and_then(Value::as_str) == Some("write"))
        .count();
    if writers > 1 {
        problems.push(format!(
            "{name}: {writers} jobs may write contents; one at most"
        ));
    }
    let calls = just_calls(text);
    let wanted: &[&str] = match name {
        "release.yml" => &["release-pairs", "release-check"],
        "nightly.yml" => &["nightly-check"],
        "ci.yml" => &["test"],
        _ => &[],
    };
    for recipe in wanted {
        if !calls.iter().any(|c| c == recipe) {
            problems.push(format!("{name}: does not run `./just {recipe}`"));
        }
    }
    if name == "release.yml" {
        // One job per new release, from the list the first job made.
        let fanned_out = jobs.values().any(|j| {
            j.pointer("/strategy/matrix/include")
                .and_then(Value::as_str)
                .is_some_and(|m| m.contains("fromJSON(needs."))
        });
        if !fanned_out {
            problems.push(format!(
                "{name}: no job matrix over the new releases (`matrix.include: ${{{{ fromJSON(needs.….outputs.…) }}}}`)"
            ));
        }
    }
    problems
}

fn expect_no_problems(problems: Vec<String>) -> Result<(), Failed> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n").into())
    }
}

fn main() {
    let args = Arguments::from_args();
    let required = skip::in_ci();
    let files = workflows();
    let mut trials = Vec::new();
    if files.is_empty() {
        trials.push(Trial::test("workflows::present", || {
            Err("no workflow under .github/workflows/".into())
        }));
    }

    let missing_tool = ["check-jsonschema", "zizmor", "python"]
        .into_iter()
        .find(|t| !tool(t).is_file())
        .map(|t| {
            format!(
                "{} is missing: install the workflow linters with `./just setup-tools` (bash .ci/setup --tools-only)",
                tool(t).display()
            )
        });
    let missing = missing_tool.as_deref();

    for path in &files {
        let name = file_name(path);
        let p = path.clone();
        trials.push(skip::trial(
            &args,
            format!("schema::{name}"),
            missing,
            required,
            move || match check_schema(&p)? {
                (true, _) => Ok(()),
                (false, text) => {
                    Err(format!("{} fails GitHub's workflow schema:\n{text}", p.display()).into())
                }
            },
        ));
        let p = path.clone();
        trials.push(skip::trial(
            &args,
            format!("zizmor::{name}"),
            missing,
            required,
            move || match zizmor(&p)? {
                (true, text) if text.contains("No findings") => Ok(()),
                (_, text) => Err(format!(
                    "zizmor --offline has findings on {} (fix them, or waive one in place with \
                     `# zizmor: ignore[AUDIT] reason`):\n{text}",
                    p.display()
                )
                .into()),
            },
        ));
        let p = path.clone();
        trials.push(skip::trial(
            &args,
            format!("rules::{name}"),
            missing,
            required,
            move || {
                let text = read(&p)?;
                let doc = parse(&p)?;
                expect_no_problems(rule_problems(&file_name(&p), &text, &doc))
            },
        ));
        let p = path.clone();
        trials.push(Trial::test(format!("recipes::{name}"), move || {
            let text = read(&p)?;
            let justfile = read(&root().join("justfile"))?;
            if just_calls(&text).is_empty() {
                return Err(format!(
                    "{} calls no `./just` recipe: workflows run what a person runs",
                    p.display()
                )
                .into());
            }
            let missing = missing_recipes(&text, &justfile);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} calls recipes the justfile lacks: {}",
                    p.display(),
                    missing.join(", ")
                )
                .into())
            }
        }));
    }

    // The checks can fail: each is shown a workflow it must reject.
    trials.push(skip::trial(
        &args,
        "zizmor::reports_template_injection",
        missing,
        required,
        || {
            let dir = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
            let path = dir.path().join("injectable.yml");
            std::fs::write(&path, INJECTABLE).map_err(|e| format!("{}: {e}", path.display()))?;
            match zizmor(&path)? {
                (false, text) if text.contains("template-injection") => Ok(()),
                (_, text) => {
                    Err(format!("zizmor did not report the template injection:\n{text}").into())
                }
            }
        },
    ));
    trials.push(skip::trial(
        &args,
        "schema::rejects_a_job_without_runs_on",
        missing,
        required,
        || {
            let dir = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
            let path = dir.path().join("schemaless.yml");
            std::fs::write(&path, SCHEMALESS).map_err(|e| format!("{}: {e}", path.display()))?;
            match check_schema(&path)? {
                (false, text) if text.contains("$.jobs.build") => Ok(()),
                (_, text) => Err(format!(
                    "check-jsonschema did not reject the job without runs-on:\n{text}"
                )
                .into()),
            }
        },
    ));
    trials.push(skip::trial(
        &args,
        "rules::reports_unpinned_actions_and_on_the_hour_schedules",
        missing,
        required,
        || {
            let bad = "name: bad\non:\n  schedule:\n    - cron: \"0 5 * * *\"\njobs:\n  run:\n    runs-on: ubuntu-24.04\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/upload-artifact@bbbca2ddaa5d8feaa63e36b76fdaad77386f024f # v7.0.0\n        with:\n          path: x\n";
            let dir = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
            let path = dir.path().join("release.yml");
            std::fs::write(&path, bad).map_err(|e| format!("{}: {e}", path.display()))?;
            let problems = rule_problems("release.yml", bad, &parse(&path)?);
            let expected = [
                "actions/checkout@v4` is not pinned",
                "top-level `permissions: {}` missing",
                "job `run` has no `permissions`",
                "job `run` has no `timeout-minutes`",
                "uploads artifacts without `if: always()`",
                "without `retention-days`",
                "cron `0 5 * * *`",
                "workflow_dispatch",
                "no `concurrency` group",
                "job `run` is not skipped on forks",
                "writes no summary to $GITHUB_STEP_SUMMARY",
                "does not run `./just release-pairs`",
                "does not run `./just release-check`",
                "no job matrix over the new releases",
            ];
            let unseen: Vec<&str> = expected
                .iter()
                .filter(|e| !problems.iter().any(|p| p.contains(*e)))
                .copied()
                .collect();
            if unseen.is_empty() {
                Ok(())
            } else {
                Err(format!("not reported: {unseen:?}\nreported: {problems:#?}").into())
            }
        },
    ));
    trials.push(Trial::test("recipes::reports_a_missing_recipe", || {
        let justfile = "set shell := [\"bash\", \"-c\"]\nexport X := \"1\"\n\n# Doc.\ntest: setup\n    cargo test\n\n[positional-arguments]\nrelease-check prev new *args:\n    true\nsetup:\n    true\n";
        let known: Vec<String> = recipes(justfile).into_iter().collect();
        if known != ["release-check", "setup", "test"] {
            return Err(format!("recipes read from the justfile: {known:?}").into());
        }
        let workflow = "steps:\n  - run: ./just test\n  - run: |\n      ./just release-check \"$A\" \"$B\"\n      ./just nope\n";
        match missing_recipes(workflow, justfile).as_slice() {
            [only] if only == "nope" => Ok(()),
            other => Err(format!("expected only `nope` missing, got {other:?}").into()),
        }
    }));

    // What release.yml fans out over: `./just release-pairs` against a local server in the API's shape.
    let just_missing = (!root().join(".tools/bin/just").is_file() && !on_path("just")).then(|| {
        "no `just` on PATH or in .tools/bin: run `./just` once (it installs just into .tools/)"
            .to_owned()
    });
    trials.push(skip::trial(
        &args,
        "recipes::release_pairs_pairs_each_new_release_with_the_one_before",
        just_missing.as_deref(),
        required,
        release_pairs_trial,
    ));

    libtest_mimic::run(&args, trials).exit();
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// docker-jitsi-meet's releases in the shape of GitHub's releases API, out of order, with a draft and a
/// non-stable tag the list must drop.
const RELEASES: &str = r#"[
 {"tag_name": "stable-11146-1", "published_at": "2026-08-05T10:00:00Z", "draft": false, "prerelease": false},
 {"tag_name": "stable-11031", "published_at": "2026-06-08T10:00:00Z", "draft": false, "prerelease": false},
 {"tag_name": "stable-11146-2", "published_at": "2026-08-17T10:00:00Z", "draft": false, "prerelease": false},
 {"tag_name": "stable-11146", "published_at": "2026-08-03T10:00:00Z", "draft": false, "prerelease": false},
 {"tag_name": "stable-10888", "published_at": "2026-04-01T10:00:00Z", "draft": false, "prerelease": false},
 {"tag_name": "stable-11200", "published_at": "2026-09-01T10:00:00Z", "draft": true, "prerelease": false},
 {"tag_name": "web-1.0.1", "published_at": "2026-09-02T10:00:00Z", "draft": false, "prerelease": false}
]"#;

/// Serves `RELEASES` to every request on a local port (a thread that lives as long as the test process).
fn serve_releases() -> Result<String, Failed> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind a local port for the API stand-in: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("local address: {e}"))?;
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{RELEASES}",
                RELEASES.len()
            );
        }
    });
    Ok(format!("http://{addr}"))
}

/// `./just release-pairs ARGS` with the API and the cache redirected; (exit code, stdout, stderr).
fn release_pairs(
    api: &str,
    cache: &Path,
    args: &[&str],
) -> Result<(Option<i32>, String, String), Failed> {
    let out = Command::new(root().join("just"))
        .arg("release-pairs")
        .args(args)
        .current_dir(root())
        .env("JITSI_HARNESS_BIN", env!("CARGO_BIN_EXE_jitsi-harness"))
        .env("JITSI_HARNESS_GITHUB_API", api)
        .env("XDG_CACHE_HOME", cache)
        .env_remove("GITHUB_TOKEN")
        .output()
        .map_err(|e| format!("cannot run ./just release-pairs: {e}"))?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn release_pairs_trial() -> Result<(), Failed> {
    let api = serve_releases()?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp folder: {e}"))?;
    let state = dir.path().join("last-tested-release");
    std::fs::write(&state, "# written by a test\nstable-11031\n")
        .map_err(|e| format!("{}: {e}", state.display()))?;
    let state = state.to_string_lossy().into_owned();
    let absent = dir.path().join("absent").to_string_lossy().into_owned();
    let pair = |prev: &str, new: &str| serde_json::json!({"prev": prev, "new": new});
    let cases: [(&[&str], Option<Value>); 4] = [
        (
            &[&state],
            Some(Value::Array(vec![
                pair("stable-11031", "stable-11146"),
                pair("stable-11146", "stable-11146-1"),
                pair("stable-11146-1", "stable-11146-2"),
            ])),
        ),
        (
            &[&absent],
            Some(Value::Array(vec![pair("stable-11146-1", "stable-11146-2")])),
        ),
        (
            &[&state, "stable-11146"],
            Some(Value::Array(vec![pair("stable-11031", "stable-11146")])),
        ),
        (&[&state, "stable-1"], None),
    ];
    for (args, expected) in cases {
        let (code, stdout, stderr) = release_pairs(&api, dir.path(), args)?;
        match expected {
            Some(want) => {
                let got: Value = serde_json::from_str(&stdout).map_err(|e| {
                    format!("release-pairs {args:?}: stdout is not JSON ({e}): {stdout}\n{stderr}")
                })?;
                if code != Some(0) || got != want {
                    return Err(format!(
                        "release-pairs {args:?}: exit {code:?}, got {got}, want {want}\n{stderr}"
                    )
                    .into());
                }
            }
            None if code != Some(0) && stderr.contains("not a published stable release") => {}
            None => {
                return Err(format!(
                    "release-pairs {args:?} should fail naming the unknown tag: exit {code:?}\n{stderr}"
                )
                .into())
            }
        }
    }
    Ok(())
}
