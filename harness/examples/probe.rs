use harness::participant::{Bot, BotConfig, BotJoin, BotTimeouts};
use harness::stack::{Stack, StackTarget, StartOptions, Variants};
use harness::token::{self, TokenOverrides, TokenRequest, UserInfo};
use std::io::BufRead;
use std::time::{Duration, Instant};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let variants = Variants::parse(
            std::path::Path::new("b.toml"),
            "[b]\ndescription=\"\"\njwt=true\njicofo_auth=false\nfaults={open_rooms=true}\n",
        )
        .unwrap();
        let target: StackTarget = "fixture:13".parse().unwrap();
        let stack = Stack::start(
            &target,
            variants.get("b").unwrap(),
            &StartOptions::new("/tmp/probe"),
        )
        .await
        .unwrap();
        let ep = stack.endpoints().clone();
        let tok = token::mint(
            &ep.signing,
            &TokenRequest::new(
                ep.app_id.clone(),
                ep.domain.clone(),
                "*",
                UserInfo::new("x", "x"),
            ),
            &TokenOverrides::default(),
        )
        .unwrap();
        std::fs::write(
            "/tmp/probe.env",
            format!("WS={}\nTOKEN={}\n", ep.websocket, tok.expose()),
        )
        .unwrap();
        eprintln!("ready");
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let l = line.unwrap();
            let mut parts = l.split_whitespace();
            let n: usize = match parts.next().and_then(|v| v.parse().ok()) {
                Some(n) => n,
                None => break,
            };
            let stagger: u64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
            let config = BotConfig {
                websocket: ep.websocket.clone(),
                domain: ep.domain.clone(),
                muc_domain: ep.muc_domain.clone(),
                focus_domain: ep.focus_domain.clone(),
                insecure_tls: false,
                timeouts: BotTimeouts {
                    join: Duration::from_secs(300),
                    connect: harness::xmpp::websocket::Timeouts {
                        connect: Duration::from_secs(120),
                        reply: Duration::from_secs(120),
                    },
                    ..Default::default()
                },
                skip_focus: true,
            };
            let room = format!("p{}", uuid::Uuid::new_v4().simple());
            let t0 = Instant::now();
            let bots: Vec<Bot> = futures::future::join_all((0..n).map(|i| {
                let config = &config;
                let room = &room;
                let tok = &tok;
                async move {
                    tokio::time::sleep(Duration::from_micros(stagger * i as u64)).await;
                    Bot::join(
                        config,
                        BotJoin {
                            room: room.clone(),
                            nick: format!("u{i}"),
                            token: Some(tok.clone()),
                            machine_uid: "m".into(),
                            display_name: None,
                            transcript: None,
                        },
                    )
                    .await
                }
            }))
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
            loop {
                if bots
                    .iter()
                    .all(|b| b.with_roster(|_, r| r.occupants.len() >= n))
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            println!(
                "bots n={n} stagger={stagger}us converged in {:.2}",
                t0.elapsed().as_secs_f64()
            );
            futures::future::join_all(bots.into_iter().map(|b| b.close())).await;
        }
        stack.close().await.unwrap();
    });
}
