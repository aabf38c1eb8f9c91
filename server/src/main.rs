//! `resupload-dev-server`: serves the demo page and the wasm package, and
//! answers Uppy Companion's S3 multipart routes against an S3 store
//! (Garage in development).

mod access;
mod app;
mod auth;
mod checksum;
mod config;
mod creates;
mod db;
mod debug;
mod demo_auth;
mod error;
mod janitor;
mod json_body;
mod keys;
mod lookup;
mod meta;
mod named_upload;
mod params;
mod parts;
mod routes;
mod s3;
mod xml;

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::auth::Auth;
use crate::config::StoreConfig;
use crate::db::Db;
use crate::janitor::JanitorSettings;
use crate::routes::AppState;
use crate::s3::Store;

/// How long the presigned URLs given to clients (parts and small-file
/// PUTs) stay valid (Companion's default for parts too).
const PART_URL_EXPIRES: Duration = Duration::from_secs(3600);

/// Development server for resupload.
///
/// The store is configured by the environment: S3_ENDPOINT, S3_BUCKET,
/// S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY (all required) and
/// S3_CORS_ORIGINS (optional, comma separated; defaults to this server's
/// origins). The uploads table is SQLite in --data-dir unless DATABASE_URL
/// names a database (postgres://...). Auth: AUTH_JWT_HS256_SECRET or
/// AUTH_JWT_RS256_PUBLIC_KEY_FILE (with optional AUTH_JWT_ISSUER and
/// AUTH_JWT_AUDIENCE) for bearer JWTs, or --demo-auth; neither means off.
#[derive(Debug, Parser)]
#[command(name = "resupload-dev-server", version, args_override_self = true)]
struct Cli {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory served at `/` (the demo page).
    #[arg(long, default_value = "www")]
    www: PathBuf,
    /// Directory served at `/pkg/` (the wasm-pack output).
    #[arg(long, default_value = "pkg")]
    pkg: PathBuf,
    /// Also serve /api/debug/* (object digests, upload listing, abort-all),
    /// for end-to-end tests. They skip every auth mode and reach the whole
    /// bucket: refused unless `--listen` is a loopback address.
    #[arg(long)]
    debug_routes: bool,
    /// Directory for the SQLite database and the demo's cookie secret
    /// (created if missing).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Demo identities: an anonymous one per browser in a signed cookie,
    /// and POST /api/demo/sign-in {"user": NAME} (anyone may claim any name).
    #[arg(long)]
    demo_auth: bool,
    /// Seconds after which an unfinished upload expires: the janitor aborts
    /// it and lookups stop offering it (default 7 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 7 * 24 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    upload_expiry: u64,
    /// Seconds a completed or aborted upload's row is kept (default 7
    /// days). A complete sent again (its first answer lost) is answered 200
    /// only while the row is kept: keep it at least as long as clients keep
    /// their records (`expiresAfter`, 7 days by default), or a client that
    /// comes back later uploads the file again.
    #[arg(long, value_name = "SECONDS", default_value_t = 7 * 24 * 3600)]
    keep_finished: u64,
    /// Seconds between two janitor sweeps (default 1 hour; one runs at start).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    janitor_every: u64,
}

impl Cli {
    fn janitor(&self) -> JanitorSettings {
        JanitorSettings {
            expiry: Duration::from_secs(self.upload_expiry),
            keep_finished: Duration::from_secs(self.keep_finished),
            every: Duration::from_secs(self.janitor_every),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("resupload-dev-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("resupload-dev-server: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    check_debug_listen(cli.debug_routes, cli.listen)?;
    let store_config = StoreConfig::from_env().map_err(|e| e.to_string())?;
    for (name, dir) in [("--www", &cli.www), ("--pkg", &cli.pkg)] {
        if !dir.is_dir() {
            eprintln!("warning: {name} {} is not a directory (yet)", dir.display());
        }
    }
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listen address: {e}"))?;

    let store = Store::new(&store_config)?;
    eprintln!(
        "store: {} bucket {:?} region {:?}",
        store_config.endpoint, store_config.bucket, store_config.region
    );
    std::fs::create_dir_all(&cli.data_dir)
        .map_err(|e| format!("--data-dir {}: {e}", cli.data_dir.display()))?;
    let auth = Auth::from_settings(
        |name| std::env::var(name).ok(),
        cli.demo_auth,
        &cli.data_dir,
    )?;
    eprintln!("auth: {}", auth.describe());
    let db = open_database(&cli.data_dir).await?;
    apply_cors(&store, local).await;

    let state = Arc::new(AppState {
        store,
        part_url_expires: PART_URL_EXPIRES,
        db,
        cache: Default::default(),
        auth,
        janitor: cli.janitor(),
        creates: Default::default(),
    });
    janitor::spawn(Arc::clone(&state));
    let app = app::build(Arc::clone(&state), &cli.www, &cli.pkg, cli.debug_routes);
    if cli.debug_routes {
        eprintln!("debug routes on: /api/debug/object, /api/debug/uploads, /api/debug/abort-all");
    }
    println!("resupload dev server: http://{local}/");
    let _ = std::io::stdout().flush();

    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"));
    state.db.close().await;
    served
}

/// Refuses `--debug-routes` on an address other machines can reach: the
/// routes answer anyone (no auth mode applies to them), read any object of
/// the bucket and abort every upload in it.
fn check_debug_listen(debug_routes: bool, listen: SocketAddr) -> Result<(), String> {
    if debug_routes && !listen.ip().is_loopback() {
        return Err(format!(
            "--debug-routes skip auth and reach the whole bucket, so they are served only on \
             a loopback address; --listen {listen} is not one (use 127.0.0.1 or [::1])"
        ));
    }
    Ok(())
}

/// Opens the uploads table: `DATABASE_URL` if set, else SQLite in
/// `data_dir`.
async fn open_database(data_dir: &std::path::Path) -> Result<Db, String> {
    let (url, shown) = match std::env::var(db::DATABASE_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => {
            let shown = url::Url::parse(url.trim()).map_or_else(
                |_| "(unparsable URL)".to_owned(),
                |u| {
                    format!(
                        "{}:{}{}",
                        u.host_str().unwrap_or("?"),
                        u.port().unwrap_or(0),
                        u.path()
                    )
                },
            );
            (
                url.trim().to_owned(),
                format!("{} {shown}", db::DATABASE_URL_VAR),
            )
        }
        _ => {
            let file = std::path::absolute(data_dir.join(db::SQLITE_FILE))
                .map_err(|e| format!("--data-dir {}: {e}", data_dir.display()))?;
            (Db::sqlite_url(&file), file.display().to_string())
        }
    };
    let db = Db::connect(&url)
        .await
        .map_err(|e| format!("{e} ({shown})"))?;
    eprintln!("database: {} {shown}", db.backend());
    Ok(db)
}

/// Sets this server's own bucket CORS rule (the one with the ID
/// [`config::OWN_CORS_RULE_ID`]) so pages of `S3_CORS_ORIGINS` (exactly
/// those) or else of this server (added to the origins its rule allowed
/// already) may PUT parts and read their ETag. Every other rule of the
/// bucket is kept as it is. If the rules cannot be read, nothing is
/// written (that would drop the others). A refusal is only a warning: a
/// real bucket may be managed elsewhere.
async fn apply_cors(store: &Store, local: SocketAddr) {
    let explicit =
        config::explicit_cors_origins(std::env::var(config::CORS_ORIGINS_VAR).ok().as_deref());
    let existing = match store.get_bucket_cors().await {
        Ok(existing) => existing,
        Err(e) => {
            eprintln!(
                "warning: could not read the bucket CORS rules ({e}); left as they are, \
                 so browsers on this server's origins may be refused by the store"
            );
            return;
        }
    };
    let rules = config::with_own_cors_rule(existing, &config::own_origins(local), explicit);
    let origins = rules[0].allowed_origins.join(", ");
    match store.put_bucket_cors(&rules).await {
        Ok(()) => eprintln!(
            "bucket CORS rule {:?} allows {origins} ({} other rule(s) kept)",
            config::OWN_CORS_RULE_ID,
            rules.len() - 1
        ),
        Err(e) => eprintln!(
            "warning: could not set the bucket CORS rule ({e}); browsers on {origins} may be refused by the store"
        ),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{check_debug_listen, Cli};

    #[test]
    fn a_finished_rows_default_lasts_as_long_as_a_clients_record() {
        // The library keeps a record 7 days (`expiresAfter`); a complete
        // it sends again within them must find the row.
        let cli = Cli::try_parse_from(["resupload-dev-server"]).unwrap();
        assert!(cli.keep_finished >= 7 * 24 * 3600, "{}", cli.keep_finished);
        assert!(cli.keep_finished >= cli.upload_expiry);
    }

    #[test]
    fn debug_routes_are_served_only_on_loopback() {
        for listen in ["127.0.0.1:0", "[::1]:8080", "127.0.0.2:80"] {
            assert_eq!(
                check_debug_listen(true, listen.parse().unwrap()),
                Ok(()),
                "{listen}"
            );
        }
        for listen in ["0.0.0.0:8080", "[::]:0", "192.168.1.2:80"] {
            let refused = check_debug_listen(true, listen.parse().unwrap()).unwrap_err();
            assert!(refused.contains("loopback"), "{refused}");
            assert_eq!(check_debug_listen(false, listen.parse().unwrap()), Ok(()));
        }
    }
}
