//! Per-release facts of docker-jitsi-meet (TODO).
use std::str::FromStr;

/// A docker-jitsi-meet tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release(pub String);

#[derive(Debug, thiserror::Error)]
#[error("unknown release form `{0}`")]
pub struct ReleaseError(pub String);

impl FromStr for Release {
    type Err = ReleaseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Release(s.to_owned()))
    }
}
