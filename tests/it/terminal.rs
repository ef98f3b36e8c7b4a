//! What a terminal shows: `skiff` run under a pseudo-terminal (util-linux `script`; a pipe shows
//! no bar at all), its output fed through a small terminal model (`\r`, `\n`, cursor moves,
//! line and screen erases, autowrap; colours dropped) to get the final screen.
//!
//! Checked: progress frames carry a unit (and, where the total is known, `n/total`, a percent
//! that matches and an ETA); rates are rounded; no dependency's log line reaches the screen (the
//! bed test routes the restore through a fault proxy that answers some creates with 500 and
//! connects with `insecure-skip-tls-verify`, which makes kube log on every TLS connection); the
//! insecure connection is one warning of skiff's own; and the final screen holds no stale bar
//! line — for offline commands it is exactly what stdout holds without a terminal.

use crate::common::skiff_bin;
use anyhow::{Context, Result, anyhow, ensure};
use serde_json::json;
use skiff_format::{ArchiveWriter, ItemRef};
use skiff_testkit::bed::TestBed;
use skiff_testkit::proxy::{FaultProxy, Faults};
use std::path::Path;
use std::process::{Command, Stdio};

const COLS: usize = 120;

/// A run under a pseudo-terminal: exit code and every byte the terminal received.
struct Tty {
    code: i32,
    raw: String,
}

/// `'…'` for `sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Environment every run gets: a colour terminal, no inherited skiff settings.
fn clean_env(cmd: &mut Command) -> &mut Command {
    for var in [
        "SKIFF_LOG",
        "RUST_LOG",
        "SKIFF_LOCATION",
        "SKIFF_S3_ENDPOINT",
        "NO_COLOR",
        "KUBECONFIG",
        "COLUMNS",
        "LINES",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("TERM", "xterm-256color")
}

/// Run `skiff args…` with stdout and stderr on a pseudo-terminal of `COLS` columns.
fn run_tty(args: &[&str]) -> Result<Tty> {
    let mut line = format!(
        "stty cols {COLS} rows 40 && exec {}",
        sh_quote(skiff_bin()?.to_str().context("utf-8 path")?)
    );
    for a in args {
        line.push(' ');
        line.push_str(&sh_quote(a));
    }
    let out = clean_env(&mut Command::new("script"))
        .env("SHELL", "/bin/sh")
        .args(["-q", "-f", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .context(
            "run util-linux `script` (Debian package bsdutils; scripts/provision-testbed.sh installs it)",
        )?;
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    // SKIFF_TRANSCRIPTS=<dir> keeps every transcript (raw bytes, `less -R` or `cat` shows them).
    if let Some(dir) = std::env::var_os("SKIFF_TRANSCRIPTS") {
        let name: String = args
            .iter()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .collect::<Vec<_>>()
            .join("_")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        std::fs::create_dir_all(&dir)?;
        std::fs::write(Path::new(&dir).join(format!("{name}.tty")), &out.stdout)?;
    }
    ensure!(
        !raw.contains("panicked"),
        "skiff {args:?} panicked:\n{}",
        Screen::render(&raw).join("\n")
    );
    Ok(Tty {
        code: out.status.code().unwrap_or(-1),
        raw,
    })
}

/// The same command without a terminal and without progress: its stdout.
fn run_piped(args: &[&str]) -> Result<String> {
    let out = clean_env(&mut Command::new(skiff_bin()?))
        .args(args)
        .arg("--no-progress")
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "skiff {args:?}: exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A terminal model: enough of a VT100 to replay what indicatif and the pty send.
struct Screen {
    lines: Vec<Vec<char>>,
    row: usize,
    col: usize,
}

impl Screen {
    /// The final screen (scrollback included) of `raw`, right-trimmed, trailing blank lines
    /// dropped.
    fn render(raw: &str) -> Vec<String> {
        let mut s = Screen {
            lines: vec![Vec::new()],
            row: 0,
            col: 0,
        };
        s.feed(raw);
        let mut out: Vec<String> = s
            .lines
            .iter()
            .map(|l| l.iter().collect::<String>().trim_end().to_string())
            .collect();
        while out.last().is_some_and(String::is_empty) {
            out.pop();
        }
        out
    }

    fn line(&mut self) -> &mut Vec<char> {
        while self.lines.len() <= self.row {
            self.lines.push(Vec::new());
        }
        &mut self.lines[self.row]
    }

    fn put(&mut self, c: char) {
        if self.col >= COLS {
            self.row += 1;
            self.col = 0;
        }
        let col = self.col;
        let line = self.line();
        if line.len() <= col {
            line.resize(col + 1, ' ');
        }
        line[col] = c;
        self.col += 1;
    }

    fn feed(&mut self, raw: &str) {
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => self.col = 0,
                '\n' => self.row += 1,
                '\x08' => self.col = self.col.saturating_sub(1),
                '\t' => self.col = (self.col / 8 + 1) * 8,
                '\x1b' => match chars.next() {
                    Some('[') => {
                        let mut params = String::new();
                        let mut fin = None;
                        for p in chars.by_ref() {
                            if ('\x40'..='\x7e').contains(&p) {
                                fin = Some(p);
                                break;
                            }
                            params.push(p);
                        }
                        self.csi(&params, fin.unwrap_or('m'));
                    }
                    Some(']') => {
                        // OSC: up to BEL or ESC \.
                        while let Some(p) = chars.next() {
                            if p == '\x07' || (p == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                                break;
                            }
                        }
                    }
                    _ => {}
                },
                c if c.is_control() => {}
                c => self.put(c),
            }
        }
    }

    fn csi(&mut self, params: &str, fin: char) {
        let n = |default: usize| {
            params
                .trim_start_matches('?')
                .split(';')
                .next()
                .and_then(|p| p.parse::<usize>().ok())
                .unwrap_or(default)
        };
        match fin {
            'A' => self.row = self.row.saturating_sub(n(1)),
            'B' => self.row += n(1),
            'C' => self.col += n(1),
            'D' => self.col = self.col.saturating_sub(n(1)),
            'G' => self.col = n(1).saturating_sub(1),
            'K' => {
                let col = self.col;
                let line = self.line();
                match n(0) {
                    0 => line.truncate(col),
                    1 => line.iter_mut().take(col + 1).for_each(|c| *c = ' '),
                    _ => line.clear(),
                }
            }
            'J' => {
                if n(0) == 0 {
                    let col = self.col;
                    self.line().truncate(col);
                    self.lines.truncate(self.row + 1);
                } else {
                    self.lines = vec![Vec::new()];
                    self.row = 0;
                    self.col = 0;
                }
            }
            // Colours, modes (cursor hide/show), anything else: no effect on the text.
            _ => {}
        }
    }
}

/// Every frame and line the terminal was sent, colours stripped: the text between `\r`/`\n`.
fn frames(raw: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.next() == Some('[') {
                for p in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&p) {
                        break;
                    }
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split(['\r', '\n'])
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect()
}

/// Every rate (`…/s`) in the frames is rounded: an integer with thousands separators from 100
/// up, one decimal below.
fn check_rates(frames: &[String]) -> Result<usize> {
    let mut seen = 0;
    for f in frames {
        for (i, _) in f.match_indices("/s") {
            let number: String = f[..i]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ',')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if number.is_empty() {
                continue;
            }
            seen += 1;
            let ok = if let Some((int, dec)) = number.split_once('.') {
                dec.len() == 1 && int.parse::<u64>().is_ok_and(|v| v < 100)
            } else {
                let groups: Vec<&str> = number.split(',').collect();
                groups[0].len() <= 3
                    && !groups[0].is_empty()
                    && groups[1..].iter().all(|g| g.len() == 3)
                    && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
            };
            ensure!(ok, "rate {number:?}/s not rounded in frame {f:?}");
        }
    }
    Ok(seen)
}

/// `n/total unit (p%)` frames of a bar with a known total: (n, total, p).
fn counted_frames(frames: &[String], unit: &str) -> Vec<(u64, u64, u64)> {
    let num = |s: &str| s.replace(',', "").parse::<u64>().ok();
    frames
        .iter()
        .filter_map(|f| {
            let at = f.find(&format!(" {unit} ("))?;
            let count = f[..at].rsplit(' ').next()?;
            let (n, total) = count.split_once('/')?;
            let pct = f[at + unit.len() + 3..].split('%').next()?;
            Some((num(n)?, num(total)?, num(pct)?))
        })
        .collect()
}

/// No dependency's log line and no error line anywhere in what the terminal was sent.
fn check_no_dependency_logs(raw: &str) -> Result<()> {
    for needle in [
        "Server cert bypassed",
        "failed with status",
        "ERROR",
        "kube_client",
        "hyper",
    ] {
        ensure!(
            !raw.contains(needle),
            "{needle:?} reached the terminal:\n{}",
            Screen::render(raw).join("\n")
        );
    }
    Ok(())
}

/// A bare backup tarball of `n` `ConfigMaps`, written by skiff's own archive writer.
fn write_tarball(path: &Path, n: usize) -> Result<()> {
    let mut w = ArchiveWriter::new(std::fs::File::create(path)?);
    for i in 0..n {
        let name = format!("cm-{i:05}");
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "tty"},
            "data": {"payload": "x".repeat(200)},
        });
        let item = ItemRef::namespaced("configmaps", "tty", name);
        w.add_item(&item, "v1", &serde_json::to_vec(&obj)?)?;
    }
    w.finish()?;
    Ok(())
}

#[test]
fn offline_commands_on_a_terminal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let tarball = dir.path().join("tty.tar.gz");
    write_tarball(&tarball, 20_000)?;
    let tarball = tarball.to_str().context("utf-8")?;

    for (args, stage) in [
        (vec!["inspect", tarball], Some("reading archive")),
        (vec!["validate", tarball], Some("validating")),
        // The engine names no stage for a listing (so no bar); the screen must still be clean.
        (
            vec!["inspect", tarball, "--list", "--include-name", "cm-0000*"],
            None,
        ),
    ] {
        let tty = run_tty(&args)?;
        let screen = Screen::render(&tty.raw);
        ensure!(
            tty.code == 0,
            "{args:?}: exit {}\n{}",
            tty.code,
            screen.join("\n")
        );
        let frames = frames(&tty.raw);
        if let Some(stage) = stage {
            ensure!(
                frames.iter().any(|f| f.contains(stage) && f.contains(" entries")),
                "{args:?}: no progress frame of {stage:?} with its unit: {frames:#?}"
            );
            ensure!(check_rates(&frames)? > 0, "{args:?}: no rate shown: {frames:#?}");
        }
        check_no_dependency_logs(&tty.raw)?;
        // The final screen is exactly the command's data: no stale bar line, no stray line.
        let piped = run_piped(&args)?;
        let want: Vec<&str> = piped.lines().map(str::trim_end).collect();
        ensure!(
            screen == want,
            "{args:?}: final screen differs from stdout\nscreen:\n{}\nstdout:\n{}",
            screen.join("\n"),
            piped
        );
    }
    Ok(())
}

/// A bed, retried: kube-controller-manager sometimes exits during start-up on a loaded machine.
async fn bed() -> Result<TestBed> {
    let mut last = None;
    for _ in 0..3 {
        match TestBed::start().await {
            Ok(b) => return Ok(b),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(|| anyhow!("no bed"), anyhow::Error::from))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_on_a_terminal() -> Result<()> {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::{Api, PostParams};

    const N: u64 = 300;
    let bed = bed().await?;
    let client = bed.client().await?;
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "tty"}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "tty");
    for i in 0..N {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("cm-{i:04}"), "labels": {"app": "tty"}},
            "data": {"k": "v".repeat(100)},
        }))?;
        cms.create(&PostParams::default(), &cm).await?;
    }

    // Through the fault proxy, with TLS verification off as the user's kubeconfig had it: kube
    // logs "Server cert bypassed" on every new TLS connection.
    let proxy = FaultProxy::for_bed(&bed).await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        serde_json::to_vec(&json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "tty-cluster", "cluster": {"server": proxy.url(), "insecure-skip-tls-verify": true}}],
            "users": [{"name": "admin", "user": {"token": bed.admin_token()}}],
            "contexts": [{"name": "admin", "context": {"cluster": "tty-cluster", "user": "admin"}}],
            "current-context": "admin",
        }))?,
    )?;
    let kc = kubeconfig.to_str().context("utf-8")?;
    let location = dir.path().join("backups");
    let loc = location.to_str().context("utf-8")?;
    let warning = "TLS certificate of cluster \"tty-cluster\"";
    let one_warning = |what: &str, tty: &Tty| -> Result<()> {
        let screen = Screen::render(&tty.raw);
        let n = screen.iter().filter(|l| l.contains(warning)).count();
        ensure!(
            n == 1,
            "{what}: {n} TLS warnings on screen:\n{}",
            screen.join("\n")
        );
        ensure!(
            tty.raw.matches("is not verified").count() == 1,
            "{what}: the TLS warning was written more than once"
        );
        Ok(())
    };

    // Backup: no total known up front, so a count with its unit and a rate.
    let tty = run_tty(&[
        "backup",
        "tty-b",
        "--location",
        loc,
        "-n",
        "tty",
        "--kubeconfig",
        kc,
    ])?;
    let screen = Screen::render(&tty.raw);
    ensure!(tty.code == 0, "backup: exit {}\n{}", tty.code, screen.join("\n"));
    let f = frames(&tty.raw);
    ensure!(
        f.iter().any(|f| f.contains("backing up") && f.contains(" items")),
        "backup: no progress frame with its unit: {f:#?}"
    );
    check_rates(&f)?;
    check_no_dependency_logs(&tty.raw)?;
    one_warning("backup", &tty)?;
    ensure!(
        screen.iter().any(|l| l.starts_with("Backup \"tty-b\" Completed")),
        "backup: {}",
        screen.join("\n")
    );
    ensure!(
        !screen.iter().any(|l| l.contains("backing up") || l.contains('·')),
        "backup: stale progress on the final screen:\n{}",
        screen.join("\n")
    );

    // With -v the dependency's per-connection line does show: the default filter is what hides it.
    let restore_args = |extra: &[&'static str]| {
        let mut a = vec![
            "restore",
            "tty-r",
            "--from-backup",
            "tty-b",
            "--location",
            loc,
            "--namespace-mappings",
            "tty:tty-copy",
            "--kubeconfig",
            kc,
        ];
        a.extend_from_slice(extra);
        a
    };
    let tty = run_tty(&restore_args(&["--dry-run", "-v"]))?;
    ensure!(tty.code == 0, "dry run -v: exit {}", tty.code);
    ensure!(
        tty.raw.contains("Server cert bypassed"),
        "dry run -v: kube's TLS line missing, so this test cannot tell the filter works:\n{}",
        Screen::render(&tty.raw).join("\n")
    );

    // Dry run at the default level: one warning, then the plan.
    let tty = run_tty(&restore_args(&["--dry-run"]))?;
    let screen = Screen::render(&tty.raw);
    ensure!(tty.code == 0, "dry run: exit {}\n{}", tty.code, screen.join("\n"));
    check_no_dependency_logs(&tty.raw)?;
    one_warning("dry run", &tty)?;
    ensure!(
        screen.iter().any(|l| l.contains("Dry run: nothing was changed.")),
        "dry run: {}",
        screen.join("\n")
    );

    // The restore, with every 4th ConfigMap create answered 500 by the proxy (skiff retries).
    proxy.set_faults(
        Faults::none()
            .error_every(4, 500)
            .only_paths("/api/v1/namespaces/tty-copy/configmaps"),
    );
    let tty = run_tty(&restore_args(&[]))?;
    let screen = Screen::render(&tty.raw);
    ensure!(tty.code == 0, "restore: exit {}\n{}", tty.code, screen.join("\n"));
    ensure!(
        proxy.stats().errors > 0,
        "no 500 was injected: {:?}",
        proxy.stats()
    );
    check_no_dependency_logs(&tty.raw)?;
    one_warning("restore", &tty)?;
    let f = frames(&tty.raw);
    check_rates(&f)?;
    let counted = counted_frames(&f, "objects");
    ensure!(
        !counted.is_empty(),
        "restore: no frame with n/total objects (p%): {f:#?}"
    );
    for &(n, total, pct) in &counted {
        ensure!(total >= N, "restore: total {total} < {N} ConfigMaps: {f:#?}");
        ensure!(
            (n * 100 / total).abs_diff(pct) <= 1,
            "restore: {n}/{total} shown as {pct}%"
        );
    }
    ensure!(
        f.iter().any(|f| f.contains(" objects (") && f.contains("ETA")),
        "restore: no ETA: {f:#?}"
    );
    ensure!(
        screen
            .iter()
            .any(|l| l.starts_with("Restore \"tty-r\" of backup \"tty-b\": Completed")),
        "restore: {}",
        screen.join("\n")
    );
    ensure!(
        !screen.iter().any(|l| l.contains(" objects (") || l.contains('·')),
        "restore: stale progress on the final screen:\n{}",
        screen.join("\n")
    );
    Ok(())
}

#[test]
fn screen_model_replays_bar_redraws() {
    // A bar drawn, redrawn, suspended for a log line, redrawn, then cleared.
    let raw = "\x1b[32m⠁\x1b[0m objects 1/3\r\x1b[2K⠂ objects 2/3\r\x1b[2K WARN x\r\n⠂ objects 2/3\r\x1b[2Kdone\r\n";
    assert_eq!(Screen::render(raw), vec![" WARN x", "done"]);
    // Autowrap and cursor-up erase (a two-line bar cleared).
    let long = "y".repeat(COLS + 5);
    let raw = format!("{long}\r\x1b[1A\x1b[2K\x1b[0Jend");
    assert_eq!(Screen::render(&raw), vec!["end"]);
    assert_eq!(
        counted_frames(&frames("a 1,500/3,000 objects (50%) · 12/s"), "objects"),
        vec![(1500, 3000, 50)]
    );
    assert!(check_rates(&["x 16,124.7089/s".to_string()]).is_err());
    assert!(check_rates(&["x 12.5/s · 16,125/s".to_string()]).is_ok());
}
