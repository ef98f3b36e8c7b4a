//! An item rendered for people — YAML or indented JSON — from its own text, never through a
//! `serde_json::Value`: numbers come out exactly as stored (an integer beyond 64 bits stays that
//! integer instead of turning into a float), and characters that could act on a terminal
//! (C0/C1 controls, DEL, line separators, bidirectional and zero-width format characters) are
//! written as escapes inside quoted strings.
//!
//! YAML follows `kubectl get -o yaml`: block style, keys sorted (of a key given twice, the last
//! one, as Go and `serde_json` read it), sequences in a mapping not indented, multi-line strings
//! as `|` literals. A string is written plain only when no YAML 1.1 or 1.2 reader can take it
//! for anything but that string; otherwise double-quoted.

use crate::error::{Error, Result};
use std::borrow::Cow;
use std::fmt::Write as _;

/// A JSON value borrowing its text: numbers as written, strings unescaped only when needed.
#[derive(Debug, Clone, PartialEq)]
enum Node<'a> {
    Null,
    Bool(bool),
    Number(&'a str),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

fn invalid(document: &str, msg: &str) -> Error {
    Error::Format(skiff_format::Error::Json {
        document: document.to_owned(),
        source: <serde_json::Error as serde::de::Error>::custom(msg),
    })
}

/// Parse `data`, which the format crate's scanner checks first (grammar, UTF-8, depth at most
/// [`skiff_format::json::MAX_DEPTH`], which bounds how deep this parser recurses).
fn parse<'a>(data: &'a [u8], document: &str) -> Result<Node<'a>> {
    skiff_format::json::scan(data, document)?;
    let mut p = Parser { b: data, i: 0 };
    let node = p
        .value()
        .ok_or_else(|| invalid(document, "unexpected JSON text"))?;
    Ok(node)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Option<Node<'a>> {
        self.ws();
        match *self.b.get(self.i)? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Node::Str),
            b't' => self.literal("true", Node::Bool(true)),
            b'f' => self.literal("false", Node::Bool(false)),
            b'n' => self.literal("null", Node::Null),
            _ => {
                let start = self.i;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.b.get(self.i) {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
                std::str::from_utf8(&self.b[start..self.i]).ok().map(Node::Number)
            }
        }
    }

    fn literal(&mut self, word: &str, node: Node<'a>) -> Option<Node<'a>> {
        self.b[self.i..].starts_with(word.as_bytes()).then(|| {
            self.i += word.len();
            node
        })
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i;
        self.i += 1;
        let mut escaped = false;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                _ => self.i += 1,
            }
        }
        self.i += 1;
        let token = &self.b[start..self.i];
        if escaped {
            serde_json::from_slice::<String>(token).ok().map(Cow::Owned)
        } else {
            std::str::from_utf8(&token[1..token.len() - 1])
                .ok()
                .map(Cow::Borrowed)
        }
    }

    fn array(&mut self) -> Option<Node<'a>> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(Node::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match *self.b.get(self.i)? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Node::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self) -> Option<Node<'a>> {
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(Node::Object(members));
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            members.push((key, self.value()?));
            self.ws();
            match *self.b.get(self.i)? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(Node::Object(members));
                }
                _ => return None,
            }
        }
    }
}

/// Whether `c` must be escaped inside a quoted string shown on a terminal.
fn must_escape(c: char) -> bool {
    c.is_control() || super::is_invisible_format(c)
}

/// `s` as a JSON string literal, with every terminal-active character escaped.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if must_escape(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Indented JSON (two spaces, `serde_json`'s pretty layout) of the item's own text: key order,
/// numbers and repeated keys as stored, terminal-active characters escaped (the format crate's
/// [`skiff_format::json::render_pretty`]). Ends with a newline.
pub fn to_json_pretty(data: &[u8], document: &str) -> Result<String> {
    let mut out = skiff_format::json::render_pretty(data, document)?;
    out.push(b'\n');
    String::from_utf8(out).map_err(|_| invalid(document, "rendered JSON is not UTF-8"))
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// YAML of the item's own text (see the module documentation). Ends with a newline.
pub fn to_yaml(data: &[u8], document: &str) -> Result<String> {
    let node = parse(data, document)?;
    let mut out = String::with_capacity(data.len() * 3 / 2);
    match &node {
        Node::Object(m) if !m.is_empty() => yaml_mapping(&mut out, m, 0, false),
        Node::Array(a) if !a.is_empty() => yaml_sequence(&mut out, a, 0, false),
        scalar => {
            yaml_scalar(&mut out, scalar, 0);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Members sorted by key; of a key given twice, the last.
fn sorted_members<'n, 'a>(members: &'n [(Cow<'a, str>, Node<'a>)]) -> Vec<&'n (Cow<'a, str>, Node<'a>)> {
    let mut v: Vec<(usize, &(Cow<'a, str>, Node<'a>))> = members.iter().enumerate().collect();
    // Stable sort by key, then keep the last of equal keys (the highest original position).
    v.sort_by(|a, b| a.1.0.cmp(&b.1.0).then(a.0.cmp(&b.0)));
    let mut out: Vec<&(Cow<'a, str>, Node<'a>)> = Vec::with_capacity(v.len());
    for (_, m) in v {
        if out.last().is_some_and(|l| l.0 == m.0) {
            out.pop();
        }
        out.push(m);
    }
    out
}

/// A block mapping at `col`; with `inline`, the first line's indentation is already written
/// (after a sequence dash).
fn yaml_mapping(out: &mut String, members: &[(Cow<'_, str>, Node<'_>)], col: usize, inline: bool) {
    for (i, (k, v)) in sorted_members(members).into_iter().enumerate() {
        if i > 0 || !inline {
            indent(out, col);
        }
        yaml_key(out, k);
        out.push(':');
        match v {
            Node::Object(m) if !m.is_empty() => {
                out.push('\n');
                yaml_mapping(out, m, col + 2, false);
            }
            Node::Array(a) if !a.is_empty() => {
                out.push('\n');
                yaml_sequence(out, a, col, false);
            }
            scalar => {
                out.push(' ');
                yaml_scalar(out, scalar, col + 2);
                out.push('\n');
            }
        }
    }
}

/// A block sequence at `col` (see [`yaml_mapping`] for `inline`).
fn yaml_sequence(out: &mut String, items: &[Node<'_>], col: usize, inline: bool) {
    for (i, v) in items.iter().enumerate() {
        if i > 0 || !inline {
            indent(out, col);
        }
        out.push_str("- ");
        match v {
            Node::Object(m) if !m.is_empty() => yaml_mapping(out, m, col + 2, true),
            Node::Array(a) if !a.is_empty() => yaml_sequence(out, a, col + 2, true),
            scalar => {
                yaml_scalar(out, scalar, col + 2);
                out.push('\n');
            }
        }
    }
}

fn yaml_key(out: &mut String, k: &str) {
    if plain_ok(k) {
        out.push_str(k);
    } else {
        json_string(out, k);
    }
}

/// A scalar (or an empty collection); `col` is the indentation of a literal block's lines.
fn yaml_scalar(out: &mut String, node: &Node<'_>, col: usize) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Number(n) => out.push_str(n),
        Node::Array(_) => out.push_str("[]"),
        Node::Object(_) => out.push_str("{}"),
        Node::Str(s) if plain_ok(s) => out.push_str(s),
        Node::Str(s) if literal_ok(s) => {
            let body = s.strip_suffix('\n');
            out.push_str(if body.is_some() { "|" } else { "|-" });
            for line in body.unwrap_or(s).split('\n') {
                out.push('\n');
                if !line.is_empty() {
                    indent(out, col);
                    out.push_str(line);
                }
            }
        }
        Node::Str(s) => json_string(out, s),
    }
}

/// Whether a string can be written as a plain YAML scalar and read back as that same string by
/// YAML 1.1 and 1.2 readers: it starts with a letter, `/` or `_`, holds only letters, digits
/// and ` _./:=,@+-`, has no `: ` and does not end in a space or `:`, and is not one of the words
/// YAML reads as a boolean or null.
fn plain_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == b'/' || first == b'_')
        && last != b' '
        && last != b':'
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b" _./:=,@+-".contains(c))
        && !s.contains(": ")
        && !matches!(
            s,
            "y" | "Y"
                | "yes"
                | "Yes"
                | "YES"
                | "n"
                | "N"
                | "no"
                | "No"
                | "NO"
                | "true"
                | "True"
                | "TRUE"
                | "false"
                | "False"
                | "FALSE"
                | "on"
                | "On"
                | "ON"
                | "off"
                | "Off"
                | "OFF"
                | "null"
                | "Null"
                | "NULL"
        )
}

/// Whether a multi-line string can be a `|` / `|-` literal block: it has a line break, no
/// character that must be escaped besides line feeds and tabs, does not start with a space or a
/// line break (which would need an indentation indicator) and ends in at most one line feed.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && !s.chars().any(|c| c != '\n' && c != '\t' && must_escape(c))
        && !s.split('\n').any(|l| l.ends_with([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_order_as_stored() {
        let raw = br#"{"b":123456789012345678901234567890,"a":[1.0,-2e3,{}],"c":"x"}"#;
        assert_eq!(
            to_json_pretty(raw, "t").unwrap(),
            "{\n  \"b\": 123456789012345678901234567890,\n  \"a\": [\n    1.0,\n    -2e3,\n    {}\n  ],\n  \"c\": \"x\"\n}\n"
        );
        assert_eq!(
            to_yaml(raw, "t").unwrap(),
            "a:\n- 1.0\n- -2e3\n- {}\nb: 123456789012345678901234567890\nc: x\n"
        );
    }

    #[test]
    fn yaml_quotes_what_a_reader_would_take_for_something_else() {
        let raw = br##"{"s":["yes","1.5","2024-01-01T00:00:00Z","","a: b","x ","-x","~","ok.value/x","with space",".inf","#c"]}"##;
        let y = to_yaml(raw, "t").unwrap();
        assert_eq!(
            y,
            "s:\n- \"yes\"\n- \"1.5\"\n- \"2024-01-01T00:00:00Z\"\n- \"\"\n- \"a: b\"\n- \"x \"\n- \"-x\"\n- \"~\"\n- ok.value/x\n- with space\n- \".inf\"\n- \"#c\"\n"
        );
        // What serde_yaml_ng reads back is what the JSON said.
        let back: serde_json::Value = serde_yaml_ng::from_str(&y).unwrap();
        let want: serde_json::Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(back, want);
    }

    #[test]
    fn yaml_nesting_literals_and_escapes() {
        let raw = br#"{"metadata":{"name":"a","labels":{"k":"v"}},"data":{"script":"line1\nline2\n","one":"a\nb","esc":"\u001b[2J\u0085\u202e"},"list":[{"a":1,"b":[true,null]},[1,2],[]]}"#;
        let y = to_yaml(raw, "t").unwrap();
        assert_eq!(
            y,
            "data:\n  esc: \"\\u001b[2J\\u0085\\u202e\"\n  one: |-\n    a\n    b\n  script: |\n    line1\n    line2\nlist:\n- a: 1\n  b:\n  - true\n  - null\n- - 1\n  - 2\n- []\nmetadata:\n  labels:\n    k: v\n  name: a\n"
        );
        assert!(!y.contains('\u{1b}'));
        let back: serde_json::Value = serde_yaml_ng::from_str(&y).unwrap();
        let want: serde_json::Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(back, want);
    }

    #[test]
    fn repeated_keys_keep_the_last_in_yaml() {
        assert_eq!(to_yaml(br#"{"a":1,"b":2,"a":3}"#, "t").unwrap(), "a: 3\nb: 2\n");
    }

    #[test]
    fn invalid_json_names_the_document() {
        let e = to_yaml(b"{\"a\":", "resources/x.json").unwrap_err();
        assert!(crate::offline::chain(&e).contains("resources/x.json"), "{e}");
    }
}
