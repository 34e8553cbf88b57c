//! Parser and diagnostics tests: one per kind of mistake, each asserting where it points
//! (`line:col`) and what it says, plus the happy path field by field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::token::{Signature, TokenOverrides};

const VARIANTS: &str = r#"
[jwt-auto-owner]
description = "d"
jwt = true
jicofo_auth = false
[jwt-jicofo-auth]
description = "d"
jwt = true
[jwt-guests]
description = "d"
jwt = true
guests = true
"#;

/// The example of the format, as the module documents it.
const EXAMPLE: &str = r#"description = """When the moderator leaves, exactly one of the others becomes moderator."""
source = "https://github.com/jitsi/docker-jitsi-meet/issues/1465"
variants = ["jwt-guests"]

[participants]
alice = {}
bob = { transport = "browser" }
guest1 = { login = "guest" }
anon = { login = "none" }
eve = { token = { claims = { "context.user.moderator" = "true" } } }
mallory = { token = { expired = true } }
carol = { nick = "carol_2" }

[[step]]
join = ["alice"]
moderators = ["alice"]

[[step]]
join = ["bob", "carol"]
moderator_count = 1

[[step]]
leave = "alice"
moderators_one_of = ["bob", "carol"]

[[step]]
disconnect = "bob"

[[step]]
rejoin = "alice"

[[step]]
wait = "2s"

[[step]]
grant = { by = "carol", to = "alice" }
moderators = ["alice", "carol"]

[[step]]
kick = { by = "carol", who = "alice" }

[[step]]
join = ["mallory"]
rejected = ["mallory"]
note = "an expired token must not get in"
timeout = "20s"
"#;

/// Lines 1–6: a valid top and three participants; tests append steps from line 7.
const HEAD: &str = r#"description = "d"
variants = ["jwt-auto-owner"]
[participants]
alice = {}
bob = {}
carol = {}
"#;

const PATH: &str = "scenarios/t.toml";

fn variants() -> Variants {
    Variants::parse(Path::new("scenarios/variants.toml"), VARIANTS).unwrap()
}

fn parse_err(text: &str) -> ScenarioError {
    match parse(Path::new(PATH), text, &variants()) {
        Ok(s) => panic!("expected an error, parsed {s:#?}"),
        Err(e) => e,
    }
}

/// The whole report as text, with line and column of every label (miette's narratable handler;
/// the graphical one needs `fancy`, which only the binary enables).
fn render(err: &ScenarioError) -> String {
    let mut out = String::new();
    miette::NarratableReportHandler::new()
        .render_report(&mut out, err)
        .unwrap();
    out
}

/// Asserts that `text` has a problem `code` at `line:col` whose message and help contain
/// `words`, and that the rendered report shows a label there. Returns the error.
#[track_caller]
fn assert_problem(
    text: &str,
    code: &str,
    (line, col): (usize, usize),
    words: &[&str],
) -> ScenarioError {
    let err = parse_err(text);
    let rendered = render(&err);
    let Some(problem) = err
        .problems()
        .iter()
        .find(|p| p.code == code && p.location == Some((line, col)))
    else {
        panic!("no {code} at {line}:{col} in:\n{rendered}");
    };
    let said = format!(
        "{} {}",
        problem.message,
        problem.help.as_deref().unwrap_or("")
    );
    for word in words {
        assert!(said.contains(word), "`{word}` missing from: {said}");
    }
    let label_here = format!("label at line {line}, column {col}:");
    let labels_here = format!("label at line {line}, columns {col} to");
    assert!(
        rendered.contains(&label_here) || rendered.contains(&labels_here),
        "no label at {line}:{col} in:\n{rendered}"
    );
    err
}

/// Like [`assert_problem`], and it must be the only problem: `Display` then starts with
/// `path:line:col: message`.
#[track_caller]
fn assert_only_problem(
    text: &str,
    code: &str,
    (line, col): (usize, usize),
    words: &[&str],
) -> ScenarioError {
    let err = assert_problem(text, code, (line, col), words);
    assert_eq!(err.problems().len(), 1, "{}", render(&err));
    let shown = err.to_string();
    let expected = format!("{PATH}:{line}:{col}: {}", err.problems()[0].message);
    assert_eq!(shown, expected);
    err
}

fn with_steps(steps: &str) -> String {
    format!("{HEAD}{steps}")
}

// ---------------------------------------------------------------------------------------------
// The happy path

#[test]
fn example_parses_field_by_field() {
    let s = parse(
        Path::new("scenarios/auto_owner_hands_over.toml"),
        EXAMPLE,
        &variants(),
    )
    .unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(s.name, "auto_owner_hands_over");
    assert_eq!(
        s.path,
        PathBuf::from("scenarios/auto_owner_hands_over.toml")
    );
    assert_eq!(
        s.description,
        "When the moderator leaves, exactly one of the others becomes moderator."
    );
    assert_eq!(
        s.source.as_deref(),
        Some("https://github.com/jitsi/docker-jitsi-meet/issues/1465")
    );
    assert_eq!(s.variants, ["jwt-guests"]);
    assert_eq!(s.timeout, DEFAULT_TIMEOUT);
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_secs(10));

    let names: Vec<&str> = s.participants.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["alice", "bob", "guest1", "anon", "eve", "mallory", "carol"],
        "file order"
    );
    let p = |name| s.participant(name).unwrap();
    assert_eq!(
        *p("alice"),
        ParticipantSpec {
            name: "alice".into(),
            nick: "alice".into(),
            nick_explicit: false,
            transport: Transport::Bot,
            login: Login::Token,
            token: TokenOverrides::default(),
        }
    );
    assert_eq!(p("bob").transport, Transport::Browser);
    assert!(p("carol").nick_explicit && p("carol").nick == "carol_2");
    assert_eq!(p("guest1").login, Login::Guest);
    assert_eq!(p("anon").login, Login::None);
    assert_eq!(
        p("eve").token.claims.get("context.user.moderator"),
        Some(&serde_json::Value::String("true".into())),
        "a TOML string stays a JSON string"
    );
    assert!(p("mallory").token.expired);
    assert_eq!(p("mallory").token.signature, Signature::Valid);
    assert_eq!(p("carol").nick, "carol_2");
    assert!(s.participant("dave").is_none());

    assert_eq!(s.steps.len(), 9);
    let lines: Vec<usize> = s.steps.iter().map(|st| st.line).collect();
    assert_eq!(lines, [14, 18, 22, 26, 29, 32, 35, 39, 42]);
    for (i, step) in s.steps.iter().enumerate() {
        assert_eq!(step.index, i);
    }
    assert_eq!(
        s.location(&s.steps[2]),
        "scenarios/auto_owner_hands_over.toml:22"
    );

    let st = &s.steps;
    assert_eq!(st[0].action, Action::Join(vec!["alice".into()]));
    assert_eq!(st[0].expect.moderators, Some(vec!["alice".into()]));
    assert_eq!(
        st[1].action,
        Action::Join(vec!["bob".into(), "carol".into()])
    );
    assert_eq!(
        st[1].expect,
        Expect {
            moderator_count: Some(1),
            ..Expect::default()
        }
    );
    assert_eq!(st[2].action, Action::Leave("alice".into()));
    assert_eq!(
        st[2].expect.moderators_one_of,
        Some(vec!["bob".into(), "carol".into()])
    );
    assert_eq!(st[3].action, Action::Disconnect("bob".into()));
    assert!(st[3].expect.is_empty());
    assert_eq!(st[4].action, Action::Rejoin("alice".into()));
    assert_eq!(st[5].action, Action::Wait(Duration::from_secs(2)));
    assert_eq!(
        st[6].action,
        Action::Grant {
            by: "carol".into(),
            to: "alice".into()
        }
    );
    assert_eq!(
        st[6].expect.moderators,
        Some(vec!["alice".into(), "carol".into()])
    );
    assert_eq!(
        st[7].action,
        Action::Kick {
            by: "carol".into(),
            who: "alice".into()
        }
    );
    assert_eq!(st[8].action, Action::Join(vec!["mallory".into()]));
    assert_eq!(st[8].expect.rejected, ["mallory"]);
    assert_eq!(
        st[8].note.as_deref(),
        Some("an expired token must not get in")
    );
    assert_eq!(st[8].timeout, Some(Duration::from_secs(20)));
    assert_eq!(s.timeout_of(&st[8]), Duration::from_secs(20));
    assert_eq!(s.timeout_of(&st[0]), DEFAULT_TIMEOUT);
    assert!(st[..8]
        .iter()
        .all(|x| x.timeout.is_none() && x.note.is_none()));
}

#[test]
fn scenario_timeout_is_read() {
    let text = HEAD.replace("variants", "timeout = \"1m30s\"\nvariants")
        + "[[step]]\njoin = [\"alice\"]\n";
    let s = parse(Path::new(PATH), &text, &variants()).unwrap();
    assert_eq!(s.timeout, Duration::from_secs(90));
}

#[test]
fn serialises_durations_as_text() {
    let s = parse(Path::new("scenarios/example.toml"), EXAMPLE, &variants()).unwrap();
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["timeout"], "10s");
    assert_eq!(
        json["steps"][5]["action"],
        serde_json::json!({ "wait": "2s" })
    );
    assert_eq!(json["steps"][8]["timeout"], "20s");
    assert_eq!(json["steps"][0]["timeout"], serde_json::Value::Null);
    assert_eq!(
        json["steps"][1]["action"],
        serde_json::json!({ "join": ["bob", "carol"] })
    );
    assert_eq!(
        json["steps"][6]["action"],
        serde_json::json!({ "grant": { "by": "carol", "to": "alice" } })
    );
    assert_eq!(json["participants"][1]["transport"], "browser");
    assert_eq!(json["participants"][3]["login"], "none");
}

#[test]
fn labels_of_every_action() {
    let s = parse(Path::new(PATH), EXAMPLE, &variants()).unwrap();
    let labels: Vec<String> = s.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels,
        [
            "join alice",
            "join bob, carol",
            "leave alice",
            "disconnect bob",
            "rejoin alice",
            "wait 2s",
            "grant alice by carol",
            "kick alice by carol",
            "join mallory",
        ]
    );
    let wait = |ms| Step {
        index: 0,
        line: 1,
        action: Action::Wait(Duration::from_millis(ms)),
        expect: Expect::default(),
        timeout: None,
        note: None,
        per_variant: Default::default(),
    };
    assert_eq!(wait(1_500).label(), "wait 1s500ms");
    assert_eq!(wait(90_000).label(), "wait 1m30s");
}

#[test]
fn a_rejected_participant_may_join_again() {
    let text = r#"description = "d"
variants = ["jwt-auto-owner"]
[participants]
alice = {}
mallory = { token = { expired = true } }
[[step]]
join = ["alice", "mallory"]
rejected = ["mallory"]
moderators = ["alice"]
moderator_count = 1
[[step]]
join = ["mallory"]
moderators = ["alice"]
"#;
    let s = parse(Path::new(PATH), text, &variants()).unwrap_or_else(|e| panic!("{}", render(&e)));
    assert_eq!(s.steps[1].label(), "join mallory");
}

#[test]
fn a_kicked_participant_may_rejoin_and_a_rejoin_may_be_rejected() {
    let text = with_steps(
        r#"[[step]]
join = ["alice", "bob"]
[[step]]
kick = { by = "alice", who = "bob" }
moderators = ["alice"]
[[step]]
rejoin = "bob"
rejected = ["bob"]
[[step]]
rejoin = "bob"
moderators = ["alice", "bob"]
"#,
    );
    parse(Path::new(PATH), &text, &variants()).unwrap_or_else(|e| panic!("{}", render(&e)));
}

// ---------------------------------------------------------------------------------------------
// One test per kind of mistake

#[test]
fn toml_syntax_error_points_at_the_value() {
    let err = assert_only_problem(
        &with_steps("[[step]]\njoin = alice\n"),
        "scenario::syntax",
        (8, 8),
        &["TOML syntax error", "quoted"],
    );
    assert!(err
        .to_string()
        .starts_with("scenarios/t.toml:8:8: TOML syntax error"));
}

#[test]
fn duplicate_participant_is_a_toml_error() {
    assert_only_problem(
        &with_steps("alice = { transport = \"browser\" }\n"),
        "scenario::duplicate_key",
        (7, 1),
        &["duplicate key `alice`", "participant names must be unique"],
    );
}

#[test]
fn unknown_top_level_key_lists_valid_keys() {
    let text = HEAD.replace("description", "descripton") + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::unknown_key",
        (1, 1),
        &[
            "unknown key `descripton` at the top level",
            "did you mean `description`?",
            "`variants`",
            "`participants`",
            "`step`",
            "`timeout`",
            "`source`",
        ],
    );
}

#[test]
fn unknown_step_key_suggests_the_action() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\njion = [\"bob\"]\n"),
        "scenario::unknown_key",
        (10, 1),
        &[
            "unknown key `jion` in step 2",
            "did you mean `join`?",
            "`moderators_one_of`",
            "`rejected`",
        ],
    );
}

#[test]
fn unknown_participant_key() {
    let text = HEAD.replace("bob = {}", "bob = { trasnport = \"browser\" }")
        + "[[step]]\njoin = [\"alice\", \"bob\"]\n";
    assert_only_problem(
        &text,
        "scenario::unknown_key",
        (5, 9),
        &[
            "unknown key `trasnport` in participant `bob`",
            "did you mean `transport`?",
            "`login`",
            "`nick`",
            "`token`",
        ],
    );
}

#[test]
fn unknown_token_key_names_the_token_table() {
    let text = HEAD.replace("bob = {}", "bob = { token = { expird = true } }")
        + "[[step]]\njoin = [\"alice\", \"bob\"]\n";
    assert_only_problem(
        &text,
        "scenario::unknown_key",
        (5, 19),
        &[
            "unknown key `expird` in `token` in participant `bob`",
            "did you mean `expired`?",
            "`not_yet_valid`",
            "`signature`",
        ],
    );
}

#[test]
fn unknown_key_in_grant() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\", \"bob\"]\n[[step]]\ngrant = { by = \"alice\", too = \"bob\" }\n"),
        "scenario::unknown_key",
        (10, 25),
        &["unknown key `too` in `grant` in step 2", "did you mean `to`?"],
    );
}

#[test]
fn invalid_enum_value_names_the_valid_ones() {
    let text = HEAD.replace("bob = {}", "bob = { transport = \"chrome\" }")
        + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_value",
        (5, 21),
        &[
            "invalid `transport` in participant `bob`",
            "unknown value `chrome`",
            "`browser`",
        ],
    );
}

#[test]
fn wrong_type_shows_how_the_key_is_written() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = \"alice\"\n"),
        "scenario::invalid_value",
        (8, 8),
        &["invalid `join` in step 1", "join = [\"alice\"]"],
    );
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\nwait = 2\n"),
        "scenario::invalid_value",
        (10, 8),
        &["invalid `wait` in step 2", "wait = \"2s\""],
    );
}

#[test]
fn missing_grant_field() {
    assert_only_problem(
        &with_steps(
            "[[step]]\njoin = [\"alice\", \"bob\"]\n[[step]]\ngrant = { by = \"alice\" }\n",
        ),
        "scenario::invalid_value",
        (10, 9),
        &[
            "invalid `grant` in step 2",
            "missing field `to`",
            "grant = { by = \"carol\", to = \"alice\" }",
        ],
    );
}

#[test]
fn single_bracket_step_table() {
    assert_only_problem(
        &with_steps("[step]\njoin = [\"alice\"]\n"),
        "scenario::invalid_value",
        (7, 1),
        &["`[step]`", "[[step]]", "double brackets"],
    );
}

#[test]
fn step_without_action() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n\n[[step]]\nmoderators = [\"alice\"]\n"),
        "scenario::no_action",
        (10, 1),
        &["step 2 has no action", "`join`", "`kick`", "`wait`"],
    );
}

#[test]
fn step_with_two_actions() {
    let err = assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\nwait = \"1s\"\n"),
        "scenario::several_actions",
        (9, 1),
        &[
            "step 1 has more than one action (`join` and `wait`)",
            "split",
        ],
    );
    let secondary = &err.problems()[0].secondary;
    assert_eq!(secondary.len(), 1);
    assert_eq!(secondary[0].1, "first action");
    // The duration of a `wait` among them is still checked.
    let err = assert_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\nwait = \"2 parsecs\"\n"),
        "scenario::invalid_duration",
        (9, 8),
        &["unknown unit `parsecs`"],
    );
    assert_eq!(err.problems().len(), 2);
}

#[test]
fn unknown_participant_in_a_step_suggests_the_closest() {
    let err = assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\", \"bobb\"]\n"),
        "scenario::unknown_participant",
        (8, 18),
        &["did you mean `bob`?", "`alice`, `bob`, `carol`"],
    );
    assert_eq!(
        err.to_string(),
        "scenarios/t.toml:8:18: unknown participant `bobb` in step 1"
    );
}

#[test]
fn unknown_participant_without_a_near_name_lists_them() {
    let err = assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\nleave = \"zed\"\n"),
        "scenario::unknown_participant",
        (10, 9),
        &[
            "unknown participant `zed` in step 2",
            "participants: `alice`, `bob`, `carol`",
        ],
    );
    assert!(!err.problems()[0]
        .help
        .as_deref()
        .unwrap_or("")
        .contains("did you mean"));
}

#[test]
fn unknown_participant_in_an_expectation() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\nmoderators = [\"alcie\"]\n"),
        "scenario::unknown_participant",
        (9, 15),
        &[
            "unknown participant `alcie` in `moderators` of step 1",
            "did you mean `alice`?",
        ],
    );
}

#[test]
fn unknown_participant_in_grant_and_kick() {
    let err = parse_err(&with_steps(
        "[[step]]\njoin = [\"alice\", \"bob\"]\n[[step]]\ngrant = { by = \"alice\", to = \"bobby\" }\n[[step]]\nkick = { by = \"carl\", who = \"bob\" }\n",
    ));
    let messages: Vec<(&str, Option<(usize, usize)>)> = err
        .problems()
        .iter()
        .map(|p| (p.message.as_str(), p.location))
        .collect();
    assert_eq!(
        messages,
        [
            (
                "unknown participant `bobby` in `grant` of step 2",
                Some((10, 30))
            ),
            (
                "unknown participant `carl` in `kick` of step 3",
                Some((12, 15))
            ),
        ]
    );
}

#[test]
fn two_participants_with_the_same_nick() {
    let text = HEAD.replace("carol = {}", "carol = { nick = \"alice\" }")
        + "[[step]]\njoin = [\"alice\", \"carol\"]\n";
    let err = assert_only_problem(
        &text,
        "scenario::duplicate_nick",
        (6, 18),
        &[
            "`alice` and `carol` have the same nick `alice`",
            "nick = \"alice_2\"",
        ],
    );
    let secondary = &err.problems()[0].secondary;
    assert_eq!(secondary[0].1, "nick of `alice`");
    assert_eq!(secondary[0].0, 63..68, "alice's name key");
}

#[test]
fn invalid_explicit_nick() {
    let text = HEAD.replace("carol = {}", "carol = { nick = \"carol-2\" }")
        + "[[step]]\njoin = [\"carol\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_nick",
        (6, 18),
        &[
            "invalid nick `carol-2` for participant `carol`",
            "nick = \"carol_2\"",
            "muc_resource_validate",
        ],
    );
}

#[test]
fn participant_name_that_is_not_a_nick() {
    let text = HEAD.replace("bob = {}", "bob-1 = {}") + "[[step]]\njoin = [\"bob-1\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_nick",
        (5, 1),
        &[
            "participant name `bob-1` is not a valid MUC nick",
            "set nick = \"bob_1\"",
            "rename it to `bob_1`",
        ],
    );
}

#[test]
fn unknown_variant_lists_the_known_ones() {
    let text = HEAD.replace("jwt-auto-owner", "jwt-auto-ownr") + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::unknown_variant",
        (2, 13),
        &[
            "unknown variant `jwt-auto-ownr`",
            "did you mean `jwt-auto-owner`?",
            "`jwt-guests`, `jwt-jicofo-auth`",
            "scenarios/variants.toml",
        ],
    );
}

#[test]
fn empty_variants() {
    let text = HEAD.replace("[\"jwt-auto-owner\"]", "[]") + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::no_variants",
        (2, 12),
        &["`variants` is empty", "at least one", "`jwt-auto-owner`"],
    );
}

#[test]
fn missing_variants_and_description() {
    let text = "[participants]\nalice = {}\n[[step]]\njoin = [\"alice\"]\n";
    let err = assert_problem(text, "scenario::missing_key", (1, 1), &["no `description`"]);
    let codes: Vec<&str> = err.problems().iter().map(|p| p.code).collect();
    assert_eq!(codes, ["scenario::missing_key", "scenario::missing_key"]);
    assert!(err.problems()[1].message.contains("no `variants`"));
}

#[test]
fn invalid_durations() {
    assert_only_problem(
        &with_steps("[[step]]\nwait = \"2 parsecs\"\n"),
        "scenario::invalid_duration",
        (8, 8),
        &[
            "invalid duration `2 parsecs` for `wait`",
            "unknown unit `parsecs`",
            "\"500ms\"",
        ],
    );
    let text =
        HEAD.replace("variants", "timeout = \"10\"\nvariants") + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_duration",
        (2, 11),
        &["invalid duration `10` for `timeout`", "no unit"],
    );
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\ntimeout = \"0s\"\n"),
        "scenario::invalid_duration",
        (9, 11),
        &["`timeout` is zero"],
    );
}

#[test]
fn leave_of_someone_not_in_the_room() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\nleave = \"bob\"\n"),
        "scenario::order",
        (10, 9),
        &[
            "`bob` leaves in step 2 but is not in the room",
            "has not joined yet",
        ],
    );
}

#[test]
fn disconnect_after_leave() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\nleave = \"alice\"\n[[step]]\ndisconnect = \"alice\"\n"),
        "scenario::order",
        (12, 14),
        &["`alice` disconnects in step 3 but is not in the room", "left in step 2", "rejoin"],
    );
}

#[test]
fn grant_and_kick_need_both_in_the_room() {
    let err = parse_err(&with_steps(
        "[[step]]\njoin = [\"alice\"]\n[[step]]\ngrant = { by = \"alice\", to = \"bob\" }\n[[step]]\nkick = { by = \"carol\", who = \"alice\" }\n",
    ));
    type Found<'a> = (&'a str, &'a str, Option<(usize, usize)>);
    let found: Vec<Found> = err
        .problems()
        .iter()
        .map(|p| (p.code, p.message.as_str(), p.location))
        .collect();
    assert_eq!(
        found,
        [
            (
                "scenario::order",
                "`bob` is granted owner in step 2 but is not in the room",
                Some((10, 30))
            ),
            (
                "scenario::order",
                "`carol` kicks in step 3 but is not in the room",
                Some((12, 15))
            ),
        ]
    );
}

#[test]
fn kick_of_someone_not_in_the_room() {
    assert_only_problem(
        &with_steps(
            "[[step]]\njoin = [\"alice\"]\n[[step]]\nkick = { by = \"alice\", who = \"carol\" }\n",
        ),
        "scenario::order",
        (10, 30),
        &["`carol` is kicked in step 2 but is not in the room"],
    );
}

#[test]
fn join_of_someone_already_in_the_room() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\njoin = [\"bob\", \"alice\"]\n"),
        "scenario::order",
        (10, 16),
        &[
            "`alice` joins in step 2 but is already in the room (joined in step 1)",
            "rejoin",
        ],
    );
}

#[test]
fn second_join_after_leave_needs_rejoin() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\nleave = \"alice\"\n[[step]]\njoin = [\"alice\"]\n"),
        "scenario::order",
        (12, 9),
        &["`alice` joins in step 3 but already joined in step 1", "rejoin = \"alice\""],
    );
}

#[test]
fn rejoin_of_someone_who_never_joined() {
    assert_only_problem(
        &with_steps("[[step]]\nrejoin = \"alice\"\n"),
        "scenario::order",
        (8, 10),
        &[
            "`alice` rejoins in step 1 but never joined",
            "join = [\"alice\"]",
        ],
    );
}

#[test]
fn rejoin_of_someone_still_in_the_room() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\n[[step]]\nrejoin = \"alice\"\n"),
        "scenario::order",
        (10, 10),
        &[
            "`alice` rejoins in step 2 but is still in the room (joined in step 1)",
            "leave = \"alice\"",
        ],
    );
}

#[test]
fn rejected_participant_must_join_in_that_step() {
    assert_only_problem(
        &with_steps(
            "[[step]]\njoin = [\"alice\"]\n[[step]]\nwait = \"1s\"\nrejected = [\"alice\"]\n",
        ),
        "scenario::rejected_not_joining",
        (11, 13),
        &[
            "`alice` is expected to be rejected in step 2 but does not join in it",
            "same step's `join`",
        ],
    );
}

#[test]
fn expected_moderator_who_is_not_in_the_room() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\", \"bob\"]\n[[step]]\nleave = \"alice\"\nmoderators = [\"alice\"]\n"),
        "scenario::not_in_room",
        (11, 15),
        &["`moderators` of step 2 names `alice`, who is not in the room after the step", "leaves the room in this step"],
    );
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\nmoderators_one_of = [\"alice\", \"bob\"]\n"),
        "scenario::not_in_room",
        (9, 31),
        &[
            "`moderators_one_of` of step 1 names `bob`",
            "`bob` has not joined yet",
        ],
    );
}

#[test]
fn rejected_participant_cannot_be_moderator() {
    assert_only_problem(
        &with_steps(
            "[[step]]\njoin = [\"alice\"]\nrejected = [\"alice\"]\nmoderators = [\"alice\"]\n",
        ),
        "scenario::not_in_room",
        (10, 15),
        &["`alice` is rejected in this step"],
    );
}

#[test]
fn moderators_one_of_needs_two_names() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\nmoderators_one_of = [\"alice\"]\n"),
        "scenario::one_of_too_short",
        (9, 21),
        &["names fewer than two", "moderators = [\"alice\"]"],
    );
}

#[test]
fn moderators_and_moderators_one_of_together() {
    let err = assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\", \"bob\"]\nmoderators = [\"alice\"]\nmoderators_one_of = [\"alice\", \"bob\"]\n"),
        "scenario::conflicting_expectations",
        (10, 1),
        &["step 1 has both `moderators` and `moderators_one_of`", "keep one"],
    );
    assert_eq!(err.problems()[0].secondary[0].1, "exact set here");
}

#[test]
fn moderator_count_contradicting_moderators() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\", \"bob\"]\nmoderators = [\"alice\"]\nmoderator_count = 2\n"),
        "scenario::conflicting_expectations",
        (10, 19),
        &["`moderator_count = 2` in step 1 contradicts `moderators`", "lists 1"],
    );
}

#[test]
fn moderator_count_larger_than_the_room() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\nmoderator_count = 2\n"),
        "scenario::not_in_room",
        (9, 19),
        &["only 1 participants are in the room"],
    );
}

#[test]
fn token_overrides_need_a_token_login() {
    let text = HEAD
        .replace(
            "bob = {}",
            "bob = { login = \"guest\", token = { expired = true } }",
        )
        .replace("jwt-auto-owner", "jwt-guests")
        + "[[step]]\njoin = [\"bob\"]\n";
    assert_only_problem(
        &text,
        "scenario::token_without_login",
        (5, 26),
        &[
            "`bob` has `token` overrides but logs in with login = \"guest\"",
            "remove `token`",
        ],
    );
}

#[test]
fn no_participants_and_no_steps() {
    let err = parse_err("description = \"d\"\nvariants = [\"jwt-auto-owner\"]\n");
    let codes: Vec<&str> = err.problems().iter().map(|p| p.code).collect();
    assert_eq!(codes, ["scenario::no_participants", "scenario::no_steps"]);
    assert_eq!(err.problems()[1].location, Some((3, 1)), "end of file");
}

#[test]
fn bad_file_name() {
    let err = parse(Path::new("scenarios/Auto Owner.toml"), EXAMPLE, &variants()).unwrap_err();
    assert!(matches!(&err, ScenarioError::Name { stem, .. } if stem == "Auto Owner"));
    assert_eq!(
        err.to_string(),
        "scenarios/Auto Owner.toml: invalid scenario name `Auto Owner`"
    );
    let help = miette::Diagnostic::help(&err).unwrap().to_string();
    assert!(
        help.contains("lower-case letters, digits, `_` and `-`"),
        "{help}"
    );
    for ok in ["a", "0-x", "auto_owner-2"] {
        let path = PathBuf::from(format!("{ok}.toml"));
        assert!(parse(&path, EXAMPLE, &variants()).is_ok(), "{ok}");
    }
    let long = "a".repeat(65);
    for bad in ["_a", "-a", "A", "a.b", "ä", long.as_str()] {
        let path = PathBuf::from(format!("{bad}.toml"));
        assert!(
            matches!(
                parse(&path, EXAMPLE, &variants()),
                Err(ScenarioError::Name { .. })
            ),
            "{bad}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Many problems, robustness

#[test]
fn every_problem_in_the_file_is_reported() {
    let text = r#"description = "d"
variants = ["jwt-auto-owner", "nope"]
[participants]
alice = {}
bob-1 = {}
carol = { nick = "alice" }
dave = { trasnport = "bot" }
[[step]]
join = ["alice", "bobb"]
[[step]]
jion = ["carol"]
[[step]]
wait = "2 parsecs"
[[step]]
leave = "alice"
moderators = ["carol"]
moderators_one_of = ["carol"]
"#;
    let err = parse_err(text);
    let found: Vec<(&str, (usize, usize))> = err
        .problems()
        .iter()
        .map(|p| (p.code, p.location.unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("scenario::unknown_variant", (2, 31)),
            ("scenario::invalid_nick", (5, 1)),
            ("scenario::duplicate_nick", (6, 18)),
            ("scenario::unknown_key", (7, 10)),
            ("scenario::unknown_participant", (9, 18)),
            ("scenario::unknown_key", (11, 1)),
            ("scenario::invalid_duration", (13, 8)),
            ("scenario::conflicting_expectations", (17, 1)),
            ("scenario::one_of_too_short", (17, 21)),
        ],
        "{}",
        render(&err)
    );
    assert!(err
        .to_string()
        .starts_with("scenarios/t.toml:2:31: unknown variant `nope` (and 8 more problems)"));
    // The related diagnostics are the problems, each with a label and a help.
    let related: Vec<_> = miette::Diagnostic::related(&err).unwrap().collect();
    assert_eq!(related.len(), 9);
    for r in related {
        assert!(r.labels().unwrap().next().is_some());
        assert!(r.help().is_some(), "{r}");
    }
    assert!(miette::Diagnostic::source_code(&err).is_some());
}

/// Mutations of the example (truncated, keys swapped, values replaced) never panic, and every
/// error renders with its spans inside the file.
#[test]
fn mangled_files_never_panic() {
    let mut texts: Vec<String> = (0..EXAMPLE.len())
        .step_by(37)
        .filter(|&i| EXAMPLE.is_char_boundary(i))
        .map(|i| EXAMPLE[..i].to_owned())
        .collect();
    let swaps = [
        ("join", "leave"),
        ("leave", "join"),
        ("rejoin", "join"),
        ("moderators", "moderators_one_of"),
        ("moderators_one_of", "rejected"),
        ("kick", "grant"),
        ("by", "who"),
        ("[[step]]", "[step]"),
        ("[participants]", "[[participants]]"),
        ("\"2s\"", "2"),
        ("\"20s\"", "\"0s\""),
        ("transport", "login"),
        ("\"alice\"", "\"\""),
        ("alice", "bob"),
        ("= 1", "= -1"),
        ("{}", "[]"),
        ("\"", "'"),
        ("\n", ""),
        ("=", ""),
        (
            "variants = [\"jwt-auto-owner\"]",
            "variants = \"jwt-auto-owner\"",
        ),
        ("description", "step"),
        ("[participants]", "participants = 3"),
    ];
    for (from, to) in swaps {
        texts.push(EXAMPLE.replace(from, to));
        texts.push(EXAMPLE.replacen(from, to, 1));
    }
    texts.push(String::new());
    texts.push("\u{feff}".to_owned());
    texts.push("[[step]]\n".repeat(3));
    texts.push("é = 1\n[participants]\n\"é-1\" = {}\n".to_owned());
    assert!(texts.len() > 60, "{}", texts.len());
    for text in &texts {
        let result = std::panic::catch_unwind(|| parse(Path::new(PATH), text, &variants()));
        let Ok(result) = result else {
            panic!("panicked on:\n{text}");
        };
        if let Err(err) = result {
            assert!(err.to_string().starts_with(PATH), "{err}");
            assert!(!err.problems().is_empty(), "{err}");
            for p in err.problems() {
                let span = p.span.clone().unwrap();
                assert!(
                    span.start <= span.end && span.end <= text.len(),
                    "{p:?} in\n{text}"
                );
            }
            render(&err);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Files

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("jitsi-harness-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
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
fn discover_skips_variants_and_filters_by_name() {
    let tmp = TempDir::new("discover");
    for file in [
        "b_two.toml",
        "a_one.toml",
        "variants.toml",
        "notes.md",
        "c_three.toml",
    ] {
        std::fs::write(tmp.0.join(file), "").unwrap();
    }
    std::fs::create_dir(tmp.0.join("dir.toml")).unwrap();
    let names = |glob| -> Vec<String> {
        discover(&tmp.0, glob)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(None), ["a_one.toml", "b_two.toml", "c_three.toml"]);
    assert_eq!(names(Some("b_*")), ["b_two.toml"]);
    assert_eq!(names(Some("*_t*")), ["b_two.toml", "c_three.toml"]);
    assert_eq!(names(Some("variants")), Vec::<String>::new());
    assert!(discover(&tmp.0, Some("a_on*")).unwrap()[0].starts_with(&tmp.0));

    let err = discover(&tmp.0, Some("[")).unwrap_err();
    assert!(matches!(err, ScenarioError::Glob { .. }), "{err}");
    let err = discover(&tmp.0.join("missing"), None).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot list scenarios in"),
        "{err}"
    );
}

#[test]
fn load_reads_the_file_and_reports_missing_ones() {
    let tmp = TempDir::new("load");
    let path = tmp.0.join("auto_owner_hands_over.toml");
    std::fs::write(&path, EXAMPLE).unwrap();
    let s = load(&path, &variants()).unwrap();
    assert_eq!(s.name, "auto_owner_hands_over");
    assert_eq!(s.path, path);

    let err = load(&tmp.0.join("gone.toml"), &variants()).unwrap_err();
    assert!(matches!(err, ScenarioError::Read { .. }));
    assert!(err.to_string().contains("gone.toml"), "{err}");
}

/// Every scenario shipped in `scenarios/` loads against the shipped `variants.toml`.
#[test]
fn shipped_scenarios_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let variants = Variants::load(&dir.join("variants.toml")).unwrap();
    let paths = discover(&dir, None).unwrap();
    assert!(!paths.is_empty(), "no scenarios in {}", dir.display());
    for path in paths {
        if let Err(err) = load(&path, &variants) {
            panic!("{}", render(&err));
        }
    }
}

#[test]
fn order_is_checked_even_when_another_step_has_a_problem() {
    let err = parse_err(&with_steps(
        "[[step]]\njoin = [\"alice\", \"alice\", \"zed\"]\nmoderators = [\"alice\", \"zed\"]\nrejected = [\"zed\"]\n[[step]]\nwait = \"1 fortnight\"\n[[step]]\nleave = \"bob\"\n",
    ));
    let found: Vec<(&str, (usize, usize))> = err
        .problems()
        .iter()
        .map(|p| (p.code, p.location.unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("scenario::duplicate", (8, 18)),
            ("scenario::unknown_participant", (8, 27)),
            ("scenario::unknown_participant", (9, 24)),
            ("scenario::unknown_participant", (10, 13)),
            ("scenario::invalid_duration", (12, 8)),
            ("scenario::order", (14, 9)),
        ],
        "{}",
        render(&err)
    );
}

#[test]
fn participant_that_is_not_a_table() {
    let text =
        HEAD.replace("bob = {}", "bob = \"browser\"") + "[[step]]\njoin = [\"alice\", \"bob\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_value",
        (5, 7),
        &[
            "invalid value in participant `bob`",
            "expected a table",
            "bob = { transport = \"browser\" }",
        ],
    );
}

#[test]
fn empty_or_misshapen_participants() {
    let text = "description = \"d\"\nvariants = [\"jwt-auto-owner\"]\n[participants]\n[[step]]\nwait = \"1s\"\n";
    assert_only_problem(
        text,
        "scenario::no_participants",
        (3, 1),
        &["`[participants]` is empty"],
    );
    let text = "description = \"d\"\nvariants = [\"jwt-auto-owner\"]\nparticipants = [\"alice\"]\n[[step]]\nwait = \"1s\"\n";
    assert_only_problem(
        text,
        "scenario::invalid_value",
        (3, 16),
        &["`participants` must be a table", "alice = {}"],
    );
}

// ---------------------------------------------------------------------------------------------
// Names that become paths, and limits nobody means

#[test]
fn a_participant_name_that_would_leave_its_folder_is_refused_whatever_its_nick() {
    // The name names the transcript (`NAME.xmpp.log`) even when an explicit nick is valid.
    let text = HEAD.replace("bob = {}", "\"/tmp/x\" = { nick = \"bob\" }")
        + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_name",
        (5, 1),
        &["invalid participant name", "first character", "transcript"],
    );
    let text = HEAD.replace("bob = {}", "\"a/../../b\" = { nick = \"bob\" }")
        + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(&text, "scenario::invalid_name", (5, 1), &["path separator"]);
}

#[test]
fn a_nick_longer_than_prosody_allows_is_refused() {
    let nick = "n".repeat(MAX_NICK_BYTES + 1);
    let text = HEAD.replace("bob = {}", &format!("bob = {{ nick = \"{nick}\" }}"))
        + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_nick",
        (5, 16),
        &["1024 bytes", "more than 1023"],
    );
    let nick = "n".repeat(MAX_NICK_BYTES);
    let text = HEAD.replace("bob = {}", &format!("bob = {{ nick = \"{nick}\" }}"))
        + "[[step]]\njoin = [\"alice\"]\n";
    assert!(parse(Path::new(PATH), &text, &variants()).is_ok());
}

#[test]
fn a_huge_claim_is_refused() {
    let big = "x".repeat(MAX_TOKEN_OVERRIDE_BYTES);
    let text = HEAD.replace(
        "bob = {}",
        &format!("bob = {{ token = {{ claims = {{ big = \"{big}\" }} }} }}"),
    ) + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::token_too_large",
        (5, 9),
        &["`token` overrides of participant `bob`", "more than 4096"],
    );
}

#[test]
fn durations_nobody_means_are_refused() {
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\ntimeout = \"11m\"\n"),
        "scenario::invalid_duration",
        (9, 11),
        &["`timeout` of 11m is longer than 10m"],
    );
    assert_only_problem(
        &with_steps("[[step]]\nwait = \"100000h\"\n"),
        "scenario::invalid_duration",
        (8, 8),
        &["`wait` of 100000h is longer than 10m"],
    );
    let text =
        HEAD.replace("variants", "timeout = \"1h\"\nvariants") + "[[step]]\njoin = [\"alice\"]\n";
    assert_only_problem(
        &text,
        "scenario::invalid_duration",
        (2, 11),
        &["`timeout` of 1h"],
    );
}

#[test]
fn a_guest_under_a_variant_without_guests_is_refused() {
    let text = HEAD
        .replace("bob = {}", "bob = { login = \"guest\" }")
        .replace(
            "[\"jwt-auto-owner\"]",
            "[\"jwt-guests\", \"jwt-auto-owner\"]",
        )
        + "[[step]]\njoin = [\"bob\"]\n";
    assert_only_problem(
        &text,
        "scenario::guest_without_guests",
        (5, 17),
        &["joins as a guest", "`jwt-auto-owner` has no guests"],
    );
    let only_guests = text.replace("\"jwt-guests\", \"jwt-auto-owner\"", "\"jwt-guests\"");
    assert!(parse(Path::new(PATH), &only_guests, &variants()).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Lobby and wait-for-host

const LOBBY_VARIANTS: &str = r#"
[jwt-lobby]
description = "d"
jwt = true
jicofo_auth = false
lobby = true
[jwt-auto-owner]
description = "d"
jwt = true
jicofo_auth = false
"#;

/// Lines 1–6 under `variant`; steps from line 7.
fn lobby_scenario(variant: &str, steps: &str) -> String {
    format!(
        "description = \"d\"\nvariants = [\"{variant}\"]\n[participants]\nalice = {{}}\nbob = {{}}\ncarol = {{}}\n{steps}"
    )
}

/// A problem as the lobby tests look at it: code, message and help, `line:col`.
type Found = (&'static str, String, Option<(usize, usize)>);

fn lobby_problems(text: &str) -> Vec<Found> {
    let variants = Variants::parse(Path::new("scenarios/variants.toml"), LOBBY_VARIANTS).unwrap();
    match parse(Path::new(PATH), text, &variants) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .problems()
            .iter()
            .map(|p| {
                (
                    p.code,
                    format!("{} {}", p.message, p.help.as_deref().unwrap_or("")),
                    p.location,
                )
            })
            .collect(),
    }
}

#[test]
fn lobby_steps_and_waiting_parse_with_their_labels() {
    let text = lobby_scenario(
        "jwt-lobby",
        "[[step]]\njoin = [\"alice\"]\n[[step]]\nenable_lobby = { by = \"alice\" }\n[[step]]\njoin = [\"bob\", \"carol\"]\nwaiting = [\"bob\", \"carol\"]\n[[step]]\nadmit = { by = \"alice\", who = \"bob\" }\nwaiting = [\"carol\"]\n[[step]]\ndeny = { by = \"alice\", who = \"carol\" }\nwaiting = []\n[[step]]\ndisable_lobby = { by = \"alice\" }\n",
    );
    let variants = Variants::parse(Path::new("v.toml"), LOBBY_VARIANTS).unwrap();
    let s = parse(Path::new(PATH), &text, &variants).unwrap();
    let labels: Vec<String> = s.steps.iter().map(Step::label).collect();
    assert_eq!(
        labels,
        [
            "join alice",
            "enable lobby by alice",
            "join bob, carol",
            "admit bob by alice",
            "deny carol by alice",
            "disable lobby by alice",
        ]
    );
    assert_eq!(
        s.steps[2].expect.waiting,
        Some(vec!["bob".to_owned(), "carol".to_owned()])
    );
    assert_eq!(s.steps[4].expect.waiting, Some(vec![]));
    assert_eq!(s.steps[5].expect.waiting, None);
    assert_eq!(
        s.steps[3].action,
        Action::Admit {
            by: "alice".into(),
            who: "bob".into()
        }
    );
}

#[test]
fn waiting_on_a_variant_without_a_lobby_is_a_problem_at_its_key() {
    let found = lobby_problems(&lobby_scenario(
        "jwt-auto-owner",
        "[[step]]\njoin = [\"alice\"]\nwaiting = []\n[[step]]\nenable_lobby = { by = \"alice\" }\n",
    ));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, "scenario::no_lobby");
    assert_eq!(found[0].2, Some((9, 1)));
    assert!(
        found[0]
            .1
            .contains("`waiting` in step 1 needs a lobby, but variant `jwt-auto-owner` has none"),
        "{found:?}"
    );
    assert!(found[0].1.contains("wait_for_host = true"), "{found:?}");
    assert_eq!(found[1].2, Some((11, 1)));
}

#[test]
fn admit_by_a_non_moderator_and_of_someone_not_waiting_are_problems() {
    let found = lobby_problems(&lobby_scenario(
        "jwt-lobby",
        "[[step]]\njoin = [\"alice\"]\n[[step]]\nenable_lobby = { by = \"alice\" }\n[[step]]\njoin = [\"bob\", \"carol\"]\nmoderators = [\"alice\"]\nwaiting = [\"bob\"]\n[[step]]\nadmit = { by = \"bob\", who = \"carol\" }\n",
    ));
    let codes: Vec<(&str, Option<(usize, usize)>)> = found.iter().map(|f| (f.0, f.2)).collect();
    assert_eq!(
        codes,
        [
            ("scenario::not_moderator", Some((16, 16))),
            ("scenario::not_waiting", Some((16, 29))),
        ],
        "{found:?}"
    );
    assert!(
        found[0]
            .1
            .contains("`bob` admits in step 4, but step 3 expects it not to be moderator"),
        "{found:?}"
    );
    assert!(
        found[1]
            .1
            .contains("`carol` is admitted in step 4, but step 3 expects it not to wait"),
        "{found:?}"
    );
}

#[test]
fn waiting_and_lobby_steps_need_participants_who_joined() {
    let found = lobby_problems(&lobby_scenario(
        "jwt-lobby",
        "[[step]]\njoin = [\"alice\"]\nwaiting = [\"bob\"]\n[[step]]\ndeny = { by = \"alice\", who = \"carol\" }\n[[step]]\nwait = \"1s\"\nwaiting = [\"alice\"]\nmoderators = [\"alice\"]\n",
    ));
    let codes: Vec<&str> = found.iter().map(|f| f.0).collect();
    assert_eq!(
        codes,
        [
            "scenario::not_in_room",
            "scenario::order",
            "scenario::not_waiting",
            "scenario::conflicting_expectations",
        ],
        "{found:?}"
    );
    let said = |i: usize, words: &str| assert!(found[i].1.contains(words), "{found:?}");
    said(0, "`waiting` of step 1 names `bob`");
    said(1, "`carol` is denied in step 2 but is not in the room");
    said(
        2,
        "`carol` is denied in step 2, but step 1 expects it not to wait",
    );
    said(3, "`alice` is both waiting and moderator in step 3");
}

#[test]
fn unknown_step_keys_list_the_lobby_steps() {
    let found = lobby_problems(&lobby_scenario(
        "jwt-lobby",
        "[[step]]\njoin = [\"alice\"]\n[[step]]\nenable_loby = { by = \"alice\" }\n",
    ));
    assert_eq!(found[0].0, "scenario::unknown_key", "{found:?}");
    assert!(
        found[0].1.contains("did you mean `enable_lobby`?"),
        "{found:?}"
    );
    for key in ["`admit`", "`deny`", "`disable_lobby`", "`waiting`"] {
        assert!(found[0].1.contains(key), "{key}: {found:?}");
    }
}

#[test]
fn affiliations_are_read_and_checked_at_their_place() {
    let ok = with_steps(
        "[[step]]\njoin = [\"alice\", \"bob\"]\naffiliations = { alice = \"owner\", bob = \"member\" }\n",
    );
    let s = parse(Path::new(PATH), &ok, &variants()).unwrap();
    assert_eq!(
        s.steps[0].expect.affiliations,
        std::collections::BTreeMap::from([
            ("alice".to_owned(), crate::xmpp::Affiliation::Owner),
            ("bob".to_owned(), crate::xmpp::Affiliation::Member),
        ])
    );
    assert_only_problem(
        &with_steps(
            "[[step]]\njoin = [\"alice\", \"bob\"]\naffiliations = { alice = \"owner\", bob = \"boss\" }\n",
        ),
        "scenario::invalid_value",
        (9, 41),
        &["`boss` is not a MUC affiliation", "owner", "member"],
    );
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\naffiliations = { alcie = \"owner\" }\n"),
        "scenario::unknown_participant",
        (9, 18),
        &[
            "unknown participant `alcie` in `affiliations` of step 1",
            "did you mean `alice`?",
        ],
    );
    assert_only_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\naffiliations = { carol = \"member\" }\n"),
        "scenario::not_in_room",
        (9, 18),
        &[
            "`affiliations` of step 1 names `carol`",
            "`carol` has not joined yet",
        ],
    );
    assert_problem(
        &with_steps("[[step]]\njoin = [\"alice\"]\naffiliation = { alice = \"owner\" }\n"),
        "scenario::unknown_key",
        (9, 1),
        &["did you mean `affiliations`?"],
    );
}
