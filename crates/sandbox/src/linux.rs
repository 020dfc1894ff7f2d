//! The Linux confinement: everything that needs allocation (the Landlock ruleset, the seccomp programs, the
//! process-count baseline) is prepared in the parent; the child, between `fork` and `exec`, only makes syscalls.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

use crate::{Limit, Mode, Outcome, SandboxError, Spec, Status, Support, truncation_note};

/// The newest Landlock ABI whose rights we have vetted; older kernels get what they support (best effort above
/// the file-system base, which is required).
const LANDLOCK_ABI: ABI = ABI::V6;

/// Read + execute for every command: where programs, libraries and the little of `/etc` they need live.
const SYSTEM_READ: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/mime.types",
    "/dev/urandom",
    "/dev/random",
];

/// Devices a command may write to.
const DEVICES_RW: &[&str] = &["/dev/null", "/dev/zero", "/dev/full"];

/// Syscalls refused with `EPERM`: they escape or widen a sandbox, or reach the kernel's riskiest surfaces.
const DENIED_SYSCALLS: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_userfaultfd,
    libc::SYS_fanotify_init,
    libc::SYS_iopl,
    libc::SYS_ioperm,
];

/// `clone` flags that create namespaces.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];

pub(crate) fn support() -> Support {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns the ABI version.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) } >= 0;
    Support { landlock_abi: if abi < 0 { 0 } else { abi as i32 }, seccomp }
}

fn setup(error: impl std::fmt::Display) -> SandboxError {
    SandboxError::Setup(error.to_string())
}

/// Adds a rule for `path` when it exists (a missing system folder is not an error); files get the file rights only.
fn allow(
    ruleset: RulesetCreated,
    path: &Path,
    access: landlock::BitFlags<AccessFs>,
) -> Result<RulesetCreated, SandboxError> {
    let Ok(metadata) = std::fs::metadata(path) else { return Ok(ruleset) };
    let Ok(fd) = PathFd::new(path) else { return Ok(ruleset) };
    let access = if metadata.is_dir() { access } else { access & AccessFs::from_file(LANDLOCK_ABI) };
    ruleset.add_rule(PathBeneath::new(fd, access)).map_err(|error| setup(format!("{}: {error}", path.display())))
}

/// The Landlock domain of one command, as a ruleset file descriptor.
fn landlock_ruleset(spec: &Spec, tmp: &Path) -> Result<OwnedFd, SandboxError> {
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::from_read(LANDLOCK_ABI);
    let mut ruleset =
        Ruleset::default().set_compatibility(CompatLevel::BestEffort).handle_access(all).map_err(setup)?;
    if !spec.grants.network {
        ruleset = ruleset.handle_access(AccessNet::from_all(LANDLOCK_ABI)).map_err(setup)?;
    }
    ruleset = ruleset.scope(Scope::from_all(LANDLOCK_ABI)).map_err(setup)?;
    let mut created = ruleset.create().map_err(setup)?;
    for path in SYSTEM_READ.iter().map(Path::new).chain(spec.grants.read.iter().map(|p| p.as_path())) {
        created = allow(created, path, read)?;
    }
    for path in DEVICES_RW {
        created = allow(created, Path::new(path), read | AccessFs::WriteFile)?;
    }
    for path in [spec.workspace.as_path(), tmp].into_iter().chain(spec.grants.write.iter().map(|p| p.as_path())) {
        created = allow(created, path, all)?;
    }
    Option::<OwnedFd>::from(created)
        .ok_or_else(|| SandboxError::Unsupported { feature: "Landlock", detail: "no Landlock ruleset".into() })
}

fn arch() -> Result<seccompiler::TargetArch, SandboxError> {
    std::env::consts::ARCH.try_into().map_err(|_| SandboxError::Unsupported {
        feature: "a seccomp filter for this CPU",
        detail: format!("architecture {}", std::env::consts::ARCH),
    })
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, SandboxError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(setup)
}

/// Two seccomp programs: the `EPERM` list (and sockets without a network grant), and `clone3` → `ENOSYS` (its
/// flags sit behind a pointer seccomp cannot read, so the C library falls back to `clone`, whose flags it can).
fn seccomp_programs(network: bool) -> Result<[BpfProgram; 2], SandboxError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED_SYSCALLS.iter().map(|&call| (call, Vec::new())).collect();
    let mut clone_rules = Vec::new();
    for &flag in NAMESPACE_FLAGS {
        let flag = flag as u64;
        clone_rules.push(SeccompRule::new(vec![condition(0, SeccompCmpOp::MaskedEq(flag), flag)?]).map_err(setup)?);
    }
    rules.insert(libc::SYS_clone, clone_rules);
    if !network {
        let not_unix = condition(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?;
        rules.insert(libc::SYS_socket, vec![SeccompRule::new(vec![not_unix]).map_err(setup)?]);
    }
    let denied = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch()?)
        .map_err(setup)?;
    let clone3 = SeccompFilter::new(
        [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch()?,
    )
    .map_err(setup)?;
    Ok([denied.try_into().map_err(setup)?, clone3.try_into().map_err(setup)?])
}

/// Tasks (processes and threads) the real user has now: `RLIMIT_NPROC` counts them all, so the command's allowance
/// is added to this baseline.
fn tasks_of_this_user() -> u64 {
    // SAFETY: getuid has no failure mode.
    let uid = unsafe { libc::getuid() }.to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let mut total = 0;
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let mut mine = false;
        let mut threads = 1;
        for line in status.lines() {
            if let Some(rest) = line.strip_prefix("Uid:") {
                mine = rest.split_whitespace().next() == Some(uid.as_str());
            } else if let Some(rest) = line.strip_prefix("Threads:") {
                threads = rest.trim().parse().unwrap_or(1);
            }
        }
        if mine {
            total += threads;
        }
    }
    total
}

/// A pids cgroup of one command (`pids.max`): the process limit for a root gateway, which `RLIMIT_NPROC` does not
/// bind (the kernel exempts the root user from it). Removed when dropped.
struct PidsCgroup {
    dir: std::path::PathBuf,
    procs: std::fs::File,
}

impl PidsCgroup {
    /// A new cgroup under this process's own pids cgroup (v1 `pids` hierarchy, or v2 with the pids controller),
    /// when the hierarchy is writable; `None` otherwise.
    fn create(max: u64) -> Option<PidsCgroup> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let mut bases = Vec::new();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "pids") {
                bases.push(Path::new("/sys/fs/cgroup/pids").join(path));
            } else if controllers.is_empty() {
                bases.push(Path::new("/sys/fs/cgroup").join(path));
            }
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name =
            format!("openclaw-exec-{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        for base in bases {
            sweep_stale(&base);
            let dir = base.join(&name);
            if std::fs::create_dir(&dir).is_err() {
                continue;
            }
            let ready = std::fs::write(dir.join("pids.max"), max.to_string()).is_ok();
            let procs = std::fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs"));
            match (ready, procs) {
                (true, Ok(procs)) => return Some(PidsCgroup { dir, procs }),
                _ => {
                    let _ = std::fs::remove_dir(&dir);
                }
            }
        }
        None
    }
}

/// Free bytes for an unprivileged writer on the filesystem of `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(path.as_ptr(), &mut stat) } == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// The bytes the files under `roots` take (allocated blocks, symlinks not followed) and how many entries they
/// hold; `None` past 20,000 entries, where walking this often would cost too much (the free-space measure then
/// stands alone).
fn tree_bytes(roots: &[std::path::PathBuf]) -> Option<(u64, usize)> {
    use std::os::unix::fs::MetadataExt;
    let mut pending: Vec<std::path::PathBuf> = roots.to_vec();
    let (mut total, mut entries) = (0u64, 0usize);
    while let Some(dir) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&dir) else { continue };
        for entry in listing.flatten() {
            entries += 1;
            if entries > 20_000 {
                return None;
            }
            let Ok(metadata) = entry.path().symlink_metadata() else { continue };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                total += metadata.blocks() * 512;
            }
        }
    }
    Some((total, entries))
}

/// Kills every process left in a cgroup folder (`cgroup.kill` on v2, else each pid of `cgroup.procs`) and removes
/// it. A process that left the command's process group (a fork bomb's children do) is still in the cgroup, and a
/// cgroup with a live process cannot be removed.
fn remove_cgroup(dir: &Path) -> bool {
    for attempt in 0..200 {
        if std::fs::remove_dir(dir).is_ok() {
            return true;
        }
        if attempt % 10 == 0 && std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|line| line.trim().parse::<libc::pid_t>().ok()) {
                // SAFETY: kill(2) with a pid read from the cgroup; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// Removes the exec cgroups of gateway processes that are gone (killed before they could clean up).
fn sweep_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|name| name.strip_prefix("openclaw-exec-")) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|pid| pid.parse::<libc::pid_t>().ok()) else { continue };
        // SAFETY: kill(2) with signal 0 only checks whether the process exists.
        let alive =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            remove_cgroup(&entry.path());
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        if !remove_cgroup(&self.dir) {
            tracing::warn!(cgroup = %self.dir.display(), "could not remove an exec cgroup");
        }
    }
}

/// Kills the command's process group when dropped: once the command ends or its wall clock runs out, and also
/// when the caller stops waiting (a turn aborted, the runtime's tool timeout) — `kill_on_drop` alone reaches only
/// the shell, not what it started.
struct GroupKill(Option<libc::pid_t>);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            // SAFETY: kill on the process group the child created with setsid.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// In the child: no capability can be regained (bounding and ambient sets emptied) and none is held.
fn drop_capabilities() -> std::io::Result<()> {
    for cap in 0..64 {
        // SAFETY: plain prctl; EINVAL past the last capability and EPERM without CAP_SETPCAP are expected.
        unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
    }
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) };
    let header = CapHeader { version: 0x2008_0522, pid: 0 };
    let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
    // SAFETY: capset with a v3 header and two data structs, as the kernel expects.
    if unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: setrlimit reads one struct.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) async fn run(spec: Spec) -> Result<Outcome, SandboxError> {
    let tmp = tempfile::Builder::new()
        .prefix("openclaw-exec-")
        .tempdir()
        .map_err(|error| setup(format!("cannot create the command's temp folder: {error}")))?;
    let confinement = match spec.mode {
        Mode::Off => None,
        Mode::Enforce => {
            let found = support();
            if found.landlock_abi < 1 {
                return Err(SandboxError::Unsupported {
                    feature: "Landlock",
                    detail: "landlock_create_ruleset is not available".into(),
                });
            }
            if !found.seccomp {
                return Err(SandboxError::Unsupported { feature: "seccomp", detail: "PR_GET_SECCOMP failed".into() });
            }
            Some((landlock_ruleset(&spec, tmp.path())?, seccomp_programs(spec.grants.network)?))
        }
    };
    let limits = spec.limits.clone();
    let cgroup = PidsCgroup::create(limits.processes);
    let cgroup_procs = cgroup.as_ref().map(|group| group.procs.as_raw_fd());
    // Without a pids cgroup, RLIMIT_NPROC is the fallback: it counts every task of the real user (hence the
    // baseline read from /proc) and does not bind root at all, so it is only set for other users.
    // SAFETY: getuid has no failure mode.
    let processes =
        (cgroup.is_none() && unsafe { libc::getuid() } != 0).then(|| tasks_of_this_user() + limits.processes);

    let (reader, writer) = std::io::pipe().map_err(|error| setup(format!("pipe: {error}")))?;
    let writer_err = writer.try_clone().map_err(|error| setup(format!("pipe: {error}")))?;
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().cloned())
        .env("TMPDIR", tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer_err))
        .kill_on_drop(true);
    let cpu = limits.cpu_seconds.max(1);
    let memory = limits.memory_bytes;
    let file = limits.file_bytes;
    // SAFETY: the closure runs in the forked child before exec; it only makes syscalls on data prepared above (no
    // allocation, no locks).
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            if let Some(fd) = cgroup_procs {
                // "0" moves the writing process (and so everything it starts) into the cgroup.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            set_limit(libc::RLIMIT_CPU, cpu, cpu + 1)?;
            set_limit(libc::RLIMIT_AS, memory, memory)?;
            set_limit(libc::RLIMIT_FSIZE, file, file)?;
            if let Some(processes) = processes {
                set_limit(libc::RLIMIT_NPROC, processes, processes)?;
            }
            set_limit(libc::RLIMIT_CORE, 0, 0)?;
            if let Some((ruleset, programs)) = &confinement {
                drop_capabilities()?;
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for program in programs {
                    seccompiler::apply_filter(program).map_err(|_| std::io::Error::from_raw_os_error(libc::EPERM))?;
                }
            }
            Ok(())
        });
    }
    // The write budget's starting points, taken before the command can write anything.
    let watched: Vec<std::path::PathBuf> = vec![spec.workspace.clone(), tmp.path().to_path_buf()];
    let baseline: Vec<Option<u64>> = watched.iter().map(|path| free_bytes(path)).collect();
    let tree_baseline = tree_bytes(&watched).map(|(bytes, _)| bytes);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| SandboxError::Spawn { program: spec.program.clone(), source })?;
    // The parent's copies of the pipe's write end went with `command`'s Stdio on spawn; drop the rest now.
    drop(command);
    let group = GroupKill(child.id().map(|id| id as libc::pid_t));

    let cap = limits.output_bytes;
    let reading = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let mut kept = Vec::with_capacity(cap.min(64 * 1024));
        let mut total = 0u64;
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    total += n as u64;
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buffer[..n.min(room)]);
                }
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (kept, total)
    });

    // The write budget, sampled every 5 ms (a command can write tens of megabytes in 100 ms): the space the
    // command's filesystems lose while it runs (which catches writes anywhere the command may write), and the growth
    // of the workspace and its temp folder themselves (which other processes freeing space on the same filesystem
    // cannot hide; walked every 5 ms while they hold under 2,000 entries, every 100 ms above that).
    let write_budget = limits.write_bytes;
    let mut tree_small = true;
    let over_budget = async move {
        let mut grown = 0;
        for tick in 0u64.. {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let lost: u64 = watched
                .iter()
                .zip(&baseline)
                .filter_map(|(path, before)| Some(before.as_ref()?.saturating_sub(free_bytes(path)?)))
                .max()
                .unwrap_or(0);
            if let Some(before) = tree_baseline
                && (tree_small || tick % 20 == 0)
            {
                let trees = watched.clone();
                if let Ok(Some((now, entries))) = tokio::task::spawn_blocking(move || tree_bytes(&trees)).await {
                    grown = now.saturating_sub(before);
                    tree_small = entries < 2_000;
                }
            }
            if lost.max(grown) > write_budget {
                return;
            }
        }
    };
    let waited = tokio::select! {
        waited = tokio::time::timeout(limits.wall, child.wait()) => waited.map_err(|_| Limit::Wall),
        () = over_budget => Err(Limit::Writes),
    };
    // Whatever the command left running in its process group goes with it.
    drop(group);
    let status = match waited {
        Err(limit) => {
            let _ = child.wait().await;
            Status::Killed(limit)
        }
        Ok(Err(error)) => return Err(setup(format!("waiting for the command: {error}"))),
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            // A shell reports a child killed by a signal as 128 + the signal.
            (Some(code), _) if code == 128 + libc::SIGXCPU => Status::Killed(Limit::Cpu),
            (Some(code), _) if code == 128 + libc::SIGXFSZ => Status::Killed(Limit::FileSize),
            (Some(code), _) => Status::Exited(code),
            (None, Some(libc::SIGXCPU)) => Status::Killed(Limit::Cpu),
            (None, Some(libc::SIGKILL)) if started.elapsed().as_secs() >= cpu => Status::Killed(Limit::Cpu),
            (None, Some(libc::SIGXFSZ)) => Status::Killed(Limit::FileSize),
            (None, Some(signal)) => Status::Signaled(signal),
            (None, None) => Status::Signaled(0),
        },
    };
    // A process that left the group and keeps the pipe open must not hold the answer back.
    let (kept, total) = match tokio::time::timeout(std::time::Duration::from_secs(2), reading).await {
        Ok(Ok(read)) => read,
        _ => (Vec::new(), 0),
    };
    let truncated = total > kept.len() as u64;
    let mut output = String::from_utf8_lossy(&kept).into_owned();
    if truncated {
        output.push_str(&truncation_note(kept.len(), total));
    }
    drop(tmp);
    drop(cgroup);
    Ok(Outcome { status, output, truncated, output_total: total, duration: started.elapsed() })
}
