//! Configuration read at start: where the S3 store is and which origins
//! may call it from a browser.

use std::fmt;
use std::net::SocketAddr;

use url::Url;

use crate::xml::CorsRule;

/// The environment variables that configure the store, all required.
pub const STORE_VARS: [&str; 5] = [
    "S3_ENDPOINT",
    "S3_BUCKET",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
];

/// The optional environment variable listing the origins allowed by the
/// bucket CORS rule, comma separated.
pub const CORS_ORIGINS_VAR: &str = "S3_CORS_ORIGINS";

/// Where the S3 store is and how to sign requests for it.
#[derive(Clone)]
pub struct StoreConfig {
    /// Base URL of the S3 API, like `http://127.0.0.1:3900` (path-style
    /// addressing is used: `<endpoint>/<bucket>/<key>`).
    pub endpoint: Url,
    /// Name of the bucket the uploads go to.
    pub bucket: String,
    /// Region used in signatures (`garage` for Garage).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("endpoint", &self.endpoint.as_str())
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

/// Why the store configuration could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// These variables are unset or empty.
    Missing(Vec<&'static str>),
    /// `S3_ENDPOINT` is not an `http://` or `https://` URL.
    BadEndpoint(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(names) => write!(
                f,
                "missing environment variable(s): {} (all of {} are required; \
                 `scripts/garage.sh start <dir> ...` writes them to <dir>/s3.env)",
                names.join(", "),
                STORE_VARS.join(", ")
            ),
            Self::BadEndpoint(why) => write!(f, "S3_ENDPOINT: {why}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl StoreConfig {
    /// Reads the store configuration from the process environment.
    ///
    /// # Errors
    /// Names every missing variable at once, or says why the endpoint is bad.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the store configuration through `lookup` (the environment, or a
    /// map in tests).
    ///
    /// # Errors
    /// See [`StoreConfig::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut values = Vec::with_capacity(STORE_VARS.len());
        let mut missing = Vec::new();
        for name in STORE_VARS {
            match lookup(name).map(|v| v.trim().to_owned()) {
                Some(v) if !v.is_empty() => values.push(v),
                _ => {
                    missing.push(name);
                    values.push(String::new());
                }
            }
        }
        if !missing.is_empty() {
            return Err(ConfigError::Missing(missing));
        }
        let [endpoint, bucket, region, access_key_id, secret_access_key]: [String; 5] =
            values.try_into().expect("one value per variable");
        let endpoint = parse_endpoint(&endpoint)?;
        Ok(Self {
            endpoint,
            bucket,
            region,
            access_key_id,
            secret_access_key,
        })
    }
}

fn parse_endpoint(raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw).map_err(|e| ConfigError::BadEndpoint(format!("{raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::BadEndpoint(format!(
            "{raw:?} is not an http:// or https:// URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::BadEndpoint(format!(
            "{raw:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

/// The most origins kept in this server's own CORS rule when it adds its
/// own origins to those the rule had.
pub const MAX_MERGED_ORIGINS: usize = 20;

/// The `<ID>` of the bucket CORS rule this server manages; every other rule
/// of the bucket is left as it is.
pub const OWN_CORS_RULE_ID: &str = "resupload-dev-server";

/// This server's own CORS rule, allowing `origins`: pages there may PUT
/// parts (with any header) and read their ETag, checksum and Retry-After.
pub fn own_cors_rule(origins: Vec<String>) -> CorsRule {
    CorsRule {
        id: Some(OWN_CORS_RULE_ID.to_owned()),
        allowed_origins: origins,
        allowed_methods: ["GET", "PUT", "POST", "HEAD", "DELETE"]
            .map(String::from)
            .to_vec(),
        // `*` covers `x-amz-checksum-sha256` too: Garage matches it against
        // a preflight's Access-Control-Request-Headers, and browsers honour
        // `Access-Control-Allow-Headers: *` for part PUTs (no credentials).
        // tests/e2e/checksum-server.test.mjs checks both.
        allowed_headers: vec!["*".to_owned()],
        expose_headers: ["ETag", "x-amz-checksum-sha256", "Retry-After"]
            .map(String::from)
            .to_vec(),
        max_age_seconds: Some(3000),
    }
}

/// The bucket's CORS rules once this server's own is set: its own rule
/// first (so that its origins get it), allowing `explicit` origins exactly
/// if given, else `ours` merged with the origins its own rule had
/// ([`merge_origins`]); then every other rule of `existing`, as it was and
/// in its order. Only a rule with the ID [`OWN_CORS_RULE_ID`] is this
/// server's.
pub fn with_own_cors_rule(
    existing: Vec<CorsRule>,
    ours: &[String],
    explicit: Option<Vec<String>>,
) -> Vec<CorsRule> {
    let (own, others): (Vec<CorsRule>, Vec<CorsRule>) = existing
        .into_iter()
        .partition(|rule| rule.id.as_deref() == Some(OWN_CORS_RULE_ID));
    let origins = explicit.unwrap_or_else(|| {
        let before: Vec<String> = own.into_iter().flat_map(|r| r.allowed_origins).collect();
        merge_origins(ours, &before)
    });
    let mut rules = vec![own_cors_rule(origins)];
    rules.extend(others);
    rules
}

/// The origins listed in `S3_CORS_ORIGINS` (comma separated), if any.
pub fn explicit_cors_origins(env_value: Option<&str>) -> Option<Vec<String>> {
    let origins: Vec<String> = env_value?
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    (!origins.is_empty()).then_some(origins)
}

/// `ours` followed by those of `existing` not among them, at most
/// [`MAX_MERGED_ORIGINS`] in all (so several dev servers on one bucket
/// keep working, and stale origins eventually drop out).
pub fn merge_origins(ours: &[String], existing: &[String]) -> Vec<String> {
    let mut merged = ours.to_vec();
    for origin in existing {
        if merged.len() >= MAX_MERGED_ORIGINS.max(ours.len()) {
            break;
        }
        if !merged.contains(origin) {
            merged.push(origin.clone());
        }
    }
    merged
}

/// This server's own origins when it listens on `listen`.
pub fn own_origins(listen: SocketAddr) -> Vec<String> {
    let port = listen.port();
    let mut origins = vec![
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    let ip = listen.ip();
    if !ip.is_unspecified() && !ip.is_loopback() {
        origins.push(format!("http://{listen}"));
    }
    origins
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn names_every_missing_variable() {
        let err = StoreConfig::from_lookup(lookup(&[("S3_BUCKET", "b"), ("S3_REGION", " ")]))
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::Missing(vec![
                "S3_ENDPOINT",
                "S3_REGION",
                "S3_ACCESS_KEY_ID",
                "S3_SECRET_ACCESS_KEY"
            ])
        );
        assert!(err.to_string().contains("S3_ENDPOINT, S3_REGION"));
    }

    #[test]
    fn reads_a_full_config() {
        let cfg = StoreConfig::from_lookup(lookup(&[
            ("S3_ENDPOINT", "http://127.0.0.1:3900"),
            ("S3_BUCKET", "resupload"),
            ("S3_REGION", "garage"),
            ("S3_ACCESS_KEY_ID", "GK00"),
            ("S3_SECRET_ACCESS_KEY", "secret"),
        ]))
        .unwrap();
        assert_eq!(cfg.endpoint.as_str(), "http://127.0.0.1:3900/");
        assert!(!format!("{cfg:?}").contains("secret\""));
    }

    #[test]
    fn rejects_a_non_http_endpoint() {
        let err = StoreConfig::from_lookup(lookup(&[
            ("S3_ENDPOINT", "ftp://x"),
            ("S3_BUCKET", "b"),
            ("S3_REGION", "r"),
            ("S3_ACCESS_KEY_ID", "k"),
            ("S3_SECRET_ACCESS_KEY", "s"),
        ]))
        .unwrap_err();
        assert!(matches!(err, ConfigError::BadEndpoint(_)));
    }

    #[test]
    fn own_origins_follow_the_listen_address() {
        let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            own_origins(listen),
            ["http://127.0.0.1:8080", "http://localhost:8080"]
        );
        let lan: SocketAddr = "192.0.2.7:9000".parse().unwrap();
        assert_eq!(own_origins(lan).len(), 3);
    }

    #[test]
    fn explicit_origins_come_from_the_variable() {
        assert_eq!(explicit_cors_origins(None), None);
        assert_eq!(explicit_cors_origins(Some(" , ")), None);
        assert_eq!(
            explicit_cors_origins(Some("https://a.example/, http://b:1")).unwrap(),
            ["https://a.example", "http://b:1"]
        );
    }

    fn other_rule(id: Option<&str>, origins: &[&str]) -> CorsRule {
        CorsRule {
            id: id.map(str::to_owned),
            allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allowed_methods: vec!["GET".into()],
            allowed_headers: vec![],
            expose_headers: vec!["Content-Range".into()],
            max_age_seconds: None,
        }
    }

    #[test]
    fn only_the_servers_own_cors_rule_changes() {
        let ours = vec!["http://127.0.0.1:8080".to_owned()];
        let many: Vec<String> = (0..30).map(|i| format!("https://{i}.example")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let others = vec![
            other_rule(Some("other-app"), &["https://other.example"]),
            other_rule(None, &many),
        ];
        let earlier = own_cors_rule(vec!["http://old:1".into(), "http://127.0.0.1:8080".into()]);
        let existing = vec![others[0].clone(), earlier, others[1].clone()];
        let merged = with_own_cors_rule(existing.clone(), &ours, None);
        assert_eq!(
            merged[0],
            own_cors_rule(vec!["http://127.0.0.1:8080".into(), "http://old:1".into()])
        );
        assert_eq!(
            merged[1..],
            others,
            "every other rule kept, in order, unmerged"
        );
        let explicit = with_own_cors_rule(existing, &ours, Some(vec!["https://app".into()]));
        assert_eq!(explicit[0], own_cors_rule(vec!["https://app".into()]));
        assert_eq!(explicit[1..], others);
        assert_eq!(
            with_own_cors_rule(Vec::new(), &ours, None),
            [own_cors_rule(ours.clone())]
        );
    }

    #[test]
    fn merged_origins_put_ours_first_and_are_bounded() {
        let ours = vec!["http://a:1".to_owned(), "http://b:1".to_owned()];
        let existing: Vec<String> = (0..50).map(|i| format!("http://x:{i}")).collect();
        let merged = merge_origins(&ours, &[vec!["http://b:1".to_owned()], existing].concat());
        assert_eq!(merged.len(), MAX_MERGED_ORIGINS);
        assert_eq!(&merged[..3], ["http://a:1", "http://b:1", "http://x:0"]);
        assert_eq!(merge_origins(&ours, &[]), ours);
    }
}
