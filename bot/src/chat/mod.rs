//! Chat boundary.
