//! `jitsi-harness token`: a valid token for a room of a stack kept by `--keep-stack`, so a person can join
//! the same live room in a browser. The one place a full token is printed, on explicit request, to stdout
//! only; the stack's secret itself is never printed.

use harness::stack::{kept, StackTarget};
use harness::token::{self, SigningKey, TokenOverrides, TokenRequest, UserInfo};

use crate::exit::{self, Exit};

/// Prints a token for `name` in `room` of the kept stack `stack` (under `variant` when several are kept),
/// with `context.user.moderator = true` when `moderator`.
pub async fn token(
    stack: &str,
    variant: Option<&str>,
    room: &str,
    name: &str,
    moderator: bool,
) -> Result<u8, Exit> {
    let target: StackTarget = stack.parse().map_err(|e| {
        eprintln!("jitsi-harness: {e}");
        Exit(exit::BAD_INPUT)
    })?;
    let signing = kept::signing(&target, variant).await.map_err(|e| {
        eprintln!("jitsi-harness: {e}");
        match e {
            kept::KeptError::Docker(_) => Exit(exit::INFRASTRUCTURE),
            _ => Exit(exit::BAD_INPUT),
        }
    })?;
    let request = TokenRequest::new(
        signing.app_id.clone(),
        signing.domain.clone(),
        room.to_owned(),
        UserInfo::new(format!("{name}-by-hand"), name.to_owned()),
    );
    let mut overrides = TokenOverrides::default();
    if moderator {
        overrides.claims.insert(
            "context.user.moderator".into(),
            serde_json::Value::Bool(true),
        );
    }
    let minted =
        token::mint(&SigningKey::Hs256(signing.secret), &request, &overrides).map_err(|e| {
            eprintln!("jitsi-harness: minting a token for {}: {e}", signing.stack);
            Exit(exit::BAD_INPUT)
        })?;
    eprintln!(
        "jitsi-harness: a token for {name} in room {room} of {} (valid for an hour; `?jwt=` in the web URL, `&token=` on the WebSocket)",
        signing.stack
    );
    println!("{}", minted.expose());
    Ok(exit::SAME)
}
