//! Restore: a Velero backup (or items from any other producer) into a cluster.
//!
//! [`run`] and [`dry_run`] are the whole restore in one call each; the stages they chain are
//! public for callers that produce items or run plans another way:
//!
//! - `load` — [`load_items`]: a backup's items into the compressed item store (`json`:
//!   [`RawJson`], [`JsonDict`]);
//! - `facts` — [`target_facts`]: what the planner needs to know of the target beyond
//!   discovery ([`TargetFacts`]);
//! - `plan` — [`plan`] / [`plan_owned`]: pure and deterministic. Items, the target's API surface
//!   and the [`RestoreOptions`] in; a [`RestorePlan`] out: ordered [`Wave`]s of
//!   [`PlannedItem`]s, each with the final JSON to send, the human-readable actions that produced
//!   it, and **every dependency edge** ([`PlannedItem::after`], [`Wave::after_waves`]); the items
//!   skipped with their reason, the namespaces to create, per-item errors;
//! - `execute` — [`execute`]: runs a plan, exactly along its edges ([`ExecOptions`],
//!   [`ExecObserver`]);
//! - `results` — [`RestoreReport`] (outcomes, [`RestorePhase`]) and
//!   [`write_restore_documents`] (Velero's documents under `restores/<name>/`).
//!
//! Architecture invariant: planning does no IO and the executor decides nothing the plan does
//! not say. Facts about the target that discovery does not give (existing ServiceAccounts and
//! StorageClasses) come in as [`TargetFacts`]; a modifiers file comes in as text
//! ([`ResourceModifiers::parse`]).
//!
//! Per item, the pipeline follows Velero (`velero-format.md` §5.4): selection → version fit →
//! metadata reset (status saved) → built-in restore item actions → PV/PVC fix-ups → resource
//! modifiers (original namespace still set) → namespace mapping → restore labels.

// Kubernetes kind names (ServiceAccounts, StorageClasses, …) appear as prose in these docs.
#![allow(clippy::doc_markdown)]

mod actions;
mod compare;
mod error;
mod execute;
mod facts;
mod item;
mod json;
mod load;
mod model;
mod modifiers;
mod options;
mod order;
mod plan;
mod remap;
mod results;
pub(crate) mod run;
mod select;
#[cfg(test)]
mod tests;
mod versions;

pub use actions::shorten_label_value;
pub use compare::{comparable, is_subset};
pub use error::{PlanError, RestoreError, Result};
pub use execute::{ExecObserver, ExecOptions, FIELD_MANAGER, execute, predict_existing};
pub use facts::{TargetFacts, target_facts};
pub use item::{BackupItem, ItemKey};
pub use json::{JsonDict, RawJson};
pub use load::load_items;
pub use model::{
    ItemError, NamespacePlan, PlannedItem, RestorePlan, SkipReason, SkippedItem, TargetRef, Wait, Wave,
};
pub use modifiers::{ModifierRule, PatchKind, ResourceModifiers};
pub use options::{ExistingResourcePolicy, RestoreOptions, RestoreStatusFilter};
pub use order::{DEFAULT_HIGH_PRIORITIES, DEFAULT_LOW_PRIORITIES, ResourcePriorities};
pub use plan::{plan, plan_owned};
pub use remap::map_image;
pub use results::{
    CreatedNamespace, ItemOutcome, Outcome, RestorePhase, RestoreReport, write_restore_documents,
};
pub use run::{DryRun, RestoreRun, dry_run, run};
