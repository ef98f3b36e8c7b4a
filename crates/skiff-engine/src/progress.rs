//! Progress reporting: the engine calls a [`Progress`]; the CLI renders it (bar, lines, NDJSON).

/// Receives progress from a running operation. Every method has a no-op default.
pub trait Progress: Send + Sync {
    /// A new stage starts (`listing`, `uploading`, `wave 3/7`…), with a total when known.
    fn stage(&self, _name: &str, _total: Option<u64>) {}
    /// `items` more items and `bytes` more bytes are done in the current stage.
    fn advance(&self, _items: u64, _bytes: u64) {}
    /// A notable event (a warning, a retry storm). Never carries Secret data.
    fn note(&self, _message: &str) {}
    /// The current stage ended.
    fn finish_stage(&self) {}
}

/// Discards progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
