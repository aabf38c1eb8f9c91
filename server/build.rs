//! Rebuilds when a migration changes: `sqlx::migrate!` embeds
//! `migrations/` at build time, and cargo does not watch that folder alone.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
