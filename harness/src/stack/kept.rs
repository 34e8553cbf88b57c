//! Stacks a `--keep-stack` run left running, as the `token` command needs them: which one is meant, and
//! the token settings its Prosody reads from its env (`JWT_APP_ID`, `JWT_APP_SECRET`, `XMPP_DOMAIN`, as
//! docker-jitsi-meet's prosody image and the fixture's do). Nothing here prints the secret.

use std::collections::{BTreeMap, HashMap};

use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;

use super::docker::{self, DockerError, LABEL_KEEP, LABEL_RUN, LABEL_STACK};
use super::StackTarget;
use crate::redact::Secret;

/// How a kept stack's Prosody checks tokens: enough to mint a valid one.
#[derive(Debug)]
pub struct KeptSigning {
    /// The stack label, `fixture:13/jwt-auto-owner`.
    pub stack: String,
    /// `JWT_APP_ID`: the tokens' `iss` (and `aud` default).
    pub app_id: String,
    /// `XMPP_DOMAIN`: the tokens' `sub`.
    pub domain: String,
    /// `JWT_APP_SECRET`: the HS256 key.
    pub secret: Secret,
}

/// Why no kept stack's token settings could be read.
#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    /// The engine could not be asked.
    #[error(transparent)]
    Docker(#[from] DockerError),
    /// No kept stack matches.
    #[error("no stack kept by `--keep-stack` is {wanted}{}; run `jitsi-harness run --keep-stack --stack {target}` first", if kept.is_empty() { String::new() } else { format!(" (kept: {})", kept.join(", ")) })]
    NotFound {
        /// What was asked for (`fixture:13`, `fixture:13/jwt-auto-owner`).
        wanted: String,
        /// The target, for the hint.
        target: String,
        /// The kept stacks there are.
        kept: Vec<String>,
    },
    /// Several kept stacks match.
    #[error("several kept stacks match {wanted}: {}; name one with --variant, or remove the others with `jitsi-harness clean --kept`", found.join(", "))]
    Ambiguous {
        /// What was asked for.
        wanted: String,
        /// The matching stacks (stack label and run id).
        found: Vec<String>,
    },
    /// The stack's Prosody has no HS256 secret in its env (an RS256 stack, or an unexpected image).
    #[error("{stack}: its Prosody container has no {missing} in its env, so the harness cannot sign a token for it (RS256 stacks sign with a key only the run had)")]
    NoSecret {
        /// The stack label.
        stack: String,
        /// The env variable that is missing.
        missing: &'static str,
    },
}

/// The token settings of the one kept stack of `target` (under `variant`, if given).
pub async fn signing(
    target: &StackTarget,
    variant: Option<&str>,
) -> Result<KeptSigning, KeptError> {
    let docker = docker::connect().await?;
    let filters: HashMap<&str, Vec<&str>> = HashMap::from([("label", vec![LABEL_KEEP])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(false)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|source| DockerError::Api {
            op: "list containers".into(),
            source,
        })?;
    let wanted = match variant {
        Some(v) => format!("{target}/{v}"),
        None => target.to_string(),
    };
    // (run, stack) → container ids
    let mut stacks: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut kept = Vec::new();
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let (Some(run), Some(stack), Some(id)) =
            (labels.get(LABEL_RUN), labels.get(LABEL_STACK), c.id)
        else {
            continue;
        };
        kept.push(stack.clone());
        let matches = match variant {
            Some(_) => stack == &wanted,
            None => stack.starts_with(&format!("{target}/")),
        };
        if matches {
            stacks
                .entry((run.clone(), stack.clone()))
                .or_default()
                .push(id);
        }
    }
    kept.sort();
    kept.dedup();
    let ((_, stack), ids) = match stacks.len() {
        0 => {
            return Err(KeptError::NotFound {
                wanted,
                target: target.to_string(),
                kept,
            })
        }
        1 => stacks.into_iter().next().ok_or(KeptError::NotFound {
            wanted: wanted.clone(),
            target: target.to_string(),
            kept: Vec::new(),
        })?,
        _ => {
            return Err(KeptError::Ambiguous {
                wanted,
                found: stacks
                    .keys()
                    .map(|(run, stack)| format!("{stack} (run {run})"))
                    .collect(),
            })
        }
    };
    for id in ids {
        let inspect = docker
            .inspect_container(&id, None)
            .await
            .map_err(|source| DockerError::Api {
                op: format!("inspect container {id}"),
                source,
            })?;
        let env: HashMap<String, String> = inspect
            .config
            .and_then(|c| c.env)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        let Some(secret) = env.get("JWT_APP_SECRET") else {
            continue;
        };
        let app_id = env.get("JWT_APP_ID").ok_or_else(|| KeptError::NoSecret {
            stack: stack.clone(),
            missing: "JWT_APP_ID",
        })?;
        // docker-jitsi-meet's prosody image defaults `XMPP_DOMAIN` (the harness's Jitsi plan leaves it so).
        let domain = env
            .get("XMPP_DOMAIN")
            .map(String::as_str)
            .unwrap_or(super::jitsi::plan::XMPP_DOMAIN);
        return Ok(KeptSigning {
            stack,
            app_id: app_id.clone(),
            domain: domain.to_owned(),
            secret: Secret::new(secret.clone()),
        });
    }
    Err(KeptError::NoSecret {
        stack,
        missing: "JWT_APP_SECRET",
    })
}
