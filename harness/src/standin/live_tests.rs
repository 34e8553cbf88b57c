//! The jicofo and jvb stand-ins against the local docker-jitsi-meet-shaped Prosody image
//! (`jitsi-harness.local/jitsi/prosody:stable-11146`, built by `docker/jitsi/build.sh`), run as
//! docker-jitsi-meet's compose file runs it at that release (read-only root, tmpfs `/run` and `/tmp`, a
//! data volume). Skipped, with a note on stderr, without Docker or that image.
//!
//! One bot asks `focus.meet.jitsi` for a room through Prosody's `client_proxy`, joins, and must be made
//! owner by the jicofo stand-in (auto-owner); jicofo's REST view must agree; `/about/health` must turn 200
//! once the jvb stand-in is in the brewery.

use std::time::{Duration, Instant};

use tokio::process::Command;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::muc::Muc;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::env::Env;
use super::{jicofo, jvb};
use crate::xmpp::stanza::from_wire;
use crate::xmpp::websocket::{Timeouts, XmppWebSocket};
use crate::xmpp::Conference;

const IMAGE: &str = "jitsi-harness.local/jitsi/prosody:stable-11146";

async fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("docker {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the container and its volume when the test ends, however it ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", "-v", &self.0])
            .output();
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", &format!("{}-data", self.0)])
            .output();
    }
}

async fn host_port(name: &str, port: &str) -> u16 {
    let mapping = docker(&["port", name, port]).await.unwrap();
    mapping
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no host port for {port}: {mapping:?}"))
}

async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            started.elapsed() < deadline,
            "{what} did not happen within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_is_made_owner_through_client_proxy_and_health_needs_the_bridge() {
    if docker(&["image", "inspect", IMAGE]).await.is_err() {
        eprintln!("skipped: Docker or {IMAGE} is not available (docker/jitsi/build.sh builds it)");
        return;
    }
    // No `jitsi-harness.run-id` label: the harness's leftover sweep (stack::docker) would remove a
    // container carrying it without its owner labels while the test runs.
    let name = format!("jh-standin-test-{}", uuid::Uuid::new_v4().simple());
    let _cleanup = Cleanup(name.clone());
    let volume = format!("{name}-data:/var/lib/prosody");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--read-only",
        "--tmpfs",
        "/run:size=16M,mode=1750,exec,uid=1000,gid=1000",
        "--tmpfs",
        "/tmp:size=16M,mode=1777,noexec",
        "-v",
        &volume,
        "-p",
        "127.0.0.1::5222",
        "-p",
        "127.0.0.1::5280",
        "-e",
        "ENABLE_IPV6=0",
        "-e",
        "JICOFO_AUTH_PASSWORD=test-focus",
        "-e",
        "JVB_AUTH_PASSWORD=test-jvb",
        IMAGE,
    ])
    .await
    .unwrap();
    wait_for(
        "prosody's register-setup ready line",
        Duration::from_secs(90),
        || async {
            docker(&["logs", &name])
                .await
                .ok()
                .filter(|l| {
                    l.contains("All users registered and roster modified, service completed")
                })
                .map(|_| ())
        },
    )
    .await;
    let c2s = host_port(&name, "5222/tcp").await.to_string();
    let http = host_port(&name, "5280/tcp").await;

    let env = |pairs: &[(&'static str, &str)]| {
        let mut all = vec![("XMPP_SERVER", "127.0.0.1"), ("XMPP_PORT", c2s.as_str())];
        all.extend_from_slice(pairs);
        Env::from_pairs(all)
    };
    let jicofo_config = jicofo::JicofoConfig::from_env(&env(&[
        ("JICOFO_AUTH_PASSWORD", "test-focus"),
        ("JICOFO_ENABLE_HEALTH_CHECKS", "1"),
    ]))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rest = format!("http://{}", listener.local_addr().unwrap());
    let jicofo_task = tokio::spawn(jicofo::run_with_listener(jicofo_config, listener));
    let client = crate::http::Http::with_timeout(Duration::from_secs(5)).unwrap();

    // Health needs an operational bridge: once connected, 500 naming the missing bridge until the jvb
    // stand-in is in the brewery.
    let status = |client: crate::http::Http, url: String| async move {
        client.get(&url).await.ok().map(|r| (r.status, r.text()))
    };
    let health = format!("{rest}/about/health");
    wait_for(
        "health 500 for want of a bridge (XMPP connected)",
        Duration::from_secs(30),
        || {
            let (client, url) = (client.clone(), health.clone());
            async move {
                status(client, url)
                    .await
                    .filter(|(code, body)| *code == 500 && body.contains("bridge"))
            }
        },
    )
    .await;
    let jvb_config =
        jvb::JvbConfig::from_env(&env(&[("JVB_AUTH_PASSWORD", "test-jvb")]), "jvb-test").unwrap();
    let jvb_task = tokio::spawn(jvb::run(jvb_config));
    wait_for(
        "health 200 with the bridge",
        Duration::from_secs(30),
        || {
            let (client, url) = (client.clone(), health.clone());
            async move { status(client, url).await.filter(|(code, _)| *code == 200) }
        },
    )
    .await;

    // A bot: conference request through client_proxy, join, owner grant.
    let mut ws = XmppWebSocket::connect(
        &format!("ws://127.0.0.1:{http}/xmpp-websocket"),
        false,
        Timeouts::default(),
        None,
    )
    .await
    .unwrap();
    let me = ws.login("meet.jitsi", Timeouts::default()).await.unwrap();
    let mut request = Iq::from_set("c1", Conference::request("r1@muc.meet.jitsi", "m-1"));
    *request.to_mut() = Some("focus.meet.jitsi".parse().unwrap());
    ws.send(request.into()).await.unwrap();
    let answer = ws
        .recv(Duration::from_secs(10), "the conference answer")
        .await
        .unwrap();
    // Answered through client_proxy, which de-NATs the answer to come from its own address.
    assert_eq!(
        answer.attr("from"),
        Some("focus.meet.jitsi"),
        "{}",
        String::from(&answer)
    );
    let Ok(Iq::Result {
        payload: Some(payload),
        ..
    }) = Iq::try_from(from_wire(answer.clone()))
    else {
        panic!("not a result: {}", String::from(&answer));
    };
    let conference = Conference::try_from(payload).unwrap();
    assert!(conference.is_ready());
    assert_eq!(
        conference.focusjid.as_deref(),
        Some("focus@auth.meet.jitsi")
    );
    let join = Presence::new(PresenceType::None)
        .with_to(
            "r1@muc.meet.jitsi/alice"
                .parse::<xmpp_parsers::jid::Jid>()
                .unwrap(),
        )
        .with_payload(Muc::new());
    ws.send(join.into()).await.unwrap();
    let started = Instant::now();
    loop {
        let el = ws
            .recv(Duration::from_secs(10), "the owner grant")
            .await
            .unwrap();
        let text = String::from(&el);
        if text.contains("r1@muc.meet.jitsi/alice") && text.contains("affiliation='owner'") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no owner grant"
        );
    }
    let body = client
        .get(&format!("{rest}/debug/conference/r1@muc.meet.jitsi"))
        .await
        .unwrap()
        .text();
    let view = crate::participant::jicofo::parse_conference(body.as_bytes()).unwrap();
    assert_eq!(view.role_manager.as_deref(), Some("AutoOwnerRoleManager"));
    assert_eq!(
        view.owner.as_deref(),
        Some(me.to_string().as_str()),
        "{body}"
    );
    assert!(view.members["alice"].is_moderator(), "{body}");

    ws.close().await;
    jicofo_task.abort();
    jvb_task.abort();
}
