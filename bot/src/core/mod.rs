//! The core: command language, names, the validated model (apps, envs, rules, windows,
//! strategies), the deploy state machine and policy.
//!
//! Invariant: nothing in here does I/O or reads the clock; the time is always an argument; and
//! nothing here imports the rest of the crate (`config` loads files into [`model`] and
//! [`recipe`] values, never the other way round).

pub mod changelog;
pub mod ci;
pub mod command;
pub mod emoji;
pub mod format;
pub mod freeze;
pub mod help;
pub mod layout;
pub mod lifecycle;
pub mod model;
pub mod names;
pub mod parse;
pub mod people;
pub mod plan;
pub mod policy;
pub mod queue;
pub mod recipe;
pub mod render;
pub mod repo;
pub mod suggest;
