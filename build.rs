//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the migration folders at compile time.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
