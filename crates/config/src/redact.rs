//! Which config values are secrets, and the redacted copy of a config that a reader with `operator.read` sees.
//!
//! The source is the reference's own marking: `data/sensitive-paths.txt` is every path its schema marks sensitive
//! (extracted by `data/extract-sensitive.mjs` from the installed reference), and [`sensitive_name`] is its name rule
//! (`…token`, `password`, `secret`, `api key`, `private key`, …). On top of those, maps whose every value is a
//! secret in our config (`env.vars`, skill `env`, channel `headers`) and a few more words.

use std::sync::OnceLock;

use serde_json::Value;

/// What a redacted value shows instead of the secret.
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

/// The reference's sensitive paths (2026.9.6): `*` is any key or array item, `[]` any array item, a final `*`
/// every value of that map.
const REFERENCE_PATHS: &str = include_str!("../data/sensitive-paths.txt");

/// Maps whose every value is a secret here, beyond the reference's list.
const OUR_PATHS: &[&str] = &[
    "env.vars.*",
    "skills.entries.*.env.*",
    "mcp.servers.*.env.*",
    "mcp.servers.*.headers.*",
    "channels.*.headers.*",
    "channels.*.accounts.*.headers.*",
    "tools.web.fetch.headers.*",
];

/// Key names that are counts or files, not secrets (the reference's exceptions to its name rule).
const NOT_SECRET_SUFFIXES: &[&str] = &[
    "maxtokens",
    "maxoutputtokens",
    "maxinputtokens",
    "maxcompletiontokens",
    "contexttokens",
    "totaltokens",
    "tokencount",
    "tokenlimit",
    "tokenbudget",
    "passwordfile",
];

/// Words in a key that mark a secret here beyond the reference's rule.
const OUR_WORDS: &[&str] = &["passwd", "credential", "passphrase", "cookie"];

fn patterns() -> &'static [Vec<String>] {
    static PATTERNS: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        REFERENCE_PATHS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .chain(OUR_PATHS.iter().copied())
            .map(|line| line.replace("[]", ".[]").split('.').map(str::to_owned).collect())
            .collect()
    })
}

fn matches(pattern: &[String], path: &[String]) -> bool {
    pattern.len() == path.len()
        && pattern.iter().zip(path).all(|(want, have)| want == "*" || want == have || (want == "[]" && have == "[]"))
}

/// The reference's name rule, applied to the dotted path of a value (`isSensitiveConfigPath`).
pub fn sensitive_name(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    if lower.contains("localservice.env.") {
        return true;
    }
    if NOT_SECRET_SUFFIXES.iter().any(|suffix| lower.ends_with(suffix)) {
        return false;
    }
    let compact: String = lower.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let last = lower.rsplit('.').next().unwrap_or(&lower);
    last.ends_with("token")
        || lower.contains("password")
        || lower.contains("secret")
        || ["apikey", "encryptkey", "privatekey"].iter().any(|word| compact.contains(word))
        || last.trim_end_matches("ref").ends_with("serviceaccount")
        || OUR_WORDS.iter().any(|word| compact.contains(word))
}

/// Whether the value at `path` (keys, `[]` for an array item) is a secret.
pub fn is_sensitive(path: &[String]) -> bool {
    // `env.<NAME>` (besides `vars` and `shellEnv`) is the reference's shorthand for a variable.
    let env_shorthand = path.len() == 2 && path[0] == "env" && !matches!(path[1].as_str(), "vars" | "shellEnv");
    env_shorthand
        || patterns().iter().any(|pattern| matches(pattern, path))
        || sensitive_name(&path.iter().filter(|key| *key != "[]").cloned().collect::<Vec<_>>().join("."))
}

/// Replaces every secret in a config (as JSON) with [`REDACTED`]: strings, and whole objects or arrays under a
/// secret key. Numbers and booleans stay (a secret is never one).
pub fn redact(value: &mut Value) {
    redact_at(&mut Vec::new(), value);
}

fn redact_at(path: &mut Vec<String>, value: &mut Value) {
    let children: Vec<(String, &mut Value)> = match value {
        Value::Object(map) => map.iter_mut().map(|(key, item)| (key.clone(), item)).collect(),
        Value::Array(items) => items.iter_mut().map(|item| ("[]".to_owned(), item)).collect(),
        _ => return,
    };
    for (key, item) in children {
        path.push(key);
        if matches!(item, Value::String(_) | Value::Object(_) | Value::Array(_)) && is_sensitive(path) {
            *item = Value::String(REDACTED.to_owned());
        } else {
            redact_at(path, item);
        }
        path.pop();
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{REDACTED, REFERENCE_PATHS, redact};

    /// A config holding a value at `pattern`, with `*` and `[]` filled in.
    fn config_with(pattern: &str, secret: &str) -> Value {
        let segments: Vec<&str> = pattern.split('.').collect();
        let mut value = json!(secret);
        for segment in segments.iter().rev() {
            value = match segment.strip_suffix("[]") {
                Some(key) => json!({ key: [value] }),
                None if *segment == "*" => json!({ "some-key": value }),
                None => json!({ *segment: value }),
            };
        }
        value
    }

    /// Every path the reference marks sensitive is redacted, whatever fills its wildcards.
    #[test]
    fn every_reference_secret_is_redacted() {
        let paths: Vec<&str> = REFERENCE_PATHS.lines().filter(|line| !line.trim().is_empty()).collect();
        assert!(paths.len() > 150, "the reference's list is there: {}", paths.len());
        for (n, path) in paths.iter().enumerate() {
            let secret = format!("secret-value-{n}");
            let mut config = config_with(path, &secret);
            redact(&mut config);
            let text = config.to_string();
            assert!(!text.contains(&secret), "{path} leaked: {text}");
            assert!(text.contains(REDACTED), "{path}: {text}");
        }
    }

    #[test]
    fn our_secret_maps_and_words_are_redacted() {
        let mut config = json!({
            "env": {"vars": {"A": "v1"}, "OPENAI_API_KEY": "v2", "shellEnv": {"enabled": true}},
            "skills": {"entries": {"x": {"env": {"K": "v3"}, "apiKey": "v4"}}},
            "models": {"providers": {"p": {"headers": {"X-Api": "v5"}, "apiKey": {"source": "env", "id": "v6"}}}},
            "channels": {"webhook": {"headers": {"Authorization": "v7"}, "accounts": {"a": {"signingSecret": "v8"}}}},
            "gateway": {"auth": {"token": "v9", "mode": "token"}},
            "hooks": {"mappings": [{"match": {"path": "p"}, "sessionKey": "v10"}]},
            "x": {"sessionCookie": "v11", "awsCredentials": ["v12"]},
        });
        redact(&mut config);
        let text = config.to_string();
        for n in 1..=12 {
            assert!(!text.contains(&format!("\"v{n}\"")), "v{n} leaked: {text}");
        }
        assert_eq!(config["env"]["shellEnv"]["enabled"], true);
        assert_eq!(config["gateway"]["auth"]["mode"], "token");
        assert_eq!(config["hooks"]["mappings"][0]["match"]["path"], "p");
    }

    /// Counts that look like secrets by name stay readable, as in the reference.
    #[test]
    fn token_counts_are_not_secrets() {
        let mut config = json!({
            "agents": {"defaults": {"model": "openai/gpt-5", "contextTokens": 8000, "maxTokens": "4096"}},
            "gateway": {"auth": {"passwordFile": "/run/secrets/pw"}, "port": 18789},
        });
        let before = config.clone();
        redact(&mut config);
        assert_eq!(config, before);
    }
}
