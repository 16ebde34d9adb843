//! Closest-match suggestions.
