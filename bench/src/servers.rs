//! The servers measured: ours, the hello yardstick and the reference OpenClaw — how each is set up against the mock
//! model, started (timed to the first 200 from `/readyz`) and stopped (the whole process group).

use std::io::{BufRead, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use openclaw_bench::mock::MockModel;
use serde_json::{Value, json};

use crate::Options;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Hello,
    Reference,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Ours => "openclaw-rs",
            Kind::Hello => "hello (hyper)",
            Kind::Reference => "reference",
        }
    }
}

/// What a start needs: the command line, environment and state folder.
pub struct Setup {
    kind: Kind,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    token: String,
    model: String,
    /// The fixed port a server is configured with (the reference); ours and hello print theirs.
    port: Option<u16>,
    /// What `install size` measures.
    size_of: Vec<PathBuf>,
    /// Removed when the setup is dropped.
    _dir: tempfile::TempDir,
}

/// A running server.
pub struct Server {
    pub kind: Kind,
    child: Child,
    addr: String,
    pub token: String,
    pub model: String,
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| format!("no free port: {error}"))?;
    listener.local_addr().map(|addr| addr.port()).map_err(|error| error.to_string())
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| format!("{}: {error}", parent.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap_or_default())
        .map_err(|error| format!("{}: {error}", path.display()))
}

/// Disk usage of files and folders, in MB (apparent sizes).
fn size_mb(paths: &[PathBuf]) -> Option<f64> {
    fn walk(path: &Path) -> u64 {
        let Ok(meta) = std::fs::symlink_metadata(path) else { return 0 };
        if meta.is_dir() {
            std::fs::read_dir(path).map_or(0, |entries| entries.flatten().map(|entry| walk(&entry.path())).sum())
        } else {
            meta.len()
        }
    }
    let total: u64 = paths.iter().map(|path| walk(&std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))).sum();
    (total > 0).then(|| total as f64 / 1_048_576.0)
}

impl Setup {
    pub async fn new(kind: Kind, opts: &Options, mock: &MockModel) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|error| format!("temp folder: {error}"))?;
        let provider = json!({"baseUrl": mock.base_url(), "apiKey": "sk-mock", "api": "openai-completions",
                              "models": [{"id": "mock-1", "name": "Mock 1", "reasoning": false, "input": ["text"],
                                          "contextWindow": 128000, "maxTokens": 4096}]});
        match kind {
            Kind::Ours => {
                let state = dir.path().join("state");
                let config = json!({
                    "gateway": {"http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
                    "agents": {"defaults": {"model": "mock/mock-1", "workspace": dir.path().join("ws")}},
                    "models": {"providers": {"mock": provider}},
                });
                write_json(&state.join("openclaw.json"), &config)?;
                require_file(&opts.bin, "cargo build --release -p openclaw")?;
                Ok(Setup {
                    kind,
                    program: opts.bin.clone(),
                    args: ["gateway", "run", "--port", "0", "--token", "bench-token"].map(str::to_owned).to_vec(),
                    env: vec![
                        ("OPENCLAW_STATE_DIR".into(), state.display().to_string()),
                        ("OPENCLAW_LOG_LEVEL".into(), "warn".into()),
                    ],
                    token: "bench-token".into(),
                    model: "openclaw".into(),
                    port: None,
                    size_of: vec![opts.bin.clone()],
                    _dir: dir,
                })
            }
            Kind::Hello => {
                require_file(&opts.hello, "cargo build --release -p openclaw-bench")?;
                Ok(Setup {
                    kind,
                    program: opts.hello.clone(),
                    args: vec!["0".into()],
                    env: Vec::new(),
                    token: String::new(),
                    model: "hello".into(),
                    port: None,
                    size_of: vec![opts.hello.clone()],
                    _dir: dir,
                })
            }
            Kind::Reference => Self::reference(opts, provider, dir).await,
        }
    }

    /// Installs the reference (idempotent), writes the shared offline config with our mock and a free port, and
    /// runs it once untimed so its first-run work (workspace seeding, migrations, git init) is done.
    async fn reference(opts: &Options, provider: Value, dir: tempfile::TempDir) -> Result<Self, String> {
        eprintln!("reference: installing with {} (cached after the first time)", opts.reference_install.display());
        let output = Command::new("bash")
            .arg(&opts.reference_install)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| format!("cannot run {}: {error}", opts.reference_install.display()))?;
        if !output.status.success() {
            return Err(format!("{} failed ({})", opts.reference_install.display(), output.status));
        }
        let install = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        let cli = install.join("bin").join("openclaw-ref");
        let home = dir.path().join("home");
        let port = free_port()?;
        let shared = opts.reference_install.with_file_name("bench-openclaw.json");
        let mut config: Value = std::fs::read_to_string(&shared)
            .map_err(|error| format!("{}: {error}", shared.display()))
            .and_then(|text| serde_json::from_str(&text).map_err(|error| format!("{}: {error}", shared.display())))?;
        config["gateway"]["port"] = json!(port);
        config["models"]["providers"]["mock"] = provider;
        config["agents"]["defaults"]["workspace"] = json!(home.join("ws"));
        let token = config["gateway"]["auth"]["token"].as_str().unwrap_or("bench-token-123").to_owned();
        write_json(&home.join(".openclaw").join("openclaw.json"), &config)?;
        let setup = Setup {
            kind: Kind::Reference,
            program: cli,
            args: ["gateway", "run", "--port", &port.to_string()].map(str::to_owned).to_vec(),
            env: vec![
                ("HOME".into(), home.display().to_string()),
                ("OPENCLAW_REF_HOME".into(), home.display().to_string()),
                ("OPENCLAW_NO_AUTO_UPDATE".into(), "1".into()),
                ("OPENCLAW_DISABLE_BONJOUR".into(), "1".into()),
            ],
            token,
            model: "openclaw/default".into(),
            port: Some(port),
            size_of: vec![install.join("npm").join("node_modules"), install.join("bin").join("node26")],
            _dir: dir,
        };
        eprintln!("reference: first start (untimed, initialises its state)");
        let (server, ms) = setup.start().await?;
        eprintln!("reference: first start took {ms:.0} ms");
        server.stop().await;
        Ok(setup)
    }

    pub fn size_mb(&self) -> Option<f64> {
        size_mb(&self.size_of)
    }

    /// Starts the server and waits for `/readyz` to answer 200; returns it and the milliseconds that took.
    pub async fn start(&self) -> Result<(Server, f64), String> {
        let started = Instant::now();
        let mut command = Command::new(&self.program);
        command.args(&self.args).envs(self.env.iter().cloned()).stdin(Stdio::null()).stderr(Stdio::null());
        command.stdout(if self.port.is_some() { Stdio::null() } else { Stdio::piped() });
        command.process_group(0);
        let mut child = command.spawn().map_err(|error| format!("cannot start {}: {error}", self.program.display()))?;
        let addr = match self.port {
            Some(port) => format!("127.0.0.1:{port}"),
            None => {
                // Ours and hello print `… ws://ADDR …` once bound.
                let mut line = String::new();
                if let Some(stdout) = child.stdout.take() {
                    let _ = std::io::BufReader::new(stdout).read_line(&mut line);
                }
                match line.split_whitespace().find_map(|word| word.strip_prefix("ws://")) {
                    Some(addr) => addr.to_owned(),
                    None => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!("{} printed no address (got {line:?})", self.program.display()));
                    }
                }
            }
        };
        let server = Server { kind: self.kind, child, addr, token: self.token.clone(), model: self.model.clone() };
        let deadline = started + Duration::from_secs(180);
        let addr = server.addr.clone();
        let ready = tokio::task::spawn_blocking(move || {
            while Instant::now() < deadline {
                if readyz(&addr) {
                    return true;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            false
        })
        .await
        .unwrap_or(false);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if !ready {
            server.stop().await;
            return Err(format!("{} was not ready after 180 s", self.kind.label()));
        }
        Ok((server, ms))
    }
}

fn require_file(path: &Path, build: &str) -> Result<(), String> {
    if path.is_file() { Ok(()) } else { Err(format!("{} is missing: run `{build}` first", path.display())) }
}

fn readyz(addr: &str) -> bool {
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 200"
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    fn kill_group(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args([signal, "--", &group]).stderr(Stdio::null()).status();
    }

    /// SIGTERM to the process group and up to 15 s for the leader to exit; dropping kills what is left.
    pub async fn stop(mut self) {
        self.kill_group("-TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Server {
    /// SIGKILL to the process group (the reference's workers may outlive its leader; a bench that stops early must
    /// not leave servers behind).
    fn drop(&mut self) {
        self.kill_group("-KILL");
        let _ = self.child.wait();
    }
}

/// Lifts the soft limit on open files to the hard one: 10,000 idle clients need as many descriptors on each side.
pub fn raise_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
