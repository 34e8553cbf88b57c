//! `jitsi-harness clean`: removes containers, networks, browser processes (chromedriver, Chromium) and
//! their temp folders left by killed runs (and, with `--kept`, the containers of `--keep-stack` runs).

use miette::IntoDiagnostic;

use harness::participant::browser::leftovers;
use harness::stack::docker;

use crate::exit::{self, report, Exit};

/// Sweeps leftovers (and kept stacks with `kept`) and says what it removed.
pub async fn clean(kept: bool) -> Result<u8, Exit> {
    // Browsers first: they need no engine.
    let browsers = leftovers::sweep_leftovers();
    println!(
        "removed {} browser process(es) and {} browser folder(s)",
        browsers.processes.len(),
        browsers.folders.len()
    );
    let d = docker::connect()
        .await
        .into_diagnostic()
        .map_err(|e| report(e, exit::INFRASTRUCTURE))?;
    let mut sweep = docker::sweep_leftovers(&d)
        .await
        .into_diagnostic()
        .map_err(|e| report(e, exit::INFRASTRUCTURE))?;
    if kept {
        let k = docker::remove_kept(&d)
            .await
            .into_diagnostic()
            .map_err(|e| report(e, exit::INFRASTRUCTURE))?;
        sweep.containers.extend(k.containers);
        sweep.networks.extend(k.networks);
    }
    println!(
        "removed {} container(s) and {} network(s){}",
        sweep.containers.len(),
        sweep.networks.len(),
        if sweep.containers.is_empty() {
            String::new()
        } else {
            format!(": {}", sweep.containers.join(", "))
        }
    );
    Ok(exit::SAME)
}
