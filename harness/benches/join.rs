//! `just bench`: the harness's bot against the plain Python client a user would write instead
//! (`../shared/bench/baseline_join.py`), side by side in one run on one fixture stack, reported as
//! ratios (machines are shared and noisy; ratios travel, absolute times do not).
//!
//! * sequential joins, connect → own role known, p50/p95: baseline vs bot without the focus request
//!   (the baseline skips it), and the full Jitsi join (with the focus) reported separately;
//! * N concurrent clients in one room (N = 100, 200, 500): time until every roster is complete, client
//!   CPU seconds, client RSS per participant;
//! * browsers: join time and memory of a headless Chromium participant next to a bot's.
//!
//! Targets (issue): bot p50 ≤ baseline p50; convergence ≤ 1.05 × baseline at every size with at most a
//! third of its client CPU; ≤ 100 KiB RSS per bot.
//!
//! Options: `--joins N` (200), `--sizes 100,200,500`, `--baseline PATH`, `--python PATH`,
//! `--browsers N` (3, 0 to skip), `--version 13|0.12`, `--json PATH`, `--rounds N` (3).
//! `BENCH_DEBUG=1` adds to stderr: Prosody's CPU each second, the bots' join-time spread, and the
//! baseline's stderr (for an instrumented copy given with `--baseline`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::participant::browser::{Browser, Driver};
use harness::participant::{setup, Bot, BotConfig, BotJoin, BotTimeouts, Setup};
use harness::stack::{Endpoints, Family, Stack, StackTarget, StartOptions, Variants};
use harness::token::{Token, TokenOverrides};

struct Args {
    joins: usize,
    sizes: Vec<usize>,
    baseline: PathBuf,
    python: PathBuf,
    browsers: usize,
    version: String,
    json: PathBuf,
    rounds: usize,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn parse_args() -> Args {
    let root = repo_root();
    let mut a = Args {
        joins: 200,
        sizes: vec![100, 200, 500],
        baseline: std::env::var("JITSI_HARNESS_BASELINE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join("../shared/bench/baseline_join.py")),
        python: root.join(".tools/bin/python"),
        browsers: 3,
        version: "13".into(),
        json: root.join("target/bench/join.json"),
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--joins" => a.joins = value().parse().expect("--joins N"),
            "--sizes" => {
                a.sizes = value()
                    .split(',')
                    .map(|s| s.trim().parse().expect("--sizes 100,200"))
                    .collect()
            }
            "--baseline" => a.baseline = value().into(),
            "--python" => a.python = value().into(),
            "--browsers" => a.browsers = value().parse().expect("--browsers N"),
            "--version" => a.version = value(),
            "--json" => a.json = value().into(),
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--bench" => {} // passed by `cargo bench`
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn rusage(who: i32) -> Duration {
    // SAFETY: getrusage fills the struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut u) };
    let t = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    t(u.ru_utime) + t(u.ru_stime)
}

/// BENCH_DEBUG: prints Prosody's CPU every second (clock ticks of user and system time) to stderr.
/// This showed Prosody's single core at 100% through every concurrent measurement, with either client.
fn spawn_server_sampler() {
    if std::env::var_os("BENCH_DEBUG").is_none() {
        return;
    }
    std::thread::spawn(|| {
        let t0 = Instant::now();
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let processes = harness::process::all_processes();
            for p in processes
                .iter()
                .filter(|p| p.cmdline.iter().any(|arg| arg.contains("prosody")))
            {
                eprintln!(
                    "prosody t={:.0}s utime={} stime={}",
                    t0.elapsed().as_secs_f64(),
                    p.user_ticks,
                    p.system_ticks,
                );
            }
        }
    });
}

fn rss_kib() -> u64 {
    harness::process::process_info(std::process::id())
        .map(|p| p.rss_kib)
        .unwrap_or(0)
}

/// Returns to the OS what the allocator keeps, so RSS deltas measure what is in use.
fn trim() {
    // SAFETY: glibc's malloc_trim has no preconditions.
    unsafe {
        malloc_trim(0);
    }
}

extern "C" {
    fn malloc_trim(pad: libc::size_t) -> libc::c_int;
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The baseline's definition: index int(p·n) − 1.
    let i = ((p * sorted.len() as f64) as usize).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)]
}

fn field(out: &str, key: &str) -> f64 {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in baseline output: {out}"))
}

/// Runs the baseline; returns its stdout and the child CPU it used.
fn baseline(a: &Args, ep: &Endpoints, token: &Token, extra: &[String]) -> (String, Duration) {
    let before = rusage(libc::RUSAGE_CHILDREN);
    let out = Command::new(&a.python)
        .arg(&a.baseline)
        .args([
            "--ws",
            &ep.websocket,
            "--domain",
            &ep.domain,
            "--muc",
            &ep.muc_domain,
        ])
        .args(["--token", token.expose()])
        .args(extra)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} {}: {e}",
                a.python.display(),
                a.baseline.display()
            )
        });
    let cpu = rusage(libc::RUSAGE_CHILDREN).saturating_sub(before);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if std::env::var_os("BENCH_DEBUG").is_some() {
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(
        out.status.success(),
        "baseline failed: {}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    (stdout, cpu)
}

fn bot_config(ep: &Endpoints, skip_focus: bool) -> BotConfig {
    let config = Setup::new(ep, "*")
        .bot_config("bench", false)
        .expect("bot config");
    BotConfig {
        timeouts: BotTimeouts {
            // 500 joins at once queue behind Prosody's presence fan-out (the baseline takes ~47 s and
            // gives its connections 120 s).
            connect: harness::xmpp::websocket::Timeouts {
                connect: Duration::from_secs(120),
                reply: Duration::from_secs(120),
            },
            join: Duration::from_secs(300),
            keepalive: Duration::from_secs(
                std::env::var("BENCH_KEEPALIVE_S")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(5),
            ),
            ..Default::default()
        },
        skip_focus,
        ..config
    }
}

fn join_spec(room: &str, nick: String, token: &Token) -> BotJoin {
    BotJoin {
        // No display name: the baseline sends none either.
        display_name: None,
        ..setup::bot_join(room, &nick, Some(&nick), Some(token.clone()), None)
    }
}

fn room() -> String {
    format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

async fn sequential_bots(ep: &Endpoints, token: &Token, n: usize, skip_focus: bool) -> Vec<f64> {
    let config = bot_config(ep, skip_focus);
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let bot = Bot::join(&config, join_spec(&room(), format!("u{i}"), token))
            .await
            .expect("bot join");
        lat.push(bot.joined_in().as_secs_f64() * 1000.0);
        // Like the baseline: close the WebSocket and wait for the server's close.
        bot.close().await.expect("close");
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    lat
}

struct Concurrent {
    seconds: f64,
    cpu: Duration,
    rss_per_client_kib: f64,
}

async fn concurrent_bots(ep: &Endpoints, token: &Token, n: usize) -> Concurrent {
    let config = bot_config(ep, true);
    let room = room();
    trim();
    let rss0 = rss_kib();
    let cpu0 = rusage(libc::RUSAGE_SELF);
    let t0 = Instant::now();
    let joins = (0..n).map(|i| Bot::join(&config, join_spec(&room, format!("u{i}"), token)));
    let bots: Vec<Bot> = futures::future::join_all(joins)
        .await
        .into_iter()
        .map(|r| r.expect("bot join"))
        .collect();
    if std::env::var_os("BENCH_DEBUG").is_some() {
        let mut own: Vec<f64> = bots.iter().map(|b| b.joined_in().as_secs_f64()).collect();
        own.sort_by(|a, b| a.total_cmp(b));
        eprintln!(
            "n={n}: all joined after {:.2} s; own known: median {:.2} last {:.2}",
            t0.elapsed().as_secs_f64(),
            own[own.len() / 2],
            own[own.len() - 1]
        );
    }
    // Until every roster holds all n occupants (the baseline's condition, polled every 10 ms as it does).
    loop {
        let done = bots
            .iter()
            .all(|b| b.with_roster(|_, r| r.occupants.len() >= n));
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            t0.elapsed() < Duration::from_secs(600),
            "rosters never completed"
        );
    }
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = rusage(libc::RUSAGE_SELF).saturating_sub(cpu0);
    trim();
    let rss = rss_kib().saturating_sub(rss0);
    // Close like the baseline does (WebSocket close handshake), all at once.
    futures::future::join_all(bots.into_iter().map(|b| b.close())).await;
    Concurrent {
        seconds,
        cpu,
        rss_per_client_kib: rss as f64 / n as f64,
    }
}

fn main() {
    let a = parse_args();
    assert!(
        a.baseline.is_file(),
        "baseline client not found at {} (set JITSI_HARNESS_BASELINE)",
        a.baseline.display()
    );
    assert!(
        a.python.is_file(),
        "python not found at {} (`just bench` creates .tools with websockets)",
        a.python.display()
    );
    // One worker, like the baseline's single asyncio thread: on 2 cores a second worker takes CPU from
    // Prosody, the bottleneck of every concurrent measurement (measured: ~1.35× slower convergence).
    let workers: usize = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    harness::runner::cancel::guard_process();
    spawn_server_sampler();
    let mut report = serde_json::Map::new();
    rt.block_on(async {
        let variants = Variants::parse(
            std::path::Path::new("bench.toml"),
            "[bench]\ndescription = \"JWT, auto-owner, rooms open to focus-less clients\"\njwt = true\njicofo_auth = false\nfaults = { open_rooms = true }\n",
        )
        .expect("variant");
        let variant = variants.get("bench").expect("bench").clone();
        let target: StackTarget = format!("fixture:{}", a.version).parse().expect("target");
        // A fresh stack per measurement: Prosody slows down as a long benchmark leaves state behind
        // (measured: the same client 2× slower late in a run), which would favour whoever goes first.
        let fresh = || async {
            let mut options = StartOptions::new(repo_root().join("target/bench/stack"));
            options.startup_timeout = Duration::from_secs(60);
            let stack = Stack::start(&target, &variant, &options)
                .await
                .expect("fixture stack (run `just images` first)");
            let ep = stack.endpoints().clone();
            let token = Setup::new(&ep, "*").token("bench", &TokenOverrides::default()).expect("token");
            (stack, ep, token)
        };
        println!("jitsi-harness bench on {target} ({} joins, sizes {:?}, {} rounds)\n", a.joins, a.sizes, a.rounds);
        let median = |mut v: Vec<f64>| {
            v.sort_by(|x, y| x.total_cmp(y));
            v[v.len() / 2]
        };

        // Sequential joins, in alternating rounds on a fresh stack each; both clients warmed up first.
        let (mut py50s, mut py95s, mut b50s, mut b95s, mut f50s, mut f95s, mut ratios) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for round in 0..a.rounds.max(1) {
            let (stack, ep, token) = fresh().await;
            let _ = baseline(&a, &ep, &token, &["-n".into(), "5".into()]);
            let _ = sequential_bots(&ep, &token, 5, true).await;
            let mut py = (0.0, 0.0);
            let mut bot = (0.0, 0.0);
            for side in [round % 2, 1 - round % 2] {
                if side == 0 {
                    let (out, _) = baseline(&a, &ep, &token, &["-n".into(), a.joins.to_string()]);
                    py = (field(&out, "p50_ms"), field(&out, "p95_ms"));
                } else {
                    let lat = sequential_bots(&ep, &token, a.joins, true).await;
                    bot = (percentile(&lat, 0.5), percentile(&lat, 0.95));
                }
            }
            let full = sequential_bots(&ep, &token, a.joins, false).await;
            stack.close().await.expect("close stack");
            py50s.push(py.0);
            py95s.push(py.1);
            b50s.push(bot.0);
            b95s.push(bot.1);
            ratios.push(bot.0 / py.0);
            f50s.push(percentile(&full, 0.5));
            f95s.push(percentile(&full, 0.95));
        }
        let (py50, py95, b50, b95) = (median(py50s), median(py95s), median(b50s), median(b95s));
        let (f50, f95, p50_ratio) = (median(f50s), median(f95s), median(ratios));
        println!("sequential joins (connect -> own role known), {} each, median of {} rounds", a.joins, a.rounds);
        println!("  {:<34} {:>9} {:>9}", "", "p50 ms", "p95 ms");
        println!("  {:<34} {py50:>9.2} {py95:>9.2}", "python baseline (no focus)");
        println!("  {:<34} {b50:>9.2} {b95:>9.2}   ratio p50 {p50_ratio:.2} (target <= 1.00)", "bot (no focus)");
        println!("  {:<34} {f50:>9.2} {f95:>9.2}", "bot, full Jitsi join (focus)");
        report.insert(
            "sequential".into(),
            serde_json::json!({"joins": a.joins, "baseline_p50_ms": py50, "baseline_p95_ms": py95,
                "bot_p50_ms": b50, "bot_p95_ms": b95, "bot_full_join_p50_ms": f50, "bot_full_join_p95_ms": f95,
                "p50_ratio": p50_ratio}),
        );

        println!("\nconcurrent clients in one room: time until every roster is complete (median of {} rounds, ratios paired per round)", a.rounds);
        println!(
            "  {:>5} {:>10} {:>10} {:>7} {:>10} {:>10} {:>7} {:>13} {:>13}",
            "n", "python s", "bot s", "ratio", "py cpu s", "bot cpu s", "ratio", "py KiB/client", "bot KiB/bot"
        );
        let mut rows = Vec::new();
        for &n in &a.sizes {
            let (mut py_s, mut py_cpu, mut py_kib) = (Vec::new(), Vec::new(), Vec::new());
            let (mut bot_s, mut bot_cpu, mut bot_kib) = (Vec::new(), Vec::new(), Vec::new());
            let (mut time_ratios, mut cpu_ratios) = (Vec::new(), Vec::new());
            for round in 0..a.rounds.max(1) {
                // Alternate who goes first; each side on its own fresh stack.
                let mut pair = [0.0f64; 4];
                for side in [round % 2, 1 - round % 2] {
                    let (stack, ep, token) = fresh().await;
                    if side == 0 {
                        let (out, cpu) = baseline(&a, &ep, &token, &["--concurrent".into(), n.to_string()]);
                        let s = field(&out, "all_rosters_full_s");
                        py_s.push(s);
                        py_cpu.push(cpu.as_secs_f64());
                        py_kib.push(field(&out, "maxrss_mib") * 1024.0 / n as f64);
                        pair[0] = s;
                        pair[1] = cpu.as_secs_f64();
                    } else {
                        let c = concurrent_bots(&ep, &token, n).await;
                        bot_s.push(c.seconds);
                        bot_cpu.push(c.cpu.as_secs_f64());
                        bot_kib.push(c.rss_per_client_kib);
                        pair[2] = c.seconds;
                        pair[3] = c.cpu.as_secs_f64();
                    }
                    stack.close().await.expect("close stack");
                }
                time_ratios.push(pair[2] / pair[0]);
                cpu_ratios.push(pair[3] / pair[1]);
            }
            let (ps, bs) = (median(py_s), median(bot_s));
            let (pc, bc) = (median(py_cpu), median(bot_cpu));
            let (pk, bk) = (median(py_kib), median(bot_kib));
            let (tr, cr) = (median(time_ratios), median(cpu_ratios));
            println!(
                "  {n:>5} {ps:>10.2} {bs:>10.2} {tr:>7.2} {pc:>10.2} {bc:>10.2} {cr:>7.2} {pk:>13.1} {bk:>13.1}"
            );
            rows.push(serde_json::json!({"n": n, "rounds": a.rounds, "baseline_s": ps, "bot_s": bs,
                "time_ratio": tr, "baseline_cpu_s": pc, "bot_cpu_s": bc, "cpu_ratio": cr,
                "baseline_kib_per_client": pk, "bot_kib_per_bot": bk}));
        }
        println!("  targets: time ratio <= 1.05, cpu ratio <= 0.33, <= 100 KiB per bot");
        report.insert("concurrent".into(), serde_json::Value::Array(rows));

        if a.browsers > 0 {
            let (stack, ep, token) = fresh().await;
            match Driver::from_env().await {
                Err(e) => println!("\nbrowsers skipped: {e}"),
                Ok(driver) => {
                    let config = Setup::new(&ep, "*")
                        .browser_config("bench", false, driver.clone(), Family::Fixture, None)
                        .expect("fixture serves the page");
                    let mut joins = Vec::new();
                    let mut sessions = Vec::new();
                    let mut pss = Vec::new();
                    for i in 0..a.browsers {
                        let before: u64 = driver.processes().iter().map(|p| p.pss_kib).sum();
                        let nick = format!("web{i}");
                        let mut join = setup::browser_join(&room(), &nick, &nick, Some(token.clone()));
                        join.display_name = None;
                        let b = Browser::join(&config, join)
                        .await
                        .expect("browser join");
                        let after: u64 = driver.processes().iter().map(|p| p.pss_kib).sum();
                        joins.push(b.joined_in().as_secs_f64() * 1000.0);
                        sessions.push(b.session_started_in().as_secs_f64() * 1000.0);
                        pss.push(after.saturating_sub(before) as f64);
                        b.close().await.expect("close browser");
                    }
                    let _ = driver.close().await;
                    joins.sort_by(|x, y| x.total_cmp(y));
                    let j50 = percentile(&joins, 0.5);
                    let s50 = {
                        sessions.sort_by(|x, y| x.total_cmp(y));
                        percentile(&sessions, 0.5)
                    };
                    let kib = pss.iter().sum::<f64>() / pss.len() as f64;
                    let bot_kib = report["concurrent"].as_array().and_then(|r| r.first()).and_then(|r| r["bot_kib_per_bot"].as_f64()).unwrap_or(f64::NAN);
                    println!("\nbrowsers (fixture page, {} joins): session start p50 {s50:.0} ms, page join p50 {j50:.0} ms ({:.1}x the full bot join), memory {:.0} MiB PSS each ({:.0}x a bot)",
                        a.browsers, j50 / f50, kib / 1024.0, kib / bot_kib);
                    report.insert("browser".into(), serde_json::json!({"joins": a.browsers, "session_p50_ms": s50,
                        "join_p50_ms": j50, "join_ratio_vs_full_bot_join": j50 / f50, "pss_kib": kib,
                        "memory_ratio_vs_bot": kib / bot_kib}));
                }
            }
            stack.close().await.expect("close stack");
        }
    });
    if let Some(dir) = a.json.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(
        &a.json,
        serde_json::to_string_pretty(&serde_json::Value::Object(report)).unwrap_or_default(),
    );
    println!("\nfigures written to {}", a.json.display());
}
