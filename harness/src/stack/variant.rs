//! Stack variants: named deployment profiles with docker-jitsi-meet meanings, defined once in
//! `scenarios/variants.toml` and shared by every backend.
//!
//! A variant says *what* is deployed (JWT on, jicofo authentication off, auto-owner on, …); each backend
//! turns it into its own configuration (`stack::fixture` into fixture env, `stack::jitsi` into the env of a
//! given release, through `versions`). A knob a backend or a release cannot express is an error, never a
//! silent approximation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One deployment profile. Field names are the knob names in `variants.toml`; an unknown knob is an error
/// that lists the valid ones (serde's `deny_unknown_fields`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Filled from the table name in `variants.toml`.
    #[serde(skip_deserializing, default)]
    pub name: String,
    /// What this profile is and where it comes from (a bug report, a docker-jitsi-meet default).
    pub description: String,
    /// `ENABLE_AUTH=1` + `AUTH_TYPE=jwt`: the main domain requires a JWT (`JWT_APP_ID`/`JWT_APP_SECRET`).
    pub jwt: bool,
    /// `JWT_ALLOW_EMPTY`: a connection without a token logs in on the main domain.
    #[serde(default)]
    pub allow_empty_token: bool,
    /// `JICOFO_ENABLE_AUTH`: jicofo's AuthenticationRoleManager (every authenticated user is owner).
    /// Unset: follows `ENABLE_AUTH` as docker-jitsi-meet does.
    #[serde(default)]
    pub jicofo_auth: Option<bool>,
    /// `ENABLE_AUTO_OWNER`: jicofo's AutoOwnerRoleManager. Unset: jicofo's default (on).
    #[serde(default)]
    pub auto_owner: Option<bool>,
    /// `ENABLE_GUESTS`: an anonymous guest domain next to the token domain.
    #[serde(default)]
    pub guests: bool,
    /// Prosody's `token_affiliation` MUC module (owner from the JWT `moderator`/`affiliation` claim).
    #[serde(default)]
    pub token_affiliation: bool,
    /// Prosody's `muc_wait_for_host` MUC module (guests wait until a token holder joins).
    #[serde(default)]
    pub wait_for_host: bool,
    /// `ENABLE_LOBBY`. Unset: the release's default.
    #[serde(default)]
    pub lobby: Option<bool>,
    /// `WAIT_FOR_HOST_DISABLE_AUTO_OWNERS` (docker-jitsi-meet stable-10655+; the fix of jitsi-meet#16297):
    /// `muc_wait_for_host` stops making every token user owner on join. Only meaningful with `wait_for_host`.
    #[serde(default)]
    pub wait_for_host_disable_auto_owners: bool,
    /// `PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT` (docker-jitsi-meet stable-10978+, off by default):
    /// Prosody's `muc_resource_validate` refuses an anonymous or token user whose nick is not the first 8
    /// characters of its JID's local part ("Invalid anonymous user ID", jitsi/jitsi-meet
    /// `resources/prosody-plugins/mod_muc_resource_validate.lua`).
    #[serde(default)]
    pub anonymous_strict: bool,
    /// Fault injection, only the fixture's focus stand-in implements it.
    #[serde(default)]
    pub faults: Faults,
    /// A folder of the team's own Prosody modules (`jitsi:` stacks), mounted read-only where
    /// docker-jitsi-meet's prosody image looks for them ([`crate::versions::CUSTOM_PLUGINS_DIR`]). A relative
    /// path is relative to the folder of `variants.toml`.
    #[serde(default)]
    pub prosody_plugins: Option<PathBuf>,
    /// `XMPP_MUC_MODULES`: more modules on the conference MUC component (e.g. a module of
    /// `prosody_plugins`), after the ones other knobs add.
    #[serde(default)]
    pub xmpp_muc_modules: Vec<String>,
    /// `XMPP_MODULES`: more modules on the main VirtualHost, after the ones other knobs add.
    #[serde(default)]
    pub xmpp_modules: Vec<String>,
    /// `ENABLE_AUTH=1` + `AUTH_TYPE=internal` (docker-jitsi-meet's "secure domain"): accounts registered on
    /// the main domain log in with a password (scenario `login = "password"`); with `guests`, anonymous
    /// guests on the guest domain. Exclusive with `jwt`.
    #[serde(default)]
    pub internal_auth: bool,
}

/// Fault knobs of the fixture's focus stand-in (env `FOCUS_GRANT_DELAY_MS`, `FOCUS_NOT_READY_TIMES`,
/// `FOCUS_EVERY_JOINER_OWNER`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Delay every owner grant by this many milliseconds.
    #[serde(default)]
    pub grant_delay_ms: u64,
    /// Answer `ready='false'` to the first N conference requests of each room.
    #[serde(default)]
    pub not_ready_times: u32,
    /// Let anyone create a room, without the focus (plain Prosody's default; Jitsi restricts room
    /// creation to jicofo). For benchmarks whose clients skip the focus request.
    #[serde(default)]
    pub open_rooms: bool,
    /// Test-only (env `FOCUS_FLAP_MS`): after each grant the focus revokes owner this many milliseconds
    /// later and grants it again as long after that, a role flap (jitsi-meet#14192) for `no_flaps`.
    #[serde(default)]
    pub flap_ms: u64,
    /// Grant owner to every member that joins, whatever the role manager: a regression as a release
    /// could bring it, for tests that the harness reports it as `changed` (never `failed`).
    #[serde(default)]
    pub every_joiner_owner: bool,
    /// Test-only: the faults apply only on this stack (`fixture:13`), so that one side of a multi-stack
    /// run changes behaviour and the cross-stack comparison has a difference to name. Unset: every stack.
    #[serde(default)]
    pub only_on: Option<String>,
}

impl Faults {
    /// Whether no fault is injected.
    pub fn is_none(&self) -> bool {
        self == &Faults::default()
    }

    /// The faults that apply on `stack` (`fixture:13`): all of them, or none when [`Self::only_on`]
    /// names another stack.
    pub fn on(&self, stack: &str) -> Faults {
        match &self.only_on {
            Some(only) if only != stack => Faults::default(),
            _ => Faults {
                only_on: None,
                ..self.clone()
            },
        }
    }
}

impl Variant {
    /// Whether the variant loads Prosody modules of its own (`prosody_plugins`, `xmpp_muc_modules`,
    /// `xmpp_modules`).
    pub fn has_custom_modules(&self) -> bool {
        self.prosody_plugins.is_some()
            || !self.xmpp_muc_modules.is_empty()
            || !self.xmpp_modules.is_empty()
    }

    /// Whether jicofo (or the focus stand-in) runs its AuthenticationRoleManager.
    pub fn effective_jicofo_auth(&self) -> bool {
        self.jicofo_auth.unwrap_or(self.jwt || self.internal_auth)
    }

    /// `ENABLE_AUTH`: the main domain requires a login (a JWT, or a registered account's password).
    pub fn enable_auth(&self) -> bool {
        self.jwt || self.internal_auth
    }
}

/// All variants of a `variants.toml`, by name.
#[derive(Clone, Debug, Default)]
pub struct Variants {
    /// The file they came from.
    pub path: PathBuf,
    /// The variants, by name.
    pub by_name: BTreeMap<String, Variant>,
}

/// Why `variants.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    /// The file could not be read.
    #[error("cannot read variants file `{path}`")]
    Read {
        /// The variants file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, or has an unknown key.
    #[error("invalid variants file `{path}`: {message}")]
    Parse {
        /// The variants file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A variant's name cannot name a folder or a snapshot ([`crate::paths::check_name`]).
    #[error(
        "{}:{line}:{col}: invalid variant name: {problem}\n  help: a variant names artifact folders and \
         snapshots (`NAME@VARIANT.snap`); rename the table, e.g. [{suggestion}]",
        path.display()
    )]
    Name {
        /// The variants file.
        path: PathBuf,
        /// 1-based line of the table name.
        line: usize,
        /// 1-based column of the table name.
        col: usize,
        /// What is wrong with the name.
        problem: crate::paths::NameError,
        /// A name that follows the rule.
        suggestion: String,
    },
    /// No variant has this name.
    #[error("unknown variant `{name}` (known: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names there are, comma-separated.
        known: String,
    },
}

impl Variants {
    /// Reads and checks a variants file.
    pub fn load(path: &Path) -> Result<Variants, VariantError> {
        let text = std::fs::read_to_string(path).map_err(|source| VariantError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of a variants file; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Variants, VariantError> {
        let raw: BTreeMap<toml::Spanned<String>, Variant> =
            toml::from_str(text).map_err(|e| VariantError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let mut by_name = BTreeMap::new();
        for (name, mut v) in raw {
            if let Err(problem) = crate::paths::check_name(name.get_ref()) {
                let (line, col) = line_col(text, name.span().start);
                return Err(VariantError::Name {
                    path: path.to_owned(),
                    line,
                    col,
                    problem,
                    suggestion: suggest_name(name.get_ref()),
                });
            }
            v.name = name.get_ref().clone();
            check_custom_modules(path, text, &name, &mut v)?;
            if v.jwt && v.internal_auth {
                return Err(VariantError::Parse {
                    path: path.to_owned(),
                    message: format!(
                        "variant `{}`: `jwt` and `internal_auth` are both set, but AUTH_TYPE is one of them \
                         (jwt or internal); keep one",
                        name.get_ref()
                    ),
                });
            }
            by_name.insert(name.into_inner(), v);
        }
        Ok(Variants {
            path: path.to_owned(),
            by_name,
        })
    }

    /// The variant called `name`.
    pub fn get(&self, name: &str) -> Result<&Variant, VariantError> {
        self.by_name.get(name).ok_or_else(|| VariantError::Unknown {
            name: name.to_owned(),
            known: self.names().join(", "),
        })
    }

    /// The variants' names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

/// Checks the names of `xmpp_muc_modules` / `xmpp_modules` (they become Lua strings in Prosody's config) and
/// resolves a relative `prosody_plugins` against the folder of the variants file.
fn check_custom_modules(
    path: &Path,
    text: &str,
    name: &toml::Spanned<String>,
    v: &mut Variant,
) -> Result<(), VariantError> {
    for (knob, modules) in [
        ("xmpp_muc_modules", &v.xmpp_muc_modules),
        ("xmpp_modules", &v.xmpp_modules),
    ] {
        for module in modules {
            let ok = !module.is_empty()
                && module.len() <= 64
                && module
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                let (line, _) = line_col(text, name.span().start);
                return Err(VariantError::Parse {
                    path: path.to_owned(),
                    message: format!(
                        "variant `{}` (line {line}): `{knob}` names {module:?}, which is not a Prosody module \
                         name (letters, digits, `_` and `-`, at most 64; the module `mod_NAME.lua` is named NAME)",
                        name.get_ref()
                    ),
                });
            }
        }
    }
    if let Some(folder) = &v.prosody_plugins {
        if folder.as_os_str().is_empty() {
            return Err(VariantError::Parse {
                path: path.to_owned(),
                message: format!(
                    "variant `{}`: `prosody_plugins` is empty; name the folder of your Prosody modules",
                    name.get_ref()
                ),
            });
        }
        if folder.is_relative() {
            let base = path.parent().unwrap_or_else(|| Path::new(""));
            v.prosody_plugins = Some(base.join(folder));
        }
    }
    Ok(())
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The nearest name that follows [`crate::paths::check_name`].
fn suggest_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(crate::paths::MAX_NAME_BYTES)
        .collect();
    if out.is_empty() {
        out.push_str("variant");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_scoped_to_one_stack_apply_there_only() {
        let faults = Faults {
            every_joiner_owner: true,
            only_on: Some("fixture:13".into()),
            ..Faults::default()
        };
        assert!(faults.on("fixture:0.12").is_none());
        let on = faults.on("fixture:13");
        assert!(on.every_joiner_owner && on.only_on.is_none());
        let everywhere = Faults {
            grant_delay_ms: 5,
            ..Faults::default()
        };
        assert_eq!(everywhere.on("fixture:0.12"), everywhere);
    }

    #[test]
    fn unknown_knob_lists_the_valid_ones() {
        let err = Variants::parse(
            Path::new("v.toml"),
            "[x]\ndescription = \"d\"\njwt = true\nauto_ownr = true\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("auto_ownr"), "{err}");
        for knob in ["allow_empty_token", "jicofo_auth", "auto_owner", "guests"] {
            assert!(err.contains(knob), "{knob} missing from: {err}");
        }
    }

    #[test]
    fn a_variant_name_that_would_leave_its_folder_is_refused_at_its_line() {
        let text = "[ok]\ndescription = \"\"\njwt = true\n\n[\"../../tmp/y\"]\ndescription = \"\"\njwt = true\n";
        let err = Variants::parse(Path::new("v.toml"), text).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("v.toml:5:2: invalid variant name"),
            "{message}"
        );
        assert!(message.contains("[tmp-y]"), "{message}");
        let long = format!("[{}]\ndescription = \"\"\njwt = true\n", "v".repeat(65));
        let message = Variants::parse(Path::new("v.toml"), &long)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("v.toml:1:2:") && message.contains("65 bytes"),
            "{message}"
        );
    }

    #[test]
    fn effective_roles_follow_docker_defaults() {
        let v = Variants::parse(
            Path::new("v.toml"),
            "[a]\ndescription = \"\"\njwt = true\n[b]\ndescription = \"\"\njwt = true\njicofo_auth = false\n",
        )
        .unwrap();
        let a = v.get("a").unwrap();
        assert!(a.effective_jicofo_auth());
        let b = v.get("b").unwrap();
        assert!(!b.effective_jicofo_auth());
        assert!(v.get("c").unwrap_err().to_string().contains("known: a, b"));
    }

    #[test]
    fn custom_module_knobs_are_checked_and_the_folder_is_relative_to_the_file() {
        let v = Variants::parse(
            Path::new("scenarios/variants.toml"),
            "[m]\ndescription = \"\"\njwt = true\nprosody_plugins = \"plugins\"\nxmpp_muc_modules = [\"team_mod\"]\n",
        )
        .unwrap();
        let m = v.get("m").unwrap();
        assert_eq!(
            m.prosody_plugins.as_deref(),
            Some(Path::new("scenarios/plugins"))
        );
        assert!(m.has_custom_modules());
        let abs = Variants::parse(
            Path::new("scenarios/variants.toml"),
            "[m]\ndescription = \"\"\njwt = true\nprosody_plugins = \"/srv/p\"\n",
        )
        .unwrap();
        assert_eq!(
            abs.get("m").unwrap().prosody_plugins.as_deref(),
            Some(Path::new("/srv/p"))
        );
        let err = Variants::parse(
            Path::new("v.toml"),
            "[ok]\ndescription = \"\"\njwt = true\n[m]\ndescription = \"\"\njwt = true\nxmpp_modules = [\"evil\\\"; os.exit()\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("variant `m` (line 4)")
                && err.contains("xmpp_modules")
                && err.contains("not a Prosody module name"),
            "{err}"
        );
    }

    #[test]
    fn internal_auth_excludes_jwt_and_turns_auth_on() {
        let v = Variants::parse(
            Path::new("v.toml"),
            "[i]\ndescription = \"\"\njwt = false\ninternal_auth = true\nguests = true\n",
        )
        .unwrap();
        let i = v.get("i").unwrap();
        assert!(i.enable_auth() && i.effective_jicofo_auth());
        let err = Variants::parse(
            Path::new("v.toml"),
            "[both]\ndescription = \"\"\njwt = true\ninternal_auth = true\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`jwt` and `internal_auth`"), "{err}");
    }
}
