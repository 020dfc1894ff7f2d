//! Output shaping: a Markdown reply cut into chunks that fit the platform (on paragraph, then line, then sentence,
//! then word boundaries; a code block cut in two is closed and reopened), each rendered in the channel's dialect.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use crate::{Capabilities, Dialect};

/// The reply as the platform will receive it: chunks in the channel's dialect, each within its limits.
pub fn render(text: &str, caps: &Capabilities) -> Vec<String> {
    let limit = caps.chunk_limit.min(caps.max_text.unwrap_or(usize::MAX)).max(16);
    let mut out = Vec::new();
    let pieces = if chars(text) <= limit { vec![text.to_owned()] } else { chunk(text, limit) };
    let mut pending: Vec<(String, usize)> = pieces.into_iter().map(|piece| (piece, limit)).collect();
    pending.reverse();
    while let Some((piece, piece_limit)) = pending.pop() {
        let rendered = to_dialect(&piece, caps.dialect);
        if rendered.trim().is_empty() {
            continue;
        }
        if chars(&rendered) <= limit || piece_limit <= 32 {
            out.push(rendered);
            continue;
        }
        // Markup made it longer than the platform takes: cut the source smaller and render again.
        let smaller = (piece_limit * 3 / 4).max(32);
        let mut parts = chunk(&piece, smaller);
        parts.reverse();
        pending.extend(parts.into_iter().map(|part| (part, smaller)));
    }
    out
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

/// A block of the source: a paragraph-ish run of lines, or a whole fenced code block.
struct Block {
    text: String,
    /// The opening fence line when this is a code block.
    fence: Option<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    let mut fence: Option<String> = None;
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            current.push('\n');
            current.push_str(line);
            let marker: String = open.trim_start().chars().take_while(|c| *c == '`' || *c == '~').collect();
            if trimmed.starts_with(&marker) && trimmed.trim_end().chars().all(|c| c == '`' || c == '~') {
                blocks.push(Block { text: std::mem::take(&mut current), fence: fence.take() });
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            if !current.trim().is_empty() {
                blocks.push(Block { text: std::mem::take(&mut current), fence: None });
            }
            current = line.to_owned();
            fence = Some(line.to_owned());
            continue;
        }
        if line.trim().is_empty() {
            if !current.trim().is_empty() {
                blocks.push(Block { text: std::mem::take(&mut current), fence: None });
            }
            current.clear();
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.trim().is_empty() {
        // An unclosed code block is kept as it is.
        blocks.push(Block { text: current, fence });
    }
    blocks
}

/// Cuts Markdown into pieces of at most `limit` characters, preferring paragraph boundaries, never splitting a
/// code block without closing and reopening its fence.
pub fn chunk(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(16);
    let parts = blocks(text)
        .into_iter()
        .flat_map(|block| if chars(&block.text) <= limit { vec![block.text] } else { split_block(&block, limit) });
    pack(parts, limit, "\n\n")
}

fn split_block(block: &Block, limit: usize) -> Vec<String> {
    match &block.fence {
        Some(open) => {
            let marker: String = open.trim_start().chars().take_while(|c| *c == '`' || *c == '~').collect();
            let close = marker.clone();
            let body: Vec<&str> = block.text.split('\n').skip(1).collect();
            let body: Vec<&str> = match body.last() {
                Some(last) if last.trim_start().starts_with(&marker) => body[..body.len() - 1].to_vec(),
                _ => body,
            };
            // Each piece: the opening fence, lines, the closing fence.
            let overhead = chars(open) + chars(&close) + 2;
            let room = limit.saturating_sub(overhead).max(8);
            let mut pieces = Vec::new();
            let mut lines: Vec<String> = Vec::new();
            let mut size = 0;
            for line in body {
                for part in hard_split(line, room) {
                    let add = chars(&part) + 1;
                    if size + add > room && !lines.is_empty() {
                        pieces.push(format!("{open}\n{}\n{close}", lines.join("\n")));
                        lines.clear();
                        size = 0;
                    }
                    size += add;
                    lines.push(part);
                }
            }
            if !lines.is_empty() {
                pieces.push(format!("{open}\n{}\n{close}", lines.join("\n")));
            }
            pieces
        }
        None => {
            // Lines first, then sentences, then words, then characters.
            let mut units: Vec<String> = Vec::new();
            for line in block.text.split('\n') {
                if chars(line) <= limit {
                    units.push(line.to_owned());
                    continue;
                }
                // A line too long: its sentences (a sentence too long: its words), joined back with spaces.
                let pieces = sentences(line).into_iter().flat_map(|sentence| {
                    if chars(&sentence) <= limit { vec![sentence] } else { words(&sentence, limit) }
                });
                units.extend(pack(pieces, limit, " "));
            }
            pack(units, limit, "\n")
        }
    }
}

/// Joins units back, `separator` between them, into as few pieces of at most `limit` characters as their order
/// allows (a unit is never cut here).
fn pack(units: impl IntoIterator<Item = String>, limit: usize, separator: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    // Characters in `current`, kept rather than recounted (recounting made long texts quadratic).
    let mut size = 0;
    let gap = chars(separator);
    for unit in units {
        let unit_size = chars(&unit);
        if current.is_empty() {
            current = unit;
            size = unit_size;
        } else if size + gap + unit_size <= limit {
            current.push_str(separator);
            current.push_str(&unit);
            size += gap + unit_size;
        } else {
            pieces.push(std::mem::replace(&mut current, unit));
            size = unit_size;
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

fn sentences(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = line.as_bytes();
    for (idx, ch) in line.char_indices() {
        if matches!(ch, '.' | '!' | '?') && bytes.get(idx + 1) == Some(&b' ') {
            out.push(line[start..=idx].trim().to_owned());
            start = idx + 1;
        }
    }
    if start < line.len() && !line[start..].trim().is_empty() {
        out.push(line[start..].trim().to_owned());
    }
    out
}

fn words(text: &str, limit: usize) -> Vec<String> {
    pack(text.split(' ').flat_map(|word| hard_split(word, limit)), limit, " ")
}

/// Cuts a string without spaces at character boundaries.
fn hard_split(text: &str, limit: usize) -> Vec<String> {
    if chars(text) <= limit {
        return vec![text.to_owned()];
    }
    let all: Vec<char> = text.chars().collect();
    all.chunks(limit.max(1)).map(|part| part.iter().collect()).collect()
}

/// Cuts a rendered chunk that has more than `max_lines` lines (Discord's `maxLinesPerMessage`) at line breaks; a
/// code block cut in two is closed at the end of one piece and opened again, with its fence, at the start of the
/// next. Fence lines count, so no piece is longer than `max_lines`.
pub fn split_lines(chunk: &str, max_lines: usize) -> Vec<String> {
    let max_lines = max_lines.max(3);
    if chunk.lines().count() <= max_lines {
        return vec![chunk.to_owned()];
    }
    let mut pieces = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut fence: Option<String> = None;
    for line in chunk.lines() {
        let trimmed = line.trim_start();
        let is_fence = trimmed.starts_with("```") || trimmed.starts_with("~~~");
        // Room for the closing fence when the piece ends inside a code block.
        let room = if fence.is_some() { max_lines - 1 } else { max_lines };
        if current.len() >= room {
            if let Some(open) = &fence {
                current.push(open.trim_start().chars().take_while(|c| *c == '`' || *c == '~').collect());
            }
            pieces.push(current.join("\n"));
            current = fence.iter().cloned().collect();
        }
        current.push(line.to_owned());
        if is_fence {
            fence = if fence.is_some() { None } else { Some(line.to_owned()) };
        }
    }
    if current.iter().any(|line| !line.trim().is_empty()) {
        pieces.push(current.join("\n"));
    }
    pieces
}

/// Renders Markdown in a dialect.
pub fn to_dialect(markdown: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Markdown => markdown.trim().to_owned(),
        Dialect::TelegramHtml => render_events(markdown, true),
        Dialect::Plain => render_events(markdown, false),
    }
}

fn escape_html(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
}

/// Walks the Markdown events once, writing Telegram HTML (`html`) or plain text.
fn render_events(markdown: &str, html: bool) -> String {
    let mut out = String::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut links: Vec<String> = Vec::new();
    let text = |out: &mut String, text: &str| {
        if html {
            escape_html(text, out);
        } else {
            out.push_str(text);
        }
    };
    let tag = |out: &mut String, markup: &str| {
        if html {
            out.push_str(markup);
        }
    };
    let block_gap = |out: &mut String| {
        if out.ends_with("<blockquote>") {
            return;
        }
        let trimmed = out.trim_end_matches([' ', '\n']).len();
        if trimmed > 0 {
            out.truncate(trimmed);
            out.push_str("\n\n");
        }
    };
    for event in Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Paragraph) if lists.is_empty() => block_gap(&mut out),
            Event::End(TagEnd::Paragraph) => {}
            Event::Start(Tag::Heading { .. }) => {
                block_gap(&mut out);
                tag(&mut out, "<b>");
            }
            Event::End(TagEnd::Heading(_)) => tag(&mut out, "</b>"),
            Event::Start(Tag::Strong) => tag(&mut out, "<b>"),
            Event::End(TagEnd::Strong) => tag(&mut out, "</b>"),
            Event::Start(Tag::Emphasis) => tag(&mut out, "<i>"),
            Event::End(TagEnd::Emphasis) => tag(&mut out, "</i>"),
            Event::Start(Tag::Strikethrough) => tag(&mut out, "<s>"),
            Event::End(TagEnd::Strikethrough) => tag(&mut out, "</s>"),
            Event::Start(Tag::BlockQuote(_)) => {
                block_gap(&mut out);
                tag(&mut out, "<blockquote>");
            }
            Event::End(TagEnd::BlockQuote(_)) => {
                let trimmed = out.trim_end().len();
                out.truncate(trimmed);
                tag(&mut out, "</blockquote>");
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                block_gap(&mut out);
                match kind {
                    CodeBlockKind::Fenced(lang) if !lang.is_empty() && html => {
                        out.push_str("<pre><code class=\"language-");
                        escape_html(lang.split_whitespace().next().unwrap_or_default(), &mut out);
                        out.push_str("\">");
                    }
                    _ => tag(&mut out, "<pre><code>"),
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                let trimmed = out.trim_end_matches('\n').len();
                out.truncate(trimmed);
                tag(&mut out, "</code></pre>");
            }
            Event::Start(Tag::List(start)) => {
                if lists.is_empty() {
                    block_gap(&mut out);
                }
                lists.push(start);
            }
            Event::End(TagEnd::List(_)) => {
                lists.pop();
            }
            Event::Start(Tag::Item) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(number)) => {
                        out.push_str(&format!("{number}. "));
                        *number += 1;
                    }
                    _ => out.push_str("• "),
                }
            }
            Event::End(TagEnd::Item) => {}
            Event::Start(Tag::Link { dest_url, .. }) => {
                if html {
                    out.push_str("<a href=\"");
                    escape_html(&dest_url, &mut out);
                    out.push_str("\">");
                }
                links.push(dest_url.to_string());
            }
            Event::End(TagEnd::Link) => {
                let url = links.pop().unwrap_or_default();
                if html {
                    out.push_str("</a>");
                } else if !url.is_empty() {
                    out.push_str(&format!(" ({url})"));
                }
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                links.push(dest_url.to_string());
            }
            Event::End(TagEnd::Image) => {
                let url = links.pop().unwrap_or_default();
                out.push_str(&format!(" ({url})"));
            }
            Event::Start(Tag::TableCell) if !out.is_empty() && !out.ends_with('\n') => out.push_str(" | "),
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => out.push('\n'),
            Event::Start(Tag::Table(_)) => block_gap(&mut out),
            Event::Text(t) => text(&mut out, &t),
            Event::Code(code) => {
                tag(&mut out, "<code>");
                text(&mut out, &code);
                tag(&mut out, "</code>");
            }
            Event::Html(raw) | Event::InlineHtml(raw) => text(&mut out, &raw),
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::Rule => {
                block_gap(&mut out);
                out.push_str("———");
            }
            Event::TaskListMarker(done) => out.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// One of the `*bold*` markups (Slack's mrkdwn, WhatsApp's): `*bold*`, `_italic_`, `~strike~`, `` `code` `` and
/// fenced blocks, headings as bold lines, bullets as `•`, quotes as `>`, tables as `a | b` rows; how text is
/// escaped and how a link is written are the platform's.
pub struct StarStyle {
    /// Appends text (the model's words) to the output, escaped as the platform needs.
    pub escape: fn(&str, &mut String),
    /// A link: its URL as written, and its text already escaped.
    pub link: fn(&str, &str) -> String,
}

/// Markdown in a [`StarStyle`] markup.
pub fn star_markup(markdown: &str, style: &StarStyle) -> String {
    let escape = style.escape;
    let mut options = Options::empty();
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TABLES);
    let mut out = String::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    let mut link: Option<(String, String)> = None;
    let mut quote_depth = 0_usize;
    for event in Parser::new_ext(markdown, options) {
        let sink: &mut String = match &mut link {
            Some((_, text)) => text,
            None => &mut out,
        };
        match event {
            Event::Text(text) => escape(&text, sink),
            Event::Code(code) => {
                sink.push('`');
                escape(&code, sink);
                sink.push('`');
            }
            Event::Html(raw) | Event::InlineHtml(raw) => escape(&raw, sink),
            Event::SoftBreak | Event::HardBreak => {
                sink.push('\n');
                if quote_depth > 0 {
                    sink.push_str("> ");
                }
            }
            Event::Rule => sink.push_str("———\n\n"),
            Event::Start(Tag::Strong) | Event::End(TagEnd::Strong) => sink.push('*'),
            Event::Start(Tag::Emphasis) | Event::End(TagEnd::Emphasis) => sink.push('_'),
            Event::Start(Tag::Strikethrough) | Event::End(TagEnd::Strikethrough) => sink.push('~'),
            Event::Start(Tag::Heading { .. }) => sink.push('*'),
            Event::End(TagEnd::Heading(_)) => sink.push_str("*\n\n"),
            Event::Start(Tag::Paragraph) => {}
            Event::End(TagEnd::Paragraph) => sink.push_str(if lists.is_empty() { "\n\n" } else { "\n" }),
            Event::Start(Tag::BlockQuote(_)) => {
                quote_depth += 1;
                sink.push_str("> ");
            }
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::CodeBlock(_)) => sink.push_str("```\n"),
            Event::End(TagEnd::CodeBlock) => {
                if !sink.ends_with('\n') {
                    sink.push('\n');
                }
                sink.push_str("```\n\n");
            }
            Event::Start(Tag::List(start)) => lists.push(start),
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                if lists.is_empty() {
                    sink.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                sink.push_str(&"    ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(number)) => {
                        sink.push_str(&format!("{number}. "));
                        *number += 1;
                    }
                    _ => sink.push_str("• "),
                }
            }
            Event::End(TagEnd::Item) if !sink.ends_with('\n') => sink.push('\n'),
            Event::Start(Tag::Link { dest_url, .. }) => link = Some((dest_url.to_string(), String::new())),
            Event::End(TagEnd::Link) => {
                if let Some((url, text)) = link.take() {
                    out.push_str(&(style.link)(&url, &text));
                }
            }
            Event::End(TagEnd::TableCell) => sink.push_str(" | "),
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => {
                let trimmed = sink.trim_end_matches([' ', '|']).len();
                sink.truncate(trimmed);
                sink.push('\n');
            }
            _ => {}
        }
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_chunks_are_cut_into_pieces_of_few_lines_with_code_blocks_closed() {
        let text: String = (1..=40).map(|n| format!("line {n}\n")).collect();
        let pieces = split_lines(text.trim_end(), 17);
        assert_eq!(pieces.iter().map(|piece| piece.lines().count()).collect::<Vec<_>>(), vec![17, 17, 6]);
        assert_eq!(pieces.join("\n"), text.trim_end());
        let code = format!("intro\n```rust\n{}```", (1..=30).map(|n| format!("let x{n} = {n};\n")).collect::<String>());
        let pieces = split_lines(&code, 17);
        assert!(pieces.iter().all(|piece| piece.lines().count() <= 17), "{pieces:?}");
        for piece in &pieces {
            let fences = piece.lines().filter(|line| line.starts_with("```")).count();
            assert_eq!(fences % 2, 0, "every piece opens and closes its code block: {piece}");
        }
        assert!(pieces[1].starts_with("```rust\n"), "{}", pieces[1]);
        let lines: Vec<&str> =
            pieces.iter().flat_map(|piece| piece.lines()).filter(|line| line.starts_with("let")).collect();
        assert_eq!(lines.len(), 30, "no line lost or repeated");
        assert_eq!(split_lines("short\ntext", 17), vec!["short\ntext".to_owned()]);
    }

    fn caps(limit: usize, dialect: Dialect) -> Capabilities {
        Capabilities::text(Some(limit), limit, dialect)
    }

    #[test]
    fn telegram_html_covers_the_common_markdown() {
        let html = to_dialect(
            "# Plan\n\nSome **bold**, _italic_, ~~gone~~ and `a<b`.\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n```rust\nfn main() {}\n```\n\n[site](https://example.com/?a=1&b=2)",
            Dialect::TelegramHtml,
        );
        assert_eq!(
            html,
            "<b>Plan</b>\n\nSome <b>bold</b>, <i>italic</i>, <s>gone</s> and <code>a&lt;b</code>.\n\n• one\n• two\n\n1. first\n2. second\n\n<blockquote>quoted</blockquote>\n\n<pre><code class=\"language-rust\">fn main() {}</code></pre>\n\n<a href=\"https://example.com/?a=1&amp;b=2\">site</a>"
        );
    }

    #[test]
    fn plain_text_drops_markup_and_keeps_links() {
        let plain = to_dialect("Read **this** at [docs](https://d.example).", Dialect::Plain);
        assert_eq!(plain, "Read this at docs (https://d.example).");
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(render("Hello **there**", &caps(4000, Dialect::TelegramHtml)), vec!["Hello <b>there</b>"]);
    }

    #[test]
    fn long_text_is_cut_on_paragraphs_then_sentences_and_every_chunk_fits() {
        let paragraph = "This is a sentence that goes on for a while. ".repeat(8);
        let text = format!("{p}\n\n{p}\n\n{p}", p = paragraph.trim());
        let limit = 400;
        let chunks = render(&text, &caps(limit, Dialect::Plain));
        assert!(chunks.len() >= 3, "{chunks:?}");
        for chunk in &chunks {
            assert!(chunk.chars().count() <= limit, "{} > {limit}", chunk.chars().count());
            assert!(chunk.ends_with('.'), "cut inside a sentence: {chunk:?}");
        }
        let words: usize = chunks.iter().map(|c| c.split_whitespace().count()).sum();
        assert_eq!(words, text.split_whitespace().count(), "no text lost");
    }

    #[test]
    fn a_code_block_cut_in_two_is_closed_and_reopened() {
        let code: String = (0..60).map(|i| format!("let x{i} = {i};\n")).collect();
        let text = format!("Here:\n\n```rust\n{code}```\n\nDone.");
        let pieces = chunk(&text, 300);
        assert!(pieces.len() > 2);
        for piece in &pieces {
            assert!(piece.chars().count() <= 300);
            assert_eq!(piece.matches("```").count() % 2, 0, "unbalanced fence in {piece:?}");
        }
        let rendered = render(&text, &caps(300, Dialect::TelegramHtml));
        for chunk in &rendered {
            assert_eq!(chunk.matches("<pre>").count(), chunk.matches("</pre>").count(), "{chunk}");
        }
        let joined = rendered.join("\n");
        for i in 0..60 {
            assert!(joined.contains(&format!("let x{i} = {i};")), "line {i} lost");
        }
    }

    #[test]
    fn one_huge_word_is_cut_at_character_boundaries() {
        let text = "é".repeat(1000);
        let chunks = render(&text, &caps(300, Dialect::Plain));
        assert_eq!(chunks.iter().map(|c| c.chars().count()).sum::<usize>(), 1000);
        assert!(chunks.iter().all(|c| c.chars().count() <= 300));
    }

    #[test]
    fn html_overhead_never_pushes_a_chunk_over_the_platform_limit() {
        let text = "**a** & <b> ".repeat(400);
        let chunks = render(&text, &caps(500, Dialect::TelegramHtml));
        assert!(chunks.len() > 1);
        for chunk in &chunks {
            assert!(chunk.chars().count() <= 500, "{} chars", chunk.chars().count());
        }
    }
}
