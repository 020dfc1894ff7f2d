//! Runs one command confined, without a container engine.
//!
//! On Linux the child, between `fork` and `exec`:
//! - starts its own session (so the whole process group is killed at the wall-clock limit or when the command
//!   ends) and dies with its parent (`PR_SET_PDEATHSIG`);
//! - gets rlimits: CPU seconds (`SIGXCPU`), address space, file size (`SIGXFSZ`), processes, open files;
//! - drops every capability (bounding, ambient, effective, permitted, inheritable) and sets `no_new_privs`, so a
//!   root gateway's commands are not root in any way that matters and setuid binaries gain nothing;
//! - enters a Landlock domain: read + execute on the system's program and library folders and the granted read
//!   paths, read + write on the workspace, a private temp folder and the granted write paths, nothing else; no TCP
//!   bind/connect without a network grant (ABI ≥ 4); no signals or abstract UNIX sockets outside its own domain
//!   (ABI ≥ 6);
//! - installs a seccomp filter: no sockets but `AF_UNIX` without a network grant (this also covers UDP and raw
//!   sockets, which Landlock does not), and none of the syscalls that escape or widen a sandbox (`ptrace`,
//!   `mount`, `unshare`, `setns`, namespace flags on `clone`, `bpf`, `io_uring_*`, `open_by_handle_at`, module
//!   and kexec calls, `keyctl`, `perf_event_open`, …).
//!
//! The parent reads stdout and stderr (merged, in order) up to the output cap and keeps draining after it, and
//! kills the process group at the wall-clock limit.
//!
//! **Invariant:** with [`Mode::Enforce`] a command never runs unconfined: a kernel without Landlock or seccomp is an
//! error ([`SandboxError::Unsupported`]) naming the missing feature and the explicit opt-out.

use std::path::PathBuf;
use std::time::Duration;

#[cfg(target_os = "linux")]
mod linux;

/// Whether the confinement is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Landlock + seccomp + no capabilities + limits; fails closed when the kernel lacks a feature.
    #[default]
    Enforce,
    /// Limits only (rlimits, wall clock, output cap): the command sees the whole machine. Only by explicit config.
    Off,
}

/// Resource limits of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU time; the command gets `SIGXCPU` when it is used up.
    pub cpu_seconds: u64,
    /// Address space; allocations beyond it fail.
    pub memory_bytes: u64,
    /// Processes (and threads) the command may have running at once.
    pub processes: u64,
    /// Largest file the command may write; beyond it the command gets `SIGXFSZ`.
    pub file_bytes: u64,
    /// Wall-clock time; the whole process group is killed at the end of it.
    pub wall: Duration,
    /// Output kept for the caller (stdout and stderr together); the rest is read and dropped.
    pub output_bytes: usize,
    /// Bytes the command may add to its filesystems in all (the workspace's and its temp folder's), checked ten
    /// times a second from their free space; beyond it the whole process group is killed. `RLIMIT_FSIZE` caps one
    /// file; this caps many.
    pub write_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_seconds: 60,
            memory_bytes: 2 << 30,
            processes: 64,
            file_bytes: 256 << 20,
            wall: Duration::from_secs(120),
            output_bytes: 64 * 1024,
            write_bytes: 1 << 30,
        }
    }
}

/// What the command may touch besides its workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Extra folders or files it may read (and execute from).
    pub read: Vec<PathBuf>,
    /// Extra folders or files it may read and write.
    pub write: Vec<PathBuf>,
    /// Whether it may open network sockets.
    pub network: bool,
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The program (a path, or a name looked up on `PATH`).
    pub program: String,
    pub args: Vec<String>,
    /// The workspace: the working folder's root, readable and writable.
    pub workspace: PathBuf,
    /// The working folder (inside the workspace).
    pub cwd: PathBuf,
    /// The whole environment of the command (nothing is inherited).
    pub env: Vec<(String, String)>,
    pub grants: Grants,
    pub limits: Limits,
    pub mode: Mode,
}

impl Spec {
    /// `/bin/sh -c script` in `workspace` (also its working folder), confined, with the default limits, no grants
    /// and only `PATH` in its environment; adjust the fields from there.
    pub fn shell(workspace: &std::path::Path, script: &str) -> Spec {
        Spec {
            program: "/bin/sh".to_owned(),
            args: vec!["-c".to_owned(), script.to_owned()],
            workspace: workspace.to_path_buf(),
            cwd: workspace.to_path_buf(),
            env: vec![("PATH".to_owned(), DEFAULT_PATH.to_owned())],
            grants: Grants::default(),
            limits: Limits::default(),
            mode: Mode::Enforce,
        }
    }
}

/// `PATH` of commands unless configured otherwise.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Which limit ended a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Cpu,
    Wall,
    FileSize,
    /// The total write budget ([`Limits::write_bytes`]).
    Writes,
}

impl Limit {
    fn describe(self) -> &'static str {
        match self {
            Limit::Cpu => "CPU time limit",
            Limit::Wall => "wall-clock limit",
            Limit::FileSize => "file size limit",
            Limit::Writes => "write budget (tools.exec.sandbox.maxWriteMb)",
        }
    }
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    /// Killed at a limit.
    Killed(Limit),
    /// Ended by another signal.
    Signaled(i32),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exit code {code}"),
            Status::Killed(limit) => write!(f, "killed: {}", limit.describe()),
            Status::Signaled(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// What a command produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    /// stdout and stderr, merged in the order they were written, lossily decoded as UTF-8, at most
    /// [`Limits::output_bytes`].
    pub output: String,
    /// Whether output beyond the cap was dropped.
    pub truncated: bool,
    /// Bytes the command wrote in all.
    pub output_total: u64,
    pub duration: Duration,
}

/// Why a command could not be run.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the exec sandbox needs {feature}, which this kernel does not provide ({detail}); fix: run on Linux ≥ 5.13 with Landlock enabled (e.g. boot with lsm=landlock,…), or set tools.exec.sandbox.mode = \"off\" to run commands unconfined (not recommended)"
    )]
    Unsupported { feature: &'static str, detail: String },
    #[error("the working folder {0} is not inside the workspace")]
    OutsideWorkspace(PathBuf),
    #[error("cannot start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("sandbox setup failed: {0}")]
    Setup(String),
}

/// What the kernel offers (for `doctor` and clear errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// The Landlock ABI version (0 = none).
    pub landlock_abi: i32,
    pub seccomp: bool,
}

impl Support {
    /// One line for humans.
    pub fn summary(&self) -> String {
        let landlock = match self.landlock_abi {
            0 => "no Landlock".to_owned(),
            1..=3 => format!("Landlock ABI {} (files only)", self.landlock_abi),
            4 | 5 => format!("Landlock ABI {} (files, TCP)", self.landlock_abi),
            abi => format!("Landlock ABI {abi} (files, TCP, signals, abstract sockets)"),
        };
        let seccomp = if self.seccomp { "seccomp" } else { "no seccomp" };
        format!("{landlock}, {seccomp}")
    }
}

/// Probes the kernel.
pub fn support() -> Support {
    #[cfg(target_os = "linux")]
    {
        linux::support()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Support { landlock_abi: 0, seccomp: false }
    }
}

/// Runs a command under the spec's confinement and limits.
///
/// # Errors
/// [`SandboxError`] when the command cannot be started, or when confinement is required and the kernel cannot
/// provide it. A command that runs and fails is an [`Outcome`], not an error.
pub async fn run(spec: Spec) -> Result<Outcome, SandboxError> {
    if !spec.cwd.starts_with(&spec.workspace) {
        return Err(SandboxError::OutsideWorkspace(spec.cwd));
    }
    #[cfg(target_os = "linux")]
    {
        linux::run(spec).await
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = spec;
        Err(SandboxError::Unsupported { feature: "Linux Landlock and seccomp", detail: "not Linux".into() })
    }
}

/// The marker appended where output was cut.
pub fn truncation_note(kept: usize, total: u64) -> String {
    format!("\n[output truncated: {total} bytes written, the first {kept} kept]")
}
