//! Shared helpers for skiff's benchmark programs.
