//! Images for a docker-jitsi-meet stack: present locally, or pulled from the one registry the plan names
//! (the release's own, or `--registry`), with progress lines for humans and deadlines for a registry that
//! stalls or never ends. There is no fallback to another registry: upstream published each release to
//! exactly one (see `versions::CHANGES`), and a mirror is named with `--registry`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use testcontainers::bollard::query_parameters::CreateImageOptionsBuilder;
use testcontainers::bollard::Docker;

use super::plan::ImageSpec;
use crate::stack::{docker, StackError, StartOptions};

/// No progress message from the engine for this long means a pull is stuck (a registry that accepts the
/// connection and then says nothing). Layer downloads report several times a second.
const PULL_STALL: Duration = Duration::from_secs(60);
/// Upper bound for one image pull: the JVM images are a few hundred MB; 20 minutes is a slow link.
const PULL_DEADLINE: Duration = Duration::from_secs(20 * 60);
/// At most one progress line per image this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
const PULL_HINT: &str = "name a registry that has the images with `--registry PREFIX` (or \
JITSI_HARNESS_REGISTRY; images are PREFIX/<service>:<tag>), or pull them on a machine that can (`docker pull \
IMAGE`, `docker save -o jitsi.tar IMAGE...`) and load them here (`docker load -i jitsi.tar`), or build the \
Jitsi-shaped local images (`./just jitsi-images`, then `--registry jitsi-harness.local/jitsi`), or run on the \
fixture stack (`--stack fixture:13`)";

/// Makes sure `image` is present locally, pulling it from its registry if it is not.
pub(super) async fn ensure_image(
    docker: &Docker,
    image: &ImageSpec,
    options: &StartOptions,
) -> Result<(), StackError> {
    let reference = image.reference();
    if docker::image_present(docker, &reference).await? {
        return Ok(());
    }
    options.progress(&format!("pulling {reference}"));
    pull(docker, &image.repository, &image.tag, options)
        .await
        .map_err(|reason| {
            options.progress(&format!("pulling {reference} failed: {reason}"));
            StackError::Pull {
                image: reference.clone(),
                tried: format!("registry {}: {reason}", image.registry()),
                hint: PULL_HINT.into(),
            }
        })
}

/// Pulls `repository:tag`, reporting layer progress at most every [`PROGRESS_EVERY`].
async fn pull(
    docker: &Docker,
    repository: &str,
    tag: &str,
    options: &StartOptions,
) -> Result<(), String> {
    let reference = format!("{repository}:{tag}");
    let request = CreateImageOptionsBuilder::new()
        .from_image(repository)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(request), None, None);
    let started = Instant::now();
    let mut last_report = Instant::now();
    // Layer id → (status, current bytes, total bytes).
    let mut layers: BTreeMap<String, (String, i64, i64)> = BTreeMap::new();
    loop {
        let left = PULL_DEADLINE.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(format!(
                "not finished within {} min",
                PULL_DEADLINE.as_secs() / 60
            ));
        }
        let next = match tokio::time::timeout(PULL_STALL.min(left), stream.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Err(format!(
                    "no progress for {} s",
                    PULL_STALL.min(left).as_secs()
                ))
            }
        };
        match next {
            None => {
                options.progress(&format!("pulled {reference}"));
                return Ok(());
            }
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(info)) => {
                if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                    return Err(detail);
                }
                if let Some(id) = info.id {
                    let entry = layers.entry(id).or_default();
                    if let Some(status) = info.status {
                        entry.0 = status;
                    }
                    if let Some(p) = info.progress_detail {
                        entry.1 = p.current.unwrap_or(entry.1);
                        entry.2 = p.total.unwrap_or(entry.2);
                    }
                }
                if last_report.elapsed() >= PROGRESS_EVERY && !layers.is_empty() {
                    last_report = Instant::now();
                    let done = layers
                        .values()
                        .filter(|(s, _, _)| s.contains("complete") || s.contains("exists"))
                        .count();
                    let (current, total) = layers
                        .values()
                        .fold((0i64, 0i64), |(c, t), (_, lc, lt)| (c + lc, t + lt));
                    options.progress(&format!(
                        "pulling {reference}: {done}/{} layers done, {} of {} MB in flight",
                        layers.len(),
                        current / 1_000_000,
                        total / 1_000_000
                    ));
                }
            }
        }
    }
}
