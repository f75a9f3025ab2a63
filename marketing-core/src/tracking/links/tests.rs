use proptest::prelude::*;

use super::*;

/// Every link found, in order, each replaced by `<n>`.
fn links_in(text: &str) -> (String, Vec<String>) {
    let mut found = Vec::new();
    let (out, _) = rewrite_text(text, 0, |i, url| {
        found.push(url.to_owned());
        Some(format!("<{i}>"))
    });
    (out, found)
}

#[test]
fn chinese_punctuation_and_text_end_a_link() {
    let (out, found) = links_in(
        "领券请访问https://shop.example.com/a，谢谢！规则见https://shop.example.com/b。活动页（https://shop.example.com/c）筛选",
    );
    assert_eq!(
        found,
        [
            "https://shop.example.com/a",
            "https://shop.example.com/b",
            "https://shop.example.com/c"
        ]
    );
    assert_eq!(out, "领券请访问<0>，谢谢！规则见<1>。活动页（<2>）筛选");

    let (out, found) = links_in(
        "【双11】https://s.example.com/x?id=1、https://s.example.com/y；《规则》https://s.example.com/z：「https://s.example.com/q」？https://s.example.com/r\u{3000}完",
    );
    assert_eq!(found.len(), 5, "{found:?}");
    assert_eq!(out, "【双11】<0>、<1>；《规则》<2>：「<3>」？<4>\u{3000}完");
    assert_eq!(found[0], "https://s.example.com/x?id=1");
}

#[test]
fn trailing_ascii_punctuation_is_left_out_as_mail_clients_do() {
    for (text, url) in [
        ("See https://a.example.com/x.", "https://a.example.com/x"),
        (
            "See https://a.example.com/x, then",
            "https://a.example.com/x",
        ),
        ("Now! https://a.example.com/x!", "https://a.example.com/x"),
        ("Really https://a.example.com/x?", "https://a.example.com/x"),
        ("(see https://a.example.com/x)", "https://a.example.com/x"),
        ("\"https://a.example.com/x\"", "https://a.example.com/x"),
        (
            "https://a.example.com/wiki/Foo_(bar).",
            "https://a.example.com/wiki/Foo_(bar)",
        ),
        (
            "https://a.example.com/?q=1&r=2;",
            "https://a.example.com/?q=1&r=2",
        ),
        ("访问https://a.example.com/x.。", "https://a.example.com/x"),
        ("https://a.example.com\n下一行", "https://a.example.com"),
    ] {
        assert_eq!(links_in(text).1, [url], "{text}");
    }
}

#[test]
fn only_what_stands_unencoded_in_a_url_is_a_link() {
    // A scheme followed by Chinese is no link; the next one is still found.
    let (out, found) = links_in("坏链接https://中文.example/路径，好链接https://ok.example.com/p");
    assert_eq!(found, ["https://ok.example.com/p"]);
    assert_eq!(out, "坏链接https://中文.example/路径，好链接<0>");
    // Non-ASCII in a path ends the link there (write it percent-encoded in text).
    assert_eq!(
        links_in("https://a.example.com/活动").1,
        ["https://a.example.com/"]
    );
    assert_eq!(
        links_in("https://a.example.com/%E6%B4%BB%E5%8A%A8。").1,
        ["https://a.example.com/%E6%B4%BB%E5%8A%A8"]
    );
    // Not http(s), or kept by the caller: left as it is, not numbered.
    let (out, next) = rewrite_text("ftp://a.example.com/x https://b.example.com", 3, |_, _| {
        None
    });
    assert_eq!(
        (out.as_str(), next),
        ("ftp://a.example.com/x https://b.example.com", 3)
    );
}

#[test]
fn every_href_is_found_whatever_its_quoting() {
    let html = concat!(
        r#"<a href=https://a.example.com/1?x=1&amp;y=2>1</a>"#,
        r#"<A HREF = "https://a.example.com/2">2</A>"#,
        r#"<a class=x href ='https://a.example.com/3'>3</a>"#,
        "<a\nhref=HTTPS://a.example.com/4 class=y>4</a>",
        r#"<a href=https://a.example.com/5>5</a>"#,
        r#"<div data-href="https://a.example.com/no">x</div><a href=mailto:x@example.com>m</a>"#,
        r#"<a href=>empty</a><a href>bare</a>"#,
    );
    let mut found = Vec::new();
    let (out, next) = rewrite_html(html, 0, |i, url| {
        found.push(url.to_owned());
        Some(format!("https://t.example/{i}?a&b"))
    });
    assert_eq!(
        found,
        [
            "https://a.example.com/1?x=1&y=2",
            "https://a.example.com/2",
            "https://a.example.com/3",
            "HTTPS://a.example.com/4",
            "https://a.example.com/5",
        ]
    );
    assert_eq!(next, 5);
    assert_eq!(
        out,
        concat!(
            r#"<a href="https://t.example/0?a&amp;b">1</a>"#,
            r#"<A HREF = "https://t.example/1?a&amp;b">2</A>"#,
            r#"<a class=x href ='https://t.example/2?a&amp;b'>3</a>"#,
            "<a\nhref=\"https://t.example/3?a&amp;b\" class=y>4</a>",
            r#"<a href="https://t.example/4?a&amp;b">5</a>"#,
            r#"<div data-href="https://a.example.com/no">x</div><a href=mailto:x@example.com>m</a>"#,
            r#"<a href=>empty</a><a href>bare</a>"#,
        )
    );
    // An href in HTML may carry non-ASCII: the attribute says where it ends.
    let mut found = Vec::new();
    rewrite_html(
        r#"<a href="https://a.example.com/活动?券=满减">x</a>"#,
        0,
        |_, url| {
            found.push(url.to_owned());
            None
        },
    );
    assert_eq!(found, ["https://a.example.com/活动?券=满减"]);
}

#[test]
fn redirects_carry_only_ascii() {
    for (url, location) in [
        // Already ASCII: exactly as in the message.
        (
            "https://shop.example.com/a?x=1&y=2",
            "https://shop.example.com/a?x=1&y=2",
        ),
        ("https://shop.example.com", "https://shop.example.com"),
        (
            "https://shop.example.com/活动/双11?券=满减#说明",
            "https://shop.example.com/%E6%B4%BB%E5%8A%A8/%E5%8F%8C11?%E5%88%B8=%E6%BB%A1%E5%87%8F#%E8%AF%B4%E6%98%8E",
        ),
        (
            "https://例子.中国/路径",
            "https://xn--fsqu00a.xn--fiqs8s/%E8%B7%AF%E5%BE%84",
        ),
        ("https://a.example.com/a b", "https://a.example.com/a%20b"),
        // Not parseable as a URL: the offending bytes are encoded all the same.
        ("https://[bad/活", "https://[bad/%E6%B4%BB"),
    ] {
        assert_eq!(redirect_location(url), location, "{url}");
    }
}

/// A piece of marketing copy: text that cannot be part of a URL, or a URL.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Url(String),
}

fn text_piece() -> impl Strategy<Value = Piece> {
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range('\u{4e00}', '\u{9fa5}'),
            proptest::sample::select(vec![
                '，', '。', '！', '？', '；', '：', '、', '（', '）', '【', '】', '「', '」', '《',
                '》', '“', '”', ' ', '\n', '\u{3000}', '¥',
            ]),
        ],
        1..6,
    )
    .prop_map(|c| Piece::Text(c.into_iter().collect()))
}

fn url_piece() -> impl Strategy<Value = Piece> {
    (
        proptest::sample::select(vec!["http", "https", "HTTPS"]),
        "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,4})?\\.(com|cn|com\\.cn|example\\.com|shop)",
        "(/[A-Za-z0-9_~%=&.?-]{0,8}){0,3}[A-Za-z0-9]?",
    )
        .prop_map(|(scheme, host, path)| Piece::Url(format!("{scheme}://{host}{path}")))
        .prop_filter(
            "ends where a URL may end",
            |p| matches!(p, Piece::Url(u) if u.ends_with(|c: char| c.is_ascii_alphanumeric())),
        )
}

proptest! {
    /// Whatever copy surrounds them, exactly the links written are found, in order, and the
    /// text between them is kept as it was.
    #[test]
    fn links_in_copy_are_found_exactly(
        pieces in proptest::collection::vec(prop_oneof![text_piece(), url_piece()], 0..12)
    ) {
        let mut text = String::new();
        let mut expected = Vec::new();
        let mut last_was_url = false;
        for p in pieces {
            match p {
                Piece::Url(u) => {
                    if last_was_url {
                        text.push('，');
                    }
                    text.push_str(&u);
                    expected.push(u);
                    last_was_url = true;
                }
                Piece::Text(t) => {
                    text.push_str(&t);
                    last_was_url = false;
                }
            }
        }
        let (out, found) = links_in(&text);
        prop_assert_eq!(&found, &expected);
        let (same, _) = rewrite_text(&text, 0, |_, url| Some(url.to_owned()));
        prop_assert_eq!(same, text);
        prop_assert_eq!(out.matches('<').count(), expected.len());
    }

    /// A redirect's `Location` is visible ASCII whatever URL the token carries, and a URL that
    /// already is stays exactly as it was.
    #[test]
    fn locations_are_always_visible_ascii(url in "\\PC{0,40}") {
        let location = redirect_location(&url);
        prop_assert!(location.bytes().all(|b| b.is_ascii_graphic()), "{}", location);
        if url.bytes().all(|b| b.is_ascii_graphic()) {
            prop_assert_eq!(location, url);
        }
    }

    /// However an `href` is quoted or spaced, its URL is found and replaced.
    #[test]
    fn hrefs_are_found_whatever_the_quoting(
        quotes in proptest::collection::vec(
            (proptest::sample::select(vec!["\"", "'", ""]),
             proptest::sample::select(vec!["href", "HREF", "Href"]),
             proptest::sample::select(vec!["", " ", "\n"])),
            1..6),
    ) {
        let mut html = String::from("<p>");
        for (i, (q, name, space)) in quotes.iter().enumerate() {
            html.push_str(&format!(
                "<a {name}{space}={space}{q}https://a.example.com/{i}?x=1&amp;y=2{q}>链接{i}</a>"
            ));
        }
        let mut found = Vec::new();
        let (out, next) = rewrite_html(&html, 0, |i, url| {
            found.push(url.to_owned());
            Some(format!("https://t.example/{i}"))
        });
        let expected: Vec<String> = (0..quotes.len())
            .map(|i| format!("https://a.example.com/{i}?x=1&y=2"))
            .collect();
        prop_assert_eq!(found, expected);
        prop_assert_eq!(usize::from(next), quotes.len());
        prop_assert!(!out.contains("a.example.com"), "{}", out);
    }
}
