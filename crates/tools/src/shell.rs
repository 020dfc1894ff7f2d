//! A command line split into words and operators the way POSIX `sh` splits it (quotes, backslashes, comments,
//! operators), with what each word would undergo when the shell runs it (expansion, globbing, assignment).
//!
//! `exec` decides from this what a command runs — the allowlist's programs, and whether it is exactly a skill's own
//! program — so the decision is made on the words the shell will see, not on a guess from the text. Anything the
//! tokenizer does not model (here-documents, arithmetic, brace and tilde expansion) is reported as an expansion and
//! refused by the strict callers.

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Word {
    /// The text after quote removal.
    pub text: String,
    /// Any part of it was quoted or escaped.
    pub quoted: bool,
    /// It has an unquoted glob character (`*`, `?`, `[`).
    pub glob: bool,
    /// It has a `$`, a backtick, or a leading `~` / `{` the shell would expand.
    pub expansion: bool,
    /// It is a `NAME=value` assignment (an unquoted valid name before the first `=`).
    pub assignment: bool,
    /// It has a `=` anywhere.
    pub has_equals: bool,
}

/// A word or an operator (`|`, `||`, `&&`, `;`, `&`, `(`, `)`, a redirection, a newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Word(Word),
    Op(String),
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits `line` as `sh` does. An unterminated quote is an error.
pub(crate) fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut word: Option<Word> = None;
    // Whether every character so far of the current word was unquoted (for assignments).
    let mut unquoted_prefix = String::new();
    let mut prefix_open = true;
    let mut i = 0;
    let finish = |word: &mut Option<Word>, tokens: &mut Vec<Token>, prefix: &mut String, open: &mut bool| {
        if let Some(mut done) = word.take() {
            done.has_equals = done.text.contains('=');
            // The name before the first `=` must be unquoted and valid; `prefix` is the text before any quote.
            done.assignment = prefix.split_once('=').is_some_and(|(name, _)| is_name(name));
            tokens.push(Token::Word(done));
        }
        prefix.clear();
        *open = true;
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                finish(&mut word, &mut tokens, &mut unquoted_prefix, &mut prefix_open);
                i += 1;
            }
            '\n' => {
                finish(&mut word, &mut tokens, &mut unquoted_prefix, &mut prefix_open);
                tokens.push(Token::Op("\n".to_owned()));
                i += 1;
            }
            '#' if word.is_none() => {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '|' | '&' | ';' | '(' | ')' | '<' | '>' => {
                finish(&mut word, &mut tokens, &mut unquoted_prefix, &mut prefix_open);
                let next = chars.get(i + 1).copied();
                let op: String = match (c, next) {
                    ('|', Some('|')) | ('&', Some('&')) | (';', Some(';')) | ('>', Some('>' | '&' | '|')) => {
                        [c, next.unwrap_or(c)].iter().collect()
                    }
                    ('<', Some('<' | '&' | '>')) => [c, next.unwrap_or(c)].iter().collect(),
                    _ => c.to_string(),
                };
                i += op.chars().count();
                tokens.push(Token::Op(op));
            }
            '\'' => {
                let current = word.get_or_insert_with(Word::default);
                current.quoted = true;
                prefix_open = false;
                let end = chars[i + 1..].iter().position(|&c| c == '\'').ok_or("an unterminated ' quote")?;
                current.text.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                let current = word.get_or_insert_with(Word::default);
                current.quoted = true;
                prefix_open = false;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("an unterminated \" quote".to_owned()),
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('$' | '`' | '"' | '\\' | '\n')) => {
                            if chars[i + 1] != '\n' {
                                current.text.push(chars[i + 1]);
                            }
                            i += 2;
                        }
                        Some(&inner) => {
                            if matches!(inner, '$' | '`') {
                                current.expansion = true;
                            }
                            current.text.push(inner);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '\\' => {
                let current = word.get_or_insert_with(Word::default);
                current.quoted = true;
                prefix_open = false;
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&next) => current.text.push(next),
                    None => {}
                }
                i += 2;
            }
            other => {
                let starting = word.is_none();
                let current = word.get_or_insert_with(Word::default);
                match other {
                    '$' | '`' => current.expansion = true,
                    '~' | '{' if starting => current.expansion = true,
                    '*' | '?' | '[' => current.glob = true,
                    _ => {}
                }
                current.text.push(other);
                if prefix_open {
                    unquoted_prefix.push(other);
                }
                i += 1;
            }
        }
    }
    finish(&mut word, &mut tokens, &mut unquoted_prefix, &mut prefix_open);
    Ok(tokens)
}

/// The simple commands of a line split at `|`, `||`, `&&`, `;` and newlines, or the first other operator found.
pub(crate) fn simple_commands(tokens: &[Token]) -> Result<Vec<Vec<&Word>>, String> {
    let mut commands = vec![Vec::new()];
    for token in tokens {
        match token {
            Token::Word(word) => commands.last_mut().map(|command| command.push(word)).unwrap_or_default(),
            Token::Op(op) if matches!(op.as_str(), "|" | "||" | "&&" | ";" | "\n") => commands.push(Vec::new()),
            Token::Op(op) => return Err(op.clone()),
        }
    }
    commands.retain(|command| !command.is_empty());
    Ok(commands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Word> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .filter_map(|token| match token {
                Token::Word(word) => Some(word),
                Token::Op(_) => None,
            })
            .collect()
    }

    #[test]
    fn words_are_split_as_sh_splits_them() {
        let found = words(r#"echo 'a b' "c $d" e\ f # comment"#);
        let texts: Vec<&str> = found.iter().map(|word| word.text.as_str()).collect();
        assert_eq!(texts, ["echo", "a b", "c $d", "e f"]);
        assert!(found[2].expansion && !found[1].expansion);
        assert!(tokenize("echo 'open").is_err());
        assert!(tokenize("echo \"open").is_err());
    }

    #[test]
    fn assignments_are_what_the_shell_takes_for_them() {
        // `/usr/bin/[=i]d` is a glob the shell runs as a program, not an assignment.
        let bracket = &words("/usr/bin/[=i]d echo")[0];
        assert!(!bracket.assignment && bracket.glob && bracket.has_equals);
        assert!(words("LC_ALL=C ls")[0].assignment);
        assert!(!words("'A'=b ls")[0].assignment, "a quoted name is not an assignment");
        assert!(!words("a-b=c")[0].assignment);
    }

    #[test]
    fn operators_are_tokens() {
        let tokens = tokenize("a|b&&c;d>e 2>&1 &").unwrap();
        let ops: Vec<String> = tokens
            .iter()
            .filter_map(|token| match token {
                Token::Op(op) => Some(op.clone()),
                Token::Word(_) => None,
            })
            .collect();
        assert_eq!(ops, ["|", "&&", ";", ">", ">&", "&"]);
        assert_eq!(simple_commands(&tokenize("a | b; c").unwrap()).unwrap().len(), 3);
        assert_eq!(simple_commands(&tokenize("a > b").unwrap()).unwrap_err(), ">");
    }
}
