//! Everything skiff writes to stdout goes through here: data (JSON / YAML), tables and text.
//! Numbers are formatted for people in one place too (sizes, rates).

use crate::args::Output;
use crate::exit::CliError;
use serde::Serialize;
use std::io::Write;

/// Print a serializable value as JSON (pretty) or YAML; `Table` prints JSON.
pub fn data<T: Serialize + ?Sized>(value: &T, output: Output) -> Result<(), CliError> {
    let text = if output == Output::Yaml {
        serde_yaml_ng::to_string(value).map_err(|e| CliError::usage(format!("render YAML: {e}")))?
    } else {
        let mut s =
            serde_json::to_string_pretty(value).map_err(|e| CliError::usage(format!("render JSON: {e}")))?;
        s.push('\n');
        s
    };
    text_out(&text)
}

/// Print text as is.
pub fn text_out(text: &str) -> Result<(), CliError> {
    bytes_out(text.as_bytes())
}

/// Print bytes as is (generated scripts and pages).
pub fn bytes_out(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(())
}

/// Print rows under a header with aligned columns (two spaces apart, no trailing blanks).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> Result<(), CliError> {
    text_out(&render_table(header, rows))
}

/// [`table`] as a string.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut row = |cells: &mut dyn Iterator<Item = &str>| {
        let line: Vec<String> = cells
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    row(&mut header.iter().copied());
    for r in rows {
        row(&mut r.iter().map(String::as_str));
    }
    out
}

/// `1.2 MB`, `530 B` (decimal units, one decimal).
pub fn human_bytes(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.1} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} kB", f / 1e3)
    } else {
        format!("{n} B")
    }
}

/// A rate rounded for people: `16,125/s`, `12.5/s`, `0.4/s`.
pub fn human_rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        format!("{}/s", thousands(per_second.round() as u64))
    } else {
        format!("{per_second:.1}/s")
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Rows shown in a findings table before "… and N more" (`-o json` lists every one).
pub const TABLE_ROWS_SHOWN: usize = 200;

/// [`render_table`] of at most [`TABLE_ROWS_SHOWN`] rows, then a line counting the rest and a
/// blank line; empty when there are no rows.
pub fn render_capped_table(header: &[&str], mut rows: Vec<Vec<String>>) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return out;
    }
    let more = rows.len().saturating_sub(TABLE_ROWS_SHOWN);
    rows.truncate(TABLE_ROWS_SHOWN);
    out.push_str(&render_table(header, &rows));
    if more > 0 {
        out.push_str("… and ");
        out.push_str(&more.to_string());
        out.push_str(" more (-o json lists every one)\n");
    }
    out.push('\n');
    out
}

/// A value cut to one short line (60 characters, then `…`).
pub fn short(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(human_bytes(530), "530 B");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_rate(16_124.708_9), "16,125/s");
        assert_eq!(human_rate(12.46), "12.5/s");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(
            render_table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]),
            "A    LONGER\nxyz  1\n"
        );
    }
}
