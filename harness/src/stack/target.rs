//! Naming a stack: [`StackTarget`] is what `--stack` says (`fixture:13`, `jitsi:stable-11146`,
//! `external:NAME`), parsed and checked here before anything starts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which kind of deployment. Snapshots of different families are never mixed: each family
/// has its own folder, `snapshots/<family>/` (see `crate::snapshot::path`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Real Prosody plus the focus stand-in, built locally (`fixture:0.12`, `fixture:13`).
    Fixture,
    /// docker-jitsi-meet at a release tag (`jitsi:stable-11146`).
    Jitsi,
    /// A deployment the harness did not start (`external:NAME`).
    External,
}

impl Family {
    /// The family as written in a target: `fixture`, `jitsi`, `external`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Fixture => "fixture",
            Family::Jitsi => "jitsi",
            Family::External => "external",
        }
    }
}

/// A stack to run on, as written on the command line: `fixture:0.12`, `fixture:13`,
/// `jitsi:stable-11146`, `jitsi:unstable-2026-11-01`, `external:NAME`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StackTarget {
    /// Which kind of deployment.
    pub family: Family,
    /// The version within the family: the Prosody series, the docker-jitsi-meet tag, the external name.
    pub version: String,
}

impl fmt::Display for StackTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.family.as_str(), self.version)
    }
}

/// Why a stack target could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid stack `{input}`: {reason}")]
pub struct StackTargetError {
    /// What was written.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Prosody series the fixture stack has images for.
pub const FIXTURE_VERSIONS: &[&str] = &["0.12", "13"];

impl FromStr for StackTarget {
    type Err = StackTargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| StackTargetError {
            input: s.to_owned(),
            reason,
        };
        let (family, version) = s.split_once(':').ok_or_else(|| {
            err(
                "expected FAMILY:VERSION, e.g. fixture:13, jitsi:stable-11146, external:NAME"
                    .into(),
            )
        })?;
        let family = match family {
            "fixture" => Family::Fixture,
            "jitsi" => Family::Jitsi,
            "external" => Family::External,
            other => {
                return Err(err(format!(
                    "unknown family `{other}` (expected fixture, jitsi or external)"
                )))
            }
        };
        match family {
            Family::Fixture if !FIXTURE_VERSIONS.contains(&version) => {
                return Err(err(format!(
                    "the fixture stack has Prosody {} (got `{version}`)",
                    FIXTURE_VERSIONS.join(" and ")
                )))
            }
            Family::Jitsi => {
                crate::versions::Release::from_str(version).map_err(|e| err(e.to_string()))?;
            }
            _ if version.is_empty() => return Err(err("the version part is empty".into())),
            // The name of an external deployment names its file (`NAME.toml`) and the artifacts folder.
            Family::External => crate::paths::check_name(version).map_err(|e| {
                err(format!(
                    "{e}; external:NAME reads NAME.toml from the deployment folder"
                ))
            })?,
            _ => {}
        }
        Ok(StackTarget {
            family,
            version: version.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print_back() {
        for text in [
            "fixture:0.12",
            "fixture:13",
            "jitsi:stable-11146",
            "external:staging",
        ] {
            let t: StackTarget = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
        }
        let t: StackTarget = "jitsi:stable-11146".parse().unwrap();
        assert_eq!(
            (t.family, t.version.as_str()),
            (Family::Jitsi, "stable-11146")
        );
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        let cases = [
            ("fixture", "expected FAMILY:VERSION"),
            ("docker:13", "unknown family `docker`"),
            ("fixture:14", "Prosody 0.12 and 13"),
            ("external:", "the version part is empty"),
            ("external:../../etc/passwd", "first character"),
            ("external:a/b", "path separator"),
        ];
        for (input, needle) in cases {
            let e = input.parse::<StackTarget>().unwrap_err();
            assert_eq!(e.input, input);
            assert!(e.to_string().contains(needle), "{input}: {e}");
        }
        assert!("jitsi:banana".parse::<StackTarget>().is_err());
    }
}
