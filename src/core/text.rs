//! Text without `core::fmt` and without char patterns.
//!
//! A `format!`, a `to_string()` on a number or a `write!` links std's
//! formatting machinery (`fmt::write`, `Formatter::pad_integral`, `pad`) into
//! the wasm, a few kilobytes that a page pays for on every load. Messages are
//! built instead from pieces with `[..].concat()`, and numbers with
//! [`decimal`].
//!
//! Likewise a `split(',')`, `split_once(':')`, `trim_end_matches('/')` or
//! `lines()` links core's char searcher, `memchr` and UTF-8 encoding for
//! the one char. The text this library splits (its own records, HTTP
//! headers, the backend's part list, URLs) splits at ASCII bytes, which
//! never occur inside a multi-byte character, so a byte scan answers the
//! same: [`split_at_byte`], [`pieces`], [`lines`], [`trim_end_byte`], and
//! [`find`] for a string needle. And
//! [`parse_decimal`], [`first_chars`] and [`ascii_string`] stand for
//! `str::parse::<u64>`, `chars().take(n)` and `String::push` of ASCII.
//!
//! ```
//! use resupload::core::text::{decimal, split_at_byte};
//!
//! let message = ["part ", &decimal(42), " of ", &decimal(10_000)].concat();
//! assert_eq!(message, "part 42 of 10000");
//! assert_eq!(split_at_byte("key=value", b'='), Some(("key", "value")));
//! ```

/// `n` in decimal digits, as `n.to_string()` writes it.
pub fn decimal(n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut rest = n;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // ASCII digits only, so always UTF-8.
    std::str::from_utf8(&digits[start..])
        .unwrap_or_default()
        .to_owned()
}

/// The number `text` writes in decimal digits (an optional `+` first), as
/// `text.parse::<u64>()` reads it; `None` for anything else or a number
/// over `u64::MAX`.
pub fn parse_decimal(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("+").unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// The first `count` characters of `text` (all of it when shorter), as
/// `text.chars().take(count)` collects them.
pub fn first_chars(text: &str, count: usize) -> &str {
    let mut seen = 0;
    for (at, b) in text.bytes().enumerate() {
        // A character starts at every byte but a continuation byte.
        if b & 0xC0 != 0x80 {
            if seen == count {
                return &text[..at];
            }
            seen += 1;
        }
    }
    text
}

/// ASCII bytes as a `String`: text built byte by byte, without
/// `String::push`'s UTF-8 encoding of each char. (Bytes that are not
/// UTF-8, which the callers' ASCII alphabets rule out, give an empty
/// string.)
pub fn ascii_string(bytes: Vec<u8>) -> String {
    debug_assert!(bytes.is_ascii());
    String::from_utf8(bytes).unwrap_or_default()
}

/// `text` split at the first `byte` (ASCII), as `text.split_once(char)`.
pub fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    debug_assert!(byte.is_ascii());
    let at = text.bytes().position(|b| b == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

/// Where `needle` first occurs in `text`, as `text.find(needle)`. A plain
/// scan: the texts are short (error bodies, URLs), and `str::find` with a
/// string pattern links core's two-way searcher (1.6 KB of wasm) for them
/// alone.
pub fn find(text: &str, needle: &str) -> Option<usize> {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    (0..=text.len().checked_sub(needle.len())?).find(|&at| text[at..].starts_with(needle))
}

/// `text` without the `byte`s (ASCII) at its end, as
/// `text.trim_end_matches(char)`.
pub fn trim_end_byte(text: &str, byte: u8) -> &str {
    debug_assert!(byte.is_ascii());
    let end = text.bytes().rposition(|b| b != byte).map_or(0, |at| at + 1);
    &text[..end]
}

/// The pieces of `text` between the `byte`s (ASCII), as
/// `text.split(char)`: an empty text is one empty piece.
pub fn pieces(text: &str, byte: u8) -> Pieces<'_> {
    debug_assert!(byte.is_ascii());
    Pieces {
        rest: Some(text),
        byte,
        lines: false,
    }
}

/// The lines of `text`, as `text.lines()`: split at `\n`, a `\r` before it
/// dropped, and no last empty line after a final `\n`.
pub fn lines(text: &str) -> Pieces<'_> {
    Pieces {
        rest: (!text.is_empty()).then_some(text),
        byte: b'\n',
        lines: true,
    }
}

/// The iterator of [`pieces`] and [`lines`].
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    rest: Option<&'a str>,
    byte: u8,
    /// Whether a `\r` at a piece's end is dropped ([`lines`]).
    lines: bool,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let Some((piece, after)) = split_at_byte(rest, self.byte) else {
            self.rest = None;
            return Some(rest);
        };
        if !self.lines {
            self.rest = Some(after);
            return Some(piece);
        }
        // No empty line after a final `\n`.
        self.rest = (!after.is_empty()).then_some(after);
        Some(piece.strip_suffix("\r").unwrap_or(piece))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numbers_as_to_string_does() {
        for n in [0, 1, 9, 10, 99, 100, 4_096, 1 << 32, u64::MAX - 1, u64::MAX] {
            assert_eq!(decimal(n), n.to_string(), "{n}");
        }
    }

    const SAMPLES: [&str; 17] = [
        "",
        "a",
        "/",
        "//",
        "a/b",
        "/a/b/",
        "a//b//",
        "é/ü/",
        "日本/語",
        "a\nb",
        "a\r\nb\r\n",
        "\n\n",
        "a\n\nb\n",
        "\r\n",
        "a\r",
        "a\rb\r",
        "a\n\r",
    ];

    #[test]
    fn reads_numbers_as_parse_does() {
        let samples = [
            "",
            "0",
            "7",
            "+7",
            "++7",
            "-7",
            "007",
            " 7",
            "7 ",
            "1.5",
            "x",
            "+",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
        ];
        for text in samples {
            assert_eq!(parse_decimal(text), text.parse::<u64>().ok(), "{text:?}");
        }
    }

    #[test]
    fn keeps_the_first_chars_as_take_does() {
        for text in SAMPLES {
            for count in 0..6 {
                let want: String = text.chars().take(count).collect();
                assert_eq!(first_chars(text, count), want, "{text:?} {count}");
            }
        }
        assert_eq!(ascii_string(b"abc".to_vec()), "abc");
    }

    #[test]
    fn byte_scans_answer_as_the_char_patterns_do() {
        for text in SAMPLES {
            assert_eq!(split_at_byte(text, b'/'), text.split_once('/'), "{text:?}");
            assert_eq!(
                trim_end_byte(text, b'/'),
                text.trim_end_matches('/'),
                "{text:?}"
            );
            let got: Vec<&str> = pieces(text, b'/').collect();
            assert_eq!(got, text.split('/').collect::<Vec<_>>(), "{text:?}");
            let got: Vec<&str> = pieces(text, b'\n').collect();
            assert_eq!(got, text.split('\n').collect::<Vec<_>>(), "{text:?}");
            let got: Vec<&str> = lines(text).collect();
            assert_eq!(got, text.lines().collect::<Vec<_>>(), "{text:?}");
            for needle in ["", "/", "//", "a/", "b/", "語", "\r\n", "é/ü/x"] {
                assert_eq!(find(text, needle), text.find(needle), "{text:?} {needle:?}");
            }
        }
        assert_eq!(find("abcabc", "bc"), Some(1));
    }
}
