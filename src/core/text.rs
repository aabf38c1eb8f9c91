//! Numbers as text without `core::fmt`.
//!
//! A `format!`, a `to_string()` on a number or a `write!` links std's
//! formatting machinery (`fmt::write`, `Formatter::pad_integral`, `pad`) into
//! the wasm, a few kilobytes that a page pays for on every load. Messages are
//! built instead from pieces with `[..].concat()`, and numbers with
//! [`decimal`].
//!
//! ```
//! use resupload::core::text::decimal;
//!
//! let message = ["part ", &decimal(42), " of ", &decimal(10_000)].concat();
//! assert_eq!(message, "part 42 of 10000");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numbers_as_to_string_does() {
        for n in [0, 1, 9, 10, 99, 100, 4_096, 1 << 32, u64::MAX - 1, u64::MAX] {
            assert_eq!(decimal(n), n.to_string(), "{n}");
        }
    }
}
