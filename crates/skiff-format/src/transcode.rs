//! Raw JSON bytes → Go's `json.Marshal` encoding of the same value, without building a tree.
//!
//! [`transcode`] gives exactly the bytes of `gojson::to_vec(&serde_json::from_slice(raw)?)`:
//! object keys sorted byte-wise at every level, compact, Go's escaping and number formatting.
//! The common case — an apiserver response, already compact and Go-escaped — is copied span by
//! span; only object members out of order are moved, and only strings with escapes or numbers
//! that are not plain integers are decoded and re-encoded. Anything unusual (duplicate keys,
//! malformed input, nesting deeper than [`MAX_DEPTH`]) makes it return `None`; the caller then
//! takes the tree path, which decides what the input means or how it fails.

use std::borrow::Cow;

use crate::gojson::{write_number_str, write_str};

/// Deepest nesting handled here (`serde_json`'s own recursion limit is 128).
pub const MAX_DEPTH: usize = 100;

/// Append Go's encoding of the JSON document `raw` to `out`; `None` (with `out` unchanged) when
/// the input needs the tree path.
pub fn transcode(raw: &[u8], out: &mut Vec<u8>) -> Option<()> {
    transcode_with(raw, &[], out)
}

/// [`transcode`] of a JSON object with `defaults` added as top-level string members where the
/// object lacks them — an item of a LIST response completed with its `apiVersion` and `kind`.
/// Declines (`None`) when the input is not an object or has one of those keys with a value
/// that is not a string.
pub fn transcode_with(raw: &[u8], defaults: &[(&str, &str)], out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let mut t = Transcoder {
        raw,
        pos: 0,
        out,
        scratch: Vec::new(),
        defaults,
    };
    if !defaults.is_empty() && t.peek() != Some(b'{') {
        return None;
    }
    let ok = t.value(0).is_some() && {
        t.skip_ws();
        t.pos == raw.len()
    };
    if ok {
        Some(())
    } else {
        t.out.truncate(start);
        None
    }
}

struct Transcoder<'a, 'o> {
    raw: &'a [u8],
    pos: usize,
    out: &'o mut Vec<u8>,
    /// Reused buffer for reordering an object's members.
    scratch: Vec<u8>,
    /// Members the top-level object gets when it lacks them.
    defaults: &'a [(&'a str, &'a str)],
}

/// One member of an object as written to `out`: its key and the output span of `"key":value`.
struct Member<'a> {
    key: Cow<'a, [u8]>,
    start: usize,
    end: usize,
}

impl<'a> Transcoder<'a, '_> {
    /// Adds the missing defaults to the top-level object's members (written after them).
    fn add_defaults(&mut self, members: &mut Vec<Member<'a>>) -> Option<()> {
        for &(key, value) in self.defaults {
            if let Some(m) = members.iter().find(|m| m.key.as_ref() == key.as_bytes()) {
                // `"key":` then the value: it must be a string.
                let value_start = m.start + key.len() + 3;
                if self.out.get(value_start) != Some(&b'"') {
                    return None;
                }
                continue;
            }
            if !members.is_empty() {
                self.out.push(b',');
            }
            let start = self.out.len();
            write_str(self.out, key);
            self.out.push(b':');
            write_str(self.out, value);
            members.push(Member {
                key: Cow::Borrowed(key.as_bytes()),
                start,
                end: self.out.len(),
            });
        }
        Some(())
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.raw.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.raw.get(self.pos).copied()
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        if self.raw.get(self.pos..self.pos + lit.len())? == lit {
            self.pos += lit.len();
            self.out.extend_from_slice(lit);
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => {
                let s = self.string()?;
                self.write_string(&s);
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.pos += 1;
        self.out.push(b'[');
        if self.peek()? == b']' {
            self.pos += 1;
            self.out.push(b']');
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.out.push(b',');
                }
                b']' => {
                    self.pos += 1;
                    self.out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        self.pos += 1;
        self.out.push(b'{');
        let first = self.out.len();
        let mut members: Vec<Member<'a>> = Vec::new();
        if self.peek()? == b'}' {
            self.pos += 1;
            if depth == 0 && !self.defaults.is_empty() {
                self.add_defaults(&mut members)?;
                return self.close_object(first, &mut members);
            }
            self.out.push(b'}');
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            let start = self.out.len();
            self.write_string(&key);
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.out.push(b':');
            self.value(depth + 1)?;
            let key = match key {
                Str::Raw(s) => Cow::Borrowed(s),
                Str::Decoded(s) => Cow::Owned(s.into_bytes()),
            };
            members.push(Member {
                key,
                start,
                end: self.out.len(),
            });
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.out.push(b',');
                }
                b'}' => {
                    self.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        if depth == 0 && !self.defaults.is_empty() {
            self.add_defaults(&mut members)?;
        }
        self.close_object(first, &mut members)
    }

    /// Puts the members written since `first` in key order and closes the object.
    fn close_object(&mut self, first: usize, members: &mut [Member<'a>]) -> Option<()> {
        if !members.is_sorted_by(|a, b| a.key < b.key) {
            members.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            if members.windows(2).any(|w| w[0].key == w[1].key) {
                return None; // duplicate keys: the last one wins; leave that to the tree path
            }
            self.scratch.clear();
            for (i, m) in members.iter().enumerate() {
                if i > 0 {
                    self.scratch.push(b',');
                }
                self.scratch.extend_from_slice(&self.out[m.start..m.end]);
            }
            self.out.truncate(first);
            self.out.extend_from_slice(&self.scratch);
        }
        self.out.push(b'}');
        Some(())
    }

    /// A string token at `pos` (the opening quote): its raw content when that is already what
    /// Go writes, else the decoded text.
    fn string(&mut self) -> Option<Str<'a>> {
        let start = self.pos + 1;
        let mut i = start;
        let mut plain = true;
        loop {
            let b = *self.raw.get(i)?;
            match b {
                b'"' => break,
                b'\\' => {
                    plain = false;
                    i += 2;
                    continue;
                }
                b'<' | b'>' | b'&' | 0..0x20 | 0x80.. => plain = false,
                _ => {}
            }
            i += 1;
        }
        let body = &self.raw[start..i];
        self.pos = i + 1;
        if plain {
            return Some(Str::Raw(body));
        }
        // Escapes, HTML characters or non-ASCII: let serde_json decode it (validating UTF-8).
        let decoded: String = serde_json::from_slice(&self.raw[start - 1..=i]).ok()?;
        Some(Str::Decoded(decoded))
    }

    fn write_string(&mut self, s: &Str<'_>) {
        match s {
            Str::Raw(body) => {
                self.out.push(b'"');
                self.out.extend_from_slice(body);
                self.out.push(b'"');
            }
            Str::Decoded(text) => write_str(self.out, text),
        }
    }

    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let mut i = start;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.raw.get(i) {
            i += 1;
        }
        let lit = &self.raw[start..i];
        self.pos = i;
        // A plain integer of at most 18 digits fits i64 and prints as written.
        let digits = lit.strip_prefix(b"-").unwrap_or(lit);
        let plain = !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && lit != b"-0";
        if plain {
            self.out.extend_from_slice(lit);
            return Some(());
        }
        let text = std::str::from_utf8(lit).ok()?;
        write_number_str(self.out, text)
    }
}

enum Str<'a> {
    /// Content between the quotes, copied as is.
    Raw(&'a [u8]),
    Decoded(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson;
    use proptest::prelude::*;
    use serde_json::Value;

    fn check(raw: &str) {
        let mut out = Vec::new();
        let fast = transcode(raw.as_bytes(), &mut out).map(|()| out);
        let tree: Option<Vec<u8>> = serde_json::from_str::<Value>(raw)
            .ok()
            .map(|v| gojson::to_vec(&v));
        match (fast, tree) {
            (Some(f), Some(t)) => assert_eq!(
                String::from_utf8_lossy(&f),
                String::from_utf8_lossy(&t),
                "input {raw}"
            ),
            (Some(f), None) => panic!(
                "transcoded invalid input {raw} to {}",
                String::from_utf8_lossy(&f)
            ),
            // The fast path may decline anything; the tree path then decides.
            (None, _) => {}
        }
    }

    #[test]
    fn matches_the_tree_path() {
        for raw in [
            r#"{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"n","labels":{"z":"1","a":"2"}},"data":{"k":"<b>&"}}"#,
            r#"{"b":1,"a":{"z":[1,2.5,-3],"y":"<a&b>"},"c":"\u2028x\u2029","d":null,"e":true,"B":"\u0001\n\b\f\t\r\"\\"}"#,
            r#"{"n":[0,-0,1.0,1e3,-1.5e-7,12345678901234567890,123456789012345678,-9223372036854775808,0.000001,1e21]}"#,
            r#"{"u":"héllo \u00e9 \ud83d\ude00","s":"a\/b"}"#,
            r#" { "a" : [ true , false , null ] , "b" : { } , "c" : [ ] } "#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":}"#,
            r#"{"a":1"#,
            r#"{"a":1}x"#,
            "[01]",
            r#""\ud800""#,
            r#"{"":"","\u0000":"x"}"#,
            "\"bad \u{1} control\"",
        ] {
            check(raw);
        }
    }

    #[test]
    fn declines_duplicates_and_garbage_without_writing() {
        let mut out = b"keep".to_vec();
        assert!(transcode(br#"{"a":1,"a":2}"#, &mut out).is_none());
        assert!(transcode(br#"{"a":[1,2"#, &mut out).is_none());
        assert_eq!(out, b"keep");
    }

    #[test]
    fn defaults_fill_in_missing_members_only() {
        let d = [("apiVersion", "v1"), ("kind", "Secret")];
        let cases = [
            (
                r#"{"metadata":{"name":"a"},"data":{}}"#,
                Some(r#"{"apiVersion":"v1","data":{},"kind":"Secret","metadata":{"name":"a"}}"#),
            ),
            ("{}", Some(r#"{"apiVersion":"v1","kind":"Secret"}"#)),
            (
                r#"{"kind":"Other","zz":1}"#,
                Some(r#"{"apiVersion":"v1","kind":"Other","zz":1}"#),
            ),
            (r#"{"kind":5}"#, None),
            ("[1]", None),
        ];
        for (raw, want) in cases {
            let mut out = Vec::new();
            let got =
                transcode_with(raw.as_bytes(), &d, &mut out).map(|()| String::from_utf8(out).expect("utf8"));
            assert_eq!(got.as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn deep_nesting_is_declined() {
        let raw = format!("{}{}", "[".repeat(MAX_DEPTH + 5), "]".repeat(MAX_DEPTH + 5));
        assert!(transcode(raw.as_bytes(), &mut Vec::new()).is_none());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e30f64..1e30).prop_map(Value::from),
            "[a-zA-Z0-9<>&\"\\\\ \u{e9}\u{2028}\u{1}-]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z<&\u{e9}]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_in_any_key_order(v in arb_json(), reverse in any::<bool>()) {
            // serde_json writes keys sorted; reversing them exercises the reordering.
            let mut raw = serde_json::to_string(&v).expect("encode");
            if reverse {
                raw = reverse_keys(&v);
            }
            let mut out = Vec::new();
            prop_assert!(transcode(raw.as_bytes(), &mut out).is_some(), "declined {}", raw);
            // Against the tree path on the same text (float parsing may not round-trip `v`).
            let want = gojson::to_vec(&serde_json::from_str::<Value>(&raw).expect("parse"));
            prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&want));
        }
    }

    fn reverse_keys(v: &Value) -> String {
        match v {
            Value::Object(m) => {
                let parts: Vec<String> = m
                    .iter()
                    .rev()
                    .map(|(k, x)| format!("{}:{}", serde_json::to_string(k).expect("key"), reverse_keys(x)))
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            Value::Array(a) => format!("[{}]", a.iter().map(reverse_keys).collect::<Vec<_>>().join(",")),
            other => serde_json::to_string(other).expect("leaf"),
        }
    }
}
