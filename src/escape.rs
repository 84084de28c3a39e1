//! The server-side HTML escaping of ILIAS 8 and 9 (message text only).
//!
//! ILIAS 8/9 browsers insert chat text with `innerHTML`, so the server must escape it;
//! ILIAS 10 browsers escape themselves and must get raw text. Characters outside the
//! Basic Multilingual Plane become `?` because ILIAS 8/9 databases often use the 3-byte
//! `utf8` charset, which cannot store them.

/// Escapes chat text the way the ILIAS 8/9 chat server does: `&` (unless it starts a
/// named entity such as `&amp;`), `<`, `>`, `"`; astral characters become `?`.
/// Single quotes are left alone, as in the original.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (index, ch) in text.char_indices() {
        match ch {
            '&' if starts_named_entity(&text[index + 1..]) => out.push('&'),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if u32::from(c) > 0xFFFF => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// True when `rest` (the text after an `&`) is one or more word characters followed by
/// `;`. Word characters are `[A-Za-z0-9_]`, as in the original's regular expression, so
/// numeric entities such as `&#39;` are escaped.
fn starts_named_entity(rest: &str) -> bool {
    let word_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    word_len > 0 && rest.as_bytes().get(word_len) == Some(&b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html(r#"<b class="x">Tom & Jerry's</b>"#),
            "&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry's&lt;/b&gt;"
        );
    }

    #[test]
    fn keeps_named_entities_but_escapes_numeric_ones() {
        assert_eq!(
            escape_html("&amp; &nbsp; &#39; &; &x"),
            "&amp; &nbsp; &amp;#39; &amp;; &amp;x"
        );
    }

    #[test]
    fn replaces_astral_characters() {
        assert_eq!(escape_html("hi 😀 ü €"), "hi ? ü €");
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn unescape(text: &str) -> String {
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&")
        }

        proptest! {
            #[test]
            fn output_is_safe_for_inner_html(input in any::<String>()) {
                let out = escape_html(&input);
                prop_assert!(!out.contains(['<', '>', '"']));
                prop_assert!(out.chars().all(|c| u32::from(c) <= 0xFFFF));
                // Every remaining `&` starts an entity.
                for (i, _) in out.match_indices('&') {
                    prop_assert!(starts_named_entity(&out[i + 1..]), "bare & in {out:?}");
                }
            }

            #[test]
            fn one_output_char_or_entity_per_input_char(input in any::<String>()) {
                prop_assert!(escape_html(&input).chars().count() >= input.chars().count());
            }

            #[test]
            fn plain_text_is_unchanged(input in "[^&<>\"\u{10000}-\u{10FFFF}]*") {
                prop_assert_eq!(escape_html(&input), input);
            }

            #[test]
            fn text_without_ampersands_round_trips(input in "[^&\u{10000}-\u{10FFFF}]*") {
                prop_assert_eq!(unescape(&escape_html(&input)), input);
            }
        }
    }
}
