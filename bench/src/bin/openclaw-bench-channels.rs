//! The channel platforms end to end: for Discord, Slack, WhatsApp (testkit's doubles) and Matrix (a real Synapse), how many
//! messages a second the gateway takes in and answers through the instant mock model, and the gateway's RSS with the
//! three connected and idle beside the same gateway with no channel. Each run is a fresh gateway process with a fresh
//! state folder; the figures are medians over the runs.
//!
//! ```sh
//! cargo build --release -p openclaw -p openclaw-bench
//! ./target/release/openclaw-bench-channels --runs 5 --messages 200
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use openclaw_bench::mock::MockModel;
use openclaw_bench::{median, tree_rss_mb};
use openclaw_testkit::discord::DiscordDouble;
use openclaw_testkit::slack::SlackDouble;
use openclaw_testkit::synapse::{Human, Synapse};
use openclaw_testkit::whatsapp::WhatsAppDouble;
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Messages per second per channel platform, and idle RSS with Discord, Slack and Matrix connected")]
struct Options {
    /// The openclaw binary.
    #[arg(long, default_value = "target/release/openclaw")]
    bin: PathBuf,
    /// Fresh gateway processes to measure.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Messages per platform per run, spread over the conversations.
    #[arg(long, default_value_t = 200)]
    messages: usize,
    /// Conversations (DMs) per platform.
    #[arg(long, default_value_t = 4)]
    conversations: usize,
    /// Seconds the gateway sits idle before its RSS is read.
    #[arg(long, default_value_t = 10)]
    idle: u64,
}

const DISCORD_TOKEN: &str = "MTMxMjM0NTY3ODkwMTIzNDU2Nw.GAbcde.abcdefghijklmnopqrstuvwxyz0123456789AB";
const SLACK_BOT: &str = "xoxb-1111-2222-benchtoken";
const SLACK_APP: &str = "xapp-1-A0BENCH-3333-benchtoken";
const MATRIX_BOT: &str = "@bot:localhost";
const WA_PHONE: &str = "106540352242922";
const WA_TOKEN: &str = "EAAGm0PX4ZCpsBAbenchtoken0123456789";
const WA_SECRET: &str = "0123456789abcdef0123456789abcdef";

struct Platforms {
    discord: DiscordDouble,
    discord_dms: Vec<String>,
    slack: SlackDouble,
    slack_dms: Vec<String>,
    synapse: Synapse,
    whatsapp: WhatsAppDouble,
    wa_people: Vec<String>,
    matrix_token: String,
    people: Vec<(Human, String)>,
}

impl Platforms {
    async fn discord_answers(&self) -> usize {
        self.discord_dms.iter().map(|dm| self.discord.bot_messages(dm).len()).sum()
    }

    async fn slack_answers(&self) -> usize {
        self.slack_dms.iter().map(|dm| self.slack.bot_messages(dm).len()).sum()
    }

    async fn whatsapp_answers(&self) -> usize {
        self.wa_people.iter().map(|person| self.whatsapp.bot_messages(person).len()).sum()
    }

    async fn matrix_answers(&self) -> usize {
        let mut total = 0;
        for (person, room) in &self.people {
            total += person.messages(room).await.iter().filter(|m| m.sender == MATRIX_BOT).count();
        }
        total
    }

    async fn connected(&self) -> bool {
        let mut joined = true;
        for (person, room) in &self.people {
            joined &= person.joined(room).await.iter().any(|member| member == MATRIX_BOT);
        }
        joined && self.discord.connected() && self.slack.connected()
    }
}

struct Gateway {
    child: std::process::Child,
    _state: tempfile::TempDir,
}

impl Gateway {
    fn start(bin: &PathBuf, config: &Value) -> Result<Self, String> {
        Self::start_with(bin, config, "0")
    }

    fn start_on(bin: &PathBuf, config: &Value, port: u16) -> Result<Self, String> {
        Self::start_with(bin, config, &port.to_string())
    }

    fn start_with(bin: &PathBuf, config: &Value, port: &str) -> Result<Self, String> {
        let state = tempfile::tempdir().map_err(|error| format!("temp folder: {error}"))?;
        let path = state.path().join("openclaw.json");
        std::fs::write(&path, config.to_string()).map_err(|error| format!("{}: {error}", path.display()))?;
        let mut child = Command::new(bin)
            .args(["gateway", "run", "--port", port, "--token", "bench-token-0123456789abcdef"])
            .env("OPENCLAW_STATE_DIR", state.path())
            .env("OPENCLAW_LOG_LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error} (build it: cargo build --release)", bin.display()))?;
        // It prints `… ws://ADDR …` once listening.
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        }
        if !line.contains("ws://") {
            let _ = child.kill();
            return Err(format!("the gateway printed no address (got {line:?})"));
        }
        Ok(Gateway { child, _state: state })
    }

    fn rss_mb(&self) -> f64 {
        tree_rss_mb(self.child.id())
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(mock: &MockModel, channels: Value) -> Value {
    json!({
        "agents": {"defaults": {"model": "mock/mock-1"}},
        "models": {"providers": {"mock": {"baseUrl": mock.base_url(), "apiKey": "sk-mock", "api": "openai-completions",
            "models": [{"id": "mock-1", "name": "Mock 1", "contextWindow": 128000, "maxTokens": 4096}]}}},
        // Each DM its own session, so conversations run side by side.
        "session": {"dmScope": "per-channel-peer"},
        "channels": channels,
    })
}

/// Sends `total` messages as fast as the platform takes them and waits for as many new answers: messages/s.
async fn throughput<S, SF, C, CF>(total: usize, send: S, count: C) -> Result<f64, String>
where
    S: Fn(usize) -> SF,
    SF: Future<Output = ()>,
    C: Fn() -> CF,
    CF: Future<Output = usize>,
{
    let before = count().await;
    let started = Instant::now();
    for n in 0..total {
        send(n).await;
    }
    let deadline = started + Duration::from_secs(300);
    while count().await < before + total {
        if Instant::now() > deadline {
            return Err(format!("only {} of {total} answers after 300 s", count().await - before));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

async fn wait_until<F: Future<Output = bool>>(what: &str, check: impl Fn() -> F) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn idle_rss(gateway: &Gateway, seconds: u64) -> f64 {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let mut samples = Vec::new();
    for _ in 0..5 {
        samples.push(gateway.rss_mb());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    median(&mut samples)
}

async fn platforms(conversations: usize) -> Result<Platforms, String> {
    let synapse = Synapse::start().ok_or(
        "Synapse is not installed (python3 -m venv ~/.cache/openclaw-rs/synapse-venv && \
         ~/.cache/openclaw-rs/synapse-venv/bin/pip install matrix-synapse==1.163.2; or OPENCLAW_SYNAPSE_VENV)",
    )?;
    let matrix_token = synapse.register("bot", "bot-password-1234").await;
    let mut people = Vec::new();
    for n in 0..conversations {
        let person = synapse.human(&synapse.register(&format!("person{n}"), "person-password-1234").await);
        let room = person.create_room(&[MATRIX_BOT], true).await;
        people.push((person, room));
    }
    let discord = DiscordDouble::start(DISCORD_TOKEN, "claw").await;
    let discord_dms = (0..conversations).map(|n| discord.dm_channel(&format!("42000000000000000{n:02}"))).collect();
    let slack = SlackDouble::start(SLACK_BOT, SLACK_APP).await;
    let slack_dms: Vec<String> = (0..conversations).map(|n| format!("DBENCH{n:03}")).collect();
    for dm in &slack_dms {
        slack.add_channel(dm, "im");
    }
    let whatsapp = WhatsAppDouble::start(WA_PHONE, WA_TOKEN, WA_SECRET).await;
    let wa_people = (0..conversations).map(|n| format!("155500000{n:02}")).collect();
    Ok(Platforms { discord, discord_dms, slack, slack_dms, synapse, matrix_token, people, whatsapp, wa_people })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let options = Options::parse();
    match run(&options).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("openclaw-bench-channels: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(options: &Options) -> Result<(), String> {
    let mock = MockModel::start(0).await.map_err(|error| format!("mock model: {error}"))?;
    let platforms = platforms(options.conversations.max(1)).await?;
    let p = &platforms;
    let open = |mut block: Value| {
        block["dmPolicy"] = json!("open");
        block["allowFrom"] = json!(["*"]);
        block
    };
    let channels = json!({
        "discord": open(json!({"token": DISCORD_TOKEN, "apiBaseUrl": p.discord.api_base()})),
        "slack": open(json!({"botToken": SLACK_BOT, "appToken": SLACK_APP, "apiBaseUrl": p.slack.api_base()})),
        "matrix": open(json!({"homeserver": p.synapse.url(), "accessToken": p.matrix_token, "autoJoin": "always"})),
    });
    let (mut bare, mut idle, mut discord, mut slack, mut matrix) = (vec![], vec![], vec![], vec![], vec![]);
    let mut whatsapp = Vec::new();
    let with_whatsapp = {
        let mut channels = channels.clone();
        channels["whatsapp"] = open(json!({"provider": "cloud", "phoneNumberId": WA_PHONE, "accessToken": WA_TOKEN,
            "appSecret": WA_SECRET, "verifyToken": "bench-verify", "apiBaseUrl": p.whatsapp.api_base()}));
        channels
    };
    let total = options.messages;
    let conversations = options.conversations.max(1);
    for run in 1..=options.runs {
        {
            let gateway = Gateway::start(&options.bin, &config(&mock, json!({})))?;
            bare.push(idle_rss(&gateway, options.idle).await);
        }
        let gateway = Gateway::start(&options.bin, &config(&mock, channels.clone()))?;
        wait_until("the bot to connect to Discord, Slack and Matrix", || p.connected()).await?;
        idle.push(idle_rss(&gateway, options.idle).await);
        discord.push(
            throughput(
                total,
                |n| async move {
                    let user = format!("42000000000000000{:02}", n % conversations);
                    p.discord.user_sends(&p.discord_dms[n % conversations], (&user, "person"), &format!("d{n}"), false);
                },
                || p.discord_answers(),
            )
            .await?,
        );
        slack.push(
            throughput(
                total,
                |n| async move {
                    let user = format!("UBENCH{:03}", n % conversations);
                    p.slack.user_sends(&p.slack_dms[n % conversations], &user, &format!("s{n}"), false, None);
                },
                || p.slack_answers(),
            )
            .await?,
        );
        matrix.push(
            throughput(
                total,
                |n| async move {
                    let (person, room) = &p.people[n % conversations];
                    person.send(room, &format!("m{n}")).await;
                },
                || p.matrix_answers(),
            )
            .await?,
        );
        drop(gateway);
        // WhatsApp is a webhook, so its gateway must listen on a known port: a second gateway, after the first.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .map_err(|error| format!("a free port: {error}"))?;
        let gateway = Gateway::start_on(&options.bin, &config(&mock, with_whatsapp.clone()), port)?;
        p.whatsapp.set_webhook(&format!("http://127.0.0.1:{port}/channels/whatsapp/webhook"));
        whatsapp.push(
            throughput(
                total,
                |n| async move {
                    p.whatsapp.user_sends(&p.wa_people[n % conversations], "person", &format!("w{n}")).await;
                },
                || p.whatsapp_answers(),
            )
            .await?,
        );
        drop(gateway);
        eprintln!(
            "run {run}: bare {:.1} MB, three connected {:.1} MB; discord {:.0}/s, slack {:.0}/s, matrix {:.0}/s, whatsapp {:.0}/s",
            bare[run - 1],
            idle[run - 1],
            discord[run - 1],
            slack[run - 1],
            matrix[run - 1],
            whatsapp[run - 1]
        );
    }
    println!(
        "| medians of {} runs ({} messages, {} conversations per platform) | value |",
        options.runs, total, conversations
    );
    println!("|---|---|");
    println!("| idle RSS, no channel | {:.1} MB |", median(&mut bare));
    println!("| idle RSS, Discord + Slack + Matrix connected | {:.1} MB |", median(&mut idle));
    println!("| Discord (double), messages/s end to end | {:.0} |", median(&mut discord));
    println!("| Slack Socket Mode (double), messages/s end to end | {:.0} |", median(&mut slack));
    println!("| Matrix (Synapse), messages/s end to end | {:.0} |", median(&mut matrix));
    println!("| WhatsApp Cloud API (double), messages/s end to end | {:.0} |", median(&mut whatsapp));
    Ok(())
}
