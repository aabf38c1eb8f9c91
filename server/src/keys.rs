//! Object keys: `uploads/<namespace>/<32 random hex>/<sanitized file name>`,
//! or with a relative path `uploads/<namespace>/<32 random hex>/<dirs>/<name>`.
//!
//! The server builds every key: a client names only its namespace, file
//! name and folder-relative path, each segment sanitized, so no key escapes
//! `uploads/<namespace>/` and the random segment keeps one upload from
//! overwriting another's object.

use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// The longest sanitized file name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;

/// The name used when nothing usable is left of the file name.
pub const FALLBACK_NAME: &str = "file";

/// The longest extension (dot included, in bytes) kept when a long name is
/// cut.
const MAX_KEPT_EXTENSION_BYTES: usize = 16;

/// The namespace segment used when the client names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The most directories a relative path may put into a key.
pub const MAX_DIR_DEPTH: usize = 32;

/// The longest object key, in bytes (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// Where every key this server makes begins: the janitor looks for
/// orphans under it only, so that a bucket shared with another app keeps
/// that app's uploads.
pub const KEY_PREFIX: &str = "uploads/";

/// The bytes of `uploads/` + `/` + 32 hex + `/`: a key's fixed part.
const FIXED_KEY_BYTES: usize = KEY_PREFIX.len() + 1 + 32 + 1;

/// Why no key can be built for a file.
#[derive(Debug)]
pub enum KeyError {
    /// The relative path has more than [`MAX_DIR_DEPTH`] directories.
    TooDeep(usize),
    /// The key would be longer than [`MAX_KEY_BYTES`].
    TooLong(usize),
    /// The operating system gave no random bytes.
    NoRandom(getrandom::Error),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooDeep(n) => write!(
                f,
                "relativePath has {n} directories: at most {MAX_DIR_DEPTH} are kept in a key"
            ),
            Self::TooLong(n) => write!(
                f,
                "the object key would be {n} bytes (the sanitized relativePath and name are too long): at most {MAX_KEY_BYTES}"
            ),
            Self::NoRandom(e) => write!(f, "no random bytes: {e}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Builds a new, unique object key for a file called `file_name` in
/// `namespace`, kept under the directories of `relative_path` (a
/// folder-relative path such as `photos/2024/a.jpg`, as
/// `File.webkitRelativePath` gives it): every segment but the last,
/// sanitized like a file name, empty, `.` and `..` segments dropped. The
/// last segment is the file's own name: `file_name` names the object.
///
/// # Errors
/// More than [`MAX_DIR_DEPTH`] directories, a key longer than
/// [`MAX_KEY_BYTES`], or no random bytes.
pub fn new_object_key_in(
    namespace: &str,
    relative_path: Option<&str>,
    file_name: &str,
) -> Result<String, KeyError> {
    let dirs = relative_path.map(relative_dirs).unwrap_or_default();
    if dirs.len() > MAX_DIR_DEPTH {
        return Err(KeyError::TooDeep(dirs.len()));
    }
    let namespace = namespace_segment(namespace);
    let name = sanitize_file_name(file_name);
    let bytes = FIXED_KEY_BYTES
        + namespace.len()
        + dirs.iter().map(|d| d.len() + 1).sum::<usize>()
        + name.len();
    if bytes > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(bytes));
    }
    let random = random_hex().map_err(KeyError::NoRandom)?;
    let mut key = format!("{KEY_PREFIX}{namespace}/{random}/");
    for dir in &dirs {
        key.push_str(dir);
        key.push('/');
    }
    key.push_str(&name);
    Ok(key)
}

/// Whether two keys of [`new_object_key_in`] put their objects in the same
/// place: the same folder path and file name, whatever their random
/// segments. A file adopts only an upload meant for its own place: two
/// identical files in two folders of one batch are two objects.
pub fn same_place(one: &str, other: &str) -> bool {
    let place = place_of(one);
    place.is_some() && place == place_of(other)
}

/// What follows `uploads/<namespace>/<random>/` in a key: its folder path
/// and name.
fn place_of(key: &str) -> Option<&str> {
    key.splitn(4, '/').nth(3)
}

/// The sanitized directories of a relative path: every segment but the
/// last (the file's name), split on `/`, without empty, `.` and `..`
/// segments (spaces around a segment do not count).
pub fn relative_dirs(relative_path: &str) -> Vec<String> {
    let mut segments: Vec<&str> = relative_path.split('/').collect();
    segments.pop();
    segments
        .into_iter()
        .filter(|s| !matches!(s.trim_matches(' '), "" | "." | ".."))
        .map(sanitize_file_name)
        .collect()
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
/// `uploads/<segment>/<32 hex>/<name>` or, with a relative path,
/// `uploads/<segment>/<32 hex>/<dir>/.../<name>` (at most
/// [`MAX_DIR_DEPTH`] directories), at most [`MAX_KEY_BYTES`] bytes, each
/// segment as sanitizing leaves it (no `/`, not `.` or `..`, not empty).
pub fn is_issued_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    let [root, namespace, random, rest @ ..] = parts.as_slice() else {
        return false;
    };
    key.len() <= MAX_KEY_BYTES
        && *root == "uploads"
        && (1..=MAX_DIR_DEPTH + 1).contains(&rest.len())
        && random.len() == 32
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && std::iter::once(namespace)
            .chain(rest)
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
/// The name is put in Unicode's composed form (NFC: a macOS name in
/// decomposed form gets the same key as a Windows one). Unicode letters,
/// digits and marks (a Devanagari virama, a Thai tone mark), the zero-width
/// joiners, and `.`, `-`, `_` and space are kept; every other character
/// (slashes, controls, `%`, `+`, `#`, ...) becomes `_`.
/// The result is at most [`MAX_NAME_BYTES`] bytes (a short extension is kept
/// when the name is cut), has no leading or trailing spaces, is never empty
/// and never `.` or `..`.
pub fn sanitize_file_name(name: &str) -> String {
    let replaced: String = name
        .nfc()
        .map(|c| if kept_in_name(c) { c } else { '_' })
        .collect();
    let capped = cap_keeping_extension(replaced.trim_matches(' '), MAX_NAME_BYTES);
    let trimmed = capped.trim_matches(' ');
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        FALLBACK_NAME.to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Whether [`sanitize_file_name`] keeps `c`.
fn kept_in_name(c: char) -> bool {
    c.is_alphanumeric()
        || c.general_category_group() == GeneralCategoryGroup::Mark
        || matches!(c, '.' | '-' | '_' | ' ' | '\u{200C}' | '\u{200D}')
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
    fn same_place_is_the_folder_path_and_name_after_the_random_segment() {
        let key = |path: Option<&str>| new_object_key_in("ann", path, "x.jpg").unwrap();
        let photos = key(Some("photos/x.jpg"));
        assert!(same_place(&photos, &key(Some("photos/x.jpg"))));
        assert_ne!(photos, key(Some("photos/x.jpg")), "random segments differ");
        assert!(!same_place(&photos, &key(Some("photos/2024/x.jpg"))));
        assert!(!same_place(&photos, &key(None)));
        assert!(same_place(&key(None), &key(None)));
        assert!(
            !same_place("uploads/ann", "uploads/ann"),
            "not a key of ours"
        );
    }

    const RANDOM: &str = "0123456789abcdef0123456789abcdef";

    fn new_object_key_in_test(namespace: &str, name: &str) -> Result<String, KeyError> {
        new_object_key_in(namespace, None, name)
    }

    fn dirs_of(key: &str) -> Vec<&str> {
        let parts: Vec<&str> = key.split('/').collect();
        parts[3..parts.len() - 1].to_vec()
    }

    #[test]
    fn relative_paths_put_their_sanitized_directories_in_the_key() {
        let key = new_object_key_in("ns", Some("photos/2024/a.jpg"), "a.jpg").unwrap();
        assert!(key.starts_with("uploads/ns/"), "{key}");
        assert!(key.ends_with("/photos/2024/a.jpg"), "{key}");
        assert_eq!(dirs_of(&key), ["photos", "2024"]);
        assert!(is_issued_key(&key), "{key}");
        // The last segment is the file's: the object is named by file_name.
        let renamed = new_object_key_in("ns", Some("photos/IMG 1.jpg"), "other.jpg").unwrap();
        assert!(renamed.ends_with("/photos/other.jpg"), "{renamed}");
        // A path with no directory, or none at all, is a plain key.
        for path in [None, Some(""), Some("a.jpg"), Some("/"), Some("./a.jpg")] {
            let key = new_object_key_in("ns", path, "a.jpg").unwrap();
            assert_eq!(key.split('/').count(), 4, "{path:?}: {key}");
        }
    }

    #[test]
    fn relative_paths_drop_empty_and_dot_segments_and_cannot_climb() {
        assert_eq!(relative_dirs("/a//b/./c/../d.txt"), ["a", "b", "c"]);
        assert_eq!(relative_dirs("../../../etc/passwd"), ["etc"]);
        assert_eq!(relative_dirs(" .. / . /x/f"), ["x"]);
        assert_eq!(
            relative_dirs("a/b/"),
            ["a", "b"],
            "a trailing slash: all directories"
        );
        assert_eq!(relative_dirs("C:\\Users\\me/f"), ["C__Users_me"]);
        assert_eq!(relative_dirs("100% #1/?x/f"), ["100_ _1", "_x"]);
        assert_eq!(relative_dirs("Été/日本/f"), ["Été", "日本"]);
        assert_eq!(relative_dirs("..."), Vec::<String>::new());
        assert_eq!(relative_dirs(".../f"), ["..."]);
        let key = new_object_key_in("ns", Some("../../x/../../y/f"), "../f").unwrap();
        assert!(is_issued_key(&key), "{key}");
        assert!(!key.contains("/../") && !key.contains("/./"), "{key}");
        assert_eq!(dirs_of(&key), ["x", "y"]);
    }

    #[test]
    fn relative_paths_are_capped_in_depth_and_key_length() {
        let deep = format!("{}f", "d/".repeat(MAX_DIR_DEPTH));
        let key = new_object_key_in("ns", Some(&deep), "f").unwrap();
        assert_eq!(dirs_of(&key).len(), MAX_DIR_DEPTH);
        assert!(is_issued_key(&key), "{key}");
        let deeper = format!("d/{deep}");
        assert!(matches!(
            new_object_key_in("ns", Some(&deeper), "f"),
            Err(KeyError::TooDeep(n)) if n == MAX_DIR_DEPTH + 1
        ));
        // Each directory is capped like a name (200 bytes), the key at 1024.
        let long = format!(
            "{}/{}/{}/f",
            "a".repeat(300),
            "b".repeat(300),
            "c".repeat(300)
        );
        let key = new_object_key_in("ns", Some(&long), "f").unwrap();
        assert!(
            dirs_of(&key).iter().all(|d| d.len() == MAX_NAME_BYTES),
            "{key}"
        );
        let too_long = format!("{}/{}/{long}", "y".repeat(300), "z".repeat(300));
        match new_object_key_in("ns", Some(&too_long), "f") {
            Err(KeyError::TooLong(n)) => assert!(n > MAX_KEY_BYTES, "{n}"),
            other => panic!("{other:?}"),
        }
        // Exactly at the limit: accepted, and recognised.
        let fixed = "uploads/ns/".len() + 33;
        let name = "n".repeat(MAX_KEY_BYTES - fixed - 4 * 201);
        let dirs = format!("{}/", "d".repeat(200)).repeat(4);
        let key = new_object_key_in("ns", Some(&format!("{dirs}f")), &name).unwrap();
        assert_eq!(key.len(), MAX_KEY_BYTES);
        assert!(is_issued_key(&key));
    }

    #[test]
    fn keys_with_directories_are_recognised_only_when_well_formed() {
        for key in [
            format!("uploads/ns/{RANDOM}/a/b"),
            format!("uploads/ns/{RANDOM}/photos/2024/a b.jpg"),
            format!("uploads/ns/{RANDOM}/{}f", "d/".repeat(MAX_DIR_DEPTH)),
        ] {
            assert!(is_issued_key(&key), "{key}");
        }
        for key in [
            format!("uploads/ns/{RANDOM}/a//b"),
            format!("uploads/ns/{RANDOM}/a/./b"),
            format!("uploads/ns/{RANDOM}/a/../b"),
            format!("uploads/ns/{RANDOM}/../../b"),
            format!("uploads/ns/{RANDOM}/a/"),
            format!("uploads/ns/{RANDOM}/a%2Fb/c"),
            format!("uploads/ns/{RANDOM}/ a/b"),
            format!("uploads/ns/{RANDOM}/{}f", "d/".repeat(MAX_DIR_DEPTH + 1)),
            format!("uploads/ns/{RANDOM}/{}/f", "d".repeat(1000)),
            format!("uploads/ns/{RANDOM}/{}", "d/".repeat(600)),
        ] {
            assert!(!is_issued_key(&key), "{key}");
        }
    }

    #[test]
    fn keys_live_under_their_namespace_and_are_recognised() {
        let key = new_object_key_in_test("user-42", "a b.txt").unwrap();
        assert!(key.starts_with("uploads/user-42/"), "{key}");
        assert!(key.ends_with("/a b.txt"), "{key}");
        assert!(is_issued_key(&key), "{key}");
        let evil = new_object_key_in_test("../../etc", "../passwd").unwrap();
        assert!(evil.starts_with("uploads/.._.._etc/"), "{evil}");
        assert!(is_issued_key(&evil), "{evil}");
        assert!(new_object_key_in_test("", "x")
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
    fn marks_and_joiners_are_kept_and_names_composed() {
        // Before, a combining mark became `_`: हिन_दी.txt, เรื_อง.pdf, Cafe_.pdf.
        for name in ["हिन्दी.txt", "เรื่อง.pdf", "Café.pdf", "می\u{200C}خواهم.txt"]
        {
            assert_eq!(sanitize_file_name(name), name);
        }
        assert_eq!(
            sanitize_file_name("Cafe\u{301}.pdf"),
            "Caf\u{e9}.pdf",
            "NFD becomes NFC"
        );
        assert_eq!(sanitize_file_name("テ\u{3099}スト"), "デスト");
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
        let a = new_object_key_in_test("ns", "a b.txt").unwrap();
        let b = new_object_key_in_test("ns", "a b.txt").unwrap();
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
