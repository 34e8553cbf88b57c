//! [`EnvValue`]: a container env value as the backends' plans hold it. Secrets stay wrapped, so a plan
//! printed as text, JSON or `Debug` shows `[redacted]`, while the container still gets the real value.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::redact::Secret;

/// An env value; secrets stay wrapped so that printing a plan cannot leak them.
#[derive(Clone, Debug)]
pub enum EnvValue {
    /// Printed as is.
    Plain(String),
    /// Printed as `[redacted]`.
    Secret(Secret),
}

impl EnvValue {
    /// The real value, for the container's env only.
    pub fn expose(&self) -> &str {
        match self {
            EnvValue::Plain(s) => s,
            EnvValue::Secret(s) => s.expose(),
        }
    }
}

impl From<&str> for EnvValue {
    fn from(v: &str) -> Self {
        EnvValue::Plain(v.to_owned())
    }
}

impl From<String> for EnvValue {
    fn from(v: String) -> Self {
        EnvValue::Plain(v)
    }
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Plain(s) => f.write_str(s),
            EnvValue::Secret(s) => write!(f, "{s}"),
        }
    }
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
