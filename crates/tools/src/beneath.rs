//! Files opened under a directory handle, never through a symbolic link.
//!
//! The file tools resolve a path the model gives against a handle on the workspace folder, one component at a time
//! or with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`: a symlink anywhere in the path — planted by a command,
//! swapped in between a check and a use — is refused by the kernel, not by a check that races with it. Writes go to a
//! temporary file created with `O_EXCL` under an unpredictable name in the same folder handle, then renamed over the
//! target, so nothing is ever written through a name someone else chose.
//!
//! **Invariant:** nothing here follows a symlink below the root, and nothing resolves `..`: the path is made of
//! plain names (checked by [`Relative::parse`]) before any call is made.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// A path below a root as plain names: no `..`, no root, no empty or `.` parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Relative(Vec<OsString>);

impl Relative {
    /// `requested` relative to `root` (absolute paths must lie under `root`, compared lexically); `..` is resolved
    /// lexically and may not climb above the root. `None` when the path leaves the root.
    pub(crate) fn parse(root: &Path, requested: &Path) -> Option<Relative> {
        let rest = if requested.is_absolute() { requested.strip_prefix(root).ok()? } else { requested };
        let mut names: Vec<OsString> = Vec::new();
        for component in rest.components() {
            match component {
                Component::Normal(name) => names.push(name.to_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    names.pop()?;
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(Relative(names))
    }

    /// The root itself.
    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    fn joined(names: &[OsString]) -> PathBuf {
        names.iter().collect()
    }

    /// The path as it reads below the root (`.` for the root).
    pub(crate) fn display(&self) -> String {
        if self.0.is_empty() { ".".to_owned() } else { Self::joined(&self.0).display().to_string() }
    }
}

/// A handle on a trusted folder (a workspace, an operator-installed skill's folder). The folder's own path is the
/// operator's and may go through links; nothing below it may.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    /// Forces the step-by-step walk even where `openat2` exists (tests of the fallback).
    walk_only: bool,
}

/// What a write needs of the target folder and name.
pub(crate) struct Slot {
    dir: OwnedFd,
    name: OsString,
}

fn io(errno: Errno) -> io::Error {
    errno.into()
}

impl Root {
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd =
            rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(io)?;
        Ok(Root { fd, walk_only: false })
    }

    #[cfg(test)]
    pub(crate) fn walk_only(mut self) -> Root {
        self.walk_only = true;
        self
    }

    /// Opens `names` below `dir` with `flags`, never following a link: `openat2` where the kernel has it, else one
    /// `O_NOFOLLOW` step per name (just as strict: each step is a plain name opened without following it).
    fn open_at(&self, dir: &OwnedFd, names: &[OsString], flags: OFlags) -> io::Result<OwnedFd> {
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        if names.is_empty() {
            return rustix::fs::openat(dir, ".", flags, Mode::empty()).map_err(io);
        }
        if !self.walk_only {
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(dir, Relative::joined(names), flags, Mode::empty(), resolve) {
                // Kernels before 5.6, or a seccomp filter that hides the call: walk instead. `ENOTDIR` too: the walk
                // tells a link (refused as such) from a file on the way.
                Err(Errno::NOSYS | Errno::PERM | Errno::AGAIN | Errno::NOTDIR) => {}
                other => return other.map_err(io),
            }
        }
        let (last, parents) = names.split_last().ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut current: Option<OwnedFd> = None;
        for name in parents {
            let at = current.as_ref().unwrap_or(dir);
            let next = rustix::fs::openat(
                at,
                name.as_os_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|errno| if errno == Errno::NOTDIR { not_dir_or_link(at, name) } else { io(errno) })?;
            current = Some(next);
        }
        let at = current.as_ref().unwrap_or(dir);
        rustix::fs::openat(at, last.as_os_str(), flags, Mode::empty())
            .map_err(|errno| if errno == Errno::NOTDIR { not_dir_or_link(at, last) } else { io(errno) })
    }

    /// A file or folder below the root, opened read-only.
    pub(crate) fn open_read(&self, path: &Relative) -> io::Result<File> {
        self.open_at(&self.fd, &path.0, OFlags::RDONLY).map(File::from)
    }

    /// The folder that will hold `path` (created, folders `0700`, each step without following links) and the name.
    pub(crate) fn slot(&self, path: &Relative) -> io::Result<Slot> {
        let (name, parents) =
            path.0.split_last().ok_or_else(|| io::Error::new(io::ErrorKind::IsADirectory, "the workspace itself"))?;
        let mut dir = self.open_at(&self.fd, &[], OFlags::RDONLY | OFlags::DIRECTORY)?;
        for parent in parents {
            match rustix::fs::mkdirat(&dir, parent.as_os_str(), Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(errno) => return Err(io(errno)),
            }
            dir = self.open_at(&dir, std::slice::from_ref(parent), OFlags::RDONLY | OFlags::DIRECTORY)?;
        }
        Ok(Slot { dir, name: name.clone() })
    }
}

/// `ENOTDIR` while walking: say whether the name is a link (refused) or a file.
fn not_dir_or_link(at: &OwnedFd, name: &OsStr) -> io::Error {
    match rustix::fs::statat(at, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink => io(Errno::LOOP),
        _ => io(Errno::NOTDIR),
    }
}

impl Slot {
    /// The current mode of the target when it is a regular file; an error when it is a folder.
    fn existing_mode(&self) -> io::Result<Option<u32>> {
        match rustix::fs::statat(&self.dir, self.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => Err(io::Error::new(io::ErrorKind::IsADirectory, "it is a directory")),
                FileType::RegularFile => Ok(Some(stat.st_mode & 0o7777)),
                // A link or anything else is replaced by the rename, never written through.
                _ => Ok(None),
            },
            Err(Errno::NOENT) => Ok(None),
            Err(errno) => Err(io(errno)),
        }
    }

    /// Writes `content` as the whole new file: a temporary file (`O_CREAT | O_EXCL | O_NOFOLLOW`, a random name) in
    /// the same folder handle, synced, then renamed over the name. A failure leaves the old file as it was.
    pub(crate) fn write_whole(&self, content: &[u8]) -> io::Result<()> {
        let mode = self.existing_mode()?.unwrap_or(0o600);
        let mut random = [0u8; 12];
        rustix::rand::getrandom(&mut random, rustix::rand::GetRandomFlags::empty()).map_err(io)?;
        let temp = format!(".openclaw-tmp-{}", hex(&random));
        let fd = rustix::fs::openat(
            &self.dir,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(io)?;
        let mut file = File::from(fd);
        let written = file
            .write_all(content)
            .and_then(|()| file.sync_all())
            .and_then(|()| rustix::fs::fchmod(file.as_fd(), Mode::from_raw_mode(mode)).map_err(io));
        let renamed =
            written.and_then(|()| rustix::fs::renameat(&self.dir, temp.as_str(), &self.dir, &self.name).map_err(io));
        if renamed.is_err() {
            let _ = rustix::fs::unlinkat(&self.dir, temp.as_str(), AtFlags::empty());
        }
        renamed
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads a whole opened file, refusing folders.
pub(crate) fn read_file(mut file: File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The entries of an opened folder: names, with whether each is a folder (links are reported as themselves).
pub(crate) fn list(dir: &File) -> io::Result<Vec<(String, bool)>> {
    let mut reader = rustix::fs::Dir::read_from(dir.as_fd()).map_err(io)?;
    let mut names = Vec::new();
    while let Some(entry) = reader.read() {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let name = String::from_utf8_lossy(OsStr::from_bytes(name).as_bytes()).into_owned();
        names.push((name, entry.file_type() == FileType::Directory));
    }
    Ok(names)
}

/// Bytes the entries below the root occupy on disk (allocated blocks, so a sparse file counts for what it uses), each
/// looked at and each folder entered under its parent's handle without following a link; after `max_entries`
/// entries the count stops (a lower bound then). Holds one handle per level of depth, not one per folder.
pub(crate) fn disk_usage(root: &Root, max_entries: usize) -> io::Result<u64> {
    let mut total = 0u64;
    let mut seen = 0usize;
    // Each open folder with the names of its subfolders still to enter.
    let mut stack: Vec<(OwnedFd, Vec<std::ffi::CString>)> = Vec::new();
    let top = rustix::fs::openat(&root.fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty());
    let mut next = Some(top.map_err(io)?);
    loop {
        if let Some(dir) = next.take() {
            let mut folders = Vec::new();
            let mut reader = rustix::fs::Dir::read_from(&dir).map_err(io)?;
            while let Some(Ok(entry)) = reader.read() {
                let name = entry.file_name();
                if name.to_bytes() == b"." || name.to_bytes() == b".." {
                    continue;
                }
                seen += 1;
                if seen > max_entries {
                    return Ok(total);
                }
                let Ok(stat) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
                total = total.saturating_add((stat.st_blocks as u64).saturating_mul(512));
                if FileType::from_raw_mode(stat.st_mode) == FileType::Directory {
                    folders.push(name.to_owned());
                }
            }
            stack.push((dir, folders));
        }
        let Some((parent, folders)) = stack.last_mut() else { return Ok(total) };
        match folders.pop() {
            Some(name) => {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                // Swapped for a link since it was listed: refused by O_NOFOLLOW, and not counted.
                next = rustix::fs::openat(&*parent, name.as_c_str(), flags, Mode::empty()).ok();
            }
            None => {
                stack.pop();
            }
        }
    }
}

/// Whether an opened file is a folder.
pub(crate) fn is_dir(file: &File) -> io::Result<bool> {
    Ok(file.metadata()?.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(root: &Path, path: &str) -> Relative {
        Relative::parse(root, Path::new(path)).expect("inside")
    }

    #[test]
    fn parse_keeps_plain_names_inside_the_root() {
        let root = Path::new("/ws");
        assert_eq!(rel(root, "a/./b/../c").display(), "a/c");
        assert_eq!(rel(root, "/ws/a").display(), "a");
        assert!(rel(root, ".").is_root());
        for outside in ["..", "a/../../b", "/etc/passwd", "/wsx/a"] {
            assert!(Relative::parse(root, Path::new(outside)).is_none(), "{outside}");
        }
    }

    fn check_links_refused(walk_only: bool) {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir_all(ws.join("sub")).unwrap();
        std::fs::write(dir.path().join("outside.txt"), "secret").unwrap();
        std::fs::write(ws.join("sub/in.txt"), "fine").unwrap();
        std::os::unix::fs::symlink(dir.path(), ws.join("up")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), ws.join("file-link")).unwrap();
        std::os::unix::fs::symlink("sub", ws.join("inner-link")).unwrap();
        let mut root = Root::open(&ws).unwrap();
        if walk_only {
            root = root.walk_only();
        }
        assert_eq!(read_file(root.open_read(&rel(&ws, "sub/in.txt")).unwrap()).unwrap(), b"fine");
        for linked in ["up/outside.txt", "file-link", "inner-link/in.txt"] {
            let error = root.open_read(&rel(&ws, linked)).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc_eloop()), "{linked}: {error}");
        }
        // A write through a planted link replaces the link; the file it pointed to is untouched.
        root.slot(&rel(&ws, "file-link")).unwrap().write_whole(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("outside.txt")).unwrap(), "secret");
        assert!(!std::fs::symlink_metadata(ws.join("file-link")).unwrap().file_type().is_symlink());
        // A folder link on the way is refused before anything is created behind it.
        assert!(root.slot(&rel(&ws, "up/new.txt")).is_err());
        assert!(!dir.path().join("new.txt").exists());
    }

    fn libc_eloop() -> i32 {
        Errno::LOOP.raw_os_error()
    }

    #[test]
    fn links_are_refused_with_openat2() {
        check_links_refused(false);
    }

    #[test]
    fn links_are_refused_by_the_walk_too() {
        check_links_refused(true);
    }
}
