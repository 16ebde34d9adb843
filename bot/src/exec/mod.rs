//! Executors.
