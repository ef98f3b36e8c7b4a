//! skiff's engine: the backup pipeline, the restore planner and executor, and offline
//! inspect / validate.
//!
//! Invariants: planning is pure and deterministic (input: archive index + target API surface +
//! options; output: a plan value that prints and diffs). Execution runs only a plan. One item's
//! failure never aborts a run unless the policy says so.

pub mod backup;
pub mod compare;
pub mod deprecations;
pub mod diff;
pub mod error;
pub mod glob;
pub mod hold;
pub mod images;
pub mod labels;
pub mod mappings;
pub mod migrate;
pub mod offline;
pub mod preflight;
pub mod progress;
pub mod restore;
pub mod scope;
pub mod side;
pub mod sync;
pub mod velero;
pub mod verify;

pub use error::{Error, Result};
pub use mappings::Mappings;
pub use progress::{NoProgress, Progress};
pub use scope::Scope;
pub use tokio_util::sync::CancellationToken;
