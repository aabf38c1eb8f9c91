//! Upload options as plain data, checked in one place.

use crate::core::fingerprint::{fingerprint, FileIdentity};
use crate::core::part_size;
use crate::core::plan::{check_limits, DEFAULT_MAX_OBJECT_SIZE, DEFAULT_PART_SIZE};
use crate::core::retry::RetryPolicy;
use crate::core::text::{decimal, split_at_byte, trim_end_byte};
use crate::error::Error;

/// The most parts in flight at once that [`UploadOptions::validate`] allows.
pub const MAX_CONCURRENCY: u32 = 64;

/// Parts in flight at the start when `concurrency` is not given.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// Parts in flight at most when neither `concurrency` nor `maxConcurrency`
/// is given.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 8;
/// The longest retry delay allowed, in milliseconds (ten minutes).
pub const MAX_RETRY_DELAY_MS: u32 = 600_000;

/// How long servers keep an unfinished multipart upload by default (a
/// common lifecycle rule): 7 days, in milliseconds.
pub const DEFAULT_EXPIRES_AFTER_MS: f64 = 7.0 * 24.0 * 3600.0 * 1000.0;
/// How long before expiry a resume warns: 24 hours, in milliseconds.
pub const DEFAULT_EXPIRY_WARNING_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// How long a part request may make no progress: 30 seconds.
pub const DEFAULT_STALL_TIMEOUT_MS: u32 = 30_000;

/// Whether parts carry SHA-256 checksums the store verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Ask the backend for checksums; carry on without them (with a
    /// warning) when it does not support them. The default.
    Auto,
    /// Require them: a backend that does not confirm them fails the upload.
    Sha256,
    /// No checksums (for plain Uppy Companion backends).
    None,
}

/// How an upload runs.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadOptions {
    /// The signing backend's base URL, such as `"/api/s3"`.
    pub endpoint: String,
    /// The wished-for part size in bytes (raised if the file needs it).
    pub part_size: u64,
    /// Whether a fresh upload's part size may follow the link an earlier
    /// upload measured ([`part_size::for_link`]); giving `partSize` turns
    /// it off.
    pub part_size_from_link: bool,
    /// Parts in flight at once, at the start.
    pub concurrency: u32,
    /// Parts in flight at most: while adding one still raises the measured
    /// rate, the upload adds parts in flight up to this (see
    /// [`Ramp`](crate::core::ramp::Ramp)). Giving `concurrency` sets both,
    /// so an explicit count is kept; `maxConcurrency` raises the ceiling.
    pub max_concurrency: u32,
    /// Part of the state key: keeps users and apps apart in one browser.
    pub namespace: String,
    /// Metadata stored with the object.
    pub metadata: Vec<(String, String)>,
    /// When to retry.
    pub retry: RetryPolicy,
    /// The largest object the store accepts.
    pub max_object_size: u64,
    /// How long after its creation the server expires an unfinished upload
    /// (milliseconds).
    pub expires_after_ms: f64,
    /// How long before that a resume calls `onExpiringSoon` (milliseconds).
    pub expiry_warning_ms: f64,
    /// How long a part request may go without any progress before it is
    /// aborted and retried (milliseconds).
    pub stall_timeout_ms: u32,
    /// Whether a second tab uploading the same file waits for the first
    /// (`true`) or fails with `UPLOAD_LOCKED` (`false`, the default).
    pub wait_for_lock: bool,
    /// Per-part SHA-256 checksums.
    pub checksum: ChecksumMode,
    /// Whether a resume re-hashes the parts the server holds and compares
    /// them with the server's checksums before trusting them.
    pub verify_on_resume: bool,
    /// Whether a file is copied into the origin-private file system while
    /// it uploads, so that after a restart it continues from the copy
    /// without being picked again (`stage: "opfs"`).
    pub stage_copy: bool,
    /// The upload is a file of an upload queue (set by the queue, not by
    /// an option).
    pub in_queue: bool,
}

impl UploadOptions {
    /// Options with every default and this endpoint.
    pub fn new(endpoint: impl Into<String>) -> Self {
        UploadOptions {
            endpoint: endpoint.into(),
            part_size: DEFAULT_PART_SIZE,
            part_size_from_link: true,
            concurrency: DEFAULT_CONCURRENCY,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            namespace: String::new(),
            metadata: Vec::new(),
            retry: RetryPolicy::default(),
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            expires_after_ms: DEFAULT_EXPIRES_AFTER_MS,
            expiry_warning_ms: DEFAULT_EXPIRY_WARNING_MS,
            stall_timeout_ms: DEFAULT_STALL_TIMEOUT_MS,
            wait_for_lock: false,
            checksum: ChecksumMode::Auto,
            verify_on_resume: true,
            stage_copy: false,
            in_queue: false,
        }
    }

    /// Checks `concurrency` and `maxConcurrency`: each 1 to
    /// [`MAX_CONCURRENCY`], the ceiling not below the start.
    fn validate_concurrency(&self) -> Result<(), Error> {
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(Error::invalid_option(
                "concurrency",
                out_of_range(self.concurrency),
            ));
        }
        if self.max_concurrency == 0 || self.max_concurrency > MAX_CONCURRENCY {
            return Err(Error::invalid_option(
                "maxConcurrency",
                out_of_range(self.max_concurrency),
            ));
        }
        if self.max_concurrency < self.concurrency {
            return Err(Error::invalid_option(
                "maxConcurrency",
                [
                    "must be at least the concurrency (",
                    &decimal(self.concurrency.into()),
                    "), got ",
                    &decimal(self.max_concurrency.into()),
                ]
                .concat(),
            ));
        }
        Ok(())
    }

    /// Checks what can be checked without the file: the endpoint, the
    /// concurrency, the retry delays, the metadata names, and the part
    /// size and object size limit ([`check_limits`]). (A file's size is
    /// checked against the limit by
    /// [`PartPlan::new`](crate::core::plan::PartPlan::new), or for a file
    /// sent whole by [`check_fits`](crate::core::plan::check_fits).)
    pub fn validate(&self) -> Result<(), Error> {
        check_endpoint(self.endpoint.trim_ascii())?;
        check_metadata_names(&self.metadata)?;
        self.validate_concurrency()?;
        if self.retry.delays().iter().any(|&d| d > MAX_RETRY_DELAY_MS) {
            return Err(Error::invalid_option(
                "retryDelays",
                [
                    "each delay must be 0 to ",
                    &decimal(MAX_RETRY_DELAY_MS.into()),
                    " ms",
                ]
                .concat(),
            ));
        }
        check_expires_after(self.expires_after_ms)?;
        if !(self.expiry_warning_ms.is_finite() && self.expiry_warning_ms >= 0.0) {
            return Err(Error::invalid_option(
                "expiryWarning",
                "must be a non-negative number of milliseconds",
            ));
        }
        if !(100..=MAX_RETRY_DELAY_MS).contains(&self.stall_timeout_ms) {
            return Err(Error::invalid_option(
                "stallTimeout",
                [
                    "must be 100 to ",
                    &decimal(MAX_RETRY_DELAY_MS.into()),
                    " ms",
                ]
                .concat(),
            ));
        }
        check_limits(self.part_size, self.max_object_size)
    }

    /// When an upload created at `created_at` expires on the server (ms
    /// since the epoch).
    pub fn expires_at(&self, created_at: f64) -> f64 {
        created_at + self.expires_after_ms
    }

    /// The endpoint without trailing slashes, ready to have routes appended.
    pub fn endpoint_base(&self) -> &str {
        endpoint_base(&self.endpoint)
    }

    /// The key of the stored record of the file `identity` under these
    /// options (its namespace and endpoint): one rule for a run and for
    /// `Upload.findPrevious`.
    pub fn record_id(&self, identity: &FileIdentity) -> String {
        fingerprint(&self.namespace, self.endpoint_base(), identity)
    }

    /// These options for a fresh upload of `file` on a link measured at
    /// `bytes_per_second`: the part size follows the link unless `partSize`
    /// was given or the file is a stream (each part in flight of a stream
    /// is held in memory). A stored upload keeps the part size it began
    /// with.
    pub fn for_link(&self, file: &FileIdentity, bytes_per_second: Option<f64>) -> UploadOptions {
        let mut options = self.clone();
        if self.part_size_from_link && !file.is_stream() {
            options.part_size = part_size::for_link(self.part_size, file.size, bytes_per_second);
        }
        options
    }
}

/// Checks `expiresAfter` (of an upload or of a lookup): a positive
/// number of milliseconds.
pub fn check_expires_after(ms: f64) -> Result<(), Error> {
    match ms.is_finite() && ms > 0.0 {
        true => Ok(()),
        false => Err(Error::invalid_option(
            "expiresAfter",
            "must be a positive number of milliseconds (the server's lifecycle rule)",
        )),
    }
}

/// Checks the (trimmed) endpoint: a path starting with `/`, or an
/// `http(s)` URL with a host and no credentials; no whitespace or control
/// characters, no query or fragment (the routes are appended to it).
/// Why a concurrency of `got` is refused: it is not 1 to
/// [`MAX_CONCURRENCY`].
fn out_of_range(got: u32) -> String {
    [
        "must be 1 to ",
        &decimal(MAX_CONCURRENCY.into()),
        ", got ",
        &decimal(got.into()),
    ]
    .concat()
}

/// An endpoint without the whitespace at its ends and its trailing
/// slashes, ready to have routes appended: how records keep it. ASCII
/// whitespace only: any other is refused by [`UploadOptions::validate`].
pub fn endpoint_base(endpoint: &str) -> &str {
    trim_end_byte(endpoint.trim_ascii(), b'/')
}

fn check_endpoint(endpoint: &str) -> Result<(), Error> {
    let bad = |reason: &str| Err(Error::invalid_option("endpoint", reason));
    if endpoint.is_empty() {
        return bad("is required: the base URL of the signing backend, such as \"/api/s3\"");
    }
    // `//host/s3` is a URL of the page's scheme, and has a host too.
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .or_else(|| endpoint.strip_prefix("//"));
    if rest.is_none() && !endpoint.starts_with("/") {
        // Display, not Debug: the package is built without Debug
        // formatting (scripts/build.mjs).
        return bad(&[
            "\"",
            endpoint,
            "\" is not a URL: use an absolute http(s) URL or a path starting with /",
        ]
        .concat());
    }
    let authority = rest.map_or("", |rest| {
        split_at_byte(rest, b'/').map_or(rest, |(a, _)| a)
    });
    let no_host = authority.is_empty() || authority.starts_with(":");
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        || (rest.is_some() && no_host)
        || authority.bytes().any(|b| b == b'@')
    {
        return bad(
            "needs a host after http(s):// or //, and no whitespace, control characters, \
             credentials (user@host: send them with `headers`), query (?) or fragment (#)",
        );
    }
    Ok(())
}

/// The longest metadata name the dev server keeps (without `x-amz-meta-`).
const MAX_METADATA_NAME_BYTES: usize = 128;

/// Checks metadata names as the dev server keeps them (`server/src/meta.rs`):
/// 1 to 128 of `A-Z a-z 0-9 . _ -`, no two differing only in case (they
/// are one `x-amz-meta-*` header).
fn check_metadata_names(metadata: &[(String, String)]) -> Result<(), Error> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    for (i, (name, _)) in metadata.iter().enumerate() {
        let bad = name.is_empty()
            || name.len() > MAX_METADATA_NAME_BYTES
            || !name.bytes().all(allowed)
            || metadata[..i]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name));
        if bad {
            return Err(Error::invalid_option(
                "metadata",
                [
                    "the name \"",
                    name,
                    "\" must be 1 to 128 of A-Z a-z 0-9 . _ -, and given once (names ignore case)",
                ]
                .concat(),
            ));
        }
    }
    Ok(())
}

/// Why a header the `headers` option gives would be refused by the
/// browser's `fetch`, if it would: its name must be an RFC 7230 token, and
/// its value must hold no CR, LF or NUL and nothing above U+00FF.
pub fn header_problem(name: &str, value: &str) -> Option<String> {
    #[allow(
        clippy::manual_contains,
        reason = "`contains` links core's memchr into the wasm"
    )]
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".iter().any(|&t| t == b);
    if name.is_empty() || !name.bytes().all(tchar) {
        return Some(["the name \"", name, "\" is not an HTTP header name"].concat());
    }
    // In UTF-8 a character above U+00FF starts with a byte from 0xC4 on.
    if value
        .bytes()
        .any(|b| matches!(b, b'\r' | b'\n' | 0 | 0xC4..))
    {
        return Some(
            [
                "the value of \"",
                name,
                "\" holds a line break, a NUL or a character above U+00FF",
            ]
            .concat(),
        );
    }
    None
}

/// The options a page sets by name, one row each: its JavaScript name and
/// how a value sets it. The JS boundary reads each name from the options
/// object with the reader of its table (a whole number, a string, a flag),
/// in table order; the first bad value is the error. To add an option: a
/// field above, and a row here.
pub mod by_name {
    use super::*;

    /// An option's name and how a value of type `T` sets it.
    pub type Row<T> = (&'static str, fn(&mut UploadOptions, T));
    /// An option's name and how a string sets it (or why it cannot).
    pub type TextRow = (
        &'static str,
        fn(&mut UploadOptions, String) -> Result<(), Error>,
    );

    /// Options that take a whole, non-negative number.
    pub const WHOLE: [Row<u64>; 7] = [
        ("partSize", |o, n| {
            o.part_size = n;
            o.part_size_from_link = false;
        }),
        ("concurrency", |o, n| {
            o.concurrency = clamp_u32(n);
            o.max_concurrency = o.concurrency;
        }),
        // After `concurrency`, which sets it too; caps it.
        ("maxConcurrency", |o, n| {
            o.max_concurrency = clamp_u32(n);
            // (Not to 0: a bad ceiling is reported as maxConcurrency's.)
            o.concurrency = o.concurrency.min(o.max_concurrency.max(1));
        }),
        ("maxObjectSize", |o, n| o.max_object_size = n),
        ("expiresAfter", |o, n| o.expires_after_ms = n as f64),
        ("expiryWarning", |o, n| o.expiry_warning_ms = n as f64),
        ("stallTimeout", |o, n| o.stall_timeout_ms = clamp_u32(n)),
    ];

    /// Options that take a string.
    pub const TEXT: [TextRow; 4] = [
        ("namespace", |o, s| {
            o.namespace = s;
            Ok(())
        }),
        ("lock", |o, s| {
            o.wait_for_lock = one_of("lock", &s, &["fail", "wait"])? == 1;
            Ok(())
        }),
        ("checksum", |o, s| {
            o.checksum = match one_of("checksum", &s, &["sha256", "none"])? {
                0 => ChecksumMode::Sha256,
                _ => ChecksumMode::None,
            };
            Ok(())
        }),
        ("stage", |o, s| {
            o.stage_copy = one_of("stage", &s, &["none", "opfs"])? == 1;
            Ok(())
        }),
    ];

    /// Options that take `true` or `false`.
    pub const FLAGS: [Row<bool>; 1] = [("verifyOnResume", |o, b| o.verify_on_resume = b)];

    fn clamp_u32(n: u64) -> u32 {
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The index of `value` among `allowed`, or an error naming them.
    fn one_of(option: &'static str, value: &str, allowed: &[&str]) -> Result<usize, Error> {
        allowed.iter().position(|a| *a == value).ok_or_else(|| {
            let mut reason = ["\"", value, "\" is not "].concat();
            for (i, a) in allowed.iter().enumerate() {
                if i > 0 {
                    reason.push_str(" or ");
                }
                reason.push_str(&["\"", a, "\""].concat());
            }
            Error::invalid_option(option, reason)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn defaults_are_valid() {
        assert!(UploadOptions::new("/api/s3").validate().is_ok());
        assert!(UploadOptions::new("https://x.example/s3/")
            .validate()
            .is_ok());
        assert_eq!(UploadOptions::new("/api/s3/").endpoint_base(), "/api/s3");
        assert_eq!(endpoint_base(" \t/api/s3// \n"), "/api/s3");
    }

    #[test]
    fn part_and_object_sizes_are_checked_without_the_file() {
        // As `new Upload` with a File: `new UploadQueue` and `new Upload`
        // of a handle have no file to plan yet.
        let named = |o: UploadOptions| o.validate().unwrap_err().to_string();
        let mut o = UploadOptions::new("/e");
        o.part_size = 1;
        assert!(named(o.clone()).contains("`partSize`"));
        o.part_size = crate::core::plan::MAX_PART_SIZE + 1;
        assert!(named(o.clone()).contains("`partSize`"));
        o.part_size = crate::core::plan::MIN_PART_SIZE;
        o.max_object_size = 0;
        assert!(named(o.clone()).contains("`maxObjectSize`"));
        o.max_object_size = crate::core::plan::DEFAULT_MAX_OBJECT_SIZE + 1;
        assert!(named(o.clone()).contains("`maxObjectSize`"));
        o.max_object_size = 1;
        assert!(o.validate().is_ok(), "1 byte is the smallest limit");
    }

    #[test]
    fn an_explicit_concurrency_is_kept_and_max_concurrency_caps_it() {
        let set = |rows: &[(&str, u64)]| {
            let mut o = UploadOptions::new("/e");
            for (name, setter) in by_name::WHOLE {
                if let Some((_, n)) = rows.iter().find(|(r, _)| *r == name) {
                    setter(&mut o, *n);
                }
            }
            (o.concurrency, o.max_concurrency)
        };
        assert_eq!(set(&[]), (DEFAULT_CONCURRENCY, DEFAULT_MAX_CONCURRENCY));
        assert_eq!(set(&[("concurrency", 6)]), (6, 6));
        assert_eq!(set(&[("maxConcurrency", 16)]), (4, 16));
        assert_eq!(set(&[("maxConcurrency", 2)]), (2, 2));
        assert_eq!(set(&[("concurrency", 3), ("maxConcurrency", 12)]), (3, 12));
        let mut o = UploadOptions::new("/e");
        o.max_concurrency = 2;
        assert!(o.validate().is_err(), "below concurrency, set natively");
        o.max_concurrency = MAX_CONCURRENCY + 1;
        assert!(o.validate().is_err());
        // A bad ceiling given by name: the error names the option the page
        // gave, and a bad concurrency names concurrency.
        let error_for_zero = |name: &str| {
            let mut o = UploadOptions::new("/e");
            let setter = by_name::WHOLE.iter().find(|(n, _)| *n == name).unwrap().1;
            setter(&mut o, 0);
            o.validate().unwrap_err().to_string()
        };
        let err = error_for_zero("maxConcurrency");
        assert!(err.contains("`maxConcurrency`"), "{err}");
        let err = error_for_zero("concurrency");
        assert!(err.contains("`concurrency`"), "{err}");
    }

    #[test]
    fn options_are_set_by_name() {
        let mut o = UploadOptions::new("/e");
        for (name, set) in by_name::WHOLE {
            set(&mut o, if name == "concurrency" { 7 } else { 1234 });
        }
        assert_eq!(
            (o.part_size, o.concurrency, o.max_object_size),
            (1234, 7, 1234)
        );
        assert_eq!(
            (o.expires_after_ms, o.expiry_warning_ms, o.stall_timeout_ms),
            (1234.0, 1234.0, 1234)
        );
        let text = |o: &mut UploadOptions, name: &str, value: &str| {
            let (_, set) = by_name::TEXT.iter().find(|(n, _)| *n == name).unwrap();
            set(o, value.into())
        };
        text(&mut o, "namespace", "ns").unwrap();
        text(&mut o, "lock", "wait").unwrap();
        text(&mut o, "checksum", "none").unwrap();
        assert_eq!(
            (o.namespace.as_str(), o.wait_for_lock, o.checksum),
            ("ns", true, ChecksumMode::None)
        );
        match text(&mut o, "checksum", "md5").map_err(Error::into_kind) {
            Err(ErrorKind::InvalidOption { option, reason }) => {
                assert_eq!(option, "checksum");
                assert_eq!(reason, "\"md5\" is not \"sha256\" or \"none\"");
            }
            other => panic!("{other:?}"),
        }
        (by_name::FLAGS[0].1)(&mut o, false);
        assert!(!o.verify_on_resume);
    }

    #[test]
    fn bad_values_name_the_option() {
        let check = |o: UploadOptions, name: &str| match o.validate().map_err(Error::into_kind) {
            Err(ErrorKind::InvalidOption { option, .. }) => assert_eq!(option, name),
            other => panic!("{other:?}"),
        };
        check(UploadOptions::new(""), "endpoint");
        check(UploadOptions::new("ftp://x"), "endpoint");
        check(UploadOptions::new("not a url"), "endpoint");
        let mut o = UploadOptions::new("/e");
        o.concurrency = 0;
        check(o.clone(), "concurrency");
        o.concurrency = 1000;
        check(o, "concurrency");
        let mut o = UploadOptions::new("/e");
        o.retry = RetryPolicy::new(vec![0, 700_000]);
        check(o, "retryDelays");
        let mut o = UploadOptions::new("/e");
        o.expires_after_ms = 0.0;
        check(o, "expiresAfter");
    }

    #[test]
    fn an_endpoint_needs_a_host_and_no_credentials_query_or_spaces() {
        for bad in [
            "https://",
            "http://",
            "https:///s3",
            "https://:443/s3",
            "http://exa mple.com/s3",
            "/api\n/s3",
            "/api/\ts3",
            "https://user:pw@host/s3",
            "https://user@host",
            "//user:pw@host/s3",
            "//",
            "///s3",
            "/api/s3?v=1",
            "/api/s3#x",
            "https://host/s3?",
            // Only ASCII whitespace is trimmed at the ends; any other is
            // a typo to name, not to cut.
            "/api/s3\u{a0}",
            "\u{3000}/api/s3",
        ] {
            match UploadOptions::new(bad).validate().map_err(Error::into_kind) {
                Err(ErrorKind::InvalidOption { option, .. }) => {
                    assert_eq!(option, "endpoint", "{bad}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for good in [
            "/api/s3",
            " /api/s3/ ",
            "https://host",
            "http://127.0.0.1:8080/api/s3",
            "https://[::1]:8443/s3",
            "https://host/a@b",
            "//host/s3",
        ] {
            assert!(UploadOptions::new(good).validate().is_ok(), "{good}");
        }
    }

    #[test]
    fn metadata_names_are_those_the_server_keeps_and_not_twice() {
        let with = |names: &[&str]| {
            let mut o = UploadOptions::new("/e");
            o.metadata = names.iter().map(|n| (n.to_string(), "x".into())).collect();
            o.validate()
        };
        let long = "a".repeat(129);
        for bad in [
            &["Project Name"][..],
            &["ñ"],
            &[""],
            &["a:b"],
            &[long.as_str()],
            &["Project", "project"],
            &["a", "B-c", "b-C"],
        ] {
            match with(bad).map_err(Error::into_kind) {
                Err(ErrorKind::InvalidOption { option, reason }) => {
                    assert_eq!(option, "metadata", "{bad:?}");
                    assert!(reason.contains("name"), "{reason}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(with(&["project-name", "Owner_ID", "v1.2", &"a".repeat(128)]).is_ok());
    }

    #[test]
    fn headers_fetch_would_refuse_are_found() {
        for (name, value) in [
            ("x y", "v"),
            ("", "v"),
            ("x:y", "v"),
            ("naïve", "v"),
            ("a", "line\r\nbreak"),
            ("a", "nul\0"),
            ("a", "\u{20ac}uro"),
        ] {
            assert!(header_problem(name, value).is_some(), "{name:?}: {value:?}");
        }
        for (name, value) in [
            ("authorization", "Bearer t"),
            ("x-a_b.c~!", ""),
            ("a", "caf\u{e9} \t"),
        ] {
            assert_eq!(header_problem(name, value), None, "{name:?}: {value:?}");
        }
    }

    #[test]
    fn the_part_size_follows_the_link_unless_given_or_a_stream() {
        use crate::core::part_size::FAST;
        let file = |source_id: Option<&str>| FileIdentity {
            name: "a.bin".into(),
            size: 1 << 30,
            last_modified: 0.0,
            source_id: source_id.map(Into::into),
            relative_path: None,
            content_sample: None,
        };
        let unset = UploadOptions::new("/api/s3");
        assert_eq!(unset.for_link(&file(None), Some(FAST)).part_size, 32 << 20);
        assert_eq!(
            unset.for_link(&file(None), None).part_size,
            DEFAULT_PART_SIZE
        );
        assert_eq!(
            unset.for_link(&file(Some("s")), Some(FAST)).part_size,
            DEFAULT_PART_SIZE,
            "a stream keeps the default"
        );
        let mut given = UploadOptions::new("/api/s3");
        let set = by_name::WHOLE
            .iter()
            .find(|(n, _)| *n == "partSize")
            .unwrap()
            .1;
        set(&mut given, 8 << 20);
        assert_eq!(
            given.for_link(&file(None), Some(FAST)).part_size,
            8 << 20,
            "partSize given wins"
        );
    }
}
