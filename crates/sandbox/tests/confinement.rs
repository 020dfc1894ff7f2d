//! Each confinement is shown twice: denied under `Mode::Enforce`, and the same command succeeding with the sandbox
//! off (or the limit raised) — so every test here fails if the sandbox stops doing its job.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use openclaw_sandbox::{Limit, Limits, Mode, Outcome, Spec, Status, run, support};

fn spec(workspace: &Path, script: &str) -> Spec {
    Spec { limits: Limits { wall: Duration::from_secs(20), ..Limits::default() }, ..Spec::shell(workspace, script) }
}

async fn sh(workspace: &Path, script: &str, adjust: impl FnOnce(&mut Spec)) -> Outcome {
    let mut spec = spec(workspace, script);
    adjust(&mut spec);
    run(spec).await.unwrap()
}

struct Dirs {
    _root: tempfile::TempDir,
    workspace: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().unwrap();
    let workspace = root.path().join("workspace");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "the secret").unwrap();
    std::fs::write(workspace.join("notes.txt"), "inside").unwrap();
    Dirs { _root: root, workspace, outside }
}

#[test]
fn the_kernel_supports_the_sandbox() {
    let found = support();
    assert!(found.landlock_abi >= 1 && found.seccomp, "{}", found.summary());
}

#[tokio::test]
async fn reads_stay_inside_the_workspace() {
    let d = dirs();
    let script = format!("cat notes.txt; cat {}", d.outside.join("secret.txt").display());
    let confined = sh(&d.workspace, &script, |_| {}).await;
    assert!(confined.output.starts_with("inside"), "{confined:?}");
    assert!(!confined.output.contains("the secret"), "{confined:?}");
    assert!(confined.output.contains("Permission denied"), "{confined:?}");
    assert_ne!(confined.status, Status::Exited(0));

    let open = sh(&d.workspace, &script, |s| s.mode = Mode::Off).await;
    assert!(open.output.contains("the secret"), "{open:?}");

    // A read grant opens exactly that folder.
    let granted = sh(&d.workspace, &script, |s| s.grants.read.push(d.outside.clone())).await;
    assert!(granted.output.contains("the secret"), "{granted:?}");
}

#[tokio::test]
async fn writes_stay_inside_the_workspace() {
    let d = dirs();
    let target = d.outside.join("planted.txt");
    let script = format!("echo ok > made.txt && echo bad > {}", target.display());
    let confined = sh(&d.workspace, &script, |_| {}).await;
    assert!(d.workspace.join("made.txt").exists(), "{confined:?}");
    assert!(!target.exists(), "{confined:?}");
    assert!(confined.output.contains("Permission denied"), "{confined:?}");

    // Read access does not imply write access.
    let read_only = sh(&d.workspace, &script, |s| s.grants.read.push(d.outside.clone())).await;
    assert!(!target.exists(), "{read_only:?}");

    let open = sh(&d.workspace, &script, |s| s.mode = Mode::Off).await;
    assert_eq!(open.status, Status::Exited(0), "{open:?}");
    assert!(target.exists());
}

#[tokio::test]
async fn no_socket_without_a_network_grant() {
    let d = dirs();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let script = format!("echo hello > /dev/tcp/127.0.0.1/{port}");
    let bash = |adjust: fn(&mut Spec)| {
        let mut spec = spec(&d.workspace, &script);
        spec.program = "/bin/bash".into();
        spec.args = vec!["-c".into(), script.clone()];
        adjust(&mut spec);
        run(spec)
    };
    let confined = bash(|_| {}).await.unwrap();
    assert_ne!(confined.status, Status::Exited(0), "{confined:?}");
    assert!(listener.accept().is_err(), "no connection arrived");
    // UDP is refused too (Landlock alone would not cover it).
    let udp = sh(&d.workspace, &format!("echo hi > /dev/udp/127.0.0.1/{port}"), |s| {
        s.program = "/bin/bash".into();
        s.args = vec!["-c".into(), format!("echo hi > /dev/udp/127.0.0.1/{port}")];
    })
    .await;
    assert_ne!(udp.status, Status::Exited(0), "{udp:?}");

    let granted = bash(|s| s.grants.network = true).await.unwrap();
    assert_eq!(granted.status, Status::Exited(0), "{granted:?}");
    listener.set_nonblocking(false).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    let mut received = String::new();
    stream.read_to_string(&mut received).unwrap();
    assert_eq!(received, "hello\n");
}

#[tokio::test]
async fn cpu_time_is_limited() {
    let d = dirs();
    let outcome = sh(&d.workspace, "while :; do :; done", |s| s.limits.cpu_seconds = 1).await;
    assert_eq!(outcome.status, Status::Killed(Limit::Cpu), "{outcome:?}");
    assert!(outcome.duration < Duration::from_secs(10), "{outcome:?}");
}

#[tokio::test]
async fn wall_clock_is_limited_and_the_whole_group_goes() {
    let d = dirs();
    let outcome =
        sh(&d.workspace, "sleep 30 & echo started; sleep 30", |s| s.limits.wall = Duration::from_secs(1)).await;
    assert_eq!(outcome.status, Status::Killed(Limit::Wall), "{outcome:?}");
    assert!(outcome.duration < Duration::from_secs(5), "{outcome:?}");
    assert!(outcome.output.contains("started"));
}

#[tokio::test]
async fn memory_is_limited() {
    let d = dirs();
    // dd allocates one buffer of `bs` bytes.
    let script = "dd if=/dev/zero of=/dev/null bs=400M count=1";
    let small = sh(&d.workspace, script, |s| s.limits.memory_bytes = 128 << 20).await;
    assert_ne!(small.status, Status::Exited(0), "{small:?}");
    assert!(small.output.contains("memory exhausted"), "{small:?}");
    let large = sh(&d.workspace, script, |s| s.limits.memory_bytes = 2 << 30).await;
    assert_eq!(large.status, Status::Exited(0), "{large:?}");
}

#[tokio::test]
async fn file_size_and_process_count_are_limited() {
    let d = dirs();
    let big = sh(&d.workspace, "head -c 3000000 /dev/zero > big.bin", |s| s.limits.file_bytes = 1 << 20).await;
    assert_eq!(big.status, Status::Killed(Limit::FileSize), "{big:?}");
    assert_eq!(std::fs::metadata(d.workspace.join("big.bin")).unwrap().len(), 1 << 20);

    let fork_bomb = "for i in $(seq 1 40); do sleep 5 & done 2>&1; echo spawned";
    let limited = sh(&d.workspace, fork_bomb, |s| s.limits.processes = 10).await;
    assert!(
        limited.output.contains("Resource temporarily unavailable") || limited.output.contains("fork"),
        "{limited:?}"
    );
    // Finding 12 of the security review: a process that left the command's process group (setsid) survived the
    // command and kept its exec cgroup, which then stayed behind. Every process in the group is killed now.
    let escaped =
        sh(&d.workspace, "setsid sleep 61.25 > /dev/null 2>&1 & sleep 0.3; echo started", |s| s.limits.processes = 10);
    let escaped = escaped.await;
    assert_eq!(escaped.status, Status::Exited(0), "{escaped:?}");
    let alive = || {
        std::fs::read_dir("/proc").into_iter().flatten().flatten().any(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| cmdline == b"sleep\x0061.25\x00")
        })
    };
    // Only a pids cgroup reaches a process outside the group; without a writable hierarchy nothing can.
    let writable = std::fs::OpenOptions::new().write(true).open("/sys/fs/cgroup/pids/cgroup.procs").is_ok();
    if writable {
        assert!(!alive(), "the escaped process outlived its command");
    } else {
        // Not a counterpart to install: the machine gives no cgroup to write. Said, and listed among the skips.
        openclaw_testkit::record_skip(
            "part of file_size_and_process_count_are_limited: no writable pids cgroup here",
            "run as root on cgroup v1, or delegate a v2 subtree",
        );
    }
}

#[tokio::test]
async fn output_is_truncated_at_the_cap() {
    let d = dirs();
    let outcome =
        sh(&d.workspace, "yes 0123456789 | head -c 1000000; echo done >&2", |s| s.limits.output_bytes = 10_000).await;
    assert_eq!(outcome.status, Status::Exited(0), "{outcome:?}");
    assert!(outcome.truncated);
    assert_eq!(outcome.output_total, 1_000_005);
    assert!(outcome.output.starts_with("0123456789\n"));
    assert!(outcome.output.contains("[output truncated: 1000005 bytes written, the first 10000 kept]"));
    assert!(outcome.output.len() < 10_100);
}

#[tokio::test]
async fn signals_do_not_leave_the_sandbox() {
    let d = dirs();
    let mut parent = std::process::Command::new("sleep").arg("30").spawn().unwrap();
    let script = format!("kill -0 {} && echo reachable", parent.id());
    let confined = sh(&d.workspace, &script, |_| {}).await;
    assert!(!confined.output.contains("reachable"), "{confined:?}");
    let open = sh(&d.workspace, &script, |s| s.mode = Mode::Off).await;
    assert!(open.output.contains("reachable"), "{open:?}");
    parent.kill().unwrap();
    let _ = parent.wait();
}

#[tokio::test]
async fn a_working_folder_outside_the_workspace_is_refused() {
    let d = dirs();
    let mut spec = spec(&d.workspace, "true");
    spec.cwd = d.outside.clone();
    let error = run(spec).await.unwrap_err();
    assert!(error.to_string().contains("not inside the workspace"), "{error}");
}

#[tokio::test]
async fn a_caller_that_stops_waiting_takes_the_whole_group_down() {
    let d = dirs();
    let script = "sleep 30 & echo $! > bg.pid; wait";
    let abandoned = tokio::time::timeout(Duration::from_secs(1), sh(&d.workspace, script, |_| {})).await;
    assert!(abandoned.is_err(), "the command was still running");
    let pid = std::fs::read_to_string(d.workspace.join("bg.pid")).unwrap();
    let status = format!("/proc/{}/status", pid.trim());
    let mut alive = true;
    for _ in 0..50 {
        let state = std::fs::read_to_string(&status).unwrap_or_default();
        alive = state.lines().any(|line| line.starts_with("State:") && !line.contains("zombie"));
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive, "the background process {} outlived the abandoned command", pid.trim());
}

#[tokio::test]
async fn namespaces_cannot_be_created() {
    let d = dirs();
    // unshare(2) is refused by the seccomp filter (namespaces would widen what the command can do).
    let script = "unshare --user --net true && echo made";
    let confined = sh(&d.workspace, script, |_| {}).await;
    assert!(!confined.output.contains("made"), "{confined:?}");
    let open = sh(&d.workspace, script, |s| s.mode = Mode::Off).await;
    assert!(open.output.contains("made"), "{open:?}");
}

/// Finding 8 of the security review: each file was capped (256 MiB) but not their total — eight files made 2 GB in
/// six seconds. A write budget over all of them ends the command with a clear status.
#[tokio::test]
async fn many_files_cannot_exceed_the_write_budget() {
    let d = dirs();
    let script = "for i in 1 2 3 4 5 6 7 8; do head -c 20000000 /dev/zero > f$i.bin; sync; done; echo wrote all";
    let outcome = sh(&d.workspace, script, |s| {
        s.limits.file_bytes = 32 << 20;
        s.limits.write_bytes = 40 << 20;
    })
    .await;
    assert_eq!(outcome.status, Status::Killed(Limit::Writes), "{outcome:?}");
    assert!(!outcome.output.contains("wrote all"), "{outcome:?}");
    assert!(outcome.status.to_string().contains("maxWriteMb"), "{}", outcome.status);
    let written: u64 = std::fs::read_dir(&d.workspace).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    assert!(written < 160_000_000, "stopped before all 160 MB: {written}");
}
