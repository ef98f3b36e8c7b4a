//! Why a restore cannot be planned or run.

/// Why a plan cannot be made at all. Messages read after "failed to …".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A namespace mapping names an invalid namespace.
    #[error("validate namespace mapping {from}:{to}: {reason}")]
    InvalidNamespaceMapping {
        /// Original namespace.
        from: String,
        /// Target namespace.
        to: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// A storage class mapping names an invalid class.
    #[error("validate storage class mapping {from}:{to}: {reason}")]
    InvalidStorageClassMapping {
        /// Old class.
        from: String,
        /// New class.
        to: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// An image registry mapping is empty on one side.
    #[error("validate image registry mapping {from:?}:{to:?}: both sides must be non-empty")]
    InvalidImageMapping {
        /// Old registry.
        from: String,
        /// New registry.
        to: String,
    },
    /// A filter value is invalid.
    #[error("validate {field}: {reason}")]
    InvalidFilter {
        /// The option (`exclude-namespaces`, …).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The scope (filters) cannot be used.
    #[error("validate filters")]
    Scope(#[from] crate::scope::ScopeError),
    /// Resource priorities malformed.
    #[error("parse resource priorities {text:?}: {reason}")]
    InvalidPriorities {
        /// The flag value.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// The resource modifiers document is invalid.
    #[error("parse resource modifiers: {}{reason}", modifier_location(*rule, field))]
    InvalidModifiers {
        /// Index of the rule (from 0), when the problem is inside one.
        rule: Option<usize>,
        /// Field path inside the rule (`conditions.groupResource`).
        field: String,
        /// What is wrong.
        reason: String,
    },
}

fn modifier_location(rule: Option<usize>, field: &str) -> String {
    match (rule, field.is_empty()) {
        (Some(r), true) => format!("rule {r}: "),
        (Some(r), false) => format!("rule {r}, {field}: "),
        (None, false) => format!("{field}: "),
        (None, true) => String::new(),
    }
}

/// Result alias of the planner.
pub type Result<T, E = PlanError> = std::result::Result<T, E>;

/// Why a restore (or its dry run) stopped before running any item. Per-item failures are not
/// errors: they are outcomes in the report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// The plan cannot be made: options invalid for this backup and target.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Reading the backup, or talking to the cluster or the store, failed; or the run was
    /// interrupted before any item started ([`crate::Error::Interrupted`]).
    #[error(transparent)]
    Engine(#[from] crate::Error),
}
