//! `sqlx::migrate!` embeds `migrations/` at compile time; without this line a new migration
//! would not rebuild the crate and the binary would silently ship the old schema.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
