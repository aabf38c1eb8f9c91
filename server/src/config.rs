//! Configuration read at start: where the S3 store is and which origins
//! may call it from a browser.

use std::fmt;
use std::net::SocketAddr;

use url::Url;

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

/// The most origins kept in the bucket CORS rule when this server adds its
/// own to those already there.
pub const MAX_MERGED_ORIGINS: usize = 20;

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
