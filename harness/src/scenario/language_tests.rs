//! The scenario language for bug reports: steps on "whoever is moderator now", per-variant expectations,
//! `requires`, `presence`, `reload`, and discovery in subfolders — each accepted where it makes sense and
//! a problem at its `file:line:col` where it does not.

use std::path::Path;

use super::*;

const VARIANTS: &str = r#"
[jwt-auto-owner]
description = "d"
jwt = true
jicofo_auth = false
[jwt-jicofo-auth]
description = "d"
jwt = true
"#;

const HEAD: &str = r#"description = "d"
variants = ["jwt-auto-owner", "jwt-jicofo-auth"]
[participants]
alice = {}
bob = {}
carol = {}
"#;

fn variants() -> Variants {
    Variants::parse(Path::new("scenarios/variants.toml"), VARIANTS).unwrap()
}

fn ok(steps: &str) -> Scenario {
    let text = format!("{HEAD}{steps}");
    match parse(Path::new("scenarios/t.toml"), &text, &variants()) {
        Ok(s) => s,
        Err(e) => panic!("{e:?}: {:#?}", e.problems()),
    }
}

/// The problems of `text` after [`HEAD`], as `(code, line, col, message + help)`.
fn problems(head: &str, steps: &str) -> Vec<(&'static str, usize, usize, String)> {
    let text = format!("{head}{steps}");
    match parse(Path::new("scenarios/t.toml"), &text, &variants()) {
        Ok(s) => panic!("expected problems, parsed {s:#?}"),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| {
                let (line, col) = p.location.unwrap_or((0, 0));
                (
                    p.code,
                    line,
                    col,
                    format!("{} {}", p.message, p.help.as_deref().unwrap_or("")),
                )
            })
            .collect(),
    }
}

#[track_caller]
fn assert_one(
    found: &[(&str, usize, usize, String)],
    code: &str,
    at: (usize, usize),
    words: &[&str],
) {
    let Some((_, _, _, said)) = found
        .iter()
        .find(|(c, l, col, _)| *c == code && (*l, *col) == at)
    else {
        panic!("no {code} at {at:?} in {found:#?}");
    };
    for w in words {
        assert!(said.contains(w), "`{w}` missing from: {said}");
    }
}

#[test]
fn steps_on_whoever_is_moderator_now() {
    let s = ok(r#"[[step]]
join = ["alice", "bob", "carol"]
[[step]]
kick = { by = { moderator = true }, who = "carol" }
[[step]]
grant = { by = { moderator = true }, to = "bob" }
[[step]]
leave = { moderator = true }
[[step]]
kick = { by = "alice", who = { moderator = true } }
[[step]]
disconnect = { moderator = true }
"#);
    let labels: Vec<String> = s.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels,
        [
            "join alice, bob, carol",
            "kick carol by the moderator",
            "grant bob by the moderator",
            "leave the moderator",
            "kick the moderator by alice",
            "disconnect the moderator",
        ]
    );
    assert_eq!(s.steps[3].action, Action::Moderator(ModeratorAction::Leave));
    assert_eq!(s.steps[4].action.participants(), ["alice"]);
}

#[test]
fn a_moderator_step_leaves_the_head_count_open_but_names_stay_checked() {
    // After "whoever is moderator" leaves, anyone may be gone: naming them is no error, but an unknown
    // name still is.
    let s = ok(r#"[[step]]
join = ["alice", "bob"]
[[step]]
leave = { moderator = true }
[[step]]
leave = "bob"
[[step]]
rejoin = "bob"
moderator_count = 1
"#);
    assert_eq!(s.steps.len(), 4);
    let found = problems(
        HEAD,
        r#"[[step]]
join = ["alice"]
[[step]]
leave = { moderator = false }
[[step]]
kick = { by = { moderator = true }, who = { moderator = true } }
[[step]]
leave = { moderator = true, admin = true }
[[step]]
leave = "zed"
"#,
    );
    assert_one(
        &found,
        "scenario::invalid_value",
        (10, 9),
        &["moderator = false", "names nobody"],
    );
    assert_one(
        &found,
        "scenario::invalid_value",
        (12, 43),
        &["cannot kick themself"],
    );
    assert_one(
        &found,
        "scenario::invalid_value",
        (14, 9),
        &["{ moderator = true }"],
    );
    assert_one(&found, "scenario::unknown_participant", (16, 9), &["zed"]);
}

#[test]
fn per_variant_expectations_apply_under_their_variant() {
    let s = ok(r#"[[step]]
join = ["alice"]
moderators = ["alice"]
[[step]]
join = ["bob", "carol"]
moderators = { jwt-jicofo-auth = ["alice", "bob", "carol"], jwt-auto-owner = ["alice"] }
[[step]]
leave = "alice"
moderators_one_of = { jwt-auto-owner = ["bob", "carol"] }
moderators = { jwt-jicofo-auth = ["bob", "carol"] }
"#);
    let auto = s.for_variant("jwt-auto-owner");
    let auth = s.for_variant("jwt-jicofo-auth");
    assert_eq!(
        auto.steps[1].expect.moderators,
        Some(vec!["alice".to_owned()])
    );
    assert_eq!(
        auth.steps[1].expect.moderators,
        Some(vec![
            "alice".to_owned(),
            "bob".to_owned(),
            "carol".to_owned()
        ])
    );
    assert_eq!(auto.steps[2].expect.moderators, None);
    assert_eq!(
        auto.steps[2].expect.moderators_one_of,
        Some(vec!["bob".to_owned(), "carol".to_owned()])
    );
    assert_eq!(auth.steps[2].expect.moderators_one_of, None);
    // A step without per-variant expectations is the same under every variant.
    assert_eq!(auto.steps[0].expect, auth.steps[0].expect);
    assert_eq!(
        s.steps[1].expect_for("jwt-auto-owner"),
        &auto.steps[1].expect
    );
}

#[test]
fn per_variant_expectations_are_checked_at_their_place() {
    let found = problems(
        HEAD,
        r#"[[step]]
join = ["alice"]
moderators = { jwt-auto-ownr = ["alice"], jwt-jicofo-auth = ["alise"] }
[[step]]
join = ["bob"]
moderators_one_of = { jwt-auto-owner = ["alice"] }
[[step]]
wait = "1s"
moderators = { jwt-auto-owner = "alice" }
[[step]]
wait = "1s"
moderators = { jwt-jicofo-auth = ["carol"] }
"#,
    );
    assert_one(
        &found,
        "scenario::unknown_variant",
        (9, 16),
        &[
            "jwt-auto-ownr",
            "did you mean `jwt-auto-owner`",
            "jwt-jicofo-auth",
        ],
    );
    assert_one(&found, "scenario::unknown_participant", (9, 62), &["alise"]);
    assert_one(
        &found,
        "scenario::one_of_too_short",
        (12, 40),
        &["fewer than two"],
    );
    assert_one(
        &found,
        "scenario::invalid_value",
        (15, 33),
        &["list of participant names"],
    );
    assert_one(
        &found,
        "scenario::not_in_room",
        (18, 35),
        &["carol", "has not joined"],
    );
}

#[test]
fn requires_names_known_features() {
    let s = ok("[[step]]\njoin = [\"alice\"]\n");
    assert!(s.requires.is_empty());
    let head = HEAD.replace(
        "variants = [",
        "requires = [\"lobby\", \"token_affiliaton\", \"lobby\"]\nvariants = [",
    );
    let found = problems(&head, "[[step]]\njoin = [\"alice\"]\n");
    assert_one(
        &found,
        "scenario::unknown_feature",
        (2, 22),
        &[
            "token_affiliaton",
            "did you mean `token_affiliation`",
            "wait_for_host",
        ],
    );
    assert_one(&found, "scenario::duplicate", (2, 42), &["lobby"]);
    let head = HEAD.replace("variants = [", "requires = [\"lobby\"]\nvariants = [");
    let text = format!("{head}[[step]]\njoin = [\"alice\"]\n");
    let s = parse(Path::new("scenarios/t.toml"), &text, &variants()).unwrap();
    assert_eq!(s.requires, ["lobby"]);
}

#[test]
fn presence_and_reload_steps() {
    let s = ok(r#"[[step]]
join = ["alice", "bob"]
[[step]]
presence = { who = "bob", muted = true, raise_hand = true }
[[step]]
presence = { who = "alice", nick = "Alice B" }
[[step]]
reload = "alice"
"#);
    let labels: Vec<String> = s.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels[1..],
        [
            "presence bob: muted, hand raised",
            "presence alice: nick \"Alice B\"",
            "reload alice"
        ]
    );
    let found = problems(
        HEAD,
        r#"[[step]]
join = ["alice"]
[[step]]
presence = { who = "alice" }
[[step]]
presence = { who = "alice", nick = "bob" }
[[step]]
presence = { who = "bob", muted = true }
[[step]]
reload = "carol"
"#,
    );
    assert_one(
        &found,
        "scenario::invalid_value",
        (10, 12),
        &["changes nothing"],
    );
    assert_one(
        &found,
        "scenario::duplicate_nick",
        (12, 36),
        &["participant `bob`"],
    );
    assert_one(
        &found,
        "scenario::order",
        (14, 20),
        &["bob", "not in the room"],
    );
    assert_one(&found, "scenario::order", (16, 10), &["carol", "reloads"]);
    let found = problems(
        HEAD,
        "[[step]]\njoin = [\"alice\"]\n[[step]]\npresence = { who = \"alice\", volume = 3 }\n",
    );
    assert_one(
        &found,
        "scenario::unknown_key",
        (10, 29),
        &["volume", "raise_hand"],
    );
}

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "jitsi-harness-language-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn discovery_searches_subfolders_and_names_stay_unique() {
    let tmp = TempDir::new("discover");
    std::fs::create_dir_all(tmp.0.join("reports/lobby")).unwrap();
    std::fs::create_dir_all(tmp.0.join(".hidden")).unwrap();
    for file in [
        "a_top.toml",
        "variants.toml",
        "reports/b_report.toml",
        "reports/lobby/c_deep.toml",
        "reports/notes.md",
        ".hidden/d_hidden.toml",
    ] {
        std::fs::write(tmp.0.join(file), "").unwrap();
    }
    let found: Vec<String> = discover(&tmp.0, None)
        .unwrap()
        .iter()
        .map(|p| p.strip_prefix(&tmp.0).unwrap().display().to_string())
        .collect();
    assert_eq!(
        found,
        [
            "a_top.toml",
            "reports/b_report.toml",
            "reports/lobby/c_deep.toml"
        ]
    );
    assert_eq!(discover(&tmp.0, Some("c_*")).unwrap().len(), 1);

    std::fs::write(tmp.0.join("reports/lobby/a_top.toml"), "").unwrap();
    let err = discover(&tmp.0, Some("zzz")).unwrap_err();
    let said = err.to_string();
    assert!(
        matches!(err, ScenarioError::DuplicateName { .. })
            && said.contains("a_top.toml")
            && said.contains("reports/lobby/a_top.toml"),
        "{said}"
    );
}
