//! The key paths of the reference OpenClaw's configuration schema (2026.9.6), extracted from the JSON Schema its
//! `openclaw config schema` prints. A key we do not implement but the reference knows is a warning; a key neither
//! knows is an error. `*` stands for any map key or array index.

use std::collections::HashSet;
use std::sync::OnceLock;

const REFERENCE_KEYS: &str = include_str!("../data/reference-keys.txt");

fn keys() -> &'static HashSet<&'static str> {
    static KEYS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KEYS.get_or_init(|| REFERENCE_KEYS.lines().filter(|line| !line.is_empty()).collect())
}

/// Whether the reference schema knows this path (segments of map keys and array indices).
pub(crate) fn is_reference_key(segments: &[String]) -> bool {
    let keys = keys();
    // Try every combination of literal segment vs `*`, most literal first. Paths are short, and each level has at
    // most two choices, so this stays small.
    fn search(keys: &HashSet<&str>, segments: &[String], prefix: &mut Vec<String>) -> bool {
        let Some((first, rest)) = segments.split_first() else {
            return keys.contains(prefix.join(".").as_str());
        };
        for candidate in [first.as_str(), "*"] {
            prefix.push(candidate.to_owned());
            let joined = prefix.join(".");
            // Prune: the prefix itself must be a known key.
            let found = keys.contains(joined.as_str()) && search(keys, rest, prefix);
            prefix.pop();
            if found {
                return true;
            }
        }
        false
    }
    search(keys, segments, &mut Vec::new())
}

/// The reference's keys that sit beside `parent` (for "did you mean" hints).
pub(crate) fn sibling_keys(parent: &[String]) -> Vec<&'static str> {
    let keys = keys();
    let depth = parent.len();
    let mut siblings: Vec<&'static str> = keys
        .iter()
        .filter_map(|key| {
            let parts: Vec<&str> = key.split('.').collect();
            if parts.len() != depth + 1 {
                return None;
            }
            let parent_matches =
                parts[..depth].iter().zip(parent).all(|(pattern, segment)| *pattern == "*" || *pattern == segment);
            (parent_matches && parts[depth] != "*").then(|| parts[depth])
        })
        .collect();
    siblings.sort_unstable();
    siblings.dedup();
    siblings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn knows_reference_keys_with_wildcards() {
        assert!(is_reference_key(&path("gateway.controlUi.enabled")));
        assert!(is_reference_key(&path("agents.entries.ops.sandbox")));
        assert!(is_reference_key(&path("bindings.3.acp.mode")));
        assert!(is_reference_key(&path("cron")));
        assert!(!is_reference_key(&path("gateway.controlUi.enabledd")));
        assert!(!is_reference_key(&path("gatewy")));
    }

    #[test]
    fn lists_siblings() {
        let siblings = sibling_keys(&path("gateway"));
        assert!(siblings.contains(&"port"));
        assert!(siblings.contains(&"controlUi"));
    }
}
