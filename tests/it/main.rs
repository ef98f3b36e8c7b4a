//! skiff integration tests (see tests/README.md for the tiers).
