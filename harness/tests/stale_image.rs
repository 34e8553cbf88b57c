//! A fixture image built from other inputs than the tree's stops the run before any stack starts, naming
//! the image and the command that rebuilds it (exit 3); `JITSI_HARNESS_ALLOW_STALE_IMAGES=1` runs on it
//! with a warning. The images are shared by every checkout on the engine, so the test never touches them:
//! it points the harness at a copy of the tree's `docker/fixture` inputs with one token module edited
//! (`JITSI_HARNESS_FIXTURE_DIR`), whose hash no built image carries.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IMAGE: &str = "jitsi-harness/fixture-prosody:13";

fn temp_dir(name: &str) -> PathBuf {
    let d = support::repo_root()
        .join("target/test-artifacts/stale-image")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A copy of the fixture's build inputs under `dir/docker` with the token module edited; returns its
/// `docker/fixture` folder.
fn edited_inputs(dir: &Path) -> PathBuf {
    let tree = support::repo_root().join("docker");
    let dst = dir.join("docker");
    std::fs::create_dir_all(dst.join("fixture")).expect("mkdir");
    for part in ["lib.sh", "fixture/build.sh", "fixture/rootfs"] {
        let status = Command::new("cp")
            .arg("-a")
            .arg(tree.join(part))
            .arg(dst.join(part))
            .status()
            .expect("cp");
        assert!(status.success(), "cp {part}");
    }
    let module = dst.join(
        "fixture/rootfs/usr/local/lib/jitsi-harness/prosody-plugins/mod_auth_fixture_token.lua",
    );
    let mut text = std::fs::read_to_string(&module).expect("token module");
    text.push_str("\n-- edited after the image was built\n");
    std::fs::write(&module, text).expect("edit");
    dst.join("fixture")
}

fn run(dir: &Path, fixture: &Path, allow: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jitsi-harness"));
    command
        .args([
            "--scenarios",
            &support::repo_root().join("scenarios").to_string_lossy(),
            "run",
            "--stack",
            "fixture:13",
            "--scenario",
            "last_moderator_leaves_empty_room",
            "--artifacts",
            "artifacts",
        ])
        .current_dir(dir)
        .env_remove("CI")
        .env_remove("JITSI_HARNESS_ALLOW_STALE_IMAGES")
        .env("JITSI_HARNESS_FIXTURE_DIR", fixture);
    if allow {
        command.env("JITSI_HARNESS_ALLOW_STALE_IMAGES", "1");
    }
    command.output().expect("run jitsi-harness")
}

/// The image must be here: without it the check reports a missing image, not a stale one. Skipped with
/// the reason outside CI; a failure in CI.
fn image_present() -> bool {
    let present = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{IMAGE} is not built; CI must build it (./just images)"
        );
        eprintln!("skipped: {IMAGE} is not built here (./just images)");
    }
    present
}

#[test]
fn a_stale_fixture_image_stops_the_run_naming_the_image_and_the_command() {
    if !image_present() {
        return;
    }
    let dir = temp_dir("stops");
    let fixture = edited_inputs(&dir);
    let out = run(&dir, &fixture, false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("`{IMAGE}` was built from other inputs")),
        "{err}"
    );
    // The command names the build script that owns the hash, relative to the folder the run was in.
    assert_eq!(fixture, dir.join("docker/fixture"));
    let command = "`bash docker/fixture/build.sh 13`";
    assert!(err.contains(command), "{command} missing: {err}");
    assert!(err.contains("JITSI_HARNESS_ALLOW_STALE_IMAGES=1"), "{err}");
    // Said once, before anything started: no stack, no verdict, no artifacts folder.
    assert_eq!(
        err.matches("was built from other inputs").count(),
        1,
        "{err}"
    );
    assert!(!err.contains("starting"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !dir.join("artifacts").exists(),
        "an artifacts folder was made"
    );
}

#[test]
fn allow_stale_images_runs_on_it_with_a_warning() {
    if !image_present() {
        return;
    }
    let dir = temp_dir("allowed");
    let fixture = edited_inputs(&dir);
    let out = run(&dir, &fixture, true);
    let err = String::from_utf8_lossy(&out.stderr);
    // The edit is a comment: the run on the (stale) image matches the golden timeline.
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!(
            "warning (JITSI_HARNESS_ALLOW_STALE_IMAGES=1, running anyway): fixture image `{IMAGE}`"
        )),
        "{err}"
    );
}
