//! `jitsi-harness clean`: removes containers and networks left by killed runs (and, with `--kept`, by
//! `--keep-stack` runs).

use miette::IntoDiagnostic;

use harness::stack::docker;

use crate::exit::{self, report, Exit};

/// Sweeps leftovers (and kept stacks with `kept`) and says what it removed.
pub async fn clean(kept: bool) -> Result<u8, Exit> {
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
