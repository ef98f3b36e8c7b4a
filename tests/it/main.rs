//! skiff integration tests (see tests/README.md for the tiers): one binary, a module per area.

mod backup;
mod backups_copy;
mod cli;
mod common;
mod exit_codes;
mod images;
mod migrate;
mod packaging;
mod preflight;
mod restore;
mod schedule;
mod secrets;
mod sync;
mod terminal;
mod velero;
mod verify;
