//! Faults named by their cause: a container of the stack that dies, restarts or is paused during a step
//! fails that step at once with the container's name, exit code and last log lines (an infrastructure
//! failure, exit 3), and a fault the scenario asked for (`restart`, `stop`, `pause`) is no failure.
//! Scenario checks of the fault steps need no container.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::runner::events::RunEvent;
use harness::runner::{run_scenario, RunErrorKind, RunOptions};
use harness::scenario::{self, Action, Scenario};
use support::*;

fn parse(text: &str) -> Result<Scenario, String> {
    scenario::parse(Path::new("scenarios/faults.toml"), text, &variants())
        .map_err(|e| format!("{:?}", miette::Report::new(e)))
}

const HEADER: &str = r#"
description = "faults"
variants = ["jwt-auto-owner"]
[participants]
alice = {}
bob = {}
"#;

#[test]
fn fault_steps_parse_with_their_labels() {
    let s = parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\", \"bob\"]
[[step]]
restart = \"focus\"
[[step]]
pause = {{ service = \"prosody\", for = \"2s\" }}
[[step]]
restart = \"prosody\"
[[step]]
rejoin = \"bob\"
moderators = [\"bob\"]
[[step]]
stop = \"jicofo\"
"
    ))
    .expect("valid");
    let labels: Vec<String> = s.steps.iter().map(|s| s.label()).collect();
    assert_eq!(
        labels,
        [
            "join alice, bob",
            "restart focus",
            "pause prosody for 2s",
            "restart prosody",
            "rejoin bob",
            "stop jicofo"
        ]
    );
    assert_eq!(
        s.steps[2].action,
        Action::Pause {
            service: "prosody".into(),
            duration: Duration::from_secs(2)
        }
    );
}

#[test]
fn an_unknown_service_is_an_error_at_its_place_listing_the_valid_ones() {
    let e = parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\"]
[[step]]
restart = \"prosodi\"
"
    ))
    .expect_err("unknown service");
    assert!(
        e.contains("unknown service `prosodi` in `restart` of step 2"),
        "{e}"
    );
    assert!(e.contains("faults.toml:11:11"), "file:line:col: {e}");
    assert!(e.contains("did you mean `prosody`?"), "{e}");
    assert!(
        e.contains("`prosody`, `focus`, `jicofo`, `jvb`") && e.contains("`web`"),
        "{e}"
    );
    let e = parse(&format!(
        "{HEADER}
[[step]]
pause = {{ service = \"jvb\", for = \"0s\" }}
"
    ))
    .expect_err("zero pause");
    assert!(e.contains("pauses for no time"), "{e}");
}

#[test]
fn a_prosody_restart_ends_every_session_in_the_replay() {
    // After Prosody restarts, nobody is in the room: `join` again is wrong, `rejoin` is right.
    let e = parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\"]
[[step]]
restart = \"prosody\"
moderators = [\"alice\"]
"
    ))
    .expect_err("alice is out");
    assert!(e.contains("`alice` leaves the room in this step"), "{e}");
    // A focus restart ends no session.
    parse(&format!(
        "{HEADER}
[[step]]
join = [\"alice\"]
[[step]]
restart = \"focus\"
moderators = [\"alice\"]
"
    ))
    .expect("alice stays");
}

/// `docker kill` of Prosody from outside, during a step: the step fails within 2 s, naming Prosody, its
/// exit code and its last log lines; an infrastructure failure.
#[test]
fn docker_kill_of_prosody_fails_the_step_within_2s_with_the_cause() {
    runtime().block_on(async {
        let stack = start("13", &variant("jwt-auto-owner"), "faults-kill").await;
        let scenario = parse(&format!(
            "{HEADER}
[[step]]
join = [\"alice\"]
moderators = [\"alice\"]
[[step]]
wait = \"30s\"
"
        ))
        .expect("valid");
        let prosody = stack
            .containers()
            .into_iter()
            .find(|c| c.service == "prosody")
            .expect("a prosody container");
        let joined = Arc::new(tokio::sync::Notify::new());
        let finished: Arc<Mutex<usize>> = Arc::default();
        let mut options = RunOptions::new(artifacts("faults-kill/run"));
        {
            let joined = joined.clone();
            let finished = finished.clone();
            options.reporter = Some(Arc::new(move |e: &RunEvent<'_>| {
                if let RunEvent::StepFinished { .. } = e {
                    if let Ok(mut n) = finished.lock() {
                        *n += 1;
                    }
                    joined.notify_one();
                }
            }));
        }
        let variant = variant("jwt-auto-owner");
        let run = run_scenario(&scenario, &variant, &stack, &options);
        let killer = async {
            joined.notified().await;
            // Into the 30 s wait of step 2.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let status = tokio::process::Command::new("docker")
                .args(["kill", &prosody.id])
                .stdout(std::process::Stdio::null())
                .status()
                .await
                .expect("docker kill");
            assert!(status.success(), "docker kill {}", prosody.name);
            Instant::now()
        };
        let (result, killed_at) = tokio::join!(run, killer);
        let took = killed_at.elapsed();
        let e = result.expect_err("the step must fail");
        let message = e.to_string();
        assert!(
            took < Duration::from_secs(2),
            "failed {took:?} after the kill: {message}"
        );
        assert!(
            matches!(e.kind, RunErrorKind::ContainerFault { .. }),
            "{message}"
        );
        assert!(
            message.starts_with("prosody exited (137) during step 2 `wait 30s`"),
            "{message}"
        );
        assert!(message.contains("last lines of prosody's log"), "{message}");
        assert!(e.is_infrastructure());
        stack.close().await.expect("close");
    });
}

/// Faults the scenario asks for are no failure: a focus restart keeps everyone in, a Prosody restart
/// ends every session and the participants rejoin, a pause thaws.
#[test]
fn asked_for_faults_are_not_failures() {
    runtime().block_on(async {
        let stack = start("0.12", &variant("jwt-auto-owner"), "faults-asked").await;
        let scenario = parse(&format!(
            "{HEADER}
[[step]]
join = [\"alice\", \"bob\"]
moderator_count = 1
[[step]]
restart = \"focus\"
moderator_count = 1
[[step]]
pause = {{ service = \"focus\", for = \"500ms\" }}
[[step]]
restart = \"prosody\"
moderator_count = 0
[[step]]
rejoin = \"bob\"
moderators = [\"bob\"]
[[step]]
rejoin = \"alice\"
moderators = [\"bob\"]
"
        ))
        .expect("valid");
        let options = RunOptions::new(artifacts("faults-asked/run"));
        let timeline = run_scenario(&scenario, &variant("jwt-auto-owner"), &stack, &options)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let unmet: Vec<_> = timeline.unmet().collect();
        assert!(unmet.is_empty(), "{unmet:#?}");
        stack.close().await.expect("close");
    });
}
