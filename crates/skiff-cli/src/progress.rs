//! Progress rendering: a bar on a TTY, periodic plain lines otherwise, NDJSON on request.
//!
//! Each stage gets a fresh bar, fully set up before its first frame (so no frame mixes two
//! stages), and the previous one is cleared. Everything else that writes to stderr while a bar
//! may be on screen (log lines through [`LogWriter`], notes, the interrupt message) goes through
//! [`suspend`], which takes the bar off the screen, writes, and redraws it: no line ever tears
//! the bar or leaves a stale copy behind.

use crate::output::{human_bytes, human_rate, thousands};
use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use skiff_engine::Progress;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, PoisonError};
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

/// The bar on screen, if any. The terminal is one per process, and so is this: the log writer,
/// notes and the Ctrl-C handler reach it from wherever they run.
static SCREEN: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn on_screen() -> Option<ProgressBar> {
    SCREEN.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn set_on_screen(bar: Option<ProgressBar>) {
    *SCREEN.lock().unwrap_or_else(PoisonError::into_inner) = bar;
}

/// Run `f`, which writes to stderr, with the progress bar (if any) off the screen; the bar is
/// redrawn below what `f` wrote.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    match on_screen() {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Take the bar off the screen for good (before the process exits without unwinding).
pub fn clear_screen() {
    if let Some(bar) = on_screen() {
        bar.finish_and_clear();
    }
    set_on_screen(None);
}

/// What a stage counts, by the engine's stage name: the unit shown after the count.
fn unit_of(stage: &str) -> &'static str {
    match stage {
        // Tar entries (items, their other-version copies, metadata/version, …).
        "reading backup" | "reading archive" | "validating" => "entries",
        "namespaces" => "namespaces",
        s if s == "objects" || s.ends_with(" objects") => "objects",
        _ => "items",
    }
}

struct State {
    /// The current stage's bar (`Auto` mode on a terminal, between `stage` and `clear`).
    bar: Option<ProgressBar>,
    stage: String,
    unit: &'static str,
    total: Option<u64>,
    items: u64,
    bytes: u64,
    started: Instant,
    last_line: Instant,
}

impl State {
    /// The count, with total and percent when the total is known: `4,000/8,000 objects (50%)`.
    fn count(&self) -> String {
        match self.total {
            Some(t) if t > 0 => format!(
                "{}/{} {} ({}%)",
                thousands(self.items),
                thousands(t),
                self.unit,
                (self.items.min(t) * 100) / t
            ),
            _ => format!("{} {}", thousands(self.items), self.unit),
        }
    }

    fn rate(&self) -> f64 {
        let elapsed = self.started.elapsed().as_secs_f64();
        if elapsed > 0.0 {
            self.items as f64 / elapsed
        } else {
            0.0
        }
    }
}

/// The CLI's [`Progress`] implementation (writes to stderr only).
pub struct CliProgress {
    mode: ProgressMode,
    color: bool,
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
        let now = Instant::now();
        Self {
            mode,
            color: std::env::var_os("NO_COLOR").is_none(),
            state: Mutex::new(State {
                bar: None,
                stage: String::new(),
                unit: "items",
                total: None,
                items: 0,
                bytes: 0,
                started: now,
                last_line: now,
            }),
        }
    }

    /// Remove the bar.
    pub fn clear(&self) {
        let mut st = self.state.lock().expect("progress lock");
        if let Some(b) = st.bar.take() {
            b.finish_and_clear();
            set_on_screen(None);
        }
    }

    /// The bar's look for a stage: a bar, count/total, percent and ETA when the total is known;
    /// a spinner, count and rate otherwise.
    fn style(&self, unit: &'static str, total_known: bool) -> ProgressStyle {
        ProgressStyle::with_template(&template(self.color, total_known))
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .progress_chars("=> ")
            .with_key("unit", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(unit);
            })
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human_rate(s.per_sec()));
            })
            // Before the first item there is no rate to estimate from: `-`, not `0s`.
            .with_key("eta_or_dash", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                if s.pos() == 0 {
                    let _ = w.write_str("-");
                } else {
                    let _ = write!(w, "{:#}", HumanDuration(s.eta()));
                }
            })
    }

    fn line(&self, st: &State, event: &str) {
        let elapsed = st.started.elapsed().as_secs_f64();
        let rate = st.rate();
        let mut err = std::io::stderr().lock();
        match self.mode {
            ProgressMode::Plain => {
                let mut text = format!("[{elapsed:>6.1}s] {}: {}", st.stage, st.count());
                if st.bytes > 0 {
                    let _ = write!(text, ", {}", human_bytes(st.bytes));
                }
                let _ = write!(text, ", {}", human_rate(rate));
                if event != "advance" {
                    let _ = write!(text, " ({event})");
                }
                let _ = writeln!(err, "{text}");
            }
            ProgressMode::Json => {
                let v = serde_json::json!({
                    "event": event, "stage": st.stage, "unit": st.unit, "items": st.items,
                    "total": st.total, "bytes": st.bytes,
                    "elapsedSeconds": (elapsed * 10.0).round() / 10.0, "itemsPerSecond": rate.round(),
                });
                let _ = writeln!(err, "{v}");
            }
            _ => {}
        }
    }
}

/// The indicatif template of a bar (`{unit}`, `{rate}` and `{eta_or_dash}` are keys of
/// [`CliProgress::style`]).
fn template(color: bool, total_known: bool) -> String {
    let (spin, prefix, fill) = if color {
        ("{spinner:.green}", "{prefix:.bold}", "[{bar:30.cyan/blue}]")
    } else {
        ("{spinner}", "{prefix}", "[{bar:30}]")
    };
    if total_known {
        format!(
            "{spin} {prefix} {fill} {{human_pos}}/{{human_len}} {{unit}} ({{percent}}%){{msg}} · {{rate}} · ETA {{eta_or_dash}}"
        )
    } else {
        format!("{spin} {prefix} {{human_pos}} {{unit}}{{msg}} · {{rate}} · {{elapsed}}")
    }
}

impl Progress for CliProgress {
    fn stage(&self, name: &str, total: Option<u64>) {
        let mut st = self.state.lock().expect("progress lock");
        st.stage = name.to_string();
        st.unit = unit_of(name);
        st.total = total;
        st.items = 0;
        st.bytes = 0;
        st.started = Instant::now();
        st.last_line = st.started;
        if self.mode == ProgressMode::Auto {
            // Built complete before anything is drawn (the builder methods do not draw).
            let b = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
                .with_style(self.style(st.unit, total.is_some()))
                .with_prefix(name.to_string());
            if let Some(old) = st.bar.replace(b.clone()) {
                old.finish_and_clear();
            }
            set_on_screen(Some(b.clone()));
            // Draw now, so even a short stage shows, then keep the spinner and rate moving.
            b.tick();
            b.enable_steady_tick(Duration::from_millis(200));
        } else if self.mode == ProgressMode::Json {
            self.line(&st, "stage");
        }
    }

    fn advance(&self, items: u64, bytes: u64) {
        let mut st = self.state.lock().expect("progress lock");
        st.items += items;
        st.bytes += bytes;
        if let Some(b) = &st.bar {
            b.inc(items);
            if bytes > 0 {
                b.set_message(format!(", {}", human_bytes(st.bytes)));
            }
        } else if self.mode != ProgressMode::Auto && st.last_line.elapsed() >= Duration::from_secs(5) {
            st.last_line = Instant::now();
            self.line(&st, "advance");
        }
    }

    fn note(&self, message: &str) {
        match self.mode {
            ProgressMode::None => {}
            ProgressMode::Json => {
                let v = serde_json::json!({"event": "note", "message": message});
                let _ = writeln!(std::io::stderr(), "{v}");
            }
            _ => suspend(|| {
                let _ = writeln!(std::io::stderr(), "note: {message}");
            }),
        }
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

/// The tracing subscriber's writer: each event is written to stderr in one piece, with the
/// progress bar off the screen meanwhile.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log event on its way to stderr (written when dropped).
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        suspend(|| {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&self.0);
            let _ = err.flush();
        });
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::with_capacity(256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(unit: &'static str, total: Option<u64>, items: u64) -> State {
        let now = Instant::now();
        State {
            bar: None,
            stage: "objects".into(),
            unit,
            total,
            items,
            bytes: 0,
            started: now,
            last_line: now,
        }
    }

    #[test]
    fn counts_show_total_and_percent_only_when_known() {
        assert_eq!(
            state("objects", Some(8_000), 4_000).count(),
            "4,000/8,000 objects (50%)"
        );
        assert_eq!(state("items", None, 12_345).count(), "12,345 items");
        // Retried items may be counted past the total: never more than 100%.
        assert_eq!(state("objects", Some(3), 4).count(), "4/3 objects (100%)");
        assert_eq!(state("namespaces", Some(0), 0).count(), "0 namespaces");
    }

    #[test]
    fn units_follow_the_stage() {
        assert_eq!(unit_of("objects"), "objects");
        assert_eq!(unit_of("checking existing objects"), "objects");
        assert_eq!(unit_of("reading archive"), "entries");
        assert_eq!(unit_of("backing up"), "items");
    }

    #[test]
    fn templates_parse() {
        for color in [true, false] {
            for known in [true, false] {
                let t = template(color, known);
                assert!(ProgressStyle::with_template(&t).is_ok(), "{t}");
                assert_eq!(t.contains("{percent}"), known, "{t}");
            }
        }
    }
}
