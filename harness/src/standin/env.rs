//! The container env, read the way docker-jitsi-meet's templates read it.
//!
//! The images render their config with jitsi/tpl (`main.go@v1.5.0`, `func.go@v1.5.0`): a missing variable
//! renders empty, `default X` substitutes when the value is empty (so `VAR=` behaves like unset), and
//! `toBool` strips every `"` and `'` and then applies Go's `strconv.ParseBool`: `1 t T TRUE true True` are
//! true, `0 f F FALSE false False` are false, and **any other non-empty string is true** (`yes`, `on`, `no`,
//! a secret); empty is false.

use std::collections::HashMap;

/// The env a stand-in reads: the process env, or a fixed map in tests.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process env.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }

    /// A fixed env (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// `.Env.NAME`: the value, empty when unset.
    pub fn raw(&self, name: &str) -> &str {
        self.vars.get(name).map(String::as_str).unwrap_or("")
    }

    /// Whether `.Env.NAME` is non-empty (a template's `{{ if .Env.NAME }}`).
    pub fn is_set(&self, name: &str) -> bool {
        !self.raw(name).is_empty()
    }

    /// `.Env.NAME | default "value"`.
    pub fn or(&self, name: &str, default: &str) -> String {
        match self.raw(name) {
            "" => default.to_owned(),
            v => v.to_owned(),
        }
    }

    /// `.Env.NAME | default "value" | toBool`.
    pub fn bool_or(&self, name: &str, default: &str) -> bool {
        to_bool(&self.or(name, default))
    }
}

/// tpl's `toBool` (`func.go@v1.5.0`).
pub fn to_bool(value: &str) -> bool {
    let stripped: String = value.chars().filter(|c| *c != '"' && *c != '\'').collect();
    match stripped.as_str() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
        "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
        "" => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_bool_is_go_parse_bool_after_stripping_quotes_and_true_for_anything_else() {
        for t in ["1", "t", "T", "TRUE", "true", "True", "\"1\"", "'true'"] {
            assert!(to_bool(t), "{t}");
        }
        for f in [
            "0", "f", "F", "FALSE", "false", "False", "\"0\"", "'false'", "", "\"\"",
        ] {
            assert!(!to_bool(f), "{f:?}");
        }
        // Not ParseBool's: any other non-empty string is true, including "no" and "off".
        for other in ["yes", "on", "no", "off", "fAlse", "2", " 0"] {
            assert!(to_bool(other), "{other:?}");
        }
    }

    #[test]
    fn default_applies_to_empty_as_to_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "x")]);
        assert_eq!(env.or("A", "d"), "d");
        assert_eq!(env.or("UNSET", "d"), "d");
        assert_eq!(env.or("B", "d"), "x");
        assert!(!env.is_set("A"));
        assert!(env.is_set("B"));
        assert!(env.bool_or("A", "1"));
        assert!(!env.bool_or("UNSET", "0"));
    }
}
