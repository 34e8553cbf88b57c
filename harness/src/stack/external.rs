//! An existing Jitsi deployment (staging, a colleague's laptop): no containers, just its endpoints and the
//! key that signs valid tokens for it. For engineers reproducing a bug where it happens.
//!
//! In: target `external:<name>`. The configuration is the TOML file `<dir>/<name>.toml`, where `<dir>` is
//! the directory named by env `JITSI_HARNESS_EXTERNAL`, else `scenarios/external` under the current
//! directory (next to the scenarios, so a team can commit its staging description; secrets never go in
//! the file). Out: [`Endpoints`] after checking that the WebSocket endpoint answers.
//!
//! ```toml
//! description = "our staging shard"
//! # The variants (scenarios/variants.toml) this deployment is configured as; scenarios of others are
//! # skipped with the reason (`skip_reason`), never started.
//! variants = ["jwt-auto-owner"]
//! websocket = "wss://meet.example.org/xmpp-websocket"
//! bosh = "https://meet.example.org/http-bind"      # optional: derived from `websocket`
//! web = "https://meet.example.org"                 # optional: for browsers
//! jicofo_rest = "http://127.0.0.1:8888"            # optional: e.g. through an ssh tunnel
//! insecure_tls = false                             # optional: accept self-signed certificates
//!
//! [domains]
//! domain = "meet.example.org"                      # main (token) XMPP domain
//! muc = "conference.meet.example.org"
//! focus = "focus.meet.example.org"                 # optional: focus.<domain>
//! guest = "guest.meet.example.org"                 # optional
//!
//! [token]
//! algorithm = "HS256"
//! app_id = "my-app"                                # the deployment's JWT_APP_ID, the tokens' iss
//! secret_env = "STAGING_JWT_SECRET"                # env variable holding the app secret
//! # or: algorithm = "RS256", app_id = "…", private_key_file = "keys/staging.pem" (relative to this
//! # file), kid = "staging/key-1"
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Url;
use serde::Deserialize;

use super::ready::{self, Ready};
use super::{ClientFacts, Endpoints, StackError, StackTarget, StartOptions, Variant};
use crate::redact::Secret;
use crate::token::SigningKey;

/// Env variable naming the directory of external deployment files.
pub(crate) const DIR_ENV: &str = "JITSI_HARNESS_EXTERNAL";
/// Directory used when [`DIR_ENV`] is unset (relative to the current directory).
pub(crate) const DEFAULT_DIR: &str = "scenarios/external";
/// Upper bound for the reachability check (a deployment that needs longer to answer one GET is down).
const REACH_DEADLINE: Duration = Duration::from_secs(15);

/// The file's contents, before secrets are read.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// For the humans who read the file; accepted, not used.
    #[serde(default, rename = "description")]
    _description: String,
    variants: Vec<String>,
    websocket: String,
    #[serde(default)]
    bosh: Option<String>,
    #[serde(default)]
    web: Option<String>,
    #[serde(default)]
    jicofo_rest: Option<String>,
    #[serde(default)]
    insecure_tls: bool,
    domains: RawDomains,
    token: RawToken,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomains {
    domain: String,
    muc: String,
    #[serde(default)]
    focus: Option<String>,
    #[serde(default)]
    guest: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    algorithm: String,
    app_id: String,
    #[serde(default)]
    secret_env: Option<String>,
    #[serde(default)]
    private_key_file: Option<PathBuf>,
    #[serde(default)]
    kid: Option<String>,
}

/// A checked external deployment description (secrets already read, never printed).
#[derive(Clone, Debug)]
pub(crate) struct ExternalConfig {
    /// Variant names this deployment is configured as.
    pub variants: Vec<String>,
    /// Where participants connect, with the signing key.
    pub endpoints: Endpoints,
}

/// What is wrong with an external deployment file, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub(crate) struct ExternalError {
    /// The deployment file.
    pub path: PathBuf,
    /// e.g. "key `token.secret_env`: env variable STAGING_JWT_SECRET is not set".
    pub problem: String,
    /// What to do about it.
    pub hint: String,
}

impl From<ExternalError> for StackError {
    fn from(e: ExternalError) -> Self {
        StackError::Missing {
            what: e.to_string(),
            hint: e.hint,
        }
    }
}

/// The file that describes `external:<name>`: `$JITSI_HARNESS_EXTERNAL/<name>.toml`, else
/// `scenarios/external/<name>.toml`. The name was checked when `--stack` was parsed
/// ([`crate::paths::check_name`]); [`crate::paths::join`] still refuses one that would leave the folder
/// (`external:../../etc/passwd`).
pub(crate) fn config_path(name: &str) -> Result<PathBuf, ExternalError> {
    let dir = std::env::var_os(DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    crate::paths::join(&dir, &[&format!("{name}.toml")]).map_err(|e| ExternalError {
        path: dir,
        problem: e.to_string(),
        hint: format!(
            "name a deployment file in this folder: external:NAME reads NAME.toml, NAME being {}",
            crate::paths::NAME_RULE
        ),
    })
}

/// Checks, before anything starts, that `external:<name>` has a deployment file; the message names the
/// file looked for and how to provide it (bad input, not an infrastructure failure).
pub fn check_exists(name: &str) -> Result<(), String> {
    let path = config_path(name).map_err(|e| format!("{e} ({})", e.hint))?;
    if path.is_file() {
        Ok(())
    } else {
        Err(format!(
            "no deployment file {} for external:{name}; write one (see the `stack::external` module) \
             or point {DIR_ENV} at the folder that has it",
            path.display()
        ))
    }
}

/// Why a scenario under `variant` is skipped on `external:<name>`: the deployment file does not list the
/// variant in `variants` (a deployment is configured one way; the scenarios of other variants do not apply
/// to it and are skipped, not failed). `None` when it is listed, and when the file cannot be read: then the
/// start reports the file's problem.
pub fn skip_reason(target: &StackTarget, variant: &str) -> Option<String> {
    let path = config_path(&target.version).ok()?;
    let text = std::fs::read_to_string(&path).ok()?;
    declared_skip_reason(target, &path, &text, variant)
}

fn declared_skip_reason(
    target: &StackTarget,
    path: &Path,
    text: &str,
    variant: &str,
) -> Option<String> {
    #[derive(Deserialize)]
    struct Declared {
        variants: Vec<String>,
    }
    let declared: Declared = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| toml::Value::Table(t).try_into().ok())?;
    if declared.variants.iter().any(|v| v == variant) {
        return None;
    }
    Some(format!(
        "{target} is configured as {} ({}), not as `{variant}`",
        declared.variants.join(", "),
        path.display()
    ))
}

impl ExternalConfig {
    /// Reads and checks the file at `path`, reading the HS256 secret from the process environment.
    pub fn load(path: &Path) -> Result<Self, ExternalError> {
        let text = std::fs::read_to_string(path).map_err(|e| ExternalError {
            path: path.to_owned(),
            problem: format!("cannot read it: {e}"),
            hint: format!(
                "create it (see the `stack::external` docs for the format), or point {DIR_ENV} at the \
                 directory that holds it"
            ),
        })?;
        Self::parse(path, &text, |name| std::env::var(name).ok())
    }

    /// Checks the text of a file; `env` looks up environment variables (the secret never sits in the file).
    pub fn parse(
        path: &Path,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ExternalError> {
        let err = |problem: String, hint: &str| ExternalError {
            path: path.to_owned(),
            problem,
            hint: hint.to_owned(),
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            err(
                format!("invalid TOML: {}", e.to_string().trim_end()),
                "fix the file; the format is in the `stack::external` module docs",
            )
        })?;
        if raw.variants.is_empty() {
            return Err(err(
                "key `variants` is empty".into(),
                "list the variants of scenarios/variants.toml this deployment is configured as",
            ));
        }
        let check = |key: &str, url: &str, schemes: &[&str]| -> Result<(), ExternalError> {
            let parts = parse_url(url).map_err(|reason| {
                err(
                    format!("key `{key}`: `{url}` is not a URL: {reason}"),
                    "write a full URL such as wss://meet.example.org/xmpp-websocket",
                )
            })?;
            if !schemes.contains(&parts.scheme()) {
                return Err(err(
                    format!(
                        "key `{key}`: `{url}` must start with {}",
                        schemes.join(":// or ") + "://"
                    ),
                    "use the scheme the deployment serves this endpoint with",
                ));
            }
            Ok(())
        };
        check("websocket", &raw.websocket, &["ws", "wss"])?;
        let bosh = match raw.bosh {
            Some(b) => {
                check("bosh", &b, &["http", "https"])?;
                b
            }
            None => derive_bosh(&raw.websocket),
        };
        if let Some(web) = &raw.web {
            check("web", web, &["http", "https"])?;
        }
        if let Some(rest) = &raw.jicofo_rest {
            check("jicofo_rest", rest, &["http"])?;
        }
        for (key, value) in [
            ("domains.domain", &raw.domains.domain),
            ("domains.muc", &raw.domains.muc),
        ] {
            if value.is_empty() || value.contains(['/', ':', '@', ' ']) {
                return Err(err(
                    format!("key `{key}`: `{value}` is not an XMPP domain"),
                    "write a bare domain such as meet.example.org",
                ));
            }
        }

        let t = &raw.token;
        let signing = match t.algorithm.as_str() {
            "HS256" => {
                if t.private_key_file.is_some() || t.kid.is_some() {
                    return Err(err(
                        "key `token`: `private_key_file` and `kid` belong to RS256, not HS256"
                            .into(),
                        "remove them, or set algorithm = \"RS256\"",
                    ));
                }
                let var = t.secret_env.as_deref().ok_or_else(|| {
                    err(
                        "key `token.secret_env` is missing".into(),
                        "name the env variable that holds the deployment's JWT_APP_SECRET, e.g. \
                         secret_env = \"STAGING_JWT_SECRET\" (the secret itself never goes in the file)",
                    )
                })?;
                let secret = env(var).filter(|s| !s.is_empty()).ok_or_else(|| {
                    err(
                        format!("key `token.secret_env`: env variable {var} is not set"),
                        &format!("export {var}=<the deployment's JWT_APP_SECRET> before running"),
                    )
                })?;
                SigningKey::Hs256(Secret::new(secret))
            }
            "RS256" => {
                if t.secret_env.is_some() {
                    return Err(err(
                        "key `token.secret_env` belongs to HS256, not RS256".into(),
                        "remove it, or set algorithm = \"HS256\"",
                    ));
                }
                let (file, kid) = match (&t.private_key_file, &t.kid) {
                    (Some(f), Some(k)) if !k.is_empty() => (f, k),
                    _ => return Err(err(
                        "RS256 needs both `token.private_key_file` and `token.kid`".into(),
                        "give the PEM private key file and the key id prosody's key server knows",
                    )),
                };
                let file = path.parent().unwrap_or(Path::new(".")).join(file);
                let pem = std::fs::read_to_string(&file).map_err(|e| {
                    err(
                        format!(
                            "key `token.private_key_file`: cannot read {}: {e}",
                            file.display()
                        ),
                        "the path is relative to the deployment file",
                    )
                })?;
                if jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_err() {
                    return Err(err(
                        format!(
                            "key `token.private_key_file`: {} is not a PEM RSA private key",
                            file.display()
                        ),
                        "use the private key whose public key the deployment's ASAP key server serves",
                    ));
                }
                SigningKey::Rs256 {
                    private_pem: Secret::new(pem),
                    kid: kid.clone(),
                }
            }
            other => {
                return Err(err(
                    format!("key `token.algorithm`: `{other}` is not supported"),
                    "use \"HS256\" (app secret) or \"RS256\" (private key + kid)",
                ))
            }
        };
        let focus = raw
            .domains
            .focus
            .unwrap_or_else(|| format!("focus.{}", raw.domains.domain));
        Ok(ExternalConfig {
            variants: raw.variants,
            endpoints: Endpoints {
                websocket: raw.websocket,
                bosh,
                domain: raw.domains.domain,
                muc_domain: raw.domains.muc,
                focus_domain: focus,
                guest_domain: raw.domains.guest,
                app_id: t.app_id.clone(),
                signing,
                web: raw.web,
                jicofo_rest: raw.jicofo_rest,
                insecure_tls: raw.insecure_tls,
                client: ClientFacts::newest(),
            },
        })
    }
}

/// `ws(s)://host/xmpp-websocket` → `http(s)://host/http-bind` (the Jitsi layout).
fn derive_bosh(websocket: &str) -> String {
    let http = if let Some(rest) = websocket.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = websocket.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        websocket.to_owned()
    };
    match http.rfind("/xmpp-websocket") {
        Some(i) => format!(
            "{}/http-bind{}",
            &http[..i],
            &http[i + "/xmpp-websocket".len()..]
        ),
        None => http,
    }
}

/// An existing deployment.
#[derive(Debug)]
pub struct ExternalStack {
    target: StackTarget,
    endpoints: Endpoints,
}

impl ExternalStack {
    /// Reads `external:<name>`'s file, checks that it describes `variant` and that its WebSocket endpoint
    /// answers (an HTTP GET for `ws://`, a TCP connect for `wss://`) within the start deadline.
    pub async fn start(
        target: &StackTarget,
        variant: &Variant,
        options: &StartOptions,
    ) -> Result<Self, StackError> {
        let path = config_path(&target.version)?;
        let config = ExternalConfig::load(&path)?;
        if !config.variants.iter().any(|v| v == &variant.name) {
            return Err(StackError::Unsupported {
                stack: target.to_string(),
                variant: variant.name.clone(),
                reason: format!(
                    "{} says the deployment is configured as {}; run one of those, or change the \
                     deployment and its `variants` key",
                    path.display(),
                    config.variants.join(", ")
                ),
            });
        }
        let deadline = options.startup_timeout.min(REACH_DEADLINE);
        reach(&config.endpoints.websocket, deadline)
            .await
            .map_err(|reason| StackError::Missing {
                what: format!(
                    "{target}: the WebSocket endpoint {} (key `websocket` in {}) does not answer: {reason}",
                    config.endpoints.websocket,
                    path.display()
                ),
                hint: "check the URL, that the deployment is up and that this machine can reach it \
                       (VPN, firewall)"
                    .into(),
            })?;
        options.progress(&format!("{target}: {} answers", config.endpoints.websocket));
        Ok(ExternalStack {
            target: target.clone(),
            endpoints: config.endpoints,
        })
    }

    /// The target this stack was started for.
    pub fn target(&self) -> &StackTarget {
        &self.target
    }

    /// The deployment's endpoints and signing key.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// Nothing to remove: the deployment is not ours.
    pub async fn close(self) -> Result<(), StackError> {
        Ok(())
    }
}

/// An absolute URL with a host and no credentials.
fn parse_url(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| e.to_string())?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the host is empty".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials in the URL are not supported".into());
    }
    Ok(parsed)
}

/// What "the WebSocket endpoint answers" means for `websocket`: any HTTP response for `ws://` (a GET of
/// the same URL over `http://`), an accepted TCP connection for `wss://`.
fn reachable(websocket: &str) -> Result<Ready, String> {
    let mut url = parse_url(websocket)?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| "no port and no default port for this scheme".to_owned())?;
    let host = url.host_str().unwrap_or_default().to_owned();
    match url.scheme() {
        "ws" => {
            url.set_scheme("http")
                .map_err(|()| "cannot probe it over http://".to_owned())?;
            Ok(Ready::url(url.to_string()))
        }
        // The host of an IPv6 URL comes bracketed; a socket address wants it bare.
        _ => Ok(Ready::tcp(
            host.trim_start_matches('[').trim_end_matches(']'),
            port,
        )),
    }
}

/// Whether `websocket` answers within `deadline` (see [`reachable`]); the last failure otherwise.
async fn reach(websocket: &str, deadline: Duration) -> Result<(), String> {
    let ready = reachable(websocket)?;
    ready::wait(&ready, None, Instant::now() + deadline)
        .await
        .map_err(|unready| unready.last.unwrap_or_else(|| unready.condition.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "staging"
variants = ["jwt-auto-owner"]
websocket = "wss://meet.example.org/xmpp-websocket"
web = "https://meet.example.org"

[domains]
domain = "meet.example.org"
muc = "conference.meet.example.org"

[token]
algorithm = "HS256"
app_id = "my-app"
secret_env = "STAGING_JWT_SECRET"
"#;

    fn env_with_secret(name: &str) -> Option<String> {
        (name == "STAGING_JWT_SECRET").then(|| "s3cr3t-value".to_owned())
    }

    #[test]
    fn scenarios_of_undeclared_variants_are_skipped_with_the_reason() {
        let target: StackTarget = "external:staging".parse().unwrap();
        let path = Path::new("ext/staging.toml");
        // Declared: run it (even though no secret is in the environment here: that is the start's concern).
        assert_eq!(
            declared_skip_reason(&target, path, GOOD, "jwt-auto-owner"),
            None
        );
        let reason = declared_skip_reason(&target, path, GOOD, "jwt-guests").unwrap();
        assert_eq!(
            reason,
            "external:staging is configured as jwt-auto-owner (ext/staging.toml), not as `jwt-guests`"
        );
        // A file that cannot be read as a deployment decides nothing: the start reports its problem.
        assert_eq!(
            declared_skip_reason(&target, path, "variants = 3", "jwt-guests"),
            None
        );
        assert_eq!(
            skip_reason(&"external:does-not-exist-here".parse().unwrap(), "x"),
            None
        );
    }

    #[test]
    fn a_good_file_gives_endpoints() {
        let c =
            ExternalConfig::parse(Path::new("ext/staging.toml"), GOOD, env_with_secret).unwrap();
        let e = &c.endpoints;
        assert_eq!(e.bosh, "https://meet.example.org/http-bind");
        assert_eq!(e.focus_domain, "focus.meet.example.org");
        assert_eq!(e.app_id, "my-app");
        assert!(matches!(&e.signing, SigningKey::Hs256(s) if s.expose() == "s3cr3t-value"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert_eq!(c.variants, ["jwt-auto-owner"]);
    }

    #[test]
    fn a_missing_secret_env_var_names_file_key_and_variable() {
        let e = ExternalConfig::parse(Path::new("ext/staging.toml"), GOOD, |_| None).unwrap_err();
        let text = e.to_string();
        for needle in ["ext/staging.toml", "token.secret_env", "STAGING_JWT_SECRET"] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(e.hint.contains("export STAGING_JWT_SECRET="), "{}", e.hint);
    }

    #[test]
    fn bad_urls_and_keys_are_named() {
        let cases = [
            (
                GOOD.replace("wss://meet", "https://meet"),
                "key `websocket`",
            ),
            (
                GOOD.replace("wss://meet.example.org/xmpp-websocket", "meet.example.org"),
                "not a URL",
            ),
            (
                GOOD.replace("web = \"https://", "web = \"ftp://"),
                "key `web`",
            ),
            (
                GOOD.replace("muc = \"conference.meet.example.org\"", "muc = \"x@y\""),
                "domains.muc",
            ),
            (GOOD.replace("HS256", "ES256"), "token.algorithm"),
            (
                GOOD.replace("variants = [\"jwt-auto-owner\"]", "variants = []"),
                "variants",
            ),
            (GOOD.replace("description", "descripton"), "invalid TOML"),
        ];
        for (text, needle) in cases {
            let e = ExternalConfig::parse(Path::new("x.toml"), &text, env_with_secret).unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
            assert!(!e.hint.is_empty());
        }
    }

    #[test]
    fn rs256_needs_a_readable_key_and_kid() {
        let dir = std::env::temp_dir().join(format!("jh-external-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("bad.pem"), "not a key").unwrap();
        let rs = GOOD.replace(
            "algorithm = \"HS256\"\napp_id = \"my-app\"\nsecret_env = \"STAGING_JWT_SECRET\"",
            "algorithm = \"RS256\"\napp_id = \"my-app\"\nprivate_key_file = \"bad.pem\"\nkid = \"k1\"",
        );
        let e = ExternalConfig::parse(&dir.join("s.toml"), &rs, |_| None).unwrap_err();
        assert!(e.to_string().contains("not a PEM RSA private key"), "{e}");
        let e = ExternalConfig::parse(
            &dir.join("s.toml"),
            &rs.replace("bad.pem", "absent.pem"),
            |_| None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
        let e = ExternalConfig::parse(&dir.join("s.toml"), &rs.replace("kid = \"k1\"", ""), |_| {
            None
        })
        .unwrap_err();
        assert!(e.to_string().contains("kid"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bosh_is_derived_from_the_websocket_url() {
        assert_eq!(
            derive_bosh("ws://127.0.0.1:5280/xmpp-websocket"),
            "http://127.0.0.1:5280/http-bind"
        );
        assert_eq!(
            derive_bosh("wss://h/t1/xmpp-websocket"),
            "https://h/t1/http-bind"
        );
    }

    #[test]
    fn the_websocket_url_decides_how_reachability_is_checked() {
        assert_eq!(
            reachable("ws://127.0.0.1:5280/xmpp-websocket?room=x").unwrap(),
            Ready::url("http://127.0.0.1:5280/xmpp-websocket?room=x")
        );
        assert_eq!(
            reachable("wss://meet.example.org/xmpp-websocket").unwrap(),
            Ready::tcp("meet.example.org", 443)
        );
        assert_eq!(
            reachable("wss://[::1]:8443/xmpp-websocket").unwrap(),
            Ready::tcp("::1", 8443)
        );
        assert!(parse_url("wss://user:pw@meet.example.org/")
            .unwrap_err()
            .contains("credentials"));
        assert!(parse_url("meet.example.org").is_err());
    }

    #[tokio::test]
    async fn reachability_has_a_deadline() {
        // A listener that accepts and never answers: the ws:// check must give up in time.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let _conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let started = std::time::Instant::now();
        let e = reach(
            &format!("ws://127.0.0.1:{port}/xmpp-websocket"),
            Duration::from_millis(300),
        )
        .await
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{e}");
        hold.abort();
        // Nothing listens: refused quickly.
        let free = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert!(reach(
            &format!("wss://127.0.0.1:{free}/xmpp-websocket"),
            Duration::from_secs(2)
        )
        .await
        .is_err());
    }
}
