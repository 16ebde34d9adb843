//! Deploy log in SQLite.
