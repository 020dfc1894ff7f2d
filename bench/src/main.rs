//! `openclaw-bench`: every benchmark in one run, one table. It starts the instant mock model, then measures
//! `openclaw` (ours), the bare `hello` yardstick and, with `--vs-reference`, the reference OpenClaw — each against the
//! same mock, on the same machine, in the same run — and prints the columns side by side with the ratios, writing
//! the table as markdown and JSON too. `--soak MINUTES` instead runs steady load on ours and fails when its memory
//! grows past a bound.
//!
//! Usage: `cargo build --release -p openclaw -p openclaw-bench && target/release/openclaw-bench [--vs-reference]`

mod persist;
mod servers;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use openclaw_bench::mock::MockModel;
use openclaw_bench::{LoadResult, median, tree_rss_mb};
use openclaw_testkit::gateway::Client;
use serde_json::{Value, json};
use servers::{Kind, Server};

/// Makes every WS turn's session new.
static SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// Runs every benchmark and prints one table.
#[derive(clap::Parser)]
struct Options {
    /// Our binary.
    #[arg(long, default_value = "target/release/openclaw")]
    bin: PathBuf,
    /// The yardstick binary.
    #[arg(long, default_value = "target/release/hello")]
    hello: PathBuf,
    /// Also measure the reference OpenClaw (installed with shared/tools/reference-openclaw/install.sh).
    #[arg(long)]
    vs_reference: bool,
    /// The reference's install script.
    #[arg(long, default_value = "../shared/tools/reference-openclaw/install.sh")]
    reference_install: PathBuf,
    /// Starts measured per server (the reference's take ~20 s each).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// `/v1/chat/completions` and WS `agent` turns per measurement (one client: latency).
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Turns for the throughput measurement, with `--concurrency` clients.
    #[arg(long, default_value_t = 4000)]
    throughput_requests: usize,
    /// Concurrent clients for throughput.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// The reference's turns per measurement (each takes a quarter of a second or more).
    #[arg(long, default_value_t = 40)]
    reference_requests: usize,
    /// Idle WebSocket client counts to measure memory at.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1000, 10000])]
    idle_clients: Vec<usize>,
    /// Turns written by the persistence benchmark.
    #[arg(long, default_value_t = 20000)]
    persisted_turns: usize,
    /// Where bench.json and bench.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Instead of the table: only the persistence benchmark, this many times (to work on the store).
    #[arg(long)]
    persisted_only: Option<usize>,
    /// Instead of the table: only ours' idle RSS and RSS per idle client (to work on memory).
    #[arg(long)]
    memory_only: bool,
    /// Instead of the table: N minutes of steady load on ours, sampling memory.
    #[arg(long)]
    soak: Option<f64>,
    /// The soak fails when memory grows more than this many MB above the first fifth's peak.
    #[arg(long, default_value_t = 16.0)]
    soak_growth_mb: f64,
}

/// One server's figures; `None` where a figure does not apply or could not be measured.
#[derive(Default, Clone)]
struct Column {
    start_ms: Option<f64>,
    idle_rss_mb: Option<f64>,
    http: Option<LoadResult>,
    http_throughput: Option<LoadResult>,
    ws: Option<LoadResult>,
    ws_throughput: Option<LoadResult>,
    idle_client_kb: Vec<(usize, Option<f64>)>,
    rss_after_mb: Option<f64>,
    persisted_per_s: Option<f64>,
    size_mb: Option<f64>,
    /// Turns go to the mock model (not the yardstick).
    calls_mock: bool,
    notes: Vec<String>,
}

/// Sends `total` chat completions over `concurrency` clients.
async fn http_load(server: &Server, total: usize, concurrency: usize) -> LoadResult {
    let url = format!("{}/v1/chat/completions", server.http_base());
    http_load_url(url, &server.token, &server.model, total, concurrency).await
}

async fn http_load_url(url: String, token: &str, model: &str, total: usize, concurrency: usize) -> LoadResult {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap_or_default();
    let body = json!({"model": model, "messages": [{"role": "user", "content": "ping"}]});
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body, counter, token) =
            (client.clone(), url.clone(), body.clone(), counter.clone(), token.to_owned());
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            while counter.fetch_add(1, Ordering::SeqCst) < total {
                let t0 = Instant::now();
                let ok = match client.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        }));
    }
    collect(workers, started).await
}

async fn collect(workers: Vec<tokio::task::JoinHandle<(Vec<f64>, usize)>>, started: Instant) -> LoadResult {
    let (mut all, mut failed) = (Vec::new(), 0);
    for worker in workers {
        if let Ok((latencies, failures)) = worker.await {
            all.extend(latencies);
            failed += failures;
        }
    }
    LoadResult::new(all, failed, started.elapsed().as_secs_f64())
}

/// Runs `total` WS `agent` turns over `concurrency` connections, each turn in a new session.
async fn ws_load(server: &Server, total: usize, concurrency: usize) -> LoadResult {
    let counter = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        match Client::connect(&server.ws_url(), &server.token).await {
            Ok(client) => clients.push(client),
            Err(error) => eprintln!("  {}: WS connect failed: {error}", server.kind.label()),
        }
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for mut client in clients {
        let counter = counter.clone();
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            loop {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n >= total {
                    break;
                }
                let t0 = Instant::now();
                let session = format!("agent:main:bench-{}", SESSIONS.fetch_add(1, Ordering::SeqCst));
                match client.agent("ping", &session).await {
                    Ok(true) => latencies.push(t0.elapsed().as_secs_f64() * 1000.0),
                    Ok(false) => failed += 1,
                    Err(_) => {
                        failed += total.saturating_sub(n);
                        break;
                    }
                }
            }
            (latencies, failed)
        }));
    }
    collect(workers, started).await
}

/// Handshakes in flight at once: the reference refuses (503) more than 32 unauthenticated sockets per IP
/// (`OPENCLAW_MAX_PREAUTH_CONNECTIONS_PER_IP`), so it gets waves of 16; the others get 200, which keeps their accept
/// queues from overflowing.
fn handshake_wave(kind: Kind) -> usize {
    if kind == Kind::Reference { 16 } else { 200 }
}

/// How long start-up work takes to settle before a memory reading (the reference keeps working for seconds).
fn settle(kind: Kind) -> Duration {
    Duration::from_millis(if kind == Kind::Reference { 5000 } else { 500 })
}

/// Opens `count` idle authenticated clients and returns the server's resident growth per client in KB.
async fn idle_clients(server: &Server, count: usize, wave: usize) -> Result<f64, String> {
    let before = tree_rss_mb(server.pid());
    let url = server.ws_url();
    // Dropping the set (also on an early return) disconnects every client.
    let mut clients = tokio::task::JoinSet::new();
    // Connect in waves so the server's accept queue never overflows.
    while clients.len() < count {
        let wave = (count - clients.len()).min(wave);
        let handshakes = (0..wave).map(|_| Client::connect(&url, &server.token));
        for result in futures::future::join_all(handshakes).await {
            let client = result.map_err(|error| format!("client {} of {count}: {error}", clients.len() + 1))?;
            clients.spawn(client.idle());
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = tree_rss_mb(server.pid());
    // A client whose task ended was disconnected: its memory is not in the figure.
    let mut gone = 0;
    while clients.try_join_next().is_some() {
        gone += 1;
    }
    if gone > 0 {
        return Err(format!("the server disconnected {gone} of {count} clients"));
    }
    drop(clients);
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok((after - before) * 1024.0 / count as f64)
}

async fn measure(kind: Kind, opts: &Options, mock: &MockModel) -> Column {
    let mut column = Column { calls_mock: kind != Kind::Hello, ..Column::default() };
    let label = kind.label();
    let setup = match servers::Setup::new(kind, opts, mock).await {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("{label}: {error}");
            column.notes.push(error);
            return column;
        }
    };
    column.size_mb = setup.size_mb();
    let is_reference = kind == Kind::Reference;
    let starts = if is_reference { opts.starts.min(3) } else { opts.starts };
    let (mut start_ms, mut rss) = match idle_starts(&setup, kind, starts).await {
        Ok(readings) => readings,
        Err(error) => {
            eprintln!("{label}: {error}");
            column.notes.push(error);
            return column;
        }
    };
    let (start, idle) = (median(&mut start_ms), median(&mut rss));
    (column.start_ms, column.idle_rss_mb) = (Some(start), Some(idle));
    eprintln!("{label}: start {start:.1} ms, idle RSS {idle:.1} MB");

    let server = match setup.start().await {
        Ok((server, _)) => server,
        Err(error) => {
            column.notes.push(error);
            return column;
        }
    };
    let (requests, throughput) = if is_reference {
        (opts.reference_requests, opts.reference_requests)
    } else {
        (opts.requests, opts.throughput_requests)
    };
    // Warm both paths, then measure one client (latency) and several (throughput).
    let _ = http_load(&server, requests.min(50), 1).await;
    let _ = ws_load(&server, requests.min(20), 1).await;
    column.http = Some(http_load(&server, requests, 1).await);
    column.http_throughput = Some(http_load(&server, throughput, opts.concurrency).await);
    column.ws = Some(ws_load(&server, requests, 1).await);
    column.ws_throughput = Some(ws_load(&server, throughput, opts.concurrency).await);
    eprintln!("{label}: turns measured");
    column.rss_after_mb = Some(tree_rss_mb(server.pid()));
    server.stop().await;
    idle_client_figures(&setup, kind, opts, &mut column).await;
    column
}

/// Starts the server `starts` times: the start-up time of each and its RSS once settled.
async fn idle_starts(setup: &servers::Setup, kind: Kind, starts: usize) -> Result<(Vec<f64>, Vec<f64>), String> {
    let (mut start_ms, mut rss) = (Vec::new(), Vec::new());
    for _ in 0..starts {
        let (server, ms) = setup.start().await?;
        start_ms.push(ms);
        tokio::time::sleep(settle(kind)).await;
        rss.push(tree_rss_mb(server.pid()));
        server.stop().await;
    }
    Ok((start_ms, rss))
}

/// RSS per idle client at each count, on a fresh start of its own, settled like the idle figure: after the turns, a
/// garbage-collected heap (the reference's) shrinks while the clients connect and hides their cost, and the
/// clients' memory would stay in the next figure's process.
async fn idle_client_figures(setup: &servers::Setup, kind: Kind, opts: &Options, column: &mut Column) {
    let server = match setup.start().await {
        Ok((server, _)) => server,
        Err(error) => return column.notes.push(error),
    };
    tokio::time::sleep(settle(kind)).await;
    for &count in &opts.idle_clients {
        let kb = idle_clients(&server, count, handshake_wave(kind)).await;
        eprintln!("{}: {count} idle clients: {kb:?} KB each", kind.label());
        if let Err(error) = &kb {
            column.notes.push(format!("{count} idle clients: {error}"));
        }
        column.idle_client_kb.push((count, kb.ok()));
    }
    server.stop().await;
}

fn fmt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.digits$}"))
}

/// A table row: the figure for each column, and how ours compares (ratio ours / other).
struct Row {
    name: String,
    unit: &'static str,
    values: Vec<Option<f64>>,
    /// Higher is better (throughput) rather than lower.
    higher_better: bool,
}

fn rows(columns: &[(Kind, Column)], mock: &LoadResult, writers: usize) -> Vec<Row> {
    let pick = |f: &dyn Fn(&Column) -> Option<f64>| columns.iter().map(|(_, column)| f(column)).collect::<Vec<_>>();
    let load = |which: fn(&Column) -> &Option<LoadResult>, stat: fn(&LoadResult) -> f64| {
        pick(&|column: &Column| which(column).as_ref().filter(|l| !l.latencies_ms.is_empty()).map(stat))
    };
    let overhead = |stat: fn(&LoadResult) -> f64| {
        pick(&|c: &Column| c.http.as_ref().filter(|_| c.calls_mock).map(|l| stat(l) - stat(mock)))
    };
    let row = |name: &str, unit: &'static str, higher_better: bool, values: Vec<Option<f64>>| Row {
        name: name.to_owned(),
        unit,
        values,
        higher_better,
    };
    let (lower, higher) = (false, true);
    let mut rows = vec![
        row("start → /readyz (median)", "ms", lower, pick(&|c| c.start_ms)),
        row("idle RSS (median)", "MB", lower, pick(&|c| c.idle_rss_mb)),
        row("/v1/chat/completions p50, 1 client", "ms", lower, load(|c| &c.http, LoadResult::p50)),
        row("/v1/chat/completions p99, 1 client", "ms", lower, load(|c| &c.http, LoadResult::p99)),
        row("/v1 overhead over the mock alone, p50", "ms", lower, overhead(LoadResult::p50)),
        row("/v1 overhead over the mock alone, p99", "ms", lower, overhead(LoadResult::p99)),
        row("/v1/chat/completions throughput", "turns/s", higher, load(|c| &c.http_throughput, |l| l.per_second)),
        row("WS agent p50, 1 client", "ms", lower, load(|c| &c.ws, LoadResult::p50)),
        row("WS agent p99, 1 client", "ms", lower, load(|c| &c.ws, LoadResult::p99)),
        row("WS agent throughput", "turns/s", higher, load(|c| &c.ws_throughput, |l| l.per_second)),
        row("RSS after the turns", "MB", lower, pick(&|c| c.rss_after_mb)),
    ];
    let counts: Vec<usize> =
        columns.first().map(|(_, c)| c.idle_client_kb.iter().map(|(n, _)| *n).collect()).unwrap_or_default();
    for count in counts {
        let kb = pick(&|c| c.idle_client_kb.iter().find(|(n, _)| *n == count).and_then(|(_, kb)| *kb));
        rows.push(row(&format!("RSS per idle WS client, {count} clients"), "KB", lower, kb));
    }
    let persisted = format!("persisted turns/s (store, {writers} writers)");
    rows.push(row(&persisted, "turns/s", higher, pick(&|c| c.persisted_per_s)));
    rows.push(row("install size", "MB", lower, pick(&|c| c.size_mb)));
    rows
}

/// "ours is N× better" (or worse), from ours and another column's figure.
fn ratio(ours: Option<f64>, other: Option<f64>, higher_better: bool) -> Option<f64> {
    let (ours, other) = (ours?, other?);
    if ours <= 0.0 || other <= 0.0 {
        return None;
    }
    Some(if higher_better { ours / other } else { other / ours })
}

fn markdown(columns: &[(Kind, Column)], rows: &[Row]) -> String {
    let mut header = "| figure | unit |".to_owned();
    let mut rule = "|---|---|".to_owned();
    for (kind, _) in columns {
        header.push_str(&format!(" {} |", kind.label()));
        rule.push_str("---:|");
    }
    for (kind, _) in columns.iter().skip(1) {
        header.push_str(&format!(" ours vs {} |", kind.label()));
        rule.push_str("---:|");
    }
    let mut out = format!("{header}\n{rule}\n");
    for row in rows {
        let digits = if row.unit == "ms" { 2 } else { 1 };
        out.push_str(&format!("| {} | {} |", row.name, row.unit));
        for value in &row.values {
            out.push_str(&format!(" {} |", fmt(*value, digits)));
        }
        for other in row.values.iter().skip(1) {
            let better = ratio(row.values[0], *other, row.higher_better);
            out.push_str(&format!(" {} |", better.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"))));
        }
        out.push('\n');
    }
    out.push_str("\nRatios read \"ours is N× better\" (below 1: the other is better).\n");
    for (kind, column) in columns {
        for note in &column.notes {
            out.push_str(&format!("\n- {}: {note}", kind.label()));
        }
    }
    out
}

fn json_of(columns: &[(Kind, Column)], rows: &[Row], opts: &Options) -> Value {
    let figures: Vec<Value> = rows
        .iter()
        .map(|row| {
            let mut figure = json!({"figure": row.name, "unit": row.unit, "higherIsBetter": row.higher_better});
            for ((kind, _), value) in columns.iter().zip(&row.values) {
                figure[kind.label()] = json!(value);
            }
            figure
        })
        .collect();
    let failed: Value = columns
        .iter()
        .map(|(kind, c)| {
            let failed = [&c.http, &c.http_throughput, &c.ws, &c.ws_throughput]
                .iter()
                .filter_map(|l| l.as_ref().map(|l| l.failed))
                .sum::<usize>();
            (kind.label().to_owned(), json!({"failedTurns": failed, "notes": c.notes}))
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    json!({
        "date": openclaw_protocol::now_iso(),
        "machine": machine(),
        "requests": opts.requests, "throughputRequests": opts.throughput_requests,
        "concurrency": opts.concurrency, "referenceRequests": opts.reference_requests,
        "figures": figures, "servers": failed,
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name").map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} × {cpu}, Linux {}", kernel.trim())
}

async fn soak(opts: &Options, mock: &MockModel, minutes: f64) -> bool {
    let setup = match servers::Setup::new(Kind::Ours, opts, mock).await {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("soak: {error}");
            return false;
        }
    };
    let server = match setup.start().await {
        Ok((server, _)) => server,
        Err(error) => {
            eprintln!("soak: {error}");
            return false;
        }
    };
    let server = Arc::new(server);
    let until = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let warm_until = Instant::now() + Duration::from_secs_f64(minutes * 12.0);
    // Steady load: half the clients over HTTP, half over WS, each in a loop of small batches.
    let mut load = Vec::new();
    for worker in 0..opts.concurrency {
        let server = server.clone();
        load.push(tokio::spawn(async move {
            let mut done = 0;
            while Instant::now() < until {
                let batch =
                    if worker % 2 == 0 { http_load(&server, 50, 1).await } else { ws_load(&server, 50, 1).await };
                done += batch.latencies_ms.len();
            }
            done
        }));
    }
    let (mut warm_peak, mut worst, mut samples) = (0.0_f64, 0.0_f64, Vec::new());
    let started = Instant::now();
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rss = tree_rss_mb(server.pid());
        samples.push((started.elapsed().as_secs(), rss));
        if Instant::now() < warm_until {
            warm_peak = warm_peak.max(rss);
        } else {
            worst = worst.max(rss);
        }
        eprintln!("soak: {:>5} s  RSS {rss:.1} MB", started.elapsed().as_secs());
    }
    let mut turns = 0;
    for worker in load {
        turns += worker.await.unwrap_or(0);
    }
    let growth = worst - warm_peak;
    let ok = growth <= opts.soak_growth_mb;
    println!(
        "soak: {minutes} min, {turns} turns ({:.0}/s), RSS peak in the first fifth {warm_peak:.1} MB, later peak \
         {worst:.1} MB: growth {growth:.1} MB (bound {} MB) — {}",
        turns as f64 / started.elapsed().as_secs_f64(),
        opts.soak_growth_mb,
        if ok { "PASS" } else { "FAIL" }
    );
    let _ = std::fs::create_dir_all(&opts.out);
    let report = json!({"minutes": minutes, "turns": turns, "warmPeakMb": warm_peak, "laterPeakMb": worst,
                        "growthMb": growth, "boundMb": opts.soak_growth_mb, "pass": ok, "samples": samples});
    let _ = std::fs::write(opts.out.join("soak.json"), report.to_string());
    // The load has ended, so this is the last handle; otherwise dropping it kills the server.
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
    ok
}

/// Ours' idle RSS (each start settled) and RSS per idle client, printed.
async fn memory_only(opts: &Options, mock: &MockModel) -> std::process::ExitCode {
    let setup = match servers::Setup::new(Kind::Ours, opts, mock).await {
        Ok(setup) => setup,
        Err(error) => {
            eprintln!("ours: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut rss = match idle_starts(&setup, Kind::Ours, opts.starts).await {
        Ok((_, rss)) => rss,
        Err(error) => {
            eprintln!("ours: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let readings = format!("{rss:.1?}");
    println!("idle RSS: {:.1} MB (median of {readings})", median(&mut rss));
    let mut column = Column::default();
    idle_client_figures(&setup, Kind::Ours, opts, &mut column).await;
    for (count, kb) in &column.idle_client_kb {
        println!("RSS per idle WS client, {count} clients: {}", fmt(*kb, 1));
    }
    if column.notes.is_empty() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = <Options as clap::Parser>::parse();
    servers::raise_file_limit();
    if let Some(runs) = opts.persisted_only {
        for _ in 0..runs {
            match persist::turns_per_second(opts.persisted_turns, opts.concurrency).await {
                Ok(rate) => println!("persisted turns/s ({} writers): {rate:.0}", opts.concurrency),
                Err(error) => {
                    eprintln!("persisted turns: {error}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        return std::process::ExitCode::SUCCESS;
    }
    let mock = match MockModel::start(0).await {
        Ok(mock) => mock,
        Err(error) => {
            eprintln!("cannot start the mock model: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if opts.memory_only {
        return memory_only(&opts, &mock).await;
    }
    if let Some(minutes) = opts.soak {
        return if soak(&opts, &mock, minutes).await {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        };
    }
    // The mock model alone, one client: what a turn costs without any gateway.
    let mock_url = format!("{}/chat/completions", mock.base_url());
    let _ = http_load_url(mock_url.clone(), "", "mock-1", 200, 1).await;
    let mock_alone = http_load_url(mock_url, "", "mock-1", opts.requests, 1).await;
    eprintln!("mock alone: p50 {:.3} ms, p99 {:.3} ms", mock_alone.p50(), mock_alone.p99());
    let mut kinds = vec![Kind::Ours, Kind::Hello];
    if opts.vs_reference {
        kinds.push(Kind::Reference);
    }
    let mut columns = Vec::new();
    for kind in kinds {
        let mut column = measure(kind, &opts, &mock).await;
        if kind == Kind::Ours {
            match persist::turns_per_second(opts.persisted_turns, opts.concurrency).await {
                Ok(rate) => column.persisted_per_s = Some(rate),
                Err(error) => column.notes.push(format!("persisted turns: {error}")),
            }
        }
        columns.push((kind, column));
    }
    let rows = rows(&columns, &mock_alone, opts.concurrency);
    let table = markdown(&columns, &rows);
    println!("{table}");
    let _ = std::fs::create_dir_all(&opts.out);
    let mut json = json_of(&columns, &rows, &opts);
    json["mockAlone"] = json!({"p50Ms": mock_alone.p50(), "p99Ms": mock_alone.p99()});
    let written = std::fs::write(opts.out.join("bench.md"), &table).and_then(|()| {
        std::fs::write(opts.out.join("bench.json"), serde_json::to_string_pretty(&json).unwrap_or_default())
    });
    match written {
        Ok(()) => eprintln!("wrote {}/bench.md and bench.json", opts.out.display()),
        Err(error) => eprintln!("cannot write to {}: {error}", opts.out.display()),
    }
    std::process::ExitCode::SUCCESS
}
