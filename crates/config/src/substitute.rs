//! `${VAR}` substitution in every string of the configuration, as the reference does it: names match
//! `[A-Z_][A-Z0-9_]*`, a missing variable is left literal (and reported), `$${VAR}` escapes to a literal `${VAR}`.

use serde_json::Value;

/// Replaces `${VAR}` in every string of `value`. Returns the names of variables that were not set.
pub(crate) fn substitute_env(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut missing = Vec::new();
    walk(value, &mut Vec::new(), lookup, &mut missing);
    missing
}

fn walk(
    value: &mut Value,
    path: &mut Vec<String>,
    lookup: &dyn Fn(&str) -> Option<String>,
    missing: &mut Vec<(String, String)>,
) {
    match value {
        Value::String(text) if text.contains('$') => {
            let (replaced, names) = substitute_str(text, lookup);
            *text = replaced;
            missing.extend(names.into_iter().map(|name| (path.join("."), name)));
        }
        Value::Array(items) => {
            for (idx, item) in items.iter_mut().enumerate() {
                path.push(idx.to_string());
                walk(item, path, lookup, missing);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                path.push(key.clone());
                walk(item, path, lookup, missing);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Substitutes one string; returns it and the names of the variables that were missing.
pub(crate) fn substitute_str(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(stripped) = after.strip_prefix("$${")
            && let Some((name, tail)) = var_ref(stripped)
        {
            out.push_str("${");
            out.push_str(name);
            out.push('}');
            rest = tail;
            continue;
        }
        if let Some(stripped) = after.strip_prefix("${")
            && let Some((name, tail)) = var_ref(stripped)
        {
            match lookup(name) {
                Some(found) => out.push_str(&found),
                None => {
                    out.push_str(&after[..after.len() - tail.len()]);
                    missing.push(name.to_owned());
                }
            }
            rest = tail;
            continue;
        }
        out.push('$');
        rest = &after[1..];
    }
    out.push_str(rest);
    (out, missing)
}

/// Parses `NAME}` at the start of `text`; returns the name and what follows the brace.
fn var_ref(text: &str) -> Option<(&str, &str)> {
    let end = text.find('}')?;
    let name = &text[..end];
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    (first_ok && rest_ok).then(|| (name, &text[end + 1..]))
}

/// Whether a string still holds an unresolved `${VAR}` reference; returns the first name.
pub fn unresolved_var(text: &str) -> Option<String> {
    let (_, missing) = substitute_str(text, &|_| None);
    missing.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "KEY").then(|| "sk-1".to_owned())
    }

    #[test]
    fn substitutes_escapes_and_reports_missing() {
        assert_eq!(substitute_str("Bearer ${KEY}", &env), ("Bearer sk-1".to_owned(), vec![]));
        assert_eq!(substitute_str("$${KEY}", &env), ("${KEY}".to_owned(), vec![]));
        assert_eq!(substitute_str("${NOPE}x", &env), ("${NOPE}x".to_owned(), vec!["NOPE".to_owned()]));
        assert_eq!(substitute_str("${lower} $5", &env), ("${lower} $5".to_owned(), vec![]));
        assert_eq!(unresolved_var("${A_1}"), Some("A_1".to_owned()));
    }
}
