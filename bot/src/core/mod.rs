//! The core: command language, names, the deploy state machine and policy. Invariant: nothing
//! in here does I/O or reads the clock; the time is always an argument.

pub mod command;
pub mod emoji;
pub mod format;
pub mod help;
pub mod layout;
pub mod lifecycle;
pub mod names;
pub mod parse;
pub mod plan;
pub mod policy;
pub mod queue;
pub mod render;
pub mod suggest;
