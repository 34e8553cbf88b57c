//! `jitsi-harness releases`: docker-jitsi-meet's stable releases, newest first (all, `--since TAG`, or
//! `--new-since FILE`), as text or JSON. Offline or rate-limited is an infrastructure failure (exit 3) that
//! names the cause and the `GITHUB_TOKEN` hint; a bad tag or state file is bad input (exit 2).

use std::path::Path;
use std::time::Duration;

use harness::releases::{read_state, PublishedRelease, ReleaseSource, ReleasesError};

use crate::args::Format;
use crate::exit::{self, Exit};

/// Prints the releases `since`/`new_since` asks for.
pub async fn releases(
    since: Option<&str>,
    new_since: Option<&Path>,
    refresh: bool,
    format: Format,
) -> Result<u8, Exit> {
    let fail = |e: ReleasesError| {
        eprintln!("jitsi-harness: {e}");
        Exit(if e.is_infrastructure() {
            exit::INFRASTRUCTURE
        } else {
            exit::BAD_INPUT
        })
    };
    // The pivot first: a bad state file is found before any request.
    let pivot = match (since, new_since) {
        (Some(tag), _) => Some(tag.to_owned()),
        (None, Some(path)) => Some(read_state(path).map_err(fail)?),
        (None, None) => None,
    };
    let mut source = ReleaseSource::from_env();
    if refresh {
        source.ttl = Duration::ZERO;
    }
    let list = source.list().await.map_err(fail)?;
    let shown: Vec<PublishedRelease> = match &pivot {
        Some(tag) => list.newer_than(tag).map_err(fail)?,
        None => list.releases,
    };
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&shown).unwrap_or_else(|_| "[]".into())
        ),
        Format::Text => {
            for r in &shown {
                println!("{:<16} {}", r.tag, r.date);
            }
            if shown.is_empty() {
                if let Some(tag) = &pivot {
                    eprintln!("jitsi-harness: no release newer than {tag}");
                }
            }
        }
    }
    Ok(exit::SAME)
}
