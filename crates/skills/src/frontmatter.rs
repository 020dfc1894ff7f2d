//! SKILL.md: YAML frontmatter between `---` lines, then the markdown body.
//!
//! Like the reference: YAML first; when that fails, a line parser (`key: value` per line) so a skill with one sloppy
//! line still loads; `metadata` may be a YAML mapping or a JSON5 string (also when written as a multi-line flow block
//! YAML rejects), and `metadata.clawdbot` is read when `metadata.openclaw` is absent.

use openclaw_config::SkillPermissions;
use serde::Deserialize;
use serde_json::Value;

/// Why a SKILL.md could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrontmatterError {
    #[error("no frontmatter: the file must start with a line `---`, then `name:` and `description:`, then `---`")]
    Missing,
    #[error("the frontmatter is not closed by a `---` line")]
    Unclosed,
    #[error("the frontmatter has no {0}: add `{0}: …`")]
    MissingField(&'static str),
    #[error("metadata is not valid YAML or JSON5: {0}")]
    Metadata(String),
}

/// `requires` of `metadata.openclaw`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Requires {
    pub bins: Vec<String>,
    pub any_bins: Vec<String>,
    pub env: Vec<String>,
    pub config: Vec<String>,
}

/// `metadata.openclaw`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OpenclawMeta {
    pub always: bool,
    pub emoji: Option<String>,
    pub homepage: Option<String>,
    pub os: Vec<String>,
    pub requires: Requires,
    pub primary_env: Option<String>,
    pub install: Vec<Value>,
    /// OpenClaw-rs: what the skill's commands may touch.
    pub permissions: Option<SkillPermissions>,
}

/// The parsed frontmatter of one SKILL.md.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontmatter {
    /// `None` when the file has no `name` (the folder's name is used).
    pub name: Option<String>,
    pub description: String,
    pub homepage: Option<String>,
    pub user_invocable: bool,
    pub disable_model_invocation: bool,
    pub openclaw: OpenclawMeta,
    /// Every key as read (for `skills info`).
    pub raw: serde_json::Map<String, Value>,
}

/// Splits a SKILL.md into its frontmatter text and its body.
pub fn split(text: &str) -> Result<(&str, &str), FrontmatterError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rest = text.strip_prefix("---").ok_or(FrontmatterError::Missing)?;
    let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n')).ok_or(FrontmatterError::Missing)?;
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Ok((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    Err(FrontmatterError::Unclosed)
}

/// `key: value` lines, for frontmatter YAML rejects (unquoted `: ` in a description, say).
fn line_parse(text: &str) -> serde_json::Map<String, Value> {
    let mut map = serde_json::Map::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with([' ', '\t', '#']) || line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let mut value = value.trim().to_owned();
        // A block (`metadata:` followed by indented lines) is kept as text for the JSON5 pass.
        if value.is_empty() {
            while let Some(next) = lines.peek() {
                if next.starts_with([' ', '\t']) || next.trim().is_empty() {
                    value.push_str(next);
                    value.push('\n');
                    lines.next();
                } else {
                    break;
                }
            }
        }
        let unquoted = value.trim().trim_matches('"').trim_matches('\'').to_owned();
        let parsed = match unquoted.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::String(unquoted),
        };
        map.insert(key.trim().to_owned(), parsed);
    }
    map
}

fn flag(map: &serde_json::Map<String, Value>, key: &str, default: bool) -> bool {
    match map.get(key) {
        Some(Value::Bool(value)) => *value,
        Some(Value::String(text)) => matches!(text.trim(), "true" | "yes" | "on"),
        _ => default,
    }
}

fn text_of(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        _ => None,
    }
}

/// Reads the frontmatter of a whole SKILL.md (the body after it is the instructions, read when the skill is used).
///
/// # Errors
/// What is missing or malformed, as [`FrontmatterError`] says it.
pub fn read(text: &str) -> Result<Frontmatter, FrontmatterError> {
    let (front, _) = split(text)?;
    parse(front)
}

/// Parses the frontmatter text (between the `---` lines).
pub fn parse(text: &str) -> Result<Frontmatter, FrontmatterError> {
    // YAML 1.2 scalars, as the reference's parser reads them (`y`, `yes`, `on` are strings).
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    let raw = match serde_saphyr::from_str_with_options::<Value>(text, options) {
        Ok(Value::Object(map)) => map,
        _ => line_parse(text),
    };
    let description = text_field(&raw, "description")?;
    let metadata = match raw.get("metadata") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(source)) => {
            json5::from_str::<Value>(source).map_err(|error| FrontmatterError::Metadata(error.to_string()))?
        }
        Some(value) => value.clone(),
    };
    let block = metadata.get("openclaw").or_else(|| metadata.get("clawdbot")).cloned().unwrap_or(Value::Null);
    let openclaw = if block.is_null() {
        OpenclawMeta::default()
    } else {
        serde_json::from_value(block)
            .map_err(|error| FrontmatterError::Metadata(format!("metadata.openclaw: {error}")))?
    };
    Ok(Frontmatter {
        name: text_of(&raw, "name"),
        description,
        homepage: text_of(&raw, "homepage").or_else(|| openclaw.homepage.clone()),
        user_invocable: flag(&raw, "user-invocable", true),
        disable_model_invocation: flag(&raw, "disable-model-invocation", false),
        openclaw,
        raw,
    })
}

fn text_field(raw: &serde_json::Map<String, Value>, key: &'static str) -> Result<String, FrontmatterError> {
    text_of(raw, key).ok_or(FrontmatterError::MissingField(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_forms() {
        let file = "---\nname: image-lab\ndescription: Generate images\nmetadata:\n  {\n    \"openclaw\":\n      {\n        \"requires\": { \"bins\": [\"uv\"], \"env\": [\"GEMINI_API_KEY\"] },\n        \"primaryEnv\": \"GEMINI_API_KEY\",\n      },\n  }\n---\nBody {baseDir}\n";
        let (front, body) = split(file).unwrap();
        assert_eq!(body, "Body {baseDir}\n");
        let parsed = parse(front).unwrap();
        assert_eq!(parsed.name.as_deref(), Some("image-lab"));
        assert_eq!(parsed.openclaw.requires.bins, vec!["uv"]);
        assert_eq!(parsed.openclaw.primary_env.as_deref(), Some("GEMINI_API_KEY"));
        assert!(parsed.user_invocable && !parsed.disable_model_invocation);

        // metadata as a one-line JSON string, and the legacy clawdbot block.
        let parsed = parse("name: a\ndescription: b\nmetadata: '{\"clawdbot\": {\"os\": [\"linux\"], \"always\": true}}'\ndisable-model-invocation: true\n").unwrap();
        assert_eq!(parsed.openclaw.os, vec!["linux"]);
        assert!(parsed.openclaw.always && parsed.disable_model_invocation);

        // YAML rejects an unquoted ": " in a value; the line parser still reads it.
        let parsed = parse("name: notes\ndescription: Notes: quick ones\n").unwrap();
        assert_eq!(parsed.description, "Notes: quick ones");
    }

    #[test]
    fn bad_files_say_what_to_fix() {
        assert_eq!(split("# no frontmatter"), Err(FrontmatterError::Missing));
        assert_eq!(split("---\nname: x\n"), Err(FrontmatterError::Unclosed));
        assert_eq!(parse("name: x\n"), Err(FrontmatterError::MissingField("description")));
        assert!(matches!(parse("name: x\ndescription: y\nmetadata: '{oops'\n"), Err(FrontmatterError::Metadata(_))));
        assert_eq!(parse("name: x\ndescription: yes\n").unwrap().description, "yes");
    }
}
