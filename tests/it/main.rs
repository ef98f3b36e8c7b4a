//! skiff integration tests (see tests/README.md for the tiers): one binary, a module per area.

mod backup;
mod cli;
mod restore;
mod velero;
