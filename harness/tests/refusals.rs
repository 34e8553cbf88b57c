//! A join refused where the scenario did not say `rejected` fails its step with the refusal's
//! category, even when every other expectation holds (with the focus down every join was refused, yet
//! `moderator_count = 0` held in the empty room). The JSON report keeps the raw refusal text.

mod support;

use std::process::Command;

#[test]
fn an_unexpected_refusal_fails_the_step_and_json_keeps_the_raw_text() {
    let dir = tempfile::tempdir().expect("temp folder");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("scenarios folder");
    std::fs::copy(
        support::repo_root().join("scenarios/variants.toml"),
        scenarios.join("variants.toml"),
    )
    .expect("variants.toml");
    // bob's token is expired, but the step does not say `rejected`; its moderators still hold.
    std::fs::write(
        scenarios.join("surprise.toml"),
        "description = \"bob's expired token is refused, which nobody said.\"\n\
         variants = [\"jwt-auto-owner\"]\ntimeout = \"5s\"\n\n\
         [participants]\nalice = {}\nbob = { token = { expired = true } }\n\n\
         [[step]]\njoin = [\"alice\"]\nmoderators = [\"alice\"]\n\n\
         [[step]]\njoin = [\"bob\"]\nmoderators = [\"alice\"]\n",
    )
    .expect("scenario");
    let out = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"))
        .args(["run", "--stack", "fixture:13", "--format", "json"])
        .arg("--scenarios")
        .arg(&scenarios)
        .arg("--snapshots")
        .arg(dir.path().join("snapshots"))
        .arg("--artifacts")
        .arg(dir.path().join("artifacts"))
        .env("CI", "1")
        .current_dir(support::repo_root())
        .output()
        .expect("run jitsi-harness");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let result = &doc["results"][0];
    assert_eq!(result["verdict"], "unmet", "{stdout}");
    let unmet: Vec<&str> = result["unmet"]
        .as_array()
        .expect("the unmet expectations")
        .iter()
        .filter_map(|u| u.as_str())
        .collect();
    assert!(
        unmet.iter().any(|u| u.starts_with("step 2 `join bob`")
            && u.contains("bob was refused (expired) but the scenario did not say `rejected`")),
        "{stdout}"
    );
    // The raw text, as the deployment said it, is in the JSON only.
    assert_eq!(
        result["steps"][1]["rejected"]["bob"],
        "authentication refused: not-allowed (token has expired)",
        "{stdout}"
    );
}
