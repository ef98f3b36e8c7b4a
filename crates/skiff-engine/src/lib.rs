//! skiff's engine: the backup pipeline, the restore planner and executor, and offline
//! inspect / validate.
//!
//! Invariants: planning is pure and deterministic (input: archive index + target API surface +
//! options; output: a plan value that prints and diffs). Execution runs only a plan. One item's
//! failure never aborts a run unless the policy says so.

pub mod backup;
pub mod error;
pub mod glob;
pub mod labels;
pub mod offline;
pub mod progress;
pub mod restore;
pub mod restore_run;
pub mod velero;

pub use error::{Error, Result};
pub use progress::{NoProgress, Progress};
pub use tokio_util::sync::CancellationToken;
