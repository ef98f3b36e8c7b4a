//! Checking, bounding and rendering JSON without building a tree.
//!
//! An item of a hostile archive can be 64 MiB of `[{"":0},…]`: as a [`serde_json::Value`] that
//! is several gigabytes. So:
//!
//! * [`scan`] checks a document in one pass over its bytes, holding nothing: UTF-8, the JSON
//!   grammar exactly as `serde_json` accepts it (string escapes and surrogate pairs, numbers in
//!   range), nesting at most [`MAX_DEPTH`]. It also estimates what the document would cost as a
//!   `Value` tree ([`tree_cost`]).
//! * [`check_item`] is that scan for a Kubernetes item — a JSON object — returning its
//!   [`ItemHead`] (`apiVersion`, `kind`, `metadata.name`, `metadata.namespace`); those keys must
//!   be strings (or `null`) and appear once.
//! * [`parse_tree`] builds a `Value` only when the estimate is within a limit
//!   ([`DEFAULT_MAX_TREE_BYTES`] for items).
//! * [`render_pretty`] prints a document indented from its own text: numbers, strings and key
//!   order stay exactly as stored (an integer beyond 64 bits stays that integer; through a
//!   `Value` it would become a float), and characters that could act on a terminal are written
//!   as JSON escapes.
//!
//! Numbers: `Value` (without `serde_json`'s crate-wide `arbitrary_precision` feature, which
//! would change number handling everywhere) holds integers up to 64 bits and `f64`. skiff never
//! re-renders an item through a `Value` for display; [`Scan::wide_integers`] counts integers a
//! `Value` cannot hold, for callers that must build a tree anyway.

use serde_json::Value;

use crate::docs::{ItemHead, ItemHeadMeta};
use crate::error::shorten;
use crate::{Error, Result};

/// Deepest nesting accepted (`serde_json`'s own recursion limit is 128).
pub const MAX_DEPTH: usize = 100;

/// Default limit of [`parse_tree`] for items: 512 MiB of estimated tree. The worst ratio of
/// the estimate to the text is about 100 (`[{"":0},…]`), so any object etcd can store (its
/// request limit is 1.5 MiB) fits, and a 64 MiB bomb does not.
pub const DEFAULT_MAX_TREE_BYTES: u64 = 512 << 20;

/// What [`scan`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    /// Values (objects, arrays, strings, numbers, literals), keys not counted.
    pub values: u64,
    /// Deepest nesting (0 for a scalar document).
    pub depth: usize,
    /// Estimated heap size of the document as a [`Value`]; see [`tree_cost`].
    pub tree_cost: u64,
    /// Integer literals beyond the 64-bit range, which a [`Value`] turns into floats.
    pub wide_integers: u64,
}

/// Cost model of [`Scan::tree_cost`], an upper estimate of a [`Value`]'s heap use: an array
/// costs 64 bytes an element (32-byte values, capacity up to twice the length), a non-empty
/// object 640 bytes per six members (B-tree nodes of eleven 56-byte slots, at least half full)
/// plus its keys' lengths, a string its length plus 16, and the root 32.
pub fn tree_cost(scan: &Scan) -> u64 {
    scan.tree_cost
}

const ARRAY_SLOT: u64 = 64;
const OBJECT_NODE: u64 = 640;
const OBJECT_NODE_MEMBERS: u64 = 6;
const STRING_OVERHEAD: u64 = 16;
const ROOT: u64 = 32;

/// The first object levels whose string members are captured (an item's head).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    None,
    /// The top-level object of an item.
    Top,
    /// `metadata` of an item.
    Meta,
}

struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
    scan: Scan,
    head: ItemHead,
}

type Fail = (usize, &'static str);

fn hex4(b: &[u8]) -> Option<u16> {
    let mut v: u16 = 0;
    for &c in b.get(..4)? {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        v = (v << 4) | u16::from(d);
    }
    Some(v)
}

impl Scanner<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.get(self.pos) {
            self.pos += 1;
        }
    }

    fn fail<T>(&self, reason: &'static str) -> Result<T, Fail> {
        Err((self.pos, reason))
    }

    fn value(&mut self, depth: usize, capture: Capture) -> Result<(), Fail> {
        self.ws();
        self.scan.values += 1;
        match self.text.get(self.pos) {
            None => self.fail("unexpected end of input"),
            Some(b'{') => self.object(depth + 1, capture),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                let (start, end, _) = self.string()?;
                self.scan.tree_cost += (end - start) as u64 + STRING_OVERHEAD;
                Ok(())
            }
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.fail("expected a value"),
        }
    }

    fn literal(&mut self, lit: &[u8]) -> Result<(), Fail> {
        if self.text.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            self.fail("invalid literal")
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        self.scan.depth = self.scan.depth.max(depth);
        self.pos += 1;
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<(), Fail> {
        self.enter(depth)?;
        self.ws();
        if self.text.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.value(depth, Capture::None)?;
            self.scan.tree_cost += ARRAY_SLOT;
            self.ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.fail("expected ',' or ']'"),
            }
        }
    }

    fn object(&mut self, depth: usize, capture: Capture) -> Result<(), Fail> {
        self.enter(depth)?;
        self.ws();
        if self.text.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(());
        }
        let mut members = 0u64;
        let mut seen = [false; 3];
        loop {
            self.ws();
            if self.text.get(self.pos) != Some(&b'"') {
                return self.fail("expected a string key");
            }
            let (start, end, escaped) = self.string()?;
            self.scan.tree_cost += (end - start) as u64;
            self.ws();
            if self.text.get(self.pos) != Some(&b':') {
                return self.fail("expected ':'");
            }
            self.pos += 1;
            let slot = if capture == Capture::None {
                None
            } else {
                let key = self.decoded(start, end, escaped);
                let names: &[&str] = match capture {
                    Capture::Top => &["apiVersion", "kind", "metadata"],
                    _ => &["name", "namespace"],
                };
                names.iter().position(|n| *n == key)
            };
            match slot {
                None => self.value(depth, Capture::None)?,
                Some(i) => {
                    if std::mem::replace(&mut seen[i], true) {
                        return self.fail("duplicate key in the item's head");
                    }
                    if capture == Capture::Top && i == 2 {
                        self.ws();
                        match self.text.get(self.pos) {
                            Some(b'{') => self.value(depth, Capture::Meta)?,
                            Some(b'n') => self.value(depth, Capture::None)?,
                            _ => return self.fail("metadata is not an object"),
                        }
                    } else {
                        let s = self.head_string(depth)?;
                        let field = match (capture, i) {
                            (Capture::Top, 0) => &mut self.head.api_version,
                            (Capture::Top, _) => &mut self.head.kind,
                            (_, 0) => &mut self.head.metadata.name,
                            _ => &mut self.head.metadata.namespace,
                        };
                        *field = s;
                    }
                }
            }
            members += 1;
            self.ws();
            match self.text.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.scan.tree_cost += OBJECT_NODE * members.div_ceil(OBJECT_NODE_MEMBERS);
                    return Ok(());
                }
                _ => return self.fail("expected ',' or '}'"),
            }
        }
    }

    /// A head field's value: a string (decoded) or `null` (empty).
    fn head_string(&mut self, depth: usize) -> Result<String, Fail> {
        self.ws();
        match self.text.get(self.pos) {
            Some(b'"') => {
                self.scan.values += 1;
                let (start, end, escaped) = self.string()?;
                self.scan.tree_cost += (end - start) as u64 + STRING_OVERHEAD;
                Ok(self.decoded(start, end, escaped))
            }
            Some(b'n') => {
                self.value(depth, Capture::None)?;
                Ok(String::new())
            }
            _ => self.fail("apiVersion, kind, metadata.name and metadata.namespace must be strings"),
        }
    }

    /// The text of a checked string token's content `start..end`.
    fn decoded(&self, start: usize, end: usize, escaped: bool) -> String {
        let raw = &self.text[start..end];
        if !escaped {
            // Checked UTF-8 (the whole text is) and free of escapes.
            return String::from_utf8_lossy(raw).into_owned();
        }
        serde_json::from_slice::<String>(&self.text[start - 1..=end]).unwrap_or_default()
    }

    /// A string token at `pos`; returns its content span and whether it has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), Fail> {
        self.pos += 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let Some(&b) = self.text.get(self.pos) else {
                return self.fail("unterminated string");
            };
            match b {
                b'"' => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok((start, end, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..0x20 => return self.fail("control character in string"),
                _ => self.pos += 1,
            }
        }
    }

    /// An escape at `pos` (the backslash), checked as `serde_json` decodes it into a string.
    fn escape(&mut self) -> Result<(), Fail> {
        match self.text.get(self.pos + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.pos += 2;
                Ok(())
            }
            Some(b'u') => {
                let Some(cp) = self.text.get(self.pos + 2..).and_then(hex4) else {
                    return self.fail("invalid \\u escape");
                };
                self.pos += 6;
                match cp {
                    0xD800..=0xDBFF => {
                        let low = (self.text.get(self.pos..self.pos + 2) == Some(b"\\u"))
                            .then(|| self.text.get(self.pos + 2..).and_then(hex4))
                            .flatten();
                        match low {
                            Some(0xDC00..=0xDFFF) => {
                                self.pos += 6;
                                Ok(())
                            }
                            _ => self.fail("lone leading surrogate in \\u escape"),
                        }
                    }
                    0xDC00..=0xDFFF => self.fail("lone trailing surrogate in \\u escape"),
                    _ => Ok(()),
                }
            }
            _ => self.fail("invalid escape"),
        }
    }

    fn number(&mut self) -> Result<(), Fail> {
        let start = self.pos;
        let t = self.text;
        let mut i = self.pos;
        if t.get(i) == Some(&b'-') {
            i += 1;
        }
        match t.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while t.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return self.fail("invalid number");
            }
        }
        let int_end = i;
        let mut float = false;
        if t.get(i) == Some(&b'.') {
            float = true;
            i += 1;
            if !t.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return self.fail("invalid number");
            }
            while t.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        if let Some(b'e' | b'E') = t.get(i) {
            float = true;
            i += 1;
            if let Some(b'+' | b'-') = t.get(i) {
                i += 1;
            }
            if !t.get(i).is_some_and(u8::is_ascii_digit) {
                self.pos = i;
                return self.fail("invalid number");
            }
            while t.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        self.pos = i;
        let lit = &t[start..i];
        let digits = int_end - start - usize::from(t[start] == b'-');
        if float || digits >= 19 {
            // Rare: decide as serde_json does (integers beyond 64 bits become floats; a number
            // out of the f64 range is an error).
            let Ok(n) = serde_json::from_slice::<serde_json::Number>(lit) else {
                self.pos = start;
                return self.fail("number out of range");
            };
            if !float && n.is_f64() {
                self.scan.wide_integers += 1;
            }
        }
        Ok(())
    }
}

fn run(data: &[u8], document: &str, capture: Capture) -> Result<(Scan, ItemHead)> {
    let err = |offset, reason| Error::InvalidJson {
        document: shorten(document),
        offset,
        reason,
    };
    if let Err(e) = std::str::from_utf8(data) {
        return Err(err(e.valid_up_to(), "invalid UTF-8"));
    }
    let mut s = Scanner {
        text: data,
        pos: 0,
        scan: Scan::default(),
        head: ItemHead::default(),
    };
    s.ws();
    if capture == Capture::Top && s.text.get(s.pos) != Some(&b'{') {
        return Err(err(s.pos, "an item must be a JSON object"));
    }
    s.value(0, capture).map_err(|(o, r)| err(o, r))?;
    s.ws();
    if s.pos != data.len() {
        return Err(err(s.pos, "trailing characters after the JSON value"));
    }
    s.scan.tree_cost += ROOT;
    Ok((s.scan, s.head))
}

/// Check a JSON document in one pass without building it; `document` names it in errors.
pub fn scan(data: &[u8], document: &str) -> Result<Scan> {
    run(data, document, Capture::None).map(|(s, _)| s)
}

/// Check a Kubernetes item (a JSON object) in one pass and return its head.
pub fn check_item(data: &[u8], path: &str) -> Result<(ItemHead, Scan)> {
    run(data, path, Capture::Top).map(|(s, h)| (h, s))
}

/// Build a [`Value`] when [`scan`] accepts `data` and estimates it within `max_tree_bytes`;
/// [`Error::JsonTooLarge`] otherwise, before anything is built.
pub fn parse_tree(data: &[u8], document: &str, max_tree_bytes: u64) -> Result<Value> {
    let s = scan(data, document)?;
    if s.tree_cost > max_tree_bytes {
        return Err(Error::JsonTooLarge {
            document: shorten(document),
            estimate: s.tree_cost,
            limit: max_tree_bytes,
        });
    }
    serde_json::from_slice(data).map_err(|source| Error::Json {
        document: shorten(document),
        source,
    })
}

/// Deserialize a typed document after checking that its text, as a tree, would stay within
/// `max_tree_bytes` (a typed value never costs more than the `Value` the estimate models).
pub fn from_slice_bounded<T: serde::de::DeserializeOwned>(
    data: &[u8],
    document: &str,
    max_tree_bytes: u64,
) -> Result<T> {
    let s = scan(data, document).map_err(|e| {
        // Prefer serde_json's message (line and column) for a syntax error; skipping the
        // value builds nothing.
        match serde_json::from_slice::<serde::de::IgnoredAny>(data) {
            Err(source) => Error::Json {
                document: shorten(document),
                source,
            },
            Ok(_) => e,
        }
    })?;
    if s.tree_cost > max_tree_bytes {
        return Err(Error::JsonTooLarge {
            document: shorten(document),
            estimate: s.tree_cost,
            limit: max_tree_bytes,
        });
    }
    serde_json::from_slice(data).map_err(|source| Error::Json {
        document: shorten(document),
        source,
    })
}

/// `data` (checked with [`scan`]) indented with two spaces, like `serde_json`'s pretty printer,
/// but from the document's own text: every number, string and key order as stored. Inside
/// strings, characters that could act on a terminal — DEL, C1 controls, line/paragraph
/// separators, bidirectional and zero-width format characters, BOM — are written as `\uXXXX`
/// escapes (the same JSON value). No trailing newline.
pub fn render_pretty(data: &[u8], document: &str) -> Result<Vec<u8>> {
    scan(data, document)?;
    let mut out = Vec::with_capacity(data.len() + data.len() / 2 + 16);
    let mut depth = 0usize;
    let mut i = 0;
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    };
    let next_non_ws = |mut j: usize| {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = data.get(j) {
            j += 1;
        }
        data.get(j).copied()
    };
    while i < data.len() {
        let b = data[i];
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                out.push(b);
                if next_non_ws(i + 1) == Some(close) {
                    out.push(close);
                    i += 1;
                    while data[i] != close {
                        i += 1;
                    }
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                    i += 1;
                }
            }
            b'}' | b']' => {
                depth -= 1;
                newline(&mut out, depth);
                out.push(b);
                i += 1;
            }
            b',' => {
                out.push(b',');
                newline(&mut out, depth);
                i += 1;
            }
            b':' => {
                out.extend_from_slice(b": ");
                i += 1;
            }
            b'"' => i = copy_string(data, i, &mut out),
            _ => {
                // Number or literal: copy up to the next delimiter.
                let start = i;
                while i < data.len() && !matches!(data[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    i += 1;
                }
                out.extend_from_slice(&data[start..i]);
            }
        }
    }
    Ok(out)
}

/// Copy the (checked) string token at `i`, escaping terminal-active characters; returns the
/// index after it.
fn copy_string(data: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    out.push(b'"');
    i += 1;
    loop {
        let b = data[i];
        match b {
            b'"' => {
                out.push(b'"');
                return i + 1;
            }
            b'\\' => {
                out.extend_from_slice(&data[i..i + 2]);
                i += 2;
            }
            0x7f => {
                out.extend_from_slice(b"\\u007f");
                i += 1;
            }
            0x80.. => {
                let len = match b {
                    0xc0..=0xdf => 2,
                    0xe0..=0xef => 3,
                    _ => 4,
                };
                let ch = &data[i..i + len];
                let cp = std::str::from_utf8(ch).ok().and_then(|s| s.chars().next());
                match cp {
                    Some(c) if terminal_active(c) => {
                        out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
                    }
                    _ => out.extend_from_slice(ch),
                }
                i += len;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
}

fn terminal_active(c: char) -> bool {
    matches!(c, '\u{80}'..='\u{9f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}')
}

impl ItemHead {
    /// Parse an item's head with [`check_item`] (the whole item is checked, nothing is built);
    /// `path` names the entry in errors.
    pub fn parse(data: &[u8], path: &str) -> Result<ItemHead> {
        check_item(data, path).map(|(h, _)| h)
    }
}

impl ItemHeadMeta {
    /// `namespace/name`, or `name` for a cluster-scoped item.
    pub fn key(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_agrees_with_serde_json() {
        for (text, ok) in [
            (
                r#"{"a":[1,2.5,-0,1e3,"x\u00e9\ud83d\ude00"],"b":{"c":null,"d":true}}"#,
                true,
            ),
            ("  [ ]  ", true),
            ("\"\\ud800\"", false),
            ("\"\\udc00\"", false),
            ("\"\\ud800\\u0041\"", false),
            ("1e400", false),
            ("01", false),
            ("[1,]", false),
            ("{\"a\" 1}", false),
            ("\"a\u{1}\"", false),
            ("[1] x", false),
            ("", false),
            ("-", false),
            ("1.", false),
            ("123456789012345678901234567890", true),
        ] {
            let serde = serde_json::from_str::<Value>(text).is_ok();
            assert_eq!(serde, ok, "serde_json on {text}");
            assert_eq!(scan(text.as_bytes(), "t").is_ok(), ok, "scan on {text}");
        }
        assert_eq!(
            scan(
                b"[123456789012345678901234567890,18446744073709551615,-9223372036854775809]",
                "t"
            )
            .unwrap()
            .wide_integers,
            2
        );
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(matches!(
            scan(deep.as_bytes(), "t"),
            Err(Error::InvalidJson {
                reason: "nested too deeply",
                ..
            })
        ));
        assert!(matches!(
            scan(b"[\xff]", "t"),
            Err(Error::InvalidJson { offset: 1, .. })
        ));
    }

    #[test]
    fn item_head_from_the_scan() {
        let (h, s) = check_item(
            br#"{"spec":{"kind":"x"},"kind":"Pod","apiVersion":"v1","metadata":{"labels":{"name":"no"},"name":"a\u0062","namespace":null}}"#,
            "p",
        )
        .unwrap();
        assert_eq!((h.api_version.as_str(), h.kind.as_str()), ("v1", "Pod"));
        assert_eq!(
            (h.metadata.name.as_str(), h.metadata.namespace.as_str()),
            ("ab", "")
        );
        assert!(s.values > 5);
        for bad in [
            &br#"["v1","Pod",{}]"#[..],
            br#"{"kind":"a","kind":"b"}"#,
            br#"{"kin\u0064":"a","kind":"b"}"#,
            br#"{"kind":5}"#,
            br#"{"metadata":{"name":"a","name":"b"}}"#,
            br#"{"metadata":[]}"#,
        ] {
            assert!(check_item(bad, "p").is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn tree_estimate_bounds_the_bomb() {
        let mut bomb = b"[".to_vec();
        for i in 0..10_000 {
            if i > 0 {
                bomb.push(b',');
            }
            bomb.extend_from_slice(br#"{"":0}"#);
        }
        bomb.push(b']');
        let s = scan(&bomb, "bomb").unwrap();
        assert!(s.tree_cost >= 10_000 * 600, "{}", s.tree_cost);
        assert!(matches!(
            parse_tree(&bomb, "bomb", 1 << 20),
            Err(Error::JsonTooLarge { document, .. }) if document == "bomb"
        ));
        assert!(parse_tree(&bomb, "bomb", DEFAULT_MAX_TREE_BYTES).is_ok());
    }

    #[test]
    fn pretty_from_the_text() {
        let raw = br#"{"b":[],"a":{"big":123456789012345678901234567890,"f":1.10,"s":"x\u001b[2J\u00e9","e":{}},"c":[1,{"d":null}]}"#;
        let out = String::from_utf8(render_pretty(raw, "t").unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n  \"b\": [],\n  \"a\": {\n    \"big\": 123456789012345678901234567890,\n    \"f\": 1.10,\n    \"s\": \"x\\u001b[2J\\u00e9\",\n    \"e\": {}\n  },\n  \"c\": [\n    1,\n    {\n      \"d\": null\n    }\n  ]\n}"
        );
        let raw = "[\"a\u{9b}b\u{202e}c\u{7f}\"]".as_bytes();
        let out = String::from_utf8(render_pretty(raw, "t").unwrap()).unwrap();
        assert_eq!(out, "[\n  \"a\\u009bb\\u202ec\\u007f\"\n]");
        let v1: Value = serde_json::from_slice(raw).unwrap();
        let v2: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v1, v2);
    }
}
