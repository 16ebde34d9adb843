//! Parser: see the helper task.
