//! The docker-jitsi-meet stack as a plain value: which containers, images, env, ports, tmpfs and readiness
//! conditions a `jitsi:<tag>` target gets for a [`Variant`]. No Docker, no I/O: [`plan`] is what the spec
//! snapshots pin and what `jitsi-harness plan` prints; `stack::jitsi` starts exactly this.
//!
//! In: a [`StackTarget`] (`jitsi:stable-11146`), a [`Variant`], and `PlanInputs` (names, secrets, the web
//! host port: random in a real run, placeholders in [`plan`]). Out: a [`Plan`], printable as text
//! ([`Plan::render_text`]) or JSON ([`Plan::to_json`]) with secrets shown as `[redacted]`.
//!
//! ## Networking
//! docker-jitsi-meet's compose file gives prosody the network alias `xmpp.meet.jitsi` and reaches the jvb as
//! `jvb`. testcontainers cannot set network aliases, and setting them with bollard would mean creating the
//! containers ourselves. Every consumer of those names reads it from an env variable, though: jicofo and jvb
//! connect to `XMPP_SERVER`, web's nginx proxies BOSH/WebSocket to `XMPP_BOSH_URL_BASE`, and web
//! stable-9111…11031 resolves `COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME` (DJM jicofo/rootfs/defaults/jicofo.conf,
//! jvb/rootfs/defaults/jvb.conf, web/rootfs/defaults/meet.conf, web/rootfs/etc/cont-init.d/10-config; TLS
//! to prosody is not verified: `disable-certificate-verification = true`). So each container gets a
//! unique name (`jh-<run>-<stack>-<service>`) on the stack's own labelled bridge network, where Docker's
//! DNS resolves container names, and the env points at those names. Unique names let several stacks run
//! side by side; the XMPP domains (`meet.jitsi`, …) are virtual hosts, not DNS names, and keep their defaults.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::redact::Secret;
use crate::stack::env::EnvValue;
use crate::stack::ready::Ready;
use crate::stack::{Family, StackError, StackTarget, Variant};
use crate::versions::{Facts, Release, TokenAffiliation};

/// Main XMPP domain (template default `XMPP_DOMAIN`): token users log in here.
pub(crate) const XMPP_DOMAIN: &str = "meet.jitsi";
/// Conference MUC domain (template default `XMPP_MUC_DOMAIN`).
pub(crate) const XMPP_MUC_DOMAIN: &str = "muc.meet.jitsi";
/// Where clients send the focus conference request (client_proxy to `focus@auth.meet.jitsi`).
pub(crate) const FOCUS_DOMAIN: &str = "focus.meet.jitsi";
/// Anonymous guest domain (template default `XMPP_GUEST_DOMAIN`), only with `ENABLE_GUESTS=1`.
pub(crate) const XMPP_GUEST_DOMAIN: &str = "guest.meet.jitsi";
/// `JWT_APP_ID`: the `iss` tokens must carry (prosody's accepted issuers default to the app id).
pub(crate) const JWT_APP_ID: &str = "jitsi-harness";
/// Prosody's HTTP port (BOSH, WebSocket), the same in every release.
pub(crate) const PROSODY_HTTP_PORT: u16 = 5280;
/// jicofo's REST port.
pub(crate) const JICOFO_REST_PORT: u16 = 8888;
/// jicofo's REST route that every release serves, whatever its health settings: jicoco's
/// `org.jitsi.rest.Version` (`@Path("/about/version")`, registered unconditionally by
/// jitsi/jicofo `jicofo/src/main/java/org/jitsi/jicofo/rest/Application.java@stable/jitsi-meet_8719`) up to
/// stable-9779, then ktor's `route("/about") { get("version") }` (`jicofo/src/main/kotlin/org/jitsi/jicofo/
/// ktor/Application.kt@stable/jitsi-meet_9823` l.125-131, `@stable/jitsi-meet_11146` l.131-146).
/// `/about/health` is NOT such a route: it exists only with a health checker, which jicofo creates only
/// when `jicofo.health.enabled` (`JicofoServices.kt@stable/jitsi-meet_11146` l.130; default false in
/// `jicofo/src/main/resources/reference.conf@stable/jitsi-meet_11146` l.91-93), which docker-jitsi-meet
/// renders only from `JICOFO_ENABLE_HEALTH_CHECKS` (`jicofo/rootfs/defaults/jicofo.conf@stable-11146-2`
/// l.224-230), which the harness does not set.
pub(crate) const JICOFO_READY_PATH: &str = "/about/version";
/// The uid:gid docker-jitsi-meet's rootless images run as (`USER s6`, DJM 086d047f).
const ROOTLESS_UID: u32 = 1000;
/// Heap cap per JVM. jicofo.sh and jvb.sh default to -Xmx3072m (jitsi/jicofo:resources/jicofo.sh,
/// jitsi/jitsi-videobridge:resources/jvb.sh); two of those do not fit next to each other on a 2-core CI
/// machine, and moderator scenarios carry no media. The value is a judgement, not a measurement.
pub(crate) const JVM_MAX_MEMORY: &str = "512m";

/// One container of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// XMPP server (token auth, MUC).
    Prosody,
    /// The focus: creates rooms, hands out owner.
    Jicofo,
    /// The videobridge (media).
    Jvb,
    /// nginx with jitsi-meet and config.js.
    Web,
}

impl Service {
    /// In start order.
    pub const ALL: [Service; 4] = [
        Service::Prosody,
        Service::Jicofo,
        Service::Jvb,
        Service::Web,
    ];

    /// The image and container suffix: `prosody`, `jicofo`, `jvb`, `web`.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Prosody => "prosody",
            Service::Jicofo => "jicofo",
            Service::Jvb => "jvb",
            Service::Web => "web",
        }
    }

    /// Start stage (compose `depends_on`: prosody → jicofo + jvb → web).
    pub fn stage(self) -> u8 {
        match self {
            Service::Prosody => 1,
            Service::Jicofo | Service::Jvb => 2,
            Service::Web => 3,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-run secrets. Never printed: they serialize and display as `[redacted]`.
#[derive(Clone, Debug)]
pub struct StackSecrets {
    /// `JICOFO_AUTH_PASSWORD` (focus@auth account; mandatory).
    pub jicofo_auth_password: Secret,
    /// `JVB_AUTH_PASSWORD` (jvb@auth account; mandatory).
    pub jvb_auth_password: Secret,
    /// `JWT_APP_SECRET` (HS256 key of the stack's tokens).
    pub jwt_app_secret: Secret,
}

impl StackSecrets {
    /// Fresh random secrets (32 random bytes each, hex).
    pub fn random() -> Self {
        StackSecrets {
            jicofo_auth_password: Secret::random(32),
            jvb_auth_password: Secret::random(32),
            jwt_app_secret: Secret::random(32),
        }
    }
}

/// What differs between two plans of the same target and variant.
#[derive(Clone, Debug)]
pub(crate) struct PlanInputs {
    /// Run id (the `jitsi-harness.run-id` label, `docker::run_id()`).
    pub run: String,
    /// Per-stack id, so several stacks of one run can coexist.
    pub stack: String,
    /// Host port (127.0.0.1) of the web container's HTTPS port; `PUBLIC_URL` must name it, so it is
    /// chosen before the container starts.
    pub web_https_host_port: u16,
    /// Host port (127.0.0.1) of Prosody's HTTP port (the bots' WebSocket): fixed, so that a restarted
    /// Prosody (`restart = "prosody"`) is found where the participants' endpoints say it is (the engine
    /// gives a restarted container new ephemeral ports).
    pub prosody_http_host_port: u16,
    /// Host port (127.0.0.1) of jicofo's REST port (the jicofo observer): fixed for the same reason
    /// (`restart = "focus"`).
    pub jicofo_rest_host_port: u16,
    /// The stack's passwords and JWT secret.
    pub secrets: StackSecrets,
    /// Registry prefix to run the images from instead of the release's own (`--registry`).
    pub registry: Option<String>,
    /// Test-only hook: replaces jicofo's REST readiness wait (the negative test waits on `/about/health`
    /// without the env that enables it, to prove a wrong wait fails within its deadline).
    pub jicofo_rest_wait: Option<Ready>,
}

impl PlanInputs {
    /// Stable placeholders: names `jh-RUN-STACK-*`, web on 127.0.0.1:8443 (docker-jitsi-meet's default
    /// `HTTPS_PORT`), placeholder secrets. Used by [`plan`], the spec snapshots and `jitsi-harness plan`.
    pub fn placeholder() -> Self {
        PlanInputs {
            run: "RUN".into(),
            stack: "STACK".into(),
            web_https_host_port: 8443,
            prosody_http_host_port: PROSODY_HTTP_PORT,
            jicofo_rest_host_port: JICOFO_REST_PORT,
            secrets: StackSecrets {
                jicofo_auth_password: Secret::new("placeholder"),
                jvb_auth_password: Secret::new("placeholder"),
                jwt_app_secret: Secret::new("placeholder"),
            },
            registry: None,
            jicofo_rest_wait: None,
        }
    }

    /// Inputs of a real run: a random stack id, random secrets, and the host ports reserved for web's
    /// HTTPS, Prosody's HTTP and jicofo's REST port, in that order.
    pub fn random(run: &str, [web, prosody, jicofo]: [u16; 3]) -> Self {
        let stack = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
        PlanInputs {
            run: run.to_owned(),
            stack,
            web_https_host_port: web,
            prosody_http_host_port: prosody,
            jicofo_rest_host_port: jicofo,
            secrets: StackSecrets::random(),
            registry: None,
            jicofo_rest_wait: None,
        }
    }
}

/// Image reference: `<registry prefix>/<service>:<tag>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageSpec {
    /// e.g. `ghcr.io/jitsi/web`, or `<--registry>/web`.
    pub repository: String,
    /// The release tag, e.g. `stable-11146`.
    pub tag: String,
}

impl ImageSpec {
    /// `repository:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// The registry prefix the image is pulled from (`repository` without `/<service>`).
    pub fn registry(&self) -> &str {
        self.repository
            .rsplit_once('/')
            .map_or(self.repository.as_str(), |(prefix, _)| prefix)
    }
}

/// The registry prefix a user asked for, trimmed of a trailing `/`; `None` when empty.
pub fn registry_override(prefix: Option<&str>) -> Option<String> {
    prefix
        .map(|p| p.trim().trim_end_matches('/').to_owned())
        .filter(|p| !p.is_empty())
}

/// Which host port a container port is published on (always on 127.0.0.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostPort {
    /// A free port chosen by Docker.
    Random,
    /// This port (chosen before start because the container's config must name it).
    Fixed(u16),
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPort::Random => f.write_str("127.0.0.1:random"),
            HostPort::Fixed(p) => write!(f, "127.0.0.1:{p}"),
        }
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A published tcp port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    /// Port inside the container.
    pub container: u16,
    /// Where it is published.
    pub host: HostPort,
    /// What uses it.
    pub purpose: &'static str,
}

/// One container of the plan.
#[derive(Clone, Debug, Serialize)]
pub struct ContainerSpec {
    /// Which of the four.
    pub service: Service,
    /// Container name, also its DNS name on the stack network.
    pub name: String,
    /// Containers of one stage start together; a stage starts when the previous one is ready.
    pub stage: u8,
    /// What to run.
    pub image: ImageSpec,
    /// The container's env (only the variables it reads).
    pub env: BTreeMap<&'static str, EnvValue>,
    /// Published ports, all on 127.0.0.1.
    pub ports: Vec<PortSpec>,
    /// tmpfs mounts (path → options), as docker-jitsi-meet's compose file has them.
    pub tmpfs: BTreeMap<&'static str, String>,
    /// The root filesystem is read-only (compose `read_only: true`).
    pub read_only: bool,
    /// Folders that get an anonymous volume (labelled like the containers, removed with them), where the
    /// compose file mounts a volume and the image needs it writable.
    pub volumes: Vec<&'static str>,
    /// Readiness conditions, checked in order after the stage started.
    pub waits: Vec<Ready>,
    /// Host folders mounted into the container (a variant's own Prosody modules).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<BindSpec>,
}

/// A host folder mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BindSpec {
    /// The folder on this machine (as the variant names it; made absolute when the stack starts).
    pub source: std::path::PathBuf,
    /// Where it appears in the container.
    pub target: &'static str,
    /// Mounted read-only.
    pub read_only: bool,
}

/// Where the participants connect: every port they use is published on a fixed 127.0.0.1 port chosen
/// before start, so the endpoints are known before the containers run and survive a service's restart.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointsSpec {
    /// Bots' WebSocket URL (prosody directly).
    pub websocket: String,
    /// BOSH URL (prosody directly).
    pub bosh: String,
    /// Browsers' base URL (web, HTTPS, the `PUBLIC_URL`).
    pub web: String,
    /// jicofo's REST base URL.
    pub jicofo_rest: String,
    /// Main XMPP domain.
    pub domain: &'static str,
    /// Conference MUC domain.
    pub muc_domain: &'static str,
    /// Focus component domain.
    pub focus_domain: &'static str,
    /// Guest domain, with `guests`.
    pub guest_domain: Option<&'static str>,
    /// The `iss` of valid tokens.
    pub app_id: &'static str,
}

/// The whole stack, in start order.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// e.g. `jitsi:stable-11146`.
    pub target: String,
    /// The variant's name.
    pub variant: String,
    /// The parsed tag.
    pub release: Release,
    /// The known release whose facts were used (see `versions::Facts::facts_of`).
    pub facts_of: String,
    /// Why `facts_of` differs from the release, if it does.
    pub note: Option<String>,
    /// The stack's own bridge network (`LabelledNetwork` names it `jitsi-harness-<run>-<stack>`).
    pub network: String,
    /// In start order.
    pub containers: Vec<ContainerSpec>,
    /// How the endpoints are formed.
    pub endpoints: EndpointsSpec,
    /// The per-run secrets (also in `containers[].env`, redacted there).
    #[serde(skip)]
    pub secrets: StackSecrets,
}

impl Plan {
    /// The container of `service`.
    pub fn container(&self, service: Service) -> Option<&ContainerSpec> {
        self.containers.iter().find(|c| c.service == service)
    }

    /// The fixed host port `service`'s container port `port` is published on, if it is a fixed one.
    pub fn fixed_host_port(&self, service: Service, port: u16) -> Option<u16> {
        self.container(service)?
            .ports
            .iter()
            .find(|p| p.container == port)
            .and_then(|p| match p.host {
                HostPort::Fixed(h) => Some(h),
                HostPort::Random => None,
            })
    }

    /// Pretty JSON, secrets redacted.
    pub fn to_json(&self) -> String {
        // Serialization of these plain values cannot fail (string keys, no maps with non-string keys).
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Human text, secrets redacted (the same as `Display`).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out);
        out
    }

    fn write_text(&self, out: &mut String) -> fmt::Result {
        writeln!(
            out,
            "plan for {} with variant `{}`",
            self.target, self.variant
        )?;
        if let Some(note) = &self.note {
            writeln!(out, "note: {note}")?;
        }
        writeln!(out, "facts of: {}", self.facts_of)?;
        writeln!(
            out,
            "network: {} (own bridge; containers reach each other by container name)",
            self.network
        )?;
        for stage in 1..=3 {
            writeln!(out, "stage {stage}:")?;
            for c in self.containers.iter().filter(|c| c.stage == stage) {
                writeln!(out, "  {} ({})", c.name, c.service)?;
                writeln!(out, "    image: {}", c.image.reference())?;
                for p in &c.ports {
                    writeln!(
                        out,
                        "    publish: {} -> {}/tcp ({})",
                        p.host, p.container, p.purpose
                    )?;
                }
                if c.read_only {
                    writeln!(out, "    root filesystem: read-only")?;
                }
                for (path, opts) in &c.tmpfs {
                    writeln!(out, "    tmpfs: {path} ({opts})")?;
                }
                for path in &c.volumes {
                    writeln!(
                        out,
                        "    volume: {path} (anonymous, removed with the stack)"
                    )?;
                }
                for b in &c.binds {
                    writeln!(
                        out,
                        "    bind: {} -> {}{}",
                        b.source.display(),
                        b.target,
                        if b.read_only { " (read-only)" } else { "" }
                    )?;
                }
                for (k, v) in &c.env {
                    writeln!(out, "    env: {k}={v}")?;
                }
                if c.waits.is_empty() {
                    writeln!(out, "    ready: when started")?;
                }
                for w in &c.waits {
                    writeln!(out, "    ready: {w}")?;
                }
            }
        }
        let e = &self.endpoints;
        writeln!(out, "endpoints:")?;
        writeln!(out, "  websocket: {}", e.websocket)?;
        writeln!(out, "  bosh: {}", e.bosh)?;
        writeln!(out, "  web: {}", e.web)?;
        writeln!(out, "  jicofo rest: {}", e.jicofo_rest)?;
        write!(
            out,
            "  domains: {} (muc {}, focus {}",
            e.domain, e.muc_domain, e.focus_domain
        )?;
        if let Some(g) = e.guest_domain {
            write!(out, ", guests {g}")?;
        }
        writeln!(out, "); tokens: iss={}", e.app_id)
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_text())
    }
}

/// The plan of `target` (a `jitsi:` target) for `variant`, with the placeholder inputs of
/// `PlanInputs::placeholder`: deterministic, for printing and snapshots.
///
/// ```
/// use harness::stack::jitsi::plan;
/// use harness::stack::StackTarget;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let variants = harness::stack::Variants::parse(
///     std::path::Path::new("variants.toml"),
///     "[jwt-auto-owner]\ndescription = \"\"\njwt = true\njicofo_auth = false\nauto_owner = true\n",
/// )?;
/// let target: StackTarget = "jitsi:stable-11146".parse()?;
/// let plan = plan::plan(&target, variants.get("jwt-auto-owner")?)?;
/// assert!(plan.render_text().contains("ghcr.io/jitsi/prosody:stable-11146"));
/// # Ok(()) }
/// ```
pub fn plan(target: &StackTarget, variant: &Variant) -> Result<Plan, StackError> {
    plan_from(target, variant, None)
}

/// [`plan`] with the images taken from `registry` (`--registry PREFIX`: `PREFIX/<service>:<tag>`) instead
/// of the registry the release is published to.
pub fn plan_from(
    target: &StackTarget,
    variant: &Variant,
    registry: Option<&str>,
) -> Result<Plan, StackError> {
    let mut inputs = PlanInputs::placeholder();
    inputs.registry = registry_override(registry);
    plan_with(target, variant, &inputs)
}

/// Which containers read an env variable.
const PROSODY: &[Service] = &[Service::Prosody];
const JICOFO: &[Service] = &[Service::Jicofo];
const JVB: &[Service] = &[Service::Jvb];
const WEB: &[Service] = &[Service::Web];
const AUTH_READERS: &[Service] = &[Service::Prosody, Service::Jicofo, Service::Web];
const EVERYONE: &[Service] = &Service::ALL;

/// One env variable and the containers that get it (who reads what: each service's `environment` list in
/// docker-jitsi-meet's docker-compose.yml and the templates under `<service>/rootfs/defaults/`).
#[derive(Clone, Debug)]
pub(crate) struct EnvEntry {
    /// Variable name.
    pub name: &'static str,
    /// Its value.
    pub value: EnvValue,
    /// The containers that read it.
    pub to: &'static [Service],
}

fn plain(name: &'static str, value: impl Into<String>, to: &'static [Service]) -> EnvEntry {
    EnvEntry {
        name,
        value: EnvValue::Plain(value.into()),
        to,
    }
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// The variant's knobs as docker-jitsi-meet env for a release with `facts` (pure; no names, no secrets).
/// A knob the release cannot express is `Err(reason)`, naming the knob and the release.
pub(crate) fn variant_env(facts: &Facts, variant: &Variant) -> Result<Vec<EnvEntry>, String> {
    let release = &facts.release;
    let mut env = Vec::new();
    if !variant.faults.is_none() {
        return Err(
            "`faults` are implemented only by the fixture's focus stand-in; jicofo has no fault knobs"
                .into(),
        );
    }
    // ENABLE_AUTH / AUTH_TYPE / JWT_*: prosody's main VirtualHost, jicofo's default authentication, web.
    env.push(plain(
        "ENABLE_AUTH",
        flag(variant.enable_auth()),
        AUTH_READERS,
    ));
    if variant.internal_auth {
        // docker-jitsi-meet's "secure domain": prosody's main VirtualHost uses internal_hashed, jicofo the XMPP
        // domain authority (jicofo/rootfs/defaults/jicofo.conf: `type = XMPP` unless AUTH_TYPE is jwt).
        env.push(plain(
            "AUTH_TYPE",
            "internal",
            &[Service::Prosody, Service::Jicofo],
        ));
    }
    if variant.jwt {
        env.push(plain(
            "AUTH_TYPE",
            "jwt",
            &[Service::Prosody, Service::Jicofo],
        ));
        env.push(plain("JWT_APP_ID", JWT_APP_ID, PROSODY));
        // JWT_ALLOW_EMPTY is rendered in the jwt branch only; pinned even when it is the default (0).
        env.push(plain(
            "JWT_ALLOW_EMPTY",
            flag(variant.allow_empty_token),
            PROSODY,
        ));
    } else if variant.allow_empty_token {
        return Err("`allow_empty_token` needs `jwt = true`: JWT_ALLOW_EMPTY is only read with AUTH_TYPE=jwt".into());
    }
    // ENABLE_GUESTS: the guest VirtualHost exists only with ENABLE_AUTH (prosody jitsi-meet.cfg.lua).
    if variant.guests && !variant.enable_auth() {
        return Err(
            "`guests` needs `jwt = true` or `internal_auth = true`: the guest domain exists only with ENABLE_AUTH=1".into(),
        );
    }
    env.push(plain(
        "ENABLE_GUESTS",
        flag(variant.guests),
        &[Service::Prosody, Service::Web],
    ));
    // JICOFO_ENABLE_AUTH (stable-8719+); before, jicofo authentication follows ENABLE_AUTH.
    if let Some(jicofo_auth) = variant.jicofo_auth {
        if facts.jicofo_enable_auth_env {
            env.push(plain("JICOFO_ENABLE_AUTH", flag(jicofo_auth), JICOFO));
        } else if jicofo_auth != variant.enable_auth() {
            return Err(format!(
                "`jicofo_auth = {jicofo_auth}` with `jwt = {}` needs JICOFO_ENABLE_AUTH, which \
                 docker-jitsi-meet has from stable-8719 on; in {release} jicofo authentication follows \
                 ENABLE_AUTH",
                variant.jwt
            ));
        }
    }
    // ENABLE_AUTO_OWNER: rendered only when set (jicofo's own default is on).
    if let Some(auto_owner) = variant.auto_owner {
        env.push(plain("ENABLE_AUTO_OWNER", flag(auto_owner), JICOFO));
    }
    // Extra prosody modules: XMPP_MUC_MODULES on the MUC component, XMPP_MODULES on the main VirtualHost.
    let mut muc_modules = Vec::new();
    let mut vhost_modules = Vec::new();
    if variant.token_affiliation {
        if facts.token_affiliation == TokenAffiliation::Unavailable {
            return Err(format!(
                "`token_affiliation`: {release} ships no token_affiliation module (jitsi-contrib's is \
                 bundled from stable-9457, jitsi-meet's own from stable-10978)"
            ));
        }
        muc_modules.push("token_affiliation");
    }
    if variant.wait_for_host {
        if !facts.wait_for_host_module {
            return Err(format!(
                "`wait_for_host`: {release} ships no muc_wait_for_host module (jitsi-meet has it from \
                 stable-8922 on)"
            ));
        }
        if variant.lobby == Some(false) {
            return Err(
                "`wait_for_host` holds guests in the lobby: it cannot be combined with `lobby = false`"
                    .into(),
            );
        }
        // mod_muc_wait_for_host sits on the MUC component and depends on mod_persistent_lobby on the main
        // VirtualHost (module headers in jitsi/jitsi-meet resources/prosody-plugins).
        muc_modules.push("muc_wait_for_host");
        vhost_modules.push("persistent_lobby");
        if facts.wait_for_host_disable_auto_owners_env {
            // Follows the knob; rendered on every release that has the variable, so `0` says the
            // template default (auto-owners on) out loud.
            env.push(plain(
                "WAIT_FOR_HOST_DISABLE_AUTO_OWNERS",
                flag(variant.wait_for_host_disable_auto_owners),
                PROSODY,
            ));
        } else if variant.wait_for_host_disable_auto_owners {
            return Err(format!(
                "`wait_for_host_disable_auto_owners`: {release} has no WAIT_FOR_HOST_DISABLE_AUTO_OWNERS \
                 (docker-jitsi-meet has it from stable-10655 on)"
            ));
        }
    } else if variant.wait_for_host_disable_auto_owners {
        return Err(
            "`wait_for_host_disable_auto_owners` changes muc_wait_for_host: it needs `wait_for_host = true`"
                .into(),
        );
    }
    // The variant's own modules (from `prosody_plugins` or shipped ones), after the knobs' modules.
    muc_modules.extend(variant.xmpp_muc_modules.iter().map(String::as_str));
    vhost_modules.extend(variant.xmpp_modules.iter().map(String::as_str));
    if !muc_modules.is_empty() {
        env.push(plain("XMPP_MUC_MODULES", muc_modules.join(","), PROSODY));
    }
    if !vhost_modules.is_empty() {
        env.push(plain("XMPP_MODULES", vhost_modules.join(","), PROSODY));
    }
    // ENABLE_LOBBY: prosody only, template default true.
    if let Some(lobby) = variant.lobby {
        env.push(plain("ENABLE_LOBBY", flag(lobby), PROSODY));
    }
    if variant.anonymous_strict {
        if !facts.anonymous_strict_env {
            return Err(format!("`anonymous_strict`: {release} has no PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT (from stable-10978)"));
        }
        env.push(plain(
            "PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT",
            "true",
            PROSODY,
        ));
    }
    Ok(env)
}

/// The plan of `target` for `variant` with the given names, secrets and web port.
pub(crate) fn plan_with(
    target: &StackTarget,
    variant: &Variant,
    inputs: &PlanInputs,
) -> Result<Plan, StackError> {
    let unsupported = |reason: String| StackError::Unsupported {
        stack: target.to_string(),
        variant: variant.name.clone(),
        reason,
    };
    if target.family != Family::Jitsi {
        return Err(unsupported(
            "a plan describes docker-jitsi-meet stacks (`jitsi:<tag>`) only".into(),
        ));
    }
    let release = Release::from_str(&target.version).map_err(|e| unsupported(e.to_string()))?;
    let facts = release.facts();
    let mut entries = variant_env(&facts, variant).map_err(unsupported)?;

    let name = |s: Service| format!("jh-{}-{}-{}", inputs.run, inputs.stack, s.as_str());
    let prosody = name(Service::Prosody);
    let secrets = inputs.secrets.clone();

    // Always: mandatory service passwords, the JWT secret, REST reachable, offline-safe web and jvb.
    let secret = |n: &'static str, s: &Secret, to: &'static [Service]| EnvEntry {
        name: n,
        value: EnvValue::Secret(s.clone()),
        to,
    };
    entries.push(secret(
        "JICOFO_AUTH_PASSWORD",
        &secrets.jicofo_auth_password,
        &[Service::Prosody, Service::Jicofo],
    ));
    entries.push(secret(
        "JVB_AUTH_PASSWORD",
        &secrets.jvb_auth_password,
        &[Service::Prosody, Service::Jvb],
    ));
    if variant.jwt {
        entries.push(secret("JWT_APP_SECRET", &secrets.jwt_app_secret, PROSODY));
    }
    // REST on 0.0.0.0 so the published 8888 answers: needed from stable-10314, harmless before.
    entries.push(plain("JICOFO_ENABLE_REST", "1", JICOFO));
    entries.push(plain(
        "XMPP_SERVER",
        prosody.clone(),
        &[Service::Jicofo, Service::Jvb],
    ));
    entries.push(plain(
        "XMPP_BOSH_URL_BASE",
        format!("http://{prosody}:{PROSODY_HTTP_PORT}"),
        WEB,
    ));
    if facts.web_looks_up_jvb {
        entries.push(plain(
            "COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME",
            name(Service::Jvb),
            WEB,
        ));
    }
    // No STUN server is reachable offline (default meet-jit-si-turnrelay.jitsi.net:443).
    entries.push(plain("JVB_DISABLE_STUN", "1", JVB));
    entries.push(plain("ENABLE_LETSENCRYPT", "0", WEB));
    entries.push(plain("ENABLE_HTTP_REDIRECT", "0", WEB));
    entries.push(plain("ENABLE_PREJOIN_PAGE", "0", WEB));
    // config.js hardcodes PUBLIC_URL for the browser's WebSocket/BOSH URLs: it must be the origin the
    // browser opens, the fixed host port of web's HTTPS port.
    entries.push(plain(
        "PUBLIC_URL",
        format!("https://127.0.0.1:{}", inputs.web_https_host_port),
        WEB,
    ));
    // nginx and prosody also listen on [::] by default; containers on an IPv4-only network may have
    // IPv6 disabled, where that listen fails.
    entries.push(plain("ENABLE_IPV6", "0", &[Service::Prosody, Service::Web]));
    entries.push(plain("JICOFO_MAX_MEMORY", JVM_MAX_MEMORY, JICOFO));
    entries.push(plain("VIDEOBRIDGE_MAX_MEMORY", JVM_MAX_MEMORY, JVB));
    entries.push(plain("TZ", "UTC", EVERYONE));

    let tmpfs: BTreeMap<&'static str, String> = if facts.rootless {
        // docker-compose.yml@stable-11146: read_only + `/run:size=16M,mode=1750,exec` and
        // `/tmp:size=16M,mode=1777,noexec`; the config is rendered into /run/<service>. Docker mounts a tmpfs
        // owned by root whatever the image's USER (moby/moby#20437, docker/for-linux#1487; compose cannot
        // say otherwise: compose-spec/compose-spec#278), so with mode 1750 the images' uid 1000 could not
        // write /run. The kernel's tmpfs `uid=`/`gid=` options, which Docker passes through, make it the
        // container user's.
        BTreeMap::from([
            (
                "/run",
                format!("size=16M,mode=1750,exec,uid={ROOTLESS_UID},gid={ROOTLESS_UID}"),
            ),
            ("/tmp", "size=16M,mode=1777,noexec".to_owned()),
        ])
    } else {
        BTreeMap::new()
    };
    let registry = inputs
        .registry
        .clone()
        .unwrap_or_else(|| facts.registry.prefix().to_owned());

    let containers = Service::ALL
        .iter()
        .map(|&service| {
            let env = entries
                .iter()
                .filter(|e| e.to.contains(&service))
                .map(|e| (e.name, e.value.clone()))
                .collect();
            let (ports, waits) = ports_and_waits(service, &facts, inputs);
            ContainerSpec {
                service,
                name: name(service),
                stage: service.stage(),
                image: ImageSpec {
                    repository: format!("{registry}/{}", service.as_str()),
                    tag: release.tag(),
                },
                env,
                ports,
                tmpfs: tmpfs.clone(),
                read_only: facts.rootless,
                volumes: facts
                    .writable_volumes
                    .iter()
                    .filter(|(s, _)| *s == service.as_str())
                    .map(|(_, path)| *path)
                    .collect(),
                waits,
                binds: match (&variant.prosody_plugins, service) {
                    (Some(folder), Service::Prosody) => vec![BindSpec {
                        source: folder.clone(),
                        target: crate::versions::CUSTOM_PLUGINS_DIR,
                        read_only: true,
                    }],
                    _ => Vec::new(),
                },
            }
        })
        .collect();

    let endpoints = EndpointsSpec {
        // prosody sets consider_websocket_secure and http_default_host = meet.jitsi, so plain ws on 5280
        // satisfies c2s_require_encryption; the stream's `to` is the XMPP domain.
        websocket: format!(
            "ws://127.0.0.1:{}/xmpp-websocket",
            inputs.prosody_http_host_port
        ),
        bosh: format!(
            "http://127.0.0.1:{}/http-bind",
            inputs.prosody_http_host_port
        ),
        web: format!("https://127.0.0.1:{}", inputs.web_https_host_port),
        jicofo_rest: format!("http://127.0.0.1:{}", inputs.jicofo_rest_host_port),
        domain: XMPP_DOMAIN,
        muc_domain: XMPP_MUC_DOMAIN,
        focus_domain: FOCUS_DOMAIN,
        guest_domain: variant.guests.then_some(XMPP_GUEST_DOMAIN),
        app_id: JWT_APP_ID,
    };

    Ok(Plan {
        target: target.to_string(),
        variant: variant.name.clone(),
        release,
        facts_of: facts.facts_of.clone(),
        note: facts.note.clone(),
        network: format!("jitsi-harness-{}-{}", inputs.run, inputs.stack),
        containers,
        endpoints,
        secrets,
    })
}

fn ports_and_waits(
    service: Service,
    facts: &Facts,
    inputs: &PlanInputs,
) -> (Vec<PortSpec>, Vec<Ready>) {
    match service {
        Service::Prosody => {
            let mut waits = vec![
                // mod_websocket answers a plain GET with 200 "It works!": prosody serves HTTP and the
                // WebSocket endpoint bots use exists.
                Ready::http(PROSODY_HTTP_PORT, "/xmpp-websocket", 200),
            ];
            if let Some(line) = facts.prosody_ready_log {
                // From stable-10741 focus@/jvb@ are registered after prosody starts.
                waits.push(Ready::log_line(line));
            }
            (
                vec![PortSpec {
                    container: PROSODY_HTTP_PORT,
                    host: HostPort::Fixed(inputs.prosody_http_host_port),
                    purpose: "BOSH and WebSocket for bots (fixed: a restart keeps it)",
                }],
                waits,
            )
        }
        Service::Jicofo => (
            vec![PortSpec {
                container: JICOFO_REST_PORT,
                host: HostPort::Fixed(inputs.jicofo_rest_host_port),
                purpose:
                    "REST: /about/version (readiness), /debug/conference (observer); fixed: a \
                          restart keeps it",
            }],
            vec![
                // Prosody up, jicofo connected, the jvb joined the brewery: the single best "ready" signal.
                Ready::log_line(facts.jicofo_ready_log),
                // Served by every release (see JICOFO_READY_PATH); proves the published REST port answers
                // (JICOFO_ENABLE_REST=1 binds it on 0.0.0.0).
                inputs
                    .jicofo_rest_wait
                    .clone()
                    .unwrap_or_else(|| Ready::http(JICOFO_REST_PORT, JICOFO_READY_PATH, 200)),
            ],
        ),
        // The jvb has no signal of its own worth waiting on: jicofo's "Added new videobridge" is it.
        Service::Jvb => (Vec::new(), Vec::new()),
        Service::Web => (
            vec![
                PortSpec {
                    container: facts.web_http_port,
                    host: HostPort::Random,
                    purpose: "HTTP (readiness check)",
                },
                PortSpec {
                    container: facts.web_https_port,
                    host: HostPort::Fixed(inputs.web_https_host_port),
                    purpose: "HTTPS for browsers (PUBLIC_URL)",
                },
            ],
            // ENABLE_HTTP_REDIRECT=0: plain HTTP serves the app.
            vec![Ready::http(facts.web_http_port, "/", 200)],
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::stack::Variants;

    /// Releases whose plans are pinned: the first with JICOFO_ENABLE_AUTH, the jvb lookup, the contrib
    /// plugins era, Prosody 13, wait-for-host auto-owners switch, nick validation, the last Docker Hub
    /// release and the first GHCR/rootless one.
    const PINNED: &[&str] = &[
        "stable-8719",
        "stable-9111",
        "stable-9909",
        "stable-10133",
        "stable-10655",
        "stable-10978",
        "stable-11031",
        "stable-11146",
    ];

    fn variants() -> Variants {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/variants.toml");
        Variants::load(&path).unwrap()
    }

    fn target(tag: &str) -> StackTarget {
        format!("jitsi:{tag}").parse().unwrap()
    }

    fn variant(toml: &str) -> Variant {
        let v = Variants::parse(
            std::path::Path::new("t.toml"),
            &format!("[v]\ndescription = \"\"\n{toml}"),
        )
        .unwrap();
        v.get("v").unwrap().clone()
    }

    #[test]
    fn plans_of_pinned_releases_for_every_variant() {
        let variants = variants();
        assert!(!variants.by_name.is_empty());
        for tag in PINNED {
            for (name, v) in &variants.by_name {
                let mut settings = insta::Settings::clone_current();
                settings.set_snapshot_suffix(format!("{tag}__{name}"));
                settings.set_prepend_module_to_snapshot(false);
                // A variant the release cannot express pins the error text instead.
                settings.bind(|| match plan(&target(tag), v) {
                    Ok(p) => insta::assert_yaml_snapshot!("plan", p),
                    Err(e) => insta::assert_yaml_snapshot!(
                        "plan",
                        serde_json::json!({ "error": e.to_string() })
                    ),
                });
            }
        }
    }

    #[test]
    fn secrets_never_print() {
        let mut inputs = PlanInputs::random("r1", [12345, 12346, 12347]);
        inputs.secrets.jwt_app_secret = Secret::new("sekrit-jwt");
        inputs.secrets.jicofo_auth_password = Secret::new("sekrit-jicofo");
        inputs.secrets.jvb_auth_password = Secret::new("sekrit-jvb");
        let p = plan_with(&target("stable-11146"), &variant("jwt = true"), &inputs).unwrap();
        for text in [p.render_text(), p.to_json(), format!("{p:?}")] {
            assert!(!text.contains("sekrit"), "{text}");
            assert!(text.contains("[redacted]"));
        }
        let prosody = p.container(Service::Prosody).unwrap();
        assert_eq!(prosody.env["JWT_APP_SECRET"].expose(), "sekrit-jwt");
        assert_eq!(
            prosody.env["JICOFO_AUTH_PASSWORD"].expose(),
            "sekrit-jicofo"
        );
    }

    #[test]
    fn names_ports_and_images_follow_the_inputs_and_release() {
        let inputs = PlanInputs::random("abcd1234", [40443, 45280, 48888]);
        let p = plan_with(&target("stable-11146"), &variant("jwt = true"), &inputs).unwrap();
        let prosody = &p.container(Service::Prosody).unwrap().name;
        assert!(prosody.starts_with("jh-abcd1234-") && prosody.ends_with("-prosody"));
        let jicofo = p.container(Service::Jicofo).unwrap();
        assert_eq!(jicofo.env["XMPP_SERVER"].expose(), prosody);
        let web = p.container(Service::Web).unwrap();
        assert_eq!(web.env["PUBLIC_URL"].expose(), "https://127.0.0.1:40443");
        assert_eq!(web.image.reference(), "ghcr.io/jitsi/web:stable-11146");
        assert_eq!(web.image.registry(), "ghcr.io/jitsi");
        assert!(web.ports.contains(&PortSpec {
            container: 8443,
            host: HostPort::Fixed(40443),
            purpose: "HTTPS for browsers (PUBLIC_URL)"
        }));
        // What participants use is on fixed ports, so a restarted service is found where it was.
        let fixed = |service: Service| {
            p.container(service)
                .unwrap()
                .ports
                .iter()
                .map(|port| (port.container, port.host))
                .collect::<Vec<_>>()
        };
        assert_eq!(fixed(Service::Prosody), [(5280, HostPort::Fixed(45280))]);
        assert_eq!(fixed(Service::Jicofo), [(8888, HostPort::Fixed(48888))]);
        assert_eq!(p.endpoints.websocket, "ws://127.0.0.1:45280/xmpp-websocket");
        assert_eq!(p.endpoints.jicofo_rest, "http://127.0.0.1:48888");
        assert!(web.tmpfs["/run"].contains("uid=1000,gid=1000"));
        assert!(web.read_only && web.volumes == ["/storage"]);
        assert_eq!(
            p.container(Service::Prosody).unwrap().volumes,
            ["/var/lib/prosody"]
        );
        assert!(jicofo.volumes.is_empty() && jicofo.read_only);
        assert!(!web.env.contains_key("COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME"));
        // Secrets reach only the containers that read them.
        assert!(!web.env.contains_key("JWT_APP_SECRET"));
        assert!(!p
            .container(Service::Jvb)
            .unwrap()
            .env
            .contains_key("JICOFO_AUTH_PASSWORD"));

        let old = plan_with(&target("stable-9111"), &variant("jwt = true"), &inputs).unwrap();
        let web = old.container(Service::Web).unwrap();
        assert_eq!(web.image.reference(), "docker.io/jitsi/web:stable-9111");
        assert_eq!(
            web.env["COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME"].expose(),
            old.container(Service::Jvb).unwrap().name
        );
        assert!(web.tmpfs.is_empty() && !web.read_only && web.volumes.is_empty());
        assert_eq!(web.ports[0].container, 80);
    }

    #[test]
    fn jicofo_waits_on_routes_every_release_serves() {
        for tag in PINNED {
            let p = plan(&target(tag), &variant("jwt = true")).unwrap();
            let waits = &p.container(Service::Jicofo).unwrap().waits;
            assert_eq!(
                waits,
                &[
                    Ready::log_line("Added new videobridge"),
                    Ready::http(JICOFO_REST_PORT, "/about/version", 200)
                ],
                "{tag}"
            );
            assert!(!p.render_text().contains("/about/health"), "{tag}");
        }
    }

    /// `plan` for a real tag and the same tag with `--registry` differ only in image names.
    #[test]
    fn a_registry_override_changes_only_the_image_names() {
        let v = variants();
        for tag in ["stable-11031", "stable-11146"] {
            for variant in v.by_name.values() {
                let own = plan(&target(tag), variant).unwrap();
                let local =
                    plan_from(&target(tag), variant, Some("jitsi-harness.local/jitsi/")).unwrap();
                let own_text = own.render_text();
                let local_text = local.render_text();
                let upstream = own.containers[0].image.registry().to_owned();
                assert_ne!(own_text, local_text);
                assert_eq!(
                    own_text.replace(&format!("image: {upstream}/"), "image: PREFIX/"),
                    local_text.replace("image: jitsi-harness.local/jitsi/", "image: PREFIX/"),
                    "{tag} {}",
                    variant.name
                );
                let lines = |t: &str| t.lines().filter(|l| l.contains("image: ")).count();
                assert_eq!(lines(&local_text), 4);
                for c in &local.containers {
                    assert_eq!(
                        c.image.reference(),
                        format!("jitsi-harness.local/jitsi/{}:{tag}", c.service)
                    );
                }
            }
        }
        // An empty prefix means "no override".
        let p = plan_from(&target("stable-11146"), &variant("jwt = true"), Some(" ")).unwrap();
        assert_eq!(p.containers[0].image.registry(), "ghcr.io/jitsi");
    }

    #[test]
    fn knobs_a_release_cannot_express_are_unsupported_errors() {
        let cases = [
            (
                "stable-8615",
                "jwt = true\njicofo_auth = false",
                &["stable-8615", "jicofo_auth", "stable-8719"][..],
            ),
            (
                "stable-9364",
                "jwt = true\ntoken_affiliation = true",
                &["stable-9364", "token_affiliation"][..],
            ),
            (
                "stable-8719",
                "jwt = true\nwait_for_host = true",
                &["stable-8719", "wait_for_host"][..],
            ),
            (
                "stable-11146",
                "jwt = true\nwait_for_host = true\nlobby = false",
                &["lobby = false"][..],
            ),
            (
                "stable-10590",
                "jwt = true\nwait_for_host = true\nwait_for_host_disable_auto_owners = true",
                &[
                    "stable-10590",
                    "wait_for_host_disable_auto_owners",
                    "stable-10655",
                ][..],
            ),
            (
                "stable-11146",
                "jwt = true\nwait_for_host_disable_auto_owners = true",
                &["wait_for_host_disable_auto_owners", "wait_for_host = true"][..],
            ),
            (
                "stable-11146",
                "jwt = false\nguests = true",
                &["guests", "ENABLE_AUTH"][..],
            ),
            (
                "stable-11146",
                "jwt = false\nallow_empty_token = true",
                &["allow_empty_token"][..],
            ),
            (
                "stable-11146",
                "jwt = true\nfaults = { grant_delay_ms = 10 }",
                &["faults", "fixture"][..],
            ),
        ];
        for (tag, knobs, needles) in cases {
            let e = plan(&target(tag), &variant(knobs)).unwrap_err();
            assert!(matches!(e, StackError::Unsupported { .. }), "{e}");
            let text = e.to_string();
            for n in needles {
                assert!(
                    text.contains(n),
                    "{tag} {knobs}: `{n}` missing from: {text}"
                );
            }
        }
        // Before stable-8719 a jicofo_auth that agrees with ENABLE_AUTH is fine (nothing to set).
        let p = plan(
            &target("stable-8615"),
            &variant("jwt = true\njicofo_auth = true"),
        )
        .unwrap();
        assert!(!p
            .container(Service::Jicofo)
            .unwrap()
            .env
            .contains_key("JICOFO_ENABLE_AUTH"));
    }

    #[test]
    fn module_knobs_become_prosody_env() {
        let p = plan(
            &target("stable-11146"),
            &variant("jwt = true\njicofo_auth = false\nauto_owner = false\ntoken_affiliation = true\nwait_for_host = true\nlobby = true"),
        )
        .unwrap();
        let env = &p.container(Service::Prosody).unwrap().env;
        assert_eq!(
            env["XMPP_MUC_MODULES"].expose(),
            "token_affiliation,muc_wait_for_host"
        );
        assert_eq!(env["XMPP_MODULES"].expose(), "persistent_lobby");
        assert_eq!(env["WAIT_FOR_HOST_DISABLE_AUTO_OWNERS"].expose(), "0");
        assert_eq!(env["ENABLE_LOBBY"].expose(), "1");
        let fixed = plan(
            &target("stable-11146"),
            &variant("jwt = true\nwait_for_host = true\nwait_for_host_disable_auto_owners = true"),
        )
        .unwrap();
        assert_eq!(
            fixed.container(Service::Prosody).unwrap().env["WAIT_FOR_HOST_DISABLE_AUTO_OWNERS"]
                .expose(),
            "1"
        );
        let jicofo = &p.container(Service::Jicofo).unwrap().env;
        assert_eq!(jicofo["JICOFO_ENABLE_AUTH"].expose(), "0");
        assert_eq!(jicofo["ENABLE_AUTO_OWNER"].expose(), "0");
        // Before stable-10655 the auto-owners switch does not exist.
        let p = plan(
            &target("stable-10590"),
            &variant("jwt = true\nwait_for_host = true"),
        )
        .unwrap();
        assert!(!p
            .container(Service::Prosody)
            .unwrap()
            .env
            .contains_key("WAIT_FOR_HOST_DISABLE_AUTO_OWNERS"));
    }

    #[test]
    fn moving_tags_carry_their_note_and_other_families_are_refused() {
        let p = plan(&target("stable"), &variant("jwt = true")).unwrap();
        assert!(p.note.as_deref().unwrap_or("").contains("moving"));
        assert!(p.render_text().contains("note: "));
        let fixture: StackTarget = "fixture:13".parse().unwrap();
        assert!(plan(&fixture, &variant("jwt = true")).is_err());
    }

    #[test]
    fn custom_modules_mount_read_only_and_load_by_name() {
        let v = variant(
            "jwt = true\ntoken_affiliation = true\nprosody_plugins = \"/srv/team-plugins\"\n\
             xmpp_muc_modules = [\"team_moderation\"]\nxmpp_modules = [\"team_presence\"]",
        );
        let p = plan(&target("stable-11146"), &v).unwrap();
        let prosody = p.container(Service::Prosody).unwrap();
        assert_eq!(
            prosody.binds,
            [BindSpec {
                source: PathBuf::from("/srv/team-plugins"),
                target: "/prosody-plugins-custom",
                read_only: true,
            }]
        );
        assert_eq!(
            prosody.env["XMPP_MUC_MODULES"].expose(),
            "token_affiliation,team_moderation"
        );
        assert_eq!(prosody.env["XMPP_MODULES"].expose(), "team_presence");
        assert!(p
            .render_text()
            .contains("    bind: /srv/team-plugins -> /prosody-plugins-custom (read-only)"));
        for other in [Service::Jicofo, Service::Jvb, Service::Web] {
            assert!(p.container(other).unwrap().binds.is_empty(), "{other}");
        }
        // Without the knob nothing is mounted, and the plan's JSON has no `binds` key.
        let plain = plan(&target("stable-11146"), &variant("jwt = true")).unwrap();
        assert!(!plain.to_json().contains("binds"));
    }

    #[test]
    fn internal_auth_is_auth_type_internal_for_prosody_and_jicofo() {
        let p = plan(
            &target("stable-11146"),
            &variant("jwt = false\ninternal_auth = true\nguests = true"),
        )
        .unwrap();
        for service in [Service::Prosody, Service::Jicofo] {
            let env = &p.container(service).unwrap().env;
            assert_eq!(env["ENABLE_AUTH"].expose(), "1", "{service}");
            assert_eq!(env["AUTH_TYPE"].expose(), "internal", "{service}");
            assert!(!env.contains_key("JWT_APP_SECRET"), "{service}");
        }
        let prosody = &p.container(Service::Prosody).unwrap().env;
        assert_eq!(prosody["ENABLE_GUESTS"].expose(), "1");
        assert_eq!(p.endpoints.guest_domain, Some(XMPP_GUEST_DOMAIN));
        // Registering accounts names the config file where the release renders it.
        assert_eq!(
            Release::from_str("stable-11031")
                .unwrap()
                .facts()
                .prosody_config_file,
            "/config/prosody.cfg.lua"
        );
        assert_eq!(
            Release::from_str("stable-11146")
                .unwrap()
                .facts()
                .prosody_config_file,
            "/run/prosody/config/prosody.cfg.lua"
        );
    }
}
