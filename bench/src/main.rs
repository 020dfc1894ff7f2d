//! `openclaw-bench`: runs the `openclaw` binary against an instant mock model on loopback and prints a table (and
//! JSON with `--json`): start → `/readyz`, idle RSS, and `/v1/chat/completions` latency (p50/p99) and throughput,
//! next to the same requests sent straight to the mock — the yardstick for what the gateway itself adds.
//!
//! Usage: `cargo run --release -p openclaw-bench -- [--bin target/release/openclaw] [--requests N] [--concurrency C]`

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openclaw_bench::{median, percentile, proc_status_mb};
use openclaw_testkit::{ScriptedServer, openai};
use serde_json::{Value, json};

/// Runs the `openclaw` binary against an instant mock model on loopback.
#[derive(clap::Parser)]
struct Options {
    /// The binary to measure.
    #[arg(long, default_value = "target/release/openclaw")]
    bin: String,
    /// Requests per measured load.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn rss_mb(pid: u32) -> f64 {
    proc_status_mb(&pid.to_string(), "VmRSS")
}

struct Gateway {
    child: Child,
    base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn start_gateway(bin: &str, state: &std::path::Path) -> (Gateway, f64) {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["gateway", "run", "--port", "0", "--token", "bench-token"])
        .env("OPENCLAW_STATE_DIR", state)
        .env("OPENCLAW_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the gateway");
    let mut line = String::new();
    let _ = std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    let address = line.split_whitespace().find_map(|w| w.strip_prefix("ws://")).unwrap_or_default().to_owned();
    // Ready means /readyz answers 200.
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            use std::io::{Read, Write};
            let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut head = [0_u8; 12];
            if stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200" {
                break;
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    (Gateway { child, base: format!("http://{address}") }, ms)
}

/// Sends `total` chat completions with `concurrency` workers; returns sorted latencies (ms) and requests/s.
async fn load(url: String, token: Option<String>, model: &str, total: usize, concurrency: usize) -> (Vec<f64>, f64) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let body = json!({"model": model, "messages": [{"role": "user", "content": "ping"}]});
    let started = Instant::now();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, url, token, body, counter) =
            (client.clone(), url.clone(), token.clone(), body.clone(), counter.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < total {
                let t0 = Instant::now();
                let mut request = client.post(&url).json(&body);
                if let Some(token) = &token {
                    request = request.bearer_auth(token);
                }
                let ok = match request.send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let throughput = all.len() as f64 / seconds;
    (all, throughput)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = <Options as clap::Parser>::parse();
    let mock = ScriptedServer::start().await;
    mock.set_fallback(openai::text("pong"));
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state");
    let config = json!({
        "gateway": {"http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
        "agents": {"defaults": {"model": "mock/mock-1"}},
        "models": {"providers": {"mock": {"baseUrl": format!("{}/v1", mock.url()), "api": "openai-completions",
                                          "models": [{"id": "mock-1", "name": "mock-1"}]}}},
    });
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(state.join("openclaw.json"), config.to_string()).expect("config");

    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..5 {
        let (gateway, ms) = start_gateway(&opts.bin, &state);
        starts.push(ms);
        std::thread::sleep(Duration::from_millis(300));
        rss.push(rss_mb(gateway.child.id()));
    }
    let (gateway, _) = start_gateway(&opts.bin, &state);
    // Warm up both paths, then measure the mock alone and the gateway in front of it.
    let _ = load(format!("{}/v1/chat/completions", mock.url()), None, "mock-1", 200, opts.concurrency).await;
    let url = format!("{}/v1/chat/completions", gateway.base);
    let _ = load(url.clone(), Some("bench-token".into()), "openclaw", 200, opts.concurrency).await;
    let (direct, direct_rps) =
        load(format!("{}/v1/chat/completions", mock.url()), None, "mock-1", opts.requests, opts.concurrency).await;
    let (through, through_rps) =
        load(url, Some("bench-token".into()), "openclaw", opts.requests, opts.concurrency).await;
    let idle_after = rss_mb(gateway.child.id());
    drop(gateway);

    let result = json!({
        "start_to_ready_ms_median": median(&mut starts),
        "idle_rss_mb_median": median(&mut rss),
        "rss_after_load_mb": idle_after,
        "requests": opts.requests,
        "concurrency": opts.concurrency,
        "mock_alone": {"p50_ms": percentile(&direct, 50.0), "p99_ms": percentile(&direct, 99.0), "rps": direct_rps, "ok": direct.len()},
        "through_gateway": {"p50_ms": percentile(&through, 50.0), "p99_ms": percentile(&through, 99.0), "rps": through_rps, "ok": through.len()},
        "gateway_overhead_p50_ms": percentile(&through, 50.0) - percentile(&direct, 50.0),
        "gateway_overhead_p99_ms": percentile(&through, 99.0) - percentile(&direct, 99.0),
    });
    if opts.json {
        println!("{result}");
        return;
    }
    let row = |name: &str, value: &Value| println!("{name:<44} {value}");
    row("start -> /readyz, ms (median of 5)", &result["start_to_ready_ms_median"]);
    row("idle RSS, MB (median of 5)", &result["idle_rss_mb_median"]);
    row("RSS after the load, MB", &result["rss_after_load_mb"]);
    row(
        "mock alone: p50 / p99 ms, req/s",
        &json!([result["mock_alone"]["p50_ms"], result["mock_alone"]["p99_ms"], result["mock_alone"]["rps"]]),
    );
    row(
        "through the gateway: p50 / p99 ms, req/s",
        &json!([
            result["through_gateway"]["p50_ms"],
            result["through_gateway"]["p99_ms"],
            result["through_gateway"]["rps"]
        ]),
    );
    row(
        "gateway overhead: p50 / p99 ms",
        &json!([result["gateway_overhead_p50_ms"], result["gateway_overhead_p99_ms"]]),
    );
}
