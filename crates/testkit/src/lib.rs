//! Test support for OpenClaw-rs: [`ScriptedServer`], a real HTTP/1.1 server on `127.0.0.1:0` that answers with
//! scripted [`Reply`]s — whole JSON bodies, or SSE streams written chunk by chunk with pauses, split anywhere (even
//! mid-line), cut before the end, or left hanging — and records every request it gets. The `openai` and
//! `anthropic` modules build streams in each provider's real wire format; `gateway` is a protocol-v4 WebSocket
//! client; `proxy` puts platform faults between a channel and a real counterpart.
//!
//! **Invariant:** only tests and benchmarks depend on this crate.

pub mod anthropic;
pub mod compliance;
pub mod discord;
pub mod gateway;
pub mod openai;
pub mod proxy;
pub mod slack;
pub mod synapse;
pub mod telegram;
pub mod whatsapp;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a reply's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The terminating chunk is sent.
    Complete,
    /// The connection is closed without the terminating chunk (a cut stream).
    Cut,
    /// The server stops writing and keeps the connection open (a hung provider).
    Hang,
    /// The connection is closed before a byte of the answer (the request was handled; its answer is lost).
    Dropped,
}

/// One scripted HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Body pieces, each written (and flushed) after its pause.
    pub chunks: Vec<(Duration, Vec<u8>)>,
    pub end: End,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            chunks: vec![(Duration::ZERO, body.to_string().into_bytes())],
            end: End::Complete,
        }
    }

    /// A body as it came, with its content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            chunks: vec![(Duration::ZERO, body)],
            end: End::Complete,
        }
    }

    /// An SSE stream from raw text pieces, written exactly as given.
    pub fn sse_raw(pieces: Vec<String>) -> Self {
        Reply {
            status: 200,
            headers: vec![
                ("content-type".to_owned(), "text/event-stream".to_owned()),
                ("cache-control".to_owned(), "no-cache".to_owned()),
            ],
            chunks: pieces.into_iter().map(|piece| (Duration::ZERO, piece.into_bytes())).collect(),
            end: End::Complete,
        }
    }

    /// Re-splits the body into pieces of at most `size` bytes (so SSE lines break mid-line).
    pub fn split_every(mut self, size: usize) -> Self {
        let all: Vec<u8> = self.chunks.iter().flat_map(|(_, bytes)| bytes.clone()).collect();
        self.chunks = all.chunks(size.max(1)).map(|piece| (Duration::ZERO, piece.to_vec())).collect();
        self
    }

    /// Pauses before every piece.
    pub fn paced(mut self, pause: Duration) -> Self {
        for chunk in &mut self.chunks {
            chunk.0 = pause;
        }
        self
    }

    /// Keeps only the first `n` pieces and then cuts the connection.
    pub fn cut_after(mut self, n: usize) -> Self {
        self.chunks.truncate(n);
        self.end = End::Cut;
        self
    }

    /// Keeps only the first `n` pieces and then hangs.
    pub fn hang_after(mut self, n: usize) -> Self {
        self.chunks.truncate(n);
        self.end = End::Hang;
        self
    }

    /// The request is handled as `status` says, and the connection closed before the answer is written.
    pub fn dropped(status: u16) -> Self {
        Reply { status, headers: Vec::new(), chunks: Vec::new(), end: End::Dropped }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When it was read.
    pub at: std::time::Instant,
    /// The status it was answered with (`ScriptedServer`; a dropped connection counts as its reply's status).
    pub status: u16,
}

impl Recorded {
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The string `content` of each chat message after the system message (OpenAI request bodies).
    pub fn message_texts(&self) -> Vec<String> {
        let body = self.json();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        messages.iter().skip(1).map(|m| m["content"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

/// Builds a reply from the request (a model that echoes, a receiver that decides per request).
pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

#[derive(Default)]
struct Shared {
    replies: VecDeque<Reply>,
    fallback: Option<Reply>,
    responder: Option<Responder>,
    requests: Vec<Recorded>,
}

/// A scripted HTTP server on loopback. Dropping it stops accepting connections.
pub struct ScriptedServer {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl ScriptedServer {
    /// Starts a server on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let accept_shared = shared.clone();
        let accept_task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, shared).await;
                });
            }
        });
        ScriptedServer { addr, shared, accept_task }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a reply; replies are used in order, one per request.
    pub fn push(&self, reply: Reply) {
        self.lock().replies.push_back(reply);
    }

    /// The reply used once the queue is empty (default: a 500 saying nothing is scripted).
    pub fn set_fallback(&self, reply: Reply) {
        self.lock().fallback = Some(reply);
    }

    /// Answers each request with `responder(request)` once the queue is empty (before the fallback).
    pub fn set_responder(&self, responder: Responder) {
        self.lock().responder = Some(responder);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Reads one HTTP/1.1 request (a `content-length` body); `None` when the peer closed first.
pub(crate) async fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Recorded>> {
    let mut buf = Vec::new();
    let mut tmp = [0_u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(key, _)| key == "content-length").and_then(|(_, value)| value.parse().ok()).unwrap_or(0);
    let mut body = buf[header_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok(Some(Recorded { method, path, headers, body, at: std::time::Instant::now(), status: 0 }))
}

async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>) -> std::io::Result<()> {
    let Some(mut recorded) = read_request(&mut stream).await? else { return Ok(()) };
    let reply = {
        let mut shared = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let responded = match (&shared.responder, shared.replies.is_empty()) {
            (Some(responder), true) => Some(responder(&recorded)),
            _ => None,
        };
        let reply = shared.replies.pop_front().or(responded).or_else(|| shared.fallback.clone()).unwrap_or_else(|| {
            Reply::json(
                500,
                serde_json::json!({"error": {"message": "no scripted reply left", "type": "server_error"}}),
            )
        });
        recorded.status = reply.status;
        shared.requests.push(recorded);
        reply
    };
    write_reply(&mut stream, &reply).await
}

/// Writes `reply` (chunked, `connection: close`) and closes the stream, or cuts or hangs as it says.
pub(crate) async fn write_reply(stream: &mut TcpStream, reply: &Reply) -> std::io::Result<()> {
    if reply.end == End::Dropped {
        return Ok(());
    }
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\nconnection: close\r\ntransfer-encoding: chunked\r\n", reply.status);
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    for (pause, bytes) in &reply.chunks {
        if !pause.is_zero() {
            tokio::time::sleep(*pause).await;
        }
        if bytes.is_empty() {
            continue;
        }
        stream.write_all(format!("{:x}\r\n", bytes.len()).as_bytes()).await?;
        stream.write_all(bytes).await?;
        stream.write_all(b"\r\n").await?;
        stream.flush().await?;
    }
    match reply.end {
        End::Complete => {
            stream.write_all(b"0\r\n\r\n").await?;
            stream.flush().await?;
        }
        End::Cut | End::Dropped => {}
        End::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
    }
    stream.shutdown().await
}

/// Reports a missing test counterpart (a server, a client package, a model file): loudly on stderr, and as a
/// failure under `CI=true`, where `.ci/run` must have installed it. `fix` says how to get it.
///
/// # Panics
/// Under `CI=true`, always.
pub fn counterpart_missing(what: &str, fix: &str) {
    assert!(std::env::var("CI").map_or(true, |v| v != "true"), "{what} is missing under CI=true; {fix}");
    record_skip(&format!("{what} is missing"), fix);
}

/// Says loudly that (part of) the running test was skipped and why, and adds it to the ledger the test command
/// prints at its end (`OPENCLAW_SKIP_LOG`, one `test<TAB>why<TAB>fix` line per skip; `scripts/test.sh` sets it).
pub fn record_skip(why: &str, fix: &str) {
    eprintln!("\n*** SKIPPED: {why} ({fix}) ***\n");
    let Some(ledger) = std::env::var_os("OPENCLAW_SKIP_LOG") else { return };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .map(|stem| stem.rsplit_once('-').map_or(stem.clone(), |(name, _hash)| name.to_owned()))
        .unwrap_or_default();
    let test = std::thread::current().name().unwrap_or("?").to_owned();
    let clean = |text: &str| text.replace(['\t', '\n'], " ");
    let line = format!("{binary}::{test}\t{}\t{}\n", clean(why), clean(fix));
    // One short append per skip: whole lines even with tests writing at once.
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ledger)
        .and_then(|mut file| std::io::Write::write_all(&mut file, line.as_bytes()));
    if let Err(error) = appended {
        eprintln!("could not add the skip to {}: {error}", std::path::Path::new(&ledger).display());
    }
}

/// The SmolLM2-135M GGUF that `.ci/run` fetches (`scripts/fetch-model.sh`): `OPENCLAW_TEST_GGUF`, else
/// `~/.cache/openclaw-rs/models/SmolLM2-135M-Instruct.Q4_1.gguf`, else `~/.openclaw/models/smollm2-135m.gguf` (where
/// `openclaw setup` puts it). `None` (reported by [`counterpart_missing`]) when
/// absent.
pub fn smollm2_gguf() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("OPENCLAW_TEST_GGUF").map(std::path::PathBuf::from) {
        if path.is_file() {
            return Some(path);
        }
        counterpart_missing(
            &format!("the SmolLM2 model (OPENCLAW_TEST_GGUF={})", path.display()),
            "run scripts/fetch-model.sh",
        );
        return None;
    }
    // The fetch script's cache, then where `openclaw setup` / `models pull` put it (`~/.openclaw/models`).
    let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let places = [
        home.join(".cache/openclaw-rs/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        home.join(".openclaw/models/smollm2-135m.gguf"),
    ];
    if let Some(found) = places.iter().find(|path| path.is_file()) {
        return Some(found.clone());
    }
    let looked: Vec<String> = places.iter().map(|path| path.display().to_string()).collect();
    counterpart_missing(
        &format!("the SmolLM2 model (looked in {})", looked.join(" and ")),
        "run scripts/fetch-model.sh, or openclaw models pull",
    );
    None
}

/// Whether python3 with the official MCP SDK (PyPI `mcp`, which `.ci/run` installs) is available; says so loudly
/// when not (and fails under `CI=true`).
pub fn mcp_sdk_available() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import mcp.server.fastmcp"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        counterpart_missing("the official MCP Python SDK", "python3 -m pip install 'mcp==1.*' (.ci/run does this)");
    }
    found
}

/// A stdio MCP server written with the official Python SDK: tools `forecast(city)`, `add(a, b)`, `fail(reason)`.
pub const MCP_WEATHER_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/weather_server.py");
