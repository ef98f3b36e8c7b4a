//! Progress rendering: a bar on a TTY, periodic plain lines otherwise, NDJSON on request.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use skiff_engine::Progress;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines every few seconds.
    Plain,
    /// One JSON object per line.
    Json,
    /// Nothing.
    None,
}

struct State {
    stage: String,
    items: u64,
    bytes: u64,
    started: Instant,
    last_line: Instant,
}

/// The CLI's [`Progress`] implementation (writes to stderr only).
pub struct CliProgress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    state: Mutex<State>,
}

impl CliProgress {
    /// Build for a mode; `Auto` picks a bar when stderr is a terminal.
    pub fn new(mode: ProgressMode) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Auto,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        let bar = (mode == ProgressMode::Auto).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix:.bold} {human_pos} items {msg} [{elapsed_precise}] {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let now = Instant::now();
        Self {
            mode,
            bar,
            state: Mutex::new(State {
                stage: String::new(),
                items: 0,
                bytes: 0,
                started: now,
                last_line: now,
            }),
        }
    }

    /// Suspend the bar while `f` writes (so logs never tear it).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    /// Remove the bar.
    pub fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn line(&self, st: &State, event: &str) {
        let elapsed = st.started.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            st.items as f64 / elapsed
        } else {
            0.0
        };
        let mut err = std::io::stderr().lock();
        match self.mode {
            ProgressMode::Plain => {
                let _ = writeln!(
                    err,
                    "[{elapsed:>6.1}s] {}: {} items, {:.1} MB, {rate:.0} items/s{}",
                    st.stage,
                    st.items,
                    st.bytes as f64 / 1e6,
                    if event == "advance" {
                        String::new()
                    } else {
                        format!(" ({event})")
                    }
                );
            }
            ProgressMode::Json => {
                let v = serde_json::json!({
                    "event": event, "stage": st.stage, "items": st.items, "bytes": st.bytes,
                    "elapsedSeconds": (elapsed * 10.0).round() / 10.0, "itemsPerSecond": rate.round(),
                });
                let _ = writeln!(err, "{v}");
            }
            _ => {}
        }
    }
}

impl Progress for CliProgress {
    fn stage(&self, name: &str, total: Option<u64>) {
        let mut st = self.state.lock().expect("progress lock");
        st.stage = name.to_string();
        st.items = 0;
        st.bytes = 0;
        st.started = Instant::now();
        if let Some(b) = &self.bar {
            b.set_prefix(name.to_string());
            b.set_position(0);
            b.reset_elapsed();
            if let Some(t) = total {
                b.set_length(t);
            }
        } else if self.mode == ProgressMode::Json {
            self.line(&st, "stage");
        }
    }

    fn advance(&self, items: u64, bytes: u64) {
        let mut st = self.state.lock().expect("progress lock");
        st.items += items;
        st.bytes += bytes;
        if let Some(b) = &self.bar {
            b.inc(items);
            b.set_message(format!("{:.1} MB", st.bytes as f64 / 1e6));
        } else if st.last_line.elapsed() >= Duration::from_secs(5) {
            st.last_line = Instant::now();
            self.line(&st, "advance");
        }
    }

    fn note(&self, message: &str) {
        self.suspend(|| {
            if self.mode != ProgressMode::None {
                let _ = writeln!(std::io::stderr(), "note: {message}");
            }
        });
    }

    fn finish_stage(&self) {
        let st = self.state.lock().expect("progress lock");
        // Plain lines only for stages long enough to be worth a line; JSON gets every event.
        if self.mode == ProgressMode::Json
            || (self.mode == ProgressMode::Plain && st.started.elapsed() >= Duration::from_secs(1))
        {
            self.line(&st, "done");
        }
    }
}
