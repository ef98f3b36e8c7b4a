//! skiff integration tests (see tests/README.md for the tiers): one binary, a module per area.

mod backup;
mod cli;
mod common;
mod exit_codes;
mod images;
mod migrate;
mod preflight;
mod restore;
mod schedule;
mod sync;
mod terminal;
mod velero;
mod verify;
