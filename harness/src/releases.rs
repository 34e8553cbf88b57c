//! Which docker-jitsi-meet releases exist: the stable releases published on GitHub, newest first.
//!
//! In: GitHub's REST API (`GET /repos/jitsi/docker-jitsi-meet/releases`, paginated with `Link: <…>; rel="next"`
//! headers, documented at docs.github.com "REST API endpoints for releases" and "Using pagination in the REST
//! API"), an optional `GITHUB_TOKEN`, a cache file with a time to live. Out: a [`ReleaseList`] of
//! (`stable-NNNN[-N]`, date) pairs, newest first, and the releases newer than a given tag (what a scheduled
//! workflow needs to decide what to test). The versions table keeps facts only: a release newer than every row
//! gets the newest facts with a note (`versions::facts`).
//!
//! The API's base URL can be changed (`JITSI_HARNESS_GITHUB_API`), which the tests use to serve pages in the
//! API's documented shape from a local server.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::http::{Http, HttpError, HttpOptions};
use crate::versions::Release;

/// The repository whose releases are the Jitsi releases the harness tests.
pub const REPOSITORY: &str = "jitsi/docker-jitsi-meet";
/// GitHub's REST API.
pub const DEFAULT_API: &str = "https://api.github.com";
/// Env variable naming another API base URL (a GitHub Enterprise mirror, or a test server).
pub const API_ENV: &str = "JITSI_HARNESS_GITHUB_API";
/// Env variable with a GitHub token (optional; raises the rate limit from 60 to 5,000 requests an hour).
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";
/// How long a cached list is used before the API is asked again. Stable releases come every few weeks; an
/// hour keeps a laptop from asking on every command and a scheduled workflow (hourly at most) fresh.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// Pages of 100 (the API's maximum); 20 pages is far more than docker-jitsi-meet has ever published.
const MAX_PAGES: usize = 20;

/// One published stable release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedRelease {
    /// The tag, e.g. `stable-11146-2`.
    pub tag: String,
    /// The day it was published, `YYYY-MM-DD`.
    pub date: String,
}

impl PublishedRelease {
    fn release(&self) -> Option<(u32, u32)> {
        match self.tag.parse::<Release>().ok()? {
            Release::Stable { number, hotfix } => Some((number, hotfix.unwrap_or(0))),
            _ => None,
        }
    }
}

/// Orders stable tags by (number, hotfix): `stable-11146` < `stable-11146-1` < `stable-11248`.
fn order(a: &PublishedRelease, b: &PublishedRelease) -> Ordering {
    a.release()
        .cmp(&b.release())
        .then_with(|| a.date.cmp(&b.date))
}

/// The stable releases, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseList {
    /// Stable releases, newest first, each tag once.
    pub releases: Vec<PublishedRelease>,
}

impl ReleaseList {
    fn new(mut releases: Vec<PublishedRelease>) -> Self {
        releases.sort_by(|a, b| order(b, a));
        releases.dedup_by(|a, b| a.tag == b.tag);
        ReleaseList { releases }
    }

    /// Releases strictly newer than `tag` (which need not be in the list), newest first.
    pub fn newer_than(&self, tag: &str) -> Result<Vec<PublishedRelease>, ReleasesError> {
        let pivot = PublishedRelease {
            tag: tag.to_owned(),
            date: String::new(),
        };
        if pivot.release().is_none() {
            return Err(ReleasesError::BadTag {
                tag: tag.to_owned(),
                hint: "expected a stable tag such as stable-11146 or stable-11146-2".into(),
            });
        }
        Ok(self
            .releases
            .iter()
            .filter(|r| r.release() > pivot.release())
            .cloned()
            .collect())
    }
}

/// Why the release list could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReleasesError {
    /// No answer from the API (offline, DNS, TLS, timeout).
    #[error("cannot reach GitHub's API for {REPOSITORY} releases: {source}; check the network (or set {API_ENV} to a reachable mirror)")]
    Unreachable {
        /// What the HTTP client saw.
        #[source]
        source: HttpError,
    },
    /// The API refused: rate limit or bad credentials.
    #[error("GitHub's API refused the release list (HTTP {status}{}): {message}; {hint}", reset.as_deref().map(|r| format!(", limit resets at {r}")).unwrap_or_default())]
    Refused {
        /// The HTTP status (403, 429, 401, …).
        status: u16,
        /// GitHub's own message.
        message: String,
        /// When the rate limit resets, if it was the rate limit.
        reset: Option<String>,
        /// What to do.
        hint: String,
    },
    /// The API answered something that is not a release list.
    #[error("unexpected answer from {url}: {reason}")]
    Unexpected {
        /// The page asked for.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A tag that is not a stable release.
    #[error("`{tag}` is not a stable release tag: {hint}")]
    BadTag {
        /// The tag as given.
        tag: String,
        /// What a good one looks like.
        hint: String,
    },
    /// The state file of `--new-since` could not be read.
    #[error("cannot read the last tested release from {}: {source}; create it with the last tag you tested, e.g. `echo stable-11146-2 > {}`", path.display(), path.display())]
    State {
        /// The state file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
}

impl ReleasesError {
    /// Whether this is the infrastructure's fault (network, rate limit) rather than bad input.
    pub fn is_infrastructure(&self) -> bool {
        matches!(
            self,
            ReleasesError::Unreachable { .. }
                | ReleasesError::Refused { .. }
                | ReleasesError::Unexpected { .. }
        )
    }
}

/// Where and how to ask.
#[derive(Clone, Debug)]
pub struct ReleaseSource {
    /// API base URL, e.g. `https://api.github.com`.
    pub api: String,
    /// `GITHUB_TOKEN`, if any (never printed).
    pub token: Option<crate::redact::Secret>,
    /// Cache file; `None` disables the cache.
    pub cache: Option<PathBuf>,
    /// How long a cached list is fresh.
    pub ttl: Duration,
    /// Deadline of one API request.
    pub timeout: Duration,
}

impl ReleaseSource {
    /// From the environment: `JITSI_HARNESS_GITHUB_API`, `GITHUB_TOKEN`, the cache under `$XDG_CACHE_HOME`
    /// (or `~/.cache`)`/jitsi-harness/`.
    pub fn from_env() -> Self {
        let api = std::env::var(API_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_API.to_owned());
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(crate::redact::Secret::new);
        let cache_root = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
        // One cache file per API base, so a test server never fills the real cache.
        let cache = cache_root.map(|root| {
            let key = hex::encode(&sha2_digest(api.as_bytes())[..6]);
            root.join("jitsi-harness")
                .join(format!("releases-{key}.json"))
        });
        ReleaseSource {
            api,
            token,
            cache,
            ttl: DEFAULT_TTL,
            timeout: Duration::from_secs(20),
        }
    }

    /// The stable releases, newest first: from the cache when it is fresh, else from the API (then cached).
    pub async fn list(&self) -> Result<ReleaseList, ReleasesError> {
        if let Some(list) = self.cached() {
            return Ok(list);
        }
        let list = self.fetch().await?;
        self.store(&list);
        Ok(list)
    }

    fn cached(&self) -> Option<ReleaseList> {
        let path = self.cache.as_ref()?;
        let age = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())?;
        if age > self.ttl {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn store(&self, list: &ReleaseList) {
        let Some(path) = &self.cache else { return };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, serde_json::to_vec(list)?)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            // A cache that cannot be written costs one request next time; not an error.
            tracing::debug!("cannot write the releases cache {}: {e}", path.display());
        }
    }

    /// Every page of the API's release list.
    pub async fn fetch(&self) -> Result<ReleaseList, ReleasesError> {
        let http = Http::new(HttpOptions {
            timeout: self.timeout,
            insecure_tls: false,
        })
        .map_err(|source| ReleasesError::Unreachable { source })?;
        let mut url = format!(
            "{}/repos/{REPOSITORY}/releases?per_page=100",
            self.api.trim_end_matches('/')
        );
        let mut found = Vec::new();
        for _ in 0..MAX_PAGES {
            let auth = self
                .token
                .as_ref()
                .map(|t| format!("Bearer {}", t.expose()));
            let mut headers = vec![
                ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", "2022-11-28"),
            ];
            if let Some(a) = &auth {
                headers.push(("Authorization", a.as_str()));
            }
            let response = http
                .get_with(&url, &headers)
                .await
                .map_err(|source| ReleasesError::Unreachable { source })?;
            if response.status != 200 {
                return Err(refusal(&response));
            }
            let page: Vec<ApiRelease> =
                serde_json::from_slice(&response.body).map_err(|e| ReleasesError::Unexpected {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
            found.extend(page.into_iter().filter_map(ApiRelease::stable));
            match next_link(&response.headers) {
                Some(next) => url = next,
                None => return Ok(ReleaseList::new(found)),
            }
        }
        Err(ReleasesError::Unexpected {
            url,
            reason: format!("more than {MAX_PAGES} pages of releases"),
        })
    }
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

/// One element of the API's release list (only the fields used).
#[derive(Deserialize)]
struct ApiRelease {
    tag_name: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    published_at: Option<String>,
    created_at: Option<String>,
}

impl ApiRelease {
    fn stable(self) -> Option<PublishedRelease> {
        if self.draft || self.prerelease {
            return None;
        }
        let release = PublishedRelease {
            tag: self.tag_name,
            date: self
                .published_at
                .or(self.created_at)
                .map(|d| d.chars().take(10).collect())
                .unwrap_or_default(),
        };
        release.release().map(|_| release)
    }
}

/// The `rel="next"` URL of a `Link` header (RFC 8288), as GitHub paginates.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim();
                p == "rel=\"next\"" || p == "rel=next"
            });
            (is_next && target.starts_with('<') && target.ends_with('>'))
                .then(|| target[1..target.len() - 1].to_owned())
        })
}

/// A non-200 answer: the API's own message, the rate-limit reset, and what to do.
fn refusal(response: &crate::http::Response) -> ReleasesError {
    #[derive(Deserialize)]
    struct ApiMessage {
        message: Option<String>,
    }
    let message = serde_json::from_slice::<ApiMessage>(&response.body)
        .ok()
        .and_then(|m| m.message)
        .unwrap_or_else(|| response.text().chars().take(200).collect());
    let header = |name: &str| {
        response
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let limited = header("x-ratelimit-remaining").as_deref() == Some("0")
        || response.status == 429
        || message.to_lowercase().contains("rate limit");
    let reset = header("x-ratelimit-reset")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|epoch| format!("{epoch} (unix time)"));
    let hint = if limited {
        format!("rate-limited: set {TOKEN_ENV} to a GitHub token (5,000 requests an hour instead of 60), or wait for the reset")
    } else if response.status == 401 {
        format!("{TOKEN_ENV} was refused: check or unset it")
    } else {
        format!("retry later; with a private mirror check {API_ENV}")
    };
    ReleasesError::Refused {
        status: response.status,
        message,
        reset: if limited { reset } else { None },
        hint,
    }
}

/// The last tested release recorded in `path` (its first non-empty line), for `releases --new-since`.
pub fn read_state(path: &Path) -> Result<String, ReleasesError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReleasesError::State {
        path: path.to_owned(),
        source,
    })?;
    let tag = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default()
        .to_owned();
    if tag.is_empty() {
        return Err(ReleasesError::BadTag {
            tag,
            hint: format!("{} holds no tag", path.display()),
        });
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn rel(tag: &str, date: &str) -> PublishedRelease {
        PublishedRelease {
            tag: tag.into(),
            date: date.into(),
        }
    }

    #[test]
    fn newest_first_by_number_then_hotfix() {
        let list = ReleaseList::new(vec![
            rel("stable-11031", "2026-06-08"),
            rel("stable-11146-2", "2026-08-17"),
            rel("stable-9111", "2023-11-21"),
            rel("stable-11146", "2026-08-03"),
            rel("stable-11146-1", "2026-08-05"),
        ]);
        let tags: Vec<&str> = list.releases.iter().map(|r| r.tag.as_str()).collect();
        assert_eq!(
            tags,
            [
                "stable-11146-2",
                "stable-11146-1",
                "stable-11146",
                "stable-11031",
                "stable-9111"
            ]
        );
        let newer: Vec<String> = list
            .newer_than("stable-11146")
            .unwrap()
            .into_iter()
            .map(|r| r.tag)
            .collect();
        assert_eq!(newer, ["stable-11146-2", "stable-11146-1"]);
        assert!(list.newer_than("stable-11146-2").unwrap().is_empty());
        assert!(matches!(
            list.newer_than("latest"),
            Err(ReleasesError::BadTag { .. })
        ));
    }

    #[test]
    fn link_header_next_page() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            "<https://x/r?page=3>; rel=\"last\", <https://x/r?page=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(next_link(&h).as_deref(), Some("https://x/r?page=2"));
        h.insert(
            reqwest::header::LINK,
            "<https://x/r?page=1>; rel=\"prev\"".parse().unwrap(),
        );
        assert_eq!(next_link(&h), None);
    }

    /// One page: status, body, extra headers.
    type Page = (u16, String, Vec<(&'static str, String)>);

    /// Serves `pages` in order, one per connection, as GitHub does: a JSON array and a `Link` header to the
    /// next page.
    fn serve(listener: tokio::net::TcpListener, pages: Vec<Page>) {
        tokio::spawn(async move {
            for (status, body, headers) in pages {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            }
        });
    }

    /// A local server for `pages`; returns its base URL.
    async fn api(pages: Vec<Page>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        serve(listener, pages);
        base
    }

    fn source(api: &str) -> ReleaseSource {
        ReleaseSource {
            api: api.to_owned(),
            token: None,
            cache: None,
            ttl: DEFAULT_TTL,
            timeout: Duration::from_secs(3),
        }
    }

    #[tokio::test]
    async fn pages_are_followed_and_only_stable_releases_kept() {
        let page1 = r#"[{"tag_name":"stable-11146-2","published_at":"2026-08-17T10:00:00Z","draft":false,"prerelease":false},
                        {"tag_name":"unstable-2026-08-18","published_at":"2026-08-18T00:00:00Z","prerelease":true},
                        {"tag_name":"stable-11146","published_at":"2026-08-03T09:00:00Z"}]"#;
        let page2 = r#"[{"tag_name":"stable-11031","published_at":"2026-06-08T12:00:00Z"},
                        {"tag_name":"web-1.0","published_at":"2020-01-01T00:00:00Z"},
                        {"tag_name":"stable-11248","published_at":"2026-10-01T00:00:00Z","draft":true}]"#;
        // Serve both pages from one server whose address the first page names.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let next =
            format!("<{base}/repos/{REPOSITORY}/releases?per_page=100&page=2>; rel=\"next\"");
        let pages = vec![
            (200u16, page1.to_owned(), vec![("link", next)]),
            (200u16, page2.to_owned(), vec![]),
        ];
        serve(listener, pages);
        let list = source(&base).fetch().await.unwrap();
        assert_eq!(
            list.releases,
            vec![
                rel("stable-11146-2", "2026-08-17"),
                rel("stable-11146", "2026-08-03"),
                rel("stable-11031", "2026-06-08"),
            ]
        );
    }

    #[tokio::test]
    async fn rate_limit_and_offline_are_infrastructure_errors_with_the_token_hint() {
        let base = api(vec![(
            403,
            r#"{"message":"API rate limit exceeded for 10.0.0.1."}"#.to_owned(),
            vec![
                ("x-ratelimit-remaining", "0".to_owned()),
                ("x-ratelimit-reset", "1798765432".to_owned()),
            ],
        )])
        .await;
        let e = source(&base).fetch().await.unwrap_err();
        let text = e.to_string();
        assert!(e.is_infrastructure(), "{text}");
        assert!(
            text.contains("rate") && text.contains(TOKEN_ENV) && text.contains("1798765432"),
            "{text}"
        );

        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = source(&format!("http://127.0.0.1:{port}"))
            .fetch()
            .await
            .unwrap_err();
        assert!(matches!(e, ReleasesError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains(API_ENV), "{e}");
    }

    #[tokio::test]
    async fn a_fresh_cache_answers_without_the_api() {
        let dir = tempfile_dir();
        let mut s = source("http://127.0.0.1:9");
        s.cache = Some(dir.join("releases.json"));
        let list = ReleaseList::new(vec![rel("stable-11146", "2026-08-03")]);
        s.store(&list);
        assert_eq!(s.list().await.unwrap(), list);
        s.ttl = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.list().await.is_err(), "a stale cache must not answer");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn state_file_gives_the_last_tested_tag() {
        let dir = tempfile_dir();
        let path = dir.join("last");
        std::fs::write(&path, "# last tested\n\nstable-11146-1\n").unwrap();
        assert_eq!(read_state(&path).unwrap(), "stable-11146-1");
        let e = read_state(&dir.join("missing")).unwrap_err();
        assert!(e.to_string().contains("echo stable-"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "jh-releases-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
