//! Object keys: `uploads/<namespace>/<32 random hex>/<sanitized file name>`.
//!
//! The server builds every key: a client names only its namespace and file
//! name, both sanitized, so no key escapes `uploads/<namespace>/` and the
//! random segment keeps one upload from overwriting another's object.

/// The longest sanitized file name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// The name used when nothing usable is left of the file name.
pub const FALLBACK_NAME: &str = "file";

/// The longest extension (dot included, in bytes) kept when a long name is
/// cut.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// The namespace segment used when the client names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Builds a new, unique object key for a file called `file_name` in
/// `namespace` (sanitized like a file name; empty means "default").
///
/// # Errors
/// Fails only if the operating system gives no random bytes.
pub fn new_object_key(namespace: &str, file_name: &str) -> Result<String, getrandom::Error> {
    Ok(format!(
        "uploads/{}/{}/{}",
        namespace_segment(namespace),
        random_hex()?,
        sanitize_file_name(file_name)
    ))
}

/// The key segment of a namespace.
pub fn namespace_segment(namespace: &str) -> String {
    if namespace.trim().is_empty() {
        DEFAULT_NAMESPACE.to_owned()
    } else {
        sanitize_file_name(namespace)
    }
}

/// Whether `key` has the shape of a key this server issues:
/// `uploads/<segment>/<32 hex>/<name>`, each segment as sanitizing leaves it
/// (no `/`, not `.` or `..`, not empty).
pub fn is_issued_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    let [root, namespace, random, name] = parts.as_slice() else {
        return false;
    };
    *root == "uploads"
        && random.len() == 32
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && [namespace, name]
            .iter()
            .all(|segment| sanitize_file_name(segment) == **segment)
}

/// 16 random bytes as 32 lowercase hex digits.
///
/// # Errors
/// Fails only if the operating system gives no random bytes.
pub fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Makes a file name safe as the last segment of an object key.
///
/// Unicode letters and digits and `.`, `-`, `_` and space are kept, every
/// other character (slashes, controls, `%`, `+`, `#`, ...) becomes `_`.
/// The result is at most [`MAX_NAME_BYTES`] bytes (a short extension is kept
/// when the name is cut), has no leading or trailing spaces, is never empty
/// and never `.` or `..`.
pub fn sanitize_file_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let capped = cap_keeping_extension(replaced.trim_matches(' '), MAX_NAME_BYTES);
    let trimmed = capped.trim_matches(' ');
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        FALLBACK_NAME.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Cuts `name` to at most `max` bytes on a character boundary, keeping a
/// short extension (`.pdf`) at the end.
fn cap_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let extension = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_KEPT_EXTENSION_BYTES => &name[dot..],
        _ => "",
    };
    let stem_budget = max - extension.len();
    let stem = &name[..name.len() - extension.len()];
    format!(
        "{}{}",
        truncate_on_char_boundary(stem, stem_budget),
        extension
    )
}

fn truncate_on_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_under_their_namespace_and_are_recognised() {
        let key = new_object_key("user-42", "a b.txt").unwrap();
        assert!(key.starts_with("uploads/user-42/"), "{key}");
        assert!(key.ends_with("/a b.txt"), "{key}");
        assert!(is_issued_key(&key), "{key}");
        let evil = new_object_key("../../etc", "../passwd").unwrap();
        assert!(evil.starts_with("uploads/.._.._etc/"), "{evil}");
        assert!(is_issued_key(&evil), "{evil}");
        assert!(new_object_key("", "x")
            .unwrap()
            .starts_with("uploads/default/"));
    }

    #[test]
    fn foreign_keys_are_not_recognised() {
        let random = "0123456789abcdef0123456789abcdef";
        for key in [
            "",
            "x",
            "uploads/ns/file",
            &format!("other/ns/{random}/f"),
            &format!("uploads/ns/{random}/../f"),
            &format!("uploads/../{random}/f"),
            &format!("uploads/ns/{random}/a/b"),
            &format!("uploads/ns/{}/f", "0123456789ABCDEF0123456789abcdef"),
            &format!("uploads/ns/{random}/"),
            &format!("uploads/n%s/{random}/f"),
        ] {
            assert!(!is_issued_key(key), "{key}");
        }
        assert!(is_issued_key(&format!("uploads/ns/{random}/f.bin")));
    }

    #[test]
    fn keeps_letters_digits_and_safe_punctuation() {
        assert_eq!(
            sanitize_file_name("My file-1_v2.tar.gz"),
            "My file-1_v2.tar.gz"
        );
        assert_eq!(
            sanitize_file_name("Été 2024 日本語.mp4"),
            "Été 2024 日本語.mp4"
        );
    }

    #[test]
    fn replaces_everything_else() {
        assert_eq!(sanitize_file_name("a/b\\c"), "a_b_c");
        assert_eq!(sanitize_file_name("100% +1 #2?.txt"), "100_ _1 _2_.txt");
        assert_eq!(sanitize_file_name("tab\there\nnl"), "tab_here_nl");
        assert_eq!(sanitize_file_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize_file_name("smile 😀.png"), "smile _.png");
    }

    #[test]
    fn never_empty_or_a_dot_segment() {
        for name in ["", " ", "   ", ".", "..", " . ", " .. "] {
            assert_eq!(sanitize_file_name(name), FALLBACK_NAME, "{name:?}");
        }
        assert_eq!(sanitize_file_name("..."), "...");
        assert_eq!(sanitize_file_name("/"), "_");
    }

    #[test]
    fn trims_outer_spaces() {
        assert_eq!(sanitize_file_name("  report .pdf  "), "report .pdf");
    }

    #[test]
    fn caps_length_on_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "é".repeat(300));
        let got = sanitize_file_name(&long);
        assert!(got.len() <= MAX_NAME_BYTES, "{}", got.len());
        assert!(got.ends_with(".pdf"));
        assert!(got.starts_with('é'));

        let no_ext = "x".repeat(500);
        assert_eq!(sanitize_file_name(&no_ext).len(), MAX_NAME_BYTES);

        let long_ext = format!("a.{}", "b".repeat(400));
        assert_eq!(sanitize_file_name(&long_ext).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn object_keys_are_unique_and_well_formed() {
        let a = new_object_key("ns", "a b.txt").unwrap();
        let b = new_object_key("ns", "a b.txt").unwrap();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('/').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], "uploads");
        assert_eq!(parts[1], "ns");
        assert_eq!(parts[2].len(), 32);
        assert!(parts[2]
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(parts[3], "a b.txt");
    }
}
