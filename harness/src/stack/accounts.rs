//! Registered accounts of `internal_auth` stacks (docker-jitsi-meet's "secure domain", `AUTH_TYPE=internal`):
//! a participant that logs in with a password (`login = "password"`) gets an account named like it on the
//! main domain, registered on first use the way docker-jitsi-meet's README says to add users:
//! `prosodyctl --config <the prosody config> register USER DOMAIN PASSWORD`, run in the prosody container.
//! The password is random per stack and account and never printed ([`Secret`]).

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::core::{CmdWaitFor, ExecCommand};
use testcontainers::{ContainerAsync, GenericImage};

use super::StackError;
use crate::redact::Secret;
use crate::xmpp::websocket::Credentials;

/// How long one `prosodyctl register` may take (it starts a Lua interpreter and writes one file).
const REGISTER_DEADLINE: Duration = Duration::from_secs(20);

/// The accounts registered on one stack, by user name.
#[derive(Debug, Default)]
pub(crate) struct Accounts(tokio::sync::Mutex<HashMap<String, Secret>>);

/// Where and how to register: the prosody container, its config file and the main domain.
pub(crate) struct Registrar<'a> {
    /// The prosody container.
    pub container: &'a ContainerAsync<GenericImage>,
    /// Its name, for messages.
    pub name: &'a str,
    /// `--config` of prosodyctl.
    pub config: &'a str,
    /// The XMPP domain accounts live on.
    pub domain: &'a str,
}

impl Accounts {
    /// The credentials of `user`, registering the account on first use.
    pub async fn get(&self, user: &str, at: Registrar<'_>) -> Result<Credentials, StackError> {
        let mut known = self.0.lock().await;
        if let Some(password) = known.get(user) {
            return Ok(Credentials {
                username: user.to_owned(),
                password: password.clone(),
            });
        }
        let password = Secret::random(24);
        register(&at, user, &password).await?;
        known.insert(user.to_owned(), password.clone());
        Ok(Credentials {
            username: user.to_owned(),
            password,
        })
    }
}

async fn register(at: &Registrar<'_>, user: &str, password: &Secret) -> Result<(), StackError> {
    let shown = format!(
        "prosodyctl --config {} register {user} {} [password]",
        at.config, at.domain
    );
    let failed = |why: String| StackError::Missing {
        what: format!("{}: `{shown}` failed: {why}", at.name),
        hint:
            "the account for a `login = \"password\"` participant could not be registered; see the \
               prosody log in the artifacts folder"
                .into(),
    };
    let command = ExecCommand::new([
        "prosodyctl",
        "--config",
        at.config,
        "register",
        user,
        at.domain,
        password.expose(),
    ])
    .with_cmd_ready_condition(CmdWaitFor::exit());
    let run = async {
        let mut result = at
            .container
            .exec(command)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let code = result
            .exit_code()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if code == Some(0) {
            return Ok(());
        }
        let stderr = result.stderr_to_vec().await.unwrap_or_default();
        let stdout = result.stdout_to_vec().await.unwrap_or_default();
        let said = crate::redact::scrub(&format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ))
        .replace(password.expose(), "[redacted]");
        Err(failed(format!("exit code {code:?}: {}", said.trim())))
    };
    tokio::time::timeout(REGISTER_DEADLINE, run)
        .await
        .map_err(|_| {
            failed(format!(
                "no answer within {} s",
                REGISTER_DEADLINE.as_secs()
            ))
        })?
}
