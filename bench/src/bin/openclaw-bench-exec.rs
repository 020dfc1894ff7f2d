//! What the exec sandbox costs per command: the same short commands run confined (`Mode::Enforce`: Landlock,
//! seccomp, capabilities dropped, pids cgroup) and with limits only (`Mode::Off`), in one run; medians of N.

use std::time::{Duration, Instant};

use clap::Parser;
use openclaw_bench::{median, percentile};
use openclaw_sandbox::{Limits, Mode, Spec, run};

#[derive(Parser)]
#[command(about = "Per-command overhead of the exec sandbox")]
struct Options {
    /// Commands per mode.
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

async fn measure(workspace: &std::path::Path, script: &str, mode: Mode, runs: usize) -> (f64, f64) {
    let mut millis = Vec::with_capacity(runs);
    for _ in 0..runs {
        let spec = Spec {
            limits: Limits { wall: Duration::from_secs(10), ..Limits::default() },
            mode,
            ..Spec::shell(workspace, script)
        };
        let started = Instant::now();
        let outcome = run(spec).await.expect("run");
        assert_eq!(outcome.status, openclaw_sandbox::Status::Exited(0), "{outcome:?}");
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let p50 = median(&mut millis);
    (p50, percentile(&millis, 99.0))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let options = Options::parse();
    let dir = tempfile::tempdir().expect("tempdir");
    println!("{}", openclaw_sandbox::support().summary());
    println!("| command | confined p50 / p99 (ms) | limits only p50 / p99 (ms) | overhead p50 (ms) |");
    println!("|---|---|---|---|");
    for script in ["true", "ls -la /usr/bin | wc -l", "echo hi > f.txt && cat f.txt"] {
        let (on50, on99) = measure(dir.path(), script, Mode::Enforce, options.runs).await;
        let (off50, off99) = measure(dir.path(), script, Mode::Off, options.runs).await;
        println!("| `{script}` | {on50:.2} / {on99:.2} | {off50:.2} / {off99:.2} | {:.2} |", on50 - off50);
    }
}
