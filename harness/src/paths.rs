//! Names that become paths, and the one function that builds every path the harness writes.
//!
//! A scenario, a participant, a variant, an external deployment and a stack target each name a file or
//! a folder (artifacts, transcripts, snapshots, deployment files). [`check_name`] is the one rule for such
//! a name, checked where the name is read (scenario files, `variants.toml`, `--stack`) so that the user
//! sees `file:line:col` and a hint; [`join`] is the one way to put names under a root, and refuses
//! anything that would leave it, so a name that slipped past a parser still cannot write elsewhere.

use std::path::{Component, Path, PathBuf};

/// The longest name, in bytes. Names end up in file names together with suffixes
/// (`NAME@VARIANT.snap.new`, `NAME-2.xmpp.log`); 64 bytes each keeps those far below the 255-byte file
/// name limit of common file systems (ext4, xfs, btrfs, tmpfs: `NAME_MAX` = 255).
pub const MAX_NAME_BYTES: usize = 64;

/// The rule, for messages.
pub const NAME_RULE: &str =
    "1 to 64 ASCII letters, digits, `_`, `-` and `.`, starting with a letter or digit";

/// Why a name cannot name a file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("the name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`].
    #[error("`{shown}` is {len} bytes long, more than {MAX_NAME_BYTES}")]
    TooLong {
        /// The start of the name.
        shown: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The name has a character outside the rule (a separator, `..` at its start, NUL, a space, …).
    #[error("`{name}` has {what}; a name is {NAME_RULE}")]
    Character {
        /// The name, with control characters escaped.
        name: String,
        /// What is wrong, e.g. "a path separator `/`".
        what: String,
    },
}

/// Checks `name` against the one rule for names that become paths: [`NAME_RULE`]. This refuses `..`,
/// `.`, hidden names, separators, absolute paths, NUL and other control characters, spaces and
/// anything longer than [`MAX_NAME_BYTES`].
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        let shown: String = name.chars().take(24).collect();
        return Err(NameError::TooLong {
            shown: format!("{}…", shown.escape_debug()),
            len: name.len(),
        });
    }
    let bad = |what: String| NameError::Character {
        name: name.escape_debug().to_string(),
        what,
    };
    let mut chars = name.chars();
    if let Some(first) = chars.next() {
        if !first.is_ascii_alphanumeric() {
            return Err(bad(format!(
                "`{}` as its first character",
                first.escape_debug()
            )));
        }
    }
    for c in chars {
        if !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
            let what = match c {
                '/' | '\\' => format!("a path separator `{c}`"),
                '\0' => "a NUL character".to_owned(),
                c if c.is_control() => format!("a control character `{}`", c.escape_debug()),
                ' ' => "a space".to_owned(),
                c => format!("the character `{c}`"),
            };
            return Err(bad(what));
        }
    }
    Ok(())
}

/// Why a path could not be built under its root.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("refusing to write `{part}` under `{root}`: {problem}")]
pub struct PathError {
    /// The root the path had to stay in.
    pub root: PathBuf,
    /// The offending part, escaped.
    pub part: String,
    /// What is wrong with it.
    pub problem: String,
}

/// `root/part/part/…`, where each part is one file or folder name built from checked names (e.g.
/// `alice.xmpp.log`, `auto_owner@jwt-auto-owner.snap`). Every path the harness writes under an
/// artifacts, snapshots or deployment root is built here; a part that is empty, `.` or `..`, absolute,
/// holds a separator or NUL, or is longer than a file name may be (255 bytes) is refused, so the result
/// never leaves `root`.
pub fn join(root: &Path, parts: &[&str]) -> Result<PathBuf, PathError> {
    let mut path = root.to_path_buf();
    for part in parts {
        let refuse = |problem: &str| PathError {
            root: root.to_path_buf(),
            part: part.escape_debug().to_string(),
            problem: problem.to_owned(),
        };
        if part.is_empty() {
            return Err(refuse("an empty name"));
        }
        if part.len() > 255 {
            return Err(refuse("longer than a file name may be (255 bytes)"));
        }
        if part.contains(['/', '\\', '\0']) {
            return Err(refuse("a path separator or NUL in a name"));
        }
        let mut components = Path::new(part).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(_)), None) => {}
            _ => return Err(refuse("not a plain file name (`.`, `..` or absolute)")),
        }
        path.push(part);
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_their_folder_are_refused() {
        for ok in [
            "alice",
            "jwt-auto-owner",
            "0.12",
            "stable-11146",
            "a_b.c",
            "B0b",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        for bad in [
            "",
            "..",
            ".",
            ".hidden",
            "../../tmp/y",
            "/tmp/x",
            "a/b",
            "a\\b",
            "a\0b",
            "a b",
            "a\nb",
            "é",
            long.as_str(),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} passed");
        }
        assert!(check_name("/tmp/x")
            .unwrap_err()
            .to_string()
            .contains("first character"));
        assert!(check_name("a/b")
            .unwrap_err()
            .to_string()
            .contains("path separator"));
        assert!(check_name(&long)
            .unwrap_err()
            .to_string()
            .contains("65 bytes"));
    }

    #[test]
    fn join_never_leaves_its_root() {
        let root = Path::new("/r");
        assert_eq!(
            join(root, &["fixture-13", "alice.xmpp.log"]).unwrap(),
            Path::new("/r/fixture-13/alice.xmpp.log")
        );
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "/tmp/x.xmpp.log",
            "../../tmp/y",
            "a/b",
            "a\\b",
            "a\0",
            long.as_str(),
        ] {
            let e = join(root, &["ok", bad]).unwrap_err();
            assert_eq!(e.root, root, "{bad:?}");
        }
    }
}
