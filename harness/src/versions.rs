//! docker-jitsi-meet releases and THE table of per-release facts (ARCHITECTURE.md, "Where Jitsi facts live").
//!
//! In: a tag as written on the command line (`stable-11146-2`, `stable`, `unstable`, `unstable-2026-11-01`).
//! Out: a [`Release`] and its [`Facts`]: registry, web ports, which env variables exist, which Prosody
//! modules ship, how to tell that a container is ready. Every "since stable-NNNN" of the project lives in
//! [`CHANGES`], an ordered list folded over [`Facts::OLDEST`]; nothing else in the code compares release
//! numbers. A Jitsi release that changes something is one row here plus one reviewed snapshot diff.
//!
//! Sources: jitsi/docker-jitsi-meet (abbreviated DJM), jitsi/jicofo and jitsi/jitsi-meet at the tags, commits
//! and PRs named in each row. Rows marked INFERRED are
//! conclusions from dates, not from a file that says so.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A docker-jitsi-meet image tag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Release {
    /// `stable-NNNN` or the hotfix rebuild `stable-NNNN-N`.
    Stable {
        /// The release number, e.g. 11146.
        number: u32,
        /// The hotfix rebuild, e.g. 2 in `stable-11146-2`.
        hotfix: Option<u32>,
    },
    /// `stable`: moving, the latest stable release.
    LatestStable,
    /// `unstable`: moving, the latest nightly build.
    Unstable,
    /// `unstable-YYYY-MM-DD`: the nightly build of that day.
    Nightly {
        /// e.g. 2026.
        year: u16,
        /// 1–12.
        month: u8,
        /// 1–31.
        day: u8,
    },
}

/// Why a tag is not a docker-jitsi-meet release the harness understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown release form `{0}`: expected stable-NNNN, stable-NNNN-N (hotfix), stable, unstable or unstable-YYYY-MM-DD (e.g. stable-11146-2)")]
pub struct ReleaseError(pub String);

impl FromStr for Release {
    type Err = ReleaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ReleaseError(s.to_owned());
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        match s {
            "stable" => return Ok(Release::LatestStable),
            "unstable" => return Ok(Release::Unstable),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix("stable-") {
            let mut parts = rest.split('-');
            let number = parts.next().filter(|p| digits(p)).ok_or_else(err)?;
            let hotfix = match parts.next() {
                None => None,
                Some(h) if digits(h) => Some(h.parse::<u32>().map_err(|_| err())?),
                Some(_) => return Err(err()),
            };
            if parts.next().is_some() {
                return Err(err());
            }
            let number = number.parse::<u32>().map_err(|_| err())?;
            if number == 0 {
                return Err(err());
            }
            return Ok(Release::Stable { number, hotfix });
        }
        if let Some(date) = s.strip_prefix("unstable-") {
            // Exactly YYYY-MM-DD: per-architecture tags (`-amd64`) are not accepted, the multi-arch tag is.
            let p: Vec<&str> = date.split('-').collect();
            let well_formed = p.len() == 3
                && p[0].len() == 4
                && p[1].len() == 2
                && p[2].len() == 2
                && p.iter().all(|x| digits(x));
            if !well_formed {
                return Err(err());
            }
            let year = p[0].parse::<u16>().map_err(|_| err())?;
            let month = p[1].parse::<u8>().map_err(|_| err())?;
            let day = p[2].parse::<u8>().map_err(|_| err())?;
            if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
                return Err(err());
            }
            return Ok(Release::Nightly { year, month, day });
        }
        Err(err())
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Release::Stable {
                number,
                hotfix: None,
            } => write!(f, "stable-{number}"),
            Release::Stable {
                number,
                hotfix: Some(h),
            } => write!(f, "stable-{number}-{h}"),
            Release::LatestStable => f.write_str("stable"),
            Release::Unstable => f.write_str("unstable"),
            Release::Nightly { year, month, day } => {
                write!(f, "unstable-{year:04}-{month:02}-{day:02}")
            }
        }
    }
}

impl Serialize for Release {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Release {
    /// The image tag (the same text the release was parsed from).
    pub fn tag(&self) -> String {
        self.to_string()
    }

    /// Whether the tag moves (`stable`, `unstable`, nightlies are rebuilt or replaced).
    pub fn is_moving(&self) -> bool {
        !matches!(self, Release::Stable { .. })
    }

    /// The facts of this release (see [`facts`]).
    pub fn facts(&self) -> Facts {
        facts(self)
    }
}

/// A stable docker-jitsi-meet tag with its date (the tagged commit's date in jitsi/docker-jitsi-meet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownRelease {
    /// The tag, e.g. `stable-10073-1`.
    pub tag: &'static str,
    /// Its release number, e.g. 10073.
    pub number: u32,
    /// `YYYY-MM-DD`.
    pub date: &'static str,
}

const fn known(tag: &'static str, number: u32, date: &'static str) -> KnownRelease {
    KnownRelease { tag, number, date }
}

/// Every stable tag the harness knows facts for, oldest first: every `stable-*` tag of jitsi/docker-jitsi-meet from
/// stable-8719 on, with the date of the tagged commit (`git for-each-ref refs/tags`). `stable-10073` exists only
/// as `stable-10073-1`.
pub const KNOWN_RELEASES: &[KnownRelease] = &[
    known("stable-8719", 8719, "2023-06-14"),
    known("stable-8922", 8922, "2023-09-01"),
    known("stable-8922-1", 8922, "2023-09-12"),
    known("stable-8960", 8960, "2023-09-18"),
    known("stable-8960-1", 8960, "2023-09-22"),
    known("stable-9078", 9078, "2023-11-14"),
    known("stable-9111", 9111, "2023-11-21"),
    known("stable-9220", 9220, "2024-01-29"),
    known("stable-9220-1", 9220, "2024-01-30"),
    known("stable-9258", 9258, "2024-02-15"),
    known("stable-9364", 9364, "2024-03-18"),
    known("stable-9364-1", 9364, "2024-03-22"),
    known("stable-9457", 9457, "2024-04-24"),
    known("stable-9457-1", 9457, "2024-04-25"),
    known("stable-9457-2", 9457, "2024-04-29"),
    known("stable-9584", 9584, "2024-07-02"),
    known("stable-9584-1", 9584, "2024-07-03"),
    known("stable-9646", 9646, "2024-08-05"),
    known("stable-9753", 9753, "2024-09-26"),
    known("stable-9779", 9779, "2024-10-22"),
    known("stable-9823", 9823, "2024-11-12"),
    known("stable-9909", 9909, "2024-12-17"),
    known("stable-9955", 9955, "2025-01-13"),
    known("stable-10008", 10008, "2025-02-03"),
    known("stable-10073-1", 10073, "2025-02-28"),
    known("stable-10078", 10078, "2025-02-28"),
    known("stable-10078-1", 10078, "2025-02-28"),
    known("stable-10133", 10133, "2025-03-20"),
    known("stable-10133-1", 10133, "2025-03-23"),
    known("stable-10169", 10169, "2025-04-08"),
    known("stable-10184", 10184, "2025-04-10"),
    known("stable-10314", 10314, "2025-06-05"),
    known("stable-10431", 10431, "2025-07-24"),
    known("stable-10532", 10532, "2025-09-29"),
    known("stable-10532-1", 10532, "2025-09-29"),
    known("stable-10590", 10590, "2025-10-20"),
    known("stable-10655", 10655, "2025-11-24"),
    known("stable-10710", 10710, "2026-01-14"),
    known("stable-10741", 10741, "2026-02-02"),
    known("stable-10888", 10888, "2026-03-30"),
    known("stable-10978", 10978, "2026-05-20"),
    known("stable-11031", 11031, "2026-06-08"),
    known("stable-11146", 11146, "2026-08-03"),
    known("stable-11146-1", 11146, "2026-08-05"),
    known("stable-11146-2", 11146, "2026-08-17"),
];

/// The newest known release: what `stable` and `unstable` are taken to be.
pub fn newest_known() -> KnownRelease {
    // The list is a non-empty constant; `known_releases_are_sorted` pins the order.
    KNOWN_RELEASES[KNOWN_RELEASES.len() - 1]
}

/// A stable tag whose release number docker-jitsi-meet never published, within the range this table covers
/// (most likely a typo): the nearest known releases are named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{tag}` is not a docker-jitsi-meet release; the nearest known releases are {}", nearest.join(", "))]
pub struct UnknownRelease {
    /// The tag as given.
    pub tag: String,
    /// Up to two known tags on each side of it.
    pub nearest: Vec<&'static str>,
}

/// Checks that a stable tag names a release that exists. A number between the oldest and the newest known
/// release that docker-jitsi-meet never published is an error naming the nearest known releases; a hotfix of a
/// known number, a number newer than every known release (a release published after this table was written,
/// see `jitsi-harness releases`) and the moving tags pass, and get their facts with a note ([`facts`]).
pub fn check_known(release: &Release) -> Result<(), UnknownRelease> {
    let Release::Stable { number, .. } = release else {
        return Ok(());
    };
    let oldest = KNOWN_RELEASES[0].number;
    let newest = newest_known().number;
    if *number < oldest || *number > newest || KNOWN_RELEASES.iter().any(|k| k.number == *number) {
        return Ok(());
    }
    let split = KNOWN_RELEASES
        .iter()
        .position(|k| k.number > *number)
        .unwrap_or(KNOWN_RELEASES.len());
    let nearest = KNOWN_RELEASES[split.saturating_sub(2)..(split + 2).min(KNOWN_RELEASES.len())]
        .iter()
        .map(|k| k.tag)
        .collect();
    Err(UnknownRelease {
        tag: release.tag(),
        nearest,
    })
}

/// Where the images of a release are published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Registry {
    /// `docker.io/jitsi/*` (Docker Hub), up to stable-11031.
    #[serde(rename = "docker.io/jitsi")]
    DockerHub,
    /// `ghcr.io/jitsi/*` (GitHub Container Registry), from stable-11146.
    #[serde(rename = "ghcr.io/jitsi")]
    Ghcr,
}

impl Registry {
    /// The repository prefix, e.g. `ghcr.io/jitsi`; an image is `<prefix>/<service>:<tag>`.
    pub fn prefix(self) -> &'static str {
        match self {
            Registry::DockerHub => "docker.io/jitsi",
            Registry::Ghcr => "ghcr.io/jitsi",
        }
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())
    }
}

/// Which `token_affiliation` Prosody module a release's prosody image can load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenAffiliation {
    /// Not in the image.
    Unavailable,
    /// jitsi-contrib/prosody-plugins `token_affiliation` (sets owner/member on `muc-occupant-joined`),
    /// bundled under `/prosody-plugins-contrib`.
    Contrib,
    /// jitsi-meet's own rewritten module (owner already in the first presence, `muc-occupant-pre-join`).
    Upstream,
}

/// Everything the harness needs to know about one release. Built only by [`facts`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// The tag these facts are for.
    pub release: Release,
    /// The known stable release whose facts these are (differs for moving and unknown tags).
    pub facts_of: String,
    /// Why `facts_of` differs from `release`, if it does.
    pub note: Option<String>,
    /// Registry upstream's CI publishes the release's images to (never both: see [`CHANGES`]). A user names
    /// a mirror with `--registry` / `JITSI_HARNESS_REGISTRY` instead; nothing falls back to the other one.
    pub registry: Registry,
    /// nginx HTTP port inside the web container.
    pub web_http_port: u16,
    /// nginx HTTPS port inside the web container.
    pub web_https_port: u16,
    /// Containers run as uid 1000 on a read-only root with tmpfs `/run` and `/tmp` (compose: `read_only:
    /// true` + `tmpfs`).
    pub rootless: bool,
    /// Folders a service must find writable (compose mounts a volume there), as `(service, path)`; the
    /// harness gives each an anonymous volume labelled like its containers.
    pub writable_volumes: &'static [(&'static str, &'static str)],
    /// `JICOFO_ENABLE_AUTH` exists (before: jicofo authentication follows `ENABLE_AUTH`).
    pub jicofo_enable_auth_env: bool,
    /// `JICOFO_AUTH_TYPE` / `PROSODY_AUTH_TYPE` exist.
    pub per_container_auth_type_env: bool,
    /// `mod_muc_wait_for_host` and `mod_persistent_lobby` ship in the prosody image.
    pub wait_for_host_module: bool,
    /// `WAIT_FOR_HOST_DISABLE_AUTO_OWNERS` exists.
    pub wait_for_host_disable_auto_owners_env: bool,
    /// Which `token_affiliation` module `XMPP_MUC_MODULES=token_affiliation` loads.
    pub token_affiliation: TokenAffiliation,
    /// `XMPP_MODULES` are also loaded on the guest VirtualHost.
    pub xmpp_modules_on_guest_domain: bool,
    /// The web container resolves the jvb by name at start (`COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME`, default `jvb`).
    pub web_looks_up_jvb: bool,
    /// Prosody requires TLS on c2s (5222); BOSH/WebSocket count as secure.
    pub c2s_requires_tls: bool,
    /// Prosody serves `GET /health` (only to loopback) and images have `healthcheck.sh`.
    pub prosody_health_endpoint: bool,
    /// Name of the env variable for the jibri/transcriber domain.
    pub hidden_domain_env: &'static str,
    /// Prosody series in the image.
    pub prosody_series: &'static str,
    /// Prosody renders `component_admins_as_room_owners = true` (Prosody 13: otherwise jicofo is no owner).
    pub component_admins_as_room_owners: bool,
    /// jicofo's REST binds 127.0.0.1 unless `JICOFO_ENABLE_REST=1` (which the harness always sets).
    pub jicofo_rest_loopback_by_default: bool,
    /// MUC nicknames must match `^[a-zA-Z0-9][a-zA-Z0-9_]*$` (`muc_resource_validate` on by default).
    pub nick_validation: bool,
    /// `PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT` exists (off by default): an anonymous or token user's
    /// nick must be the first 8 characters of its own JID's local part, as lib-jitsi-meet chooses it.
    pub anonymous_strict_env: bool,
    /// The web client's focus request carries the JWT as `token` on `<conference/>`, and jicofo reads the user
    /// id from it.
    pub focus_iq_token: bool,
    /// jitsi-meet's `token_affiliation` skips occupants without an affiliation in a members-only (lobby) room
    /// unless they give the room password.
    pub token_affiliation_honours_lobby: bool,
    /// MUC nick changes are refused (`Nick changes are not allowed`).
    pub nick_changes_refused: bool,
    /// A prosody log line that means "service accounts exist" (register-setup service), if the release has one.
    pub prosody_ready_log: Option<&'static str>,
    /// The jicofo log line that means "prosody up, jicofo connected, a bridge registered".
    pub jicofo_ready_log: &'static str,
    /// [`CUSTOM_PLUGINS_DIR`] comes first on the main config's `plugin_paths`, so a custom module named like
    /// one jitsi-meet ships replaces it (before: the shipped one wins).
    pub custom_plugins_first: bool,
    /// The prosody config file `prosodyctl --config` names when registering accounts (jitsi/handbook
    /// `docs/devops-guide/docker.md`, internal authentication: `prosodyctl --config /config/prosody.cfg.lua
    /// register USER meet.jitsi PASSWORD`).
    pub prosody_config_file: &'static str,
}

/// The folder of the operator's own Prosody modules in docker-jitsi-meet's prosody image: a `VOLUME` on
/// `plugin_paths` in every known release (DJM 95a55915, 2019-01-15, "xmpp: add ability to add custom prosody
/// modules"; prosody/Dockerfile and prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-8719 and
/// @stable-11146). Modules there are enabled by name with `XMPP_MUC_MODULES` / `XMPP_MODULES`.
pub const CUSTOM_PLUGINS_DIR: &str = "/prosody-plugins-custom";

impl Facts {
    /// Facts before the first row of [`CHANGES`] (releases older than stable-8719, which the harness was not
    /// checked against beyond `JICOFO_ENABLE_AUTH`).
    pub const OLDEST: Facts = Facts {
        release: Release::Stable {
            number: 1,
            hotfix: None,
        },
        facts_of: String::new(),
        note: None,
        registry: Registry::DockerHub,
        web_http_port: 80,
        web_https_port: 443,
        rootless: false,
        writable_volumes: &[],
        jicofo_enable_auth_env: false,
        per_container_auth_type_env: false,
        wait_for_host_module: false,
        wait_for_host_disable_auto_owners_env: false,
        token_affiliation: TokenAffiliation::Unavailable,
        xmpp_modules_on_guest_domain: false,
        web_looks_up_jvb: false,
        c2s_requires_tls: false,
        prosody_health_endpoint: false,
        hidden_domain_env: "XMPP_RECORDER_DOMAIN",
        // DJM prosody/Dockerfile installs the current `prosody` package of the Prosody project's Debian
        // repository at build time; that was 0.12 until 13.0 (first in stable-10133).
        prosody_series: "0.12",
        component_admins_as_room_owners: false,
        jicofo_rest_loopback_by_default: false,
        nick_validation: false,
        anonymous_strict_env: false,
        focus_iq_token: false,
        token_affiliation_honours_lobby: false,
        nick_changes_refused: false,
        prosody_ready_log: None,
        // jitsi/jicofo:jicofo-selector/src/main/kotlin/org/jitsi/jicofo/bridge/BridgeSelector.kt, the same
        // wording at stable/jitsi-meet_8719 and stable/jitsi-meet_11146.
        jicofo_ready_log: "Added new videobridge",
        custom_plugins_first: false,
        // DJM prosody/rootfs/etc/cont-init.d/10-config@stable-11031 l.10 (PROSODY_CFG).
        prosody_config_file: "/config/prosody.cfg.lua",
    };
}

/// One row of the table: from release `since` on, `fact` holds; `source` says where that is written.
#[derive(Clone, Copy)]
pub struct Change {
    /// First release number the fact holds for.
    pub since: u32,
    /// What changed, in words.
    pub fact: &'static str,
    /// Where that is written (repo commit, file at a tag, PR), or INFERRED and from what.
    pub source: &'static str,
    /// The first nightly (`unstable-YYYY-MM-DD`) that has the change, where it landed on docker-jitsi-meet's
    /// master well before its release. Nightlies are built from master by a 05:00 UTC cron
    /// (DJM `.github/workflows/unstable.yml@stable-11146-2`), so a change committed on day D is first in the
    /// nightly of D+1.
    pub first_nightly: Option<&'static str>,
    /// Applies the change to the facts of the release before.
    pub apply: fn(&mut Facts),
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Change")
            .field("since", &self.since)
            .field("fact", &self.fact)
            .field("source", &self.source)
            .field("first_nightly", &self.first_nightly)
            .finish_non_exhaustive()
    }
}

/// The per-release facts, oldest first. Keep sorted by `since` (a test checks).
pub const CHANGES: &[Change] = &[
    Change {
        since: 8719,
        fact: "JICOFO_ENABLE_AUTH exists: jicofo authentication can be off while prosody requires JWT",
        source: "DJM 57a7c22e (PR #1561), jicofo/rootfs/defaults/jicofo.conf@stable-8719",
        first_nightly: None,
        apply: |f| f.jicofo_enable_auth_env = true,
    },
    Change {
        since: 8922,
        fact: "JICOFO_AUTH_TYPE and PROSODY_AUTH_TYPE override AUTH_TYPE per container",
        source: "DJM f18acb49",
        first_nightly: None,
        apply: |f| f.per_container_auth_type_env = true,
    },
    Change {
        since: 8922,
        fact: "mod_muc_wait_for_host and mod_persistent_lobby ship in jitsi-meet-prosody",
        // The module's first commit is in jitsi-meet's 8922 release commit and not in 8719's.
        source: "jitsi/jitsi-meet df81e0fe (PR #13613, 2023-07-26) is in stable/jitsi-meet_8922 (25fdea99), \
                 not in stable/jitsi-meet_8719 (66a9c4df)",
        first_nightly: None,
        apply: |f| f.wait_for_host_module = true,
    },
    Change {
        since: 9111,
        fact: "web runs `dig $COLIBRI_WEBSOCKET_JVB_LOOKUP_NAME` (default jvb) at start",
        source: "DJM 825730d6, web/rootfs/etc/cont-init.d/10-config@stable-9111",
        first_nightly: None,
        apply: |f| f.web_looks_up_jvb = true,
    },
    Change {
        since: 9220,
        fact: "prosody requires c2s TLS by default",
        source: "DJM e41e4f48",
        first_nightly: None,
        apply: |f| f.c2s_requires_tls = true,
    },
    Change {
        since: 9457,
        fact: "jitsi-contrib prosody plugins (with token_affiliation) are on prosody's plugin_paths",
        source: "DJM b0f9eb2f, prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-9457; \
                 jitsi-contrib/prosody-plugins:token_affiliation/mod_token_affiliation.lua@v20240117",
        first_nightly: None,
        apply: |f| f.token_affiliation = TokenAffiliation::Contrib,
    },
    Change {
        since: 9584,
        fact: "prosody serves /health (mod_http_health), images have healthcheck.sh",
        source: "DJM c65d2bd2 (first in stable-9584)",
        first_nightly: None,
        apply: |f| f.prosody_health_endpoint = true,
    },
    Change {
        since: 9823,
        fact: "XMPP_RECORDER_DOMAIN renamed XMPP_HIDDEN_DOMAIN (old name still read)",
        source: "DJM 345f8c2a",
        first_nightly: None,
        apply: |f| f.hidden_domain_env = "XMPP_HIDDEN_DOMAIN",
    },
    Change {
        since: 10133,
        fact: "Prosody 13 in the image",
        source: "DJM prosody/Dockerfile@stable-10133 (de27c523) installs the current prosody package; Prosody 13.0.0 is dated 2025-03-13",
        first_nightly: None,
        apply: |f| f.prosody_series = "13",
    },
    Change {
        since: 10133,
        fact: "component_admins_as_room_owners = true, so jicofo stays room owner on Prosody 13",
        source: "DJM c44206c6, prosody/rootfs/defaults/prosody.cfg.lua",
        first_nightly: None,
        apply: |f| f.component_admins_as_room_owners = true,
    },
    Change {
        since: 10314,
        fact: "jicofo REST binds 127.0.0.1 unless JICOFO_ENABLE_REST=1",
        source: "jitsi/jicofo 486d8387a (in stable/jitsi-meet_10314)",
        first_nightly: None,
        apply: |f| f.jicofo_rest_loopback_by_default = true,
    },
    Change {
        since: 10314,
        fact: "XMPP_MODULES are loaded on the guest VirtualHost too",
        source: "DJM 4ff28768",
        first_nightly: None,
        apply: |f| f.xmpp_modules_on_guest_domain = true,
    },
    Change {
        since: 10314,
        fact: "the web client sends the JWT as `token` on the focus <conference/> request; jicofo reads the user id",
        source: "jitsi/lib-jitsi-meet 1d19d5e7 (PR #2782), pinned by jitsi/jitsi-meet package.json@293b6fa9 \
                 (stable/jitsi-meet_10314); jitsi/jicofo 860b63954 ConferenceIqHandler.kt@stable/jitsi-meet_10314",
        first_nightly: None,
        apply: |f| f.focus_iq_token = true,
    },
    Change {
        since: 10655,
        fact: "WAIT_FOR_HOST_DISABLE_AUTO_OWNERS exists",
        source: "DJM 86f6a727, prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua",
        first_nightly: None,
        apply: |f| f.wait_for_host_disable_auto_owners_env = true,
    },
    Change {
        since: 10655,
        fact: "/prosody-plugins-custom is first on plugin_paths: a custom module shadows a shipped one of the \
               same name",
        source: "DJM a8f64b6e (2025-11-10, \"feat(prosody): prioritize custom plugin path\"), \
                 prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-10655 (after @stable-10590)",
        first_nightly: None,
        apply: |f| f.custom_plugins_first = true,
    },
    Change {
        since: 10741,
        fact: "service accounts are registered by the register-setup service after prosody starts",
        source: "DJM eab4bff7, prosody/rootfs/etc/services.d/70-register-setup/run@stable-10741",
        first_nightly: None,
        apply: |f| {
            f.prosody_ready_log =
                Some("[register-setup] All users registered and roster modified")
        },
    },
    Change {
        since: 10978,
        fact: "muc_resource_validate on by default: nicks must match ^[a-zA-Z0-9][a-zA-Z0-9_]*$",
        source: "DJM 43ec99cb (PR #2248), prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-10978; \
                 jitsi/jitsi-meet resources/prosody-plugins/mod_muc_resource_validate.lua (PR #17316)",
        first_nightly: None,
        apply: |f| f.nick_validation = true,
    },
    Change {
        since: 10978,
        fact: "PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT exists (default false): anonymous and token users \
               must use the first 8 characters of their JID's local part as nick (`Invalid anonymous user ID`)",
        source: "DJM 43ec99cb, prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-10978 (anonymous_strict); \
                 jitsi/jitsi-meet mod_muc_resource_validate.lua@b584e555",
        first_nightly: None,
        apply: |f| f.anonymous_strict_env = true,
    },
    Change {
        since: 10978,
        fact: "token_affiliation is jitsi-meet's own module (context.user.affiliation owner/moderator/teacher or \
               moderator=true -> owner, other token users -> member, on muc-occupant-pre-join)",
        // The image installs the newest stable jitsi-meet-prosody at build time; plugin_paths puts
        // /prosody-plugins/ before /prosody-plugins-contrib, so the upstream module shadows the contrib one
        // (renamed token_affiliation_legacy in jitsi-contrib v20260523).
        source: "jitsi/jitsi-meet 52d031d3 (PR #17381, 2026-05-08) is in stable/jitsi-meet_10978 (b584e555); \
                 DJM prosody/rootfs/defaults/conf.d/jitsi-meet.cfg.lua@stable-10978 (plugin_paths)",
        first_nightly: None,
        apply: |f| f.token_affiliation = TokenAffiliation::Upstream,
    },
    Change {
        since: 11031,
        fact: "token_affiliation runs at priority -3.5 and, in a members-only room, skips occupants without an \
               affiliation unless they give the room password",
        source: "jitsi/jitsi-meet cee87644e (PR #17436) and 223e6f094 (PR #17452), both in \
                 stable/jitsi-meet_11031 (e3f15954)",
        first_nightly: None,
        apply: |f| f.token_affiliation_honours_lobby = true,
    },
    Change {
        since: 11146,
        fact: "images are published to ghcr.io/jitsi only; upstream CI never published them to Docker Hub \
               (before: Docker Hub only; upstream never dual-published)",
        source: "DJM .github/workflows/release-stable.yml@stable-11146 l.15-16, l.55-68 (Login to GHCR); \
                 @stable-11031 l.47-59 (Login to DockerHub); docker-compose.yml@stable-11146 l.4; DJM dcb7980b, \
                 52b4ac89 (\"No dual-publish: images go straight to GHCR\")",
        first_nightly: Some("2026-06-26"),
        apply: |f| f.registry = Registry::Ghcr,
    },
    Change {
        since: 11146,
        fact: "rootless containers (uid 1000, USER s6) on a read-only root with tmpfs /run and /tmp; prosody \
               needs a writable /var/lib/prosody and web a writable /storage (compose mounts \
               ${CONFIG}/storage/prosody and ${CONFIG}/storage/web there; check-writable exits 1 otherwise)",
        source: "DJM 086d047f (PR #2258); docker-compose.yml@stable-11146 (read_only, tmpfs, volumes); \
                 base/rootfs/usr/bin/check-writable@stable-11146-2",
        first_nightly: Some("2026-06-20"),
        apply: |f| {
            f.rootless = true;
            f.writable_volumes = &[("prosody", "/var/lib/prosody"), ("web", "/storage")];
        },
    },
    Change {
        since: 11146,
        fact: "prosody's config is rendered into /run/prosody/config (a tmpfs), so prosodyctl needs \
               --config /run/prosody/config/prosody.cfg.lua",
        source: "DJM 086d047f (PR #2258), prosody/rootfs/etc/s6-overlay/scripts/config@stable-11146 l.16 \
                 (PROSODY_CFG)",
        first_nightly: Some("2026-06-20"),
        apply: |f| f.prosody_config_file = "/run/prosody/config/prosody.cfg.lua",
    },
    Change {
        since: 11146,
        fact: "nginx in the web container listens on 8000/8443 (was 80/443)",
        source: "DJM f8347236, web/rootfs/defaults/default@stable-11146",
        first_nightly: Some("2026-06-21"),
        apply: |f| {
            f.web_http_port = 8000;
            f.web_https_port = 8443;
        },
    },
    Change {
        since: 11146,
        fact: "colibri websockets removed: web no longer resolves the jvb",
        source: "DJM 9ea0cbba (PR #2285)",
        first_nightly: Some("2026-07-30"),
        apply: |f| f.web_looks_up_jvb = false,
    },
    Change {
        since: 11146,
        fact: "MUC nick changes are refused (INFERRED: the jitsi-meet commit of 11146 is not pinned)",
        source: "jitsi/jitsi-meet 2f6b3134a (PR #17586, 2026-07-06) mod_muc_resource_validate.lua; not in \
                 stable/jitsi-meet_11031 (e3f15954); jicofo's 11146 tag commit is dated 2026-07-16",
        first_nightly: None,
        apply: |f| f.nick_changes_refused = true,
    },
];

/// Which known release a tag's facts come from, and why, when that is not the tag itself.
fn basis(release: &Release) -> (u32, String, Option<String>) {
    let newest = newest_known();
    match release {
        Release::Stable { number, .. } => {
            let tag = release.tag();
            if KNOWN_RELEASES.iter().any(|k| k.tag == tag) {
                return (*number, tag, None);
            }
            // A well-formed tag this table has not seen: the rows up to its number still apply, but a
            // change made in it would be missing.
            let nearest = KNOWN_RELEASES
                .iter()
                .rev()
                .find(|k| k.number <= *number)
                .map(|k| k.tag)
                .unwrap_or("none (older than every known release)");
            (
                *number,
                tag.clone(),
                Some(format!(
                    "{tag} is not a known release: facts of the rows up to {number} (nearest known: \
                     {nearest}); a change first made in it would be missing"
                )),
            )
        }
        Release::LatestStable | Release::Unstable => (
            newest.number,
            newest.tag.to_owned(),
            Some(format!(
                "`{release}` is a moving tag: facts of the newest known release {}; a newer release may differ",
                newest.tag
            )),
        ),
        Release::Nightly { year, month, day } => {
            let date = format!("{year:04}-{month:02}-{day:02}");
            // A nightly contains at least every stable release tagged on or before its day.
            match KNOWN_RELEASES.iter().rev().find(|k| k.date <= date.as_str()) {
                Some(k) => (
                    k.number,
                    k.tag.to_owned(),
                    Some(format!(
                        "`{release}` is a nightly: facts of {}, the newest known release tagged on or \
                         before {date}, plus the changes this table dates by their first nightly; other changes \
                         merged after it are not known",
                        k.tag
                    )),
                ),
                None => (
                    0,
                    "none".to_owned(),
                    Some(format!(
                        "`{release}` is older than every known release: facts before stable-8719"
                    )),
                ),
            }
        }
    }
}

/// The facts of `release`: [`Facts::OLDEST`] with every row of [`CHANGES`] up to the release applied.
/// Moving tags (`stable`, `unstable`) get the newest known facts, nightlies those of the newest known
/// release on or before their date, unknown stable numbers those of the rows up to their number; all three
/// say so in [`Facts::note`].
pub fn facts(release: &Release) -> Facts {
    let (number, facts_of, note) = basis(release);
    // A nightly also has every change that was on master when it was built, released or not (DJM's
    // `unstable-DATE` images are built from master: .github/workflows/unstable.yml@stable-11146-2).
    let nightly_day = match release {
        Release::Nightly { year, month, day } => Some(format!("{year:04}-{month:02}-{day:02}")),
        _ => None,
    };
    let mut f = Facts::OLDEST;
    let applies = |c: &&Change| {
        c.since <= number
            || matches!((&nightly_day, c.first_nightly), (Some(day), Some(first)) if first <= day.as_str())
    };
    for change in CHANGES.iter().filter(applies) {
        (change.apply)(&mut f);
    }
    f.release = release.clone();
    f.facts_of = facts_of;
    f.note = note;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Release {
        s.parse().unwrap()
    }

    #[test]
    fn changes_are_sorted_by_since() {
        assert!(CHANGES.windows(2).all(|w| w[0].since <= w[1].since));
        assert!(CHANGES
            .iter()
            .all(|c| !c.source.is_empty() && !c.fact.is_empty()));
    }

    #[test]
    fn known_releases_are_sorted_and_parse() {
        assert!(KNOWN_RELEASES
            .windows(2)
            .all(|w| (w[0].number, w[0].date) <= (w[1].number, w[1].date)));
        for k in KNOWN_RELEASES {
            let release = r(k.tag);
            assert_eq!(release.tag(), k.tag);
            assert!(matches!(release, Release::Stable { number, .. } if number == k.number));
        }
    }

    #[test]
    fn every_tag_form_parses_and_prints_back() {
        for tag in [
            "stable-8719",
            "stable-11146-2",
            "stable-10073-1",
            "stable",
            "unstable",
            "unstable-2026-11-01",
        ] {
            assert_eq!(r(tag).to_string(), tag);
        }
        assert_eq!(
            r("stable-11146-2"),
            Release::Stable {
                number: 11146,
                hotfix: Some(2)
            }
        );
        assert_eq!(
            r("unstable-2026-11-01"),
            Release::Nightly {
                year: 2026,
                month: 11,
                day: 1
            }
        );
        assert!(r("stable").is_moving() && !r("stable-1").is_moving());
    }

    #[test]
    fn bad_forms_are_errors_listing_the_accepted_forms() {
        for bad in [
            "",
            "latest",
            "11146",
            "stable-",
            "stable-abc",
            "stable-0",
            "stable-11146-",
            "stable-11146-x",
            "stable-11146-2-1",
            "Stable-11146",
            "unstable-",
            "unstable-2026-1-01",
            "unstable-2026-13-01",
            "unstable-2026-11-00",
            "unstable-2026-11-01-amd64",
            "stable-99999999999",
        ] {
            let e = bad.parse::<Release>().unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
            for form in ["stable-NNNN", "stable-NNNN-N", "unstable-YYYY-MM-DD"] {
                assert!(e.contains(form), "{bad}: {e}");
            }
        }
    }

    #[test]
    fn facts_for_specific_tags() {
        let f = facts(&r("stable-8719"));
        assert_eq!(
            (f.registry, f.web_http_port, f.web_https_port),
            (Registry::DockerHub, 80, 443)
        );
        assert!(f.jicofo_enable_auth_env && !f.wait_for_host_module && !f.web_looks_up_jvb);
        assert_eq!(f.token_affiliation, TokenAffiliation::Unavailable);
        assert_eq!(f.note, None);

        let f = facts(&r("stable-9111"));
        assert!(f.web_looks_up_jvb && f.wait_for_host_module && !f.c2s_requires_tls);

        let f = facts(&r("stable-10133"));
        assert_eq!(f.prosody_series, "13");
        assert!(f.component_admins_as_room_owners && !f.jicofo_rest_loopback_by_default);

        let f = facts(&r("stable-10741"));
        assert!(f.prosody_ready_log.is_some());
        assert!(facts(&r("stable-10710")).prosody_ready_log.is_none());

        let f = facts(&r("stable-11031"));
        assert_eq!(f.registry, Registry::DockerHub);
        assert!(f.web_looks_up_jvb && f.nick_validation && !f.rootless);
        assert!(f.writable_volumes.is_empty());

        for tag in ["stable-11146", "stable-11146-1", "stable-11146-2"] {
            let f = facts(&r(tag));
            assert_eq!(f.registry, Registry::Ghcr);
            assert_eq!(
                f.writable_volumes,
                [("prosody", "/var/lib/prosody"), ("web", "/storage")]
            );
            assert_eq!((f.web_http_port, f.web_https_port), (8000, 8443));
            assert!(f.rootless && !f.web_looks_up_jvb);
            assert_eq!(f.facts_of, tag);
        }
    }

    #[test]
    fn moving_and_unknown_tags_say_whose_facts_they_get() {
        let newest = newest_known().tag;
        for tag in ["stable", "unstable"] {
            let f = facts(&r(tag));
            assert_eq!(f.facts_of, newest);
            let note = f.note.unwrap();
            assert!(note.contains("moving") && note.contains(newest), "{note}");
        }
        // A nightly between stable-10978 (2026-05-20) and stable-11031 (2026-06-08).
        let f = facts(&r("unstable-2026-06-01"));
        assert_eq!(f.facts_of, "stable-10978");
        assert_eq!(f.registry, Registry::DockerHub);
        // Master went rootless (2026-06-19), to 8000/8443 (06-20) and to GHCR (06-25) before stable-11146
        // (08-03): nightlies of those weeks have what was merged by their day, not stable-11031's layout.
        let f = facts(&r("unstable-2026-06-18"));
        assert!(!f.rootless && f.web_https_port == 443 && f.registry == Registry::DockerHub);
        let f = facts(&r("unstable-2026-06-22"));
        assert_eq!(f.facts_of, "stable-11031");
        assert!(f.rootless && f.web_https_port == 8443 && f.registry == Registry::DockerHub);
        assert!(f.web_looks_up_jvb);
        let f = facts(&r("unstable-2026-07-30"));
        assert_eq!(f.registry, Registry::Ghcr);
        assert!(!f.web_looks_up_jvb);
        let f = facts(&r("unstable-2030-01-01"));
        assert_eq!(f.facts_of, newest);
        let f = facts(&r("unstable-2020-01-01"));
        assert_eq!(f.facts_of, "none");
        assert!(!f.jicofo_enable_auth_env);
        // Unknown stable number: the rows up to it.
        let f = facts(&r("stable-11248-2"));
        assert_eq!(f.registry, Registry::Ghcr);
        assert!(f.note.unwrap().contains("not a known release"));
        assert!(!facts(&r("stable-8615")).jicofo_enable_auth_env);
    }

    #[test]
    fn a_number_never_published_names_the_nearest_releases() {
        let e = check_known(&r("stable-11100")).unwrap_err();
        assert_eq!(
            e.nearest,
            [
                "stable-10978",
                "stable-11031",
                "stable-11146",
                "stable-11146-1"
            ]
        );
        assert!(e.to_string().contains("`stable-11100`"), "{e}");
        for ok in [
            "stable-11146-3",
            "stable-99999",
            "stable-8615",
            "stable",
            "unstable-2026-07-01",
        ] {
            assert_eq!(check_known(&r(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn facts_of_every_known_tag() {
        let all: Vec<Facts> = KNOWN_RELEASES
            .iter()
            .map(|k| facts(&r(k.tag)))
            .chain(["stable", "unstable"].iter().map(|t| facts(&r(t))))
            .collect();
        insta::assert_yaml_snapshot!("facts", all);
    }
}
