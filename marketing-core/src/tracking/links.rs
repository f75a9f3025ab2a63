//! Finding the links of a rendered message (in text and in HTML `href`s) so they can become
//! tracked redirects, and the `Location` a redirect answers with.
//!
//! Text is written by marketers in any language, so a link there ends at the first character that
//! cannot stand unencoded in a URL: any non-ASCII character (Chinese text and full-width
//! punctuation such as `，。！（）` follow links without a space), whitespace or a control
//! character. Within that, trailing ASCII punctuation (`.`, `,`, `!`, `?`, an unbalanced `)`) is
//! left out as mail clients do, by the same rules linkify applies. In HTML the attribute's own
//! delimiters say where a URL ends, so a link there may carry non-ASCII characters; the redirect
//! then encodes them.

use super::MAX_URL_BYTES;

fn is_trackable(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")) && url.len() <= MAX_URL_BYTES
}

/// Whether `c` can stand in a URL as it is. Everything else ends a link in text.
fn is_url_char(c: char) -> bool {
    c.is_ascii_graphic()
}

fn url_finder() -> linkify::LinkFinder {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    finder
}

/// The first link in `text`: its byte range, cut at the first character that cannot be part of
/// an unencoded URL and without trailing punctuation. `None` when there is none.
fn next_link(finder: &linkify::LinkFinder, text: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(candidate) = finder.links(&text[from..]).next() {
        let start = from + candidate.start();
        let raw = candidate.as_str();
        let cut = raw
            .char_indices()
            .find(|&(_, c)| !is_url_char(c))
            .map_or(raw, |(at, _)| &raw[..at]);
        // linkify's end rules (trailing punctuation, balanced brackets) again on what is left.
        match finder.links(cut).next() {
            Some(link) if link.start() == 0 => return Some((start, start + link.end())),
            // Nothing left that is a link (`https://` followed by Chinese): look further on.
            _ => from = start + cut.len().max(1),
        }
        while from < text.len() && !text.is_char_boundary(from) {
            from += 1;
        }
    }
    None
}

/// Replaces every `http(s)` URL in plain text with `replace(index, url)` (`None` keeps it),
/// numbering replaced links in order of appearance from `first`. Returns the text and the next
/// index.
pub fn rewrite_text(
    text: &str,
    first: u16,
    mut replace: impl FnMut(u16, &str) -> Option<String>,
) -> (String, u16) {
    let finder = url_finder();
    let mut out = String::with_capacity(text.len());
    let mut next = first;
    let mut rest = text;
    while let Some((start, end)) = next_link(&finder, rest) {
        let url = &rest[start..end];
        out.push_str(&rest[..start]);
        match is_trackable(url).then(|| replace(next, url)).flatten() {
            Some(new) => {
                out.push_str(&new);
                next = next.saturating_add(1);
            }
            None => out.push_str(url),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    (out, next)
}

/// Where the `href` attribute starting at `at` (its name) has its value, and how it is quoted:
/// `(value start, value end, quote)`; `None` when `at` is not an `href` attribute with a value.
fn href_value(html: &str, at: usize) -> Option<(usize, usize, Option<char>)> {
    let bytes = html.as_bytes();
    // An attribute name follows whitespace (or a quote or `/` in sloppy markup), so `data-href`
    // is not a link.
    if at > 0
        && !matches!(
            bytes[at - 1],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'"' | b'\'' | b'/'
        )
    {
        return None;
    }
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let eq = skip_space(at + "href".len());
    if bytes.get(eq) != Some(&b'=') {
        return None;
    }
    let value = skip_space(eq + 1);
    match bytes.get(value) {
        Some(&q @ (b'"' | b'\'')) => {
            let len = html[value + 1..].find(q as char)?;
            Some((value + 1, value + 1 + len, Some(q as char)))
        }
        Some(b'>') | None => None,
        Some(_) => {
            let len = html[value..]
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .unwrap_or(html.len() - value);
            Some((value, value + len, None))
        }
    }
}

/// Replaces the `http(s)` URL of every `href` attribute in HTML, whatever its case, the spaces
/// around `=` and its quoting (`"…"`, `'…'` or none). The URL is unescaped (`&amp;`) before
/// `replace` sees it and the replacement is written back escaped; an unquoted value is written
/// back in double quotes, so the replacement needs no care about what may stand unquoted.
pub fn rewrite_html(
    html: &str,
    first: u16,
    mut replace: impl FnMut(u16, &str) -> Option<String>,
) -> (String, u16) {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut copied = 0;
    let mut search = 0;
    let mut next = first;
    while let Some(found) = lower[search..].find("href") {
        let at = search + found;
        let Some((start, end, quote)) = href_value(html, at) else {
            search = at + "href".len();
            continue;
        };
        let raw = &html[start..end];
        let url = raw.replace("&amp;", "&");
        if let Some(new) = is_trackable(&url).then(|| replace(next, &url)).flatten() {
            let escaped = new.replace('&', "&amp;");
            out.push_str(&html[copied..start]);
            match quote {
                Some(_) => out.push_str(&escaped),
                None => out.push_str(&format!("\"{escaped}\"")),
            }
            copied = end;
            next = next.saturating_add(1);
        }
        search = end.max(at + "href".len());
    }
    out.push_str(&html[copied..]);
    (out, next)
}

/// The `Location` a click redirect answers for `url`: always visible ASCII, so no raw UTF-8 byte
/// ever reaches a header. A URL that already is (every link found in text) is kept exactly; one
/// with non-ASCII characters (from an HTML `href`) gets its ASCII serialisation by the URL
/// standard (punycode host, percent-encoded path, query and fragment); anything the standard
/// cannot parse has its offending bytes percent-encoded.
pub fn redirect_location(url: &str) -> String {
    if url.bytes().all(|b| b.is_ascii_graphic()) {
        return url.to_owned();
    }
    if let Ok(parsed) = url::Url::parse(url.trim()) {
        return parsed.into();
    }
    let mut out = String::with_capacity(url.len() * 3);
    for b in url.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
