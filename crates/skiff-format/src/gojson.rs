//! JSON encoding exactly as Go's `encoding/json` (and so Velero) writes it.
//!
//! * [`to_vec`] / [`write_compact`]: `json.Marshal` of a generic map — compact, object keys sorted
//!   byte-wise at every level, HTML-escaped, no trailing newline. This is the encoding of tarball
//!   items. Keys are sorted here explicitly, whatever map type `serde_json` was built with.
//! * [`to_vec_pretty`]: Kubernetes' pretty serializer (`MarshalIndent`, two spaces) for typed
//!   documents: struct field order as declared, HTML-escaped, no trailing newline.
//! * [`to_sidecar`]: `json.Encoder` — compact, struct field order, followed by one `\n`.
//! * [`gzip_sidecar`] / [`gunzip`]: the gzip framing of sidecars.
//!
//! Typed documents that hold free-form [`Value`]s wrap them in [`Sorted`] (or use
//! [`serialize_sorted`]) so their maps come out sorted like Go's.

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::Value;
use serde_json::ser::{CharEscape, Formatter};

use crate::{Error, Result};

/// Encode a generic JSON value as Go's `json.Marshal` does (compact, sorted keys, HTML-escaped).
pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, v);
    out
}

pub use crate::transcode::{transcode, transcode_with};

/// Like [`to_vec`], appending to `out`.
pub fn write_compact(out: &mut Vec<u8>, v: &Value) {
    write_value(out, v);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // Already sorted unless serde_json's `preserve_order` is on; cheap either way.
            if !entries.is_sorted_by(|a, b| a.0.as_bytes() <= b.0.as_bytes()) {
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            }
            for (i, (k, child)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, child);
            }
            out.push(b'}');
        }
    }
}

/// [`write_number`] of a number literal as `serde_json` parses it; `None` if it is not one.
pub(crate) fn write_number_str(out: &mut Vec<u8>, literal: &str) -> Option<()> {
    let n: serde_json::Number = serde_json::from_str(literal).ok()?;
    write_number(out, &n);
    Some(())
}

fn write_number(out: &mut Vec<u8>, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        out.extend_from_slice(i.to_string().as_bytes());
    } else if let Some(u) = n.as_u64() {
        out.extend_from_slice(u.to_string().as_bytes());
    } else if let Some(f) = n.as_f64() {
        out.extend_from_slice(go_float(f).as_bytes());
    } else {
        out.extend_from_slice(n.to_string().as_bytes());
    }
}

/// Go's `encoding/json` float64 formatting: shortest round-trip digits, `%f` style unless the
/// magnitude is below 1e-6 or at least 1e21, then `%e` style with at least one exponent digit.
/// Integral values print without a fraction (`3`, not `3.0`) — which is also what an object decoded
/// by Kubernetes' unstructured converter (integral numbers become int64) gives.
pub fn go_float(f: f64) -> String {
    if !f.is_finite() {
        // Go refuses to encode these; JSON cannot carry them. Never produced by parsing JSON.
        return "null".to_owned();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust: "1e21", "1.5e-7"; Go: "1e+21", "1.5e-07" → cleaned to "1.5e-7".
        match s.split_once('e') {
            Some((mant, exp)) if !exp.starts_with('-') => format!("{mant}e+{exp}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// Write a JSON string with Go's escaping (HTML-safe, U+2028/U+2029 escaped).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            0xE2 if i + 2 < bytes.len()
                && bytes[i + 1] == 0x80
                && (bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9) =>
            {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(if bytes[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
                continue;
            }
            c if c < 0x20 => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                i += 1;
                start = i;
                continue;
            }
            _ => None,
        };
        if let Some(e) = esc {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(e);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A `serde_json` formatter producing Go's escaping and float formatting, compact or indented.
#[derive(Debug, Clone)]
pub struct GoFormatter {
    indent: Option<&'static [u8]>,
    level: usize,
    has_value: bool,
}

impl GoFormatter {
    /// Compact output (`json.Marshal`).
    pub fn compact() -> Self {
        GoFormatter {
            indent: None,
            level: 0,
            has_value: false,
        }
    }

    /// Indented output with two spaces (`json.MarshalIndent(v, "", "  ")`).
    pub fn pretty() -> Self {
        GoFormatter {
            indent: Some(b"  "),
            level: 0,
            has_value: false,
        }
    }

    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        if let Some(ind) = self.indent {
            w.write_all(b"\n")?;
            for _ in 0..self.level {
                w.write_all(ind)?;
            }
        }
        Ok(())
    }
}

impl Formatter for GoFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(go_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(go_float(f64::from(value)).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut buf = Vec::with_capacity(fragment.len() + 2);
        write_str(&mut buf, fragment);
        w.write_all(&buf[1..buf.len() - 1])
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, w: &mut W, esc: CharEscape) -> io::Result<()> {
        let s: String = match esc {
            CharEscape::Quote => "\\\"".into(),
            CharEscape::ReverseSolidus => "\\\\".into(),
            CharEscape::Solidus => "/".into(),
            CharEscape::Backspace => "\\b".into(),
            CharEscape::FormFeed => "\\f".into(),
            CharEscape::LineFeed => "\\n".into(),
            CharEscape::CarriageReturn => "\\r".into(),
            CharEscape::Tab => "\\t".into(),
            CharEscape::AsciiControl(c) => format!("\\u{c:04x}"),
        };
        w.write_all(s.as_bytes())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        self.newline(w)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        if self.indent.is_some() {
            w.write_all(b": ")
        } else {
            w.write_all(b":")
        }
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

fn serialize_with<T: Serialize + ?Sized>(v: &T, fmt: GoFormatter) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).map_err(|source| Error::Encode { source })?;
    Ok(out)
}

/// Pretty (two-space) Go-style JSON of a typed document, no trailing newline
/// (`velero-backup.json`). Struct fields keep declaration order.
pub fn to_vec_pretty<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serialize_with(v, GoFormatter::pretty())
}

/// Compact Go-style JSON of a typed document, no newline.
pub fn to_vec_typed<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serialize_with(v, GoFormatter::compact())
}

/// Sidecar encoding (`json.Encoder.Encode`): compact Go-style JSON followed by `\n`.
pub fn to_sidecar<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    let mut out = serialize_with(v, GoFormatter::compact())?;
    out.push(b'\n');
    Ok(out)
}

/// Serialize a [`Value`] with its object keys sorted at every level, whatever map type
/// `serde_json` uses. Wrap free-form values inside typed documents with this.
#[derive(Debug, Clone, Copy)]
pub struct Sorted<'a>(pub &'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Sorted(item))?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, &Sorted(v))?;
                }
                m.end()
            }
            other => other.serialize(s),
        }
    }
}

/// `serialize_with` helper: a [`Value`] with sorted keys.
pub fn serialize_sorted<S: serde::Serializer>(v: &Value, s: S) -> std::result::Result<S::Ok, S::Error> {
    Sorted(v).serialize(s)
}

/// `serialize_with` helper for `Option<Value>` fields.
pub fn serialize_sorted_opt<S: serde::Serializer>(
    v: &Option<Value>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_some(&Sorted(v)),
        None => s.serialize_none(),
    }
}

/// `serialize_with` helper for `Vec<Value>` fields.
pub fn serialize_sorted_vec<S: serde::Serializer>(v: &[Value], s: S) -> std::result::Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for item in v {
        seq.serialize_element(&Sorted(item))?;
    }
    seq.end()
}

/// `serialize_with` helper for flattened unknown fields: sorted keys, sorted nested values.
pub fn serialize_extra<S: serde::Serializer>(
    m: &serde_json::Map<String, Value>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let mut entries: Vec<(&String, &Value)> = m.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut map = s.serialize_map(Some(entries.len()))?;
    for (k, v) in entries {
        map.serialize_entry(k, &Sorted(v))?;
    }
    map.end()
}

/// [`to_sidecar`] then [`gzip_sidecar`], streamed: the uncompressed JSON is never held whole (a
/// resource list of 100k items is megabytes of JSON).
pub fn gzip_sidecar_of<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    let enc = gz_writer(Vec::new(), Compression::new(6));
    let mut buf = std::io::BufWriter::with_capacity(64 << 10, enc);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoFormatter::compact());
    v.serialize(&mut ser).map_err(|source| Error::Encode { source })?;
    // Writing into a Vec cannot fail.
    buf.write_all(b"\n").expect("write to Vec");
    let enc = buf.into_inner().map_err(|e| Error::Encode {
        source: serde_json::Error::io(e.into_error()),
    })?;
    Ok(enc.finish().expect("finish into Vec"))
}

/// gzip `data` as Go's `compress/gzip` frames a sidecar: one member, default level (6), no file
/// name, zero mtime.
pub fn gzip_sidecar(data: &[u8]) -> Vec<u8> {
    gzip_member(data, Compression::new(6), Vec::new())
}

/// A gzip encoder framing its member as Go's `compress/gzip` does: no file name, mtime 0,
/// OS "unknown".
pub(crate) fn gz_writer<W: Write>(sink: W, level: Compression) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(sink, level)
}

/// One gzip member of `data` with no name and mtime 0, written into `out` (cleared first; pass
/// a recycled buffer to avoid allocating).
pub(crate) fn gzip_member(data: &[u8], level: Compression, mut out: Vec<u8>) -> Vec<u8> {
    out.clear();
    out.reserve(data.len() / 4 + 64);
    let mut enc = gz_writer(out, level);
    // Writing into a Vec cannot fail.
    enc.write_all(data).expect("write to Vec");
    enc.finish().expect("finish into Vec")
}

/// Decompress a (possibly multi-member) gzip blob, refusing output larger than `max_size` bytes.
pub fn gunzip(data: &[u8], max_size: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dec = MultiGzDecoder::new(data).take(max_size.saturating_add(1));
    dec.read_to_end(&mut out)
        .map_err(|source| Error::Gzip { source })?;
    if out.len() as u64 > max_size {
        return Err(Error::DecompressedTooLarge { limit: max_size });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_sorted_html_escaped() {
        let v: Value = serde_json::from_str(
            r#"{"b":1,"a":{"z":[1,2.5,-3],"y":"<a&b>"},"c":"\u2028x\u2029","d":null,"e":true,"B":"\u0001\n\b\f\t\r\"\\"}"#,
        )
        .unwrap();
        let out = String::from_utf8(to_vec(&v)).unwrap();
        assert_eq!(
            out,
            r#"{"B":"\u0001\n\b\f\t\r\"\\","a":{"y":"\u003ca\u0026b\u003e","z":[1,2.5,-3]},"b":1,"c":"\u2028x\u2029","d":null,"e":true}"#
        );
    }

    #[test]
    fn unicode_passes_through() {
        let v = json!({"k": "café ✓ 日本"});
        assert_eq!(to_vec(&v), "{\"k\":\"café ✓ 日本\"}".as_bytes());
    }

    #[test]
    fn floats_like_go() {
        assert_eq!(go_float(2.5), "2.5");
        assert_eq!(go_float(3.0), "3");
        assert_eq!(go_float(1e21), "1e+21");
        assert_eq!(go_float(1.5e-7), "1.5e-7");
        assert_eq!(go_float(0.000_001), "0.000001");
        assert_eq!(go_float(123_456_789.0), "123456789");
        assert_eq!(go_float(-0.1), "-0.1");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(
            to_vec(&json!(18_446_744_073_709_551_615_u64)),
            b"18446744073709551615"
        );
    }

    #[derive(Serialize)]
    struct Doc {
        kind: &'static str,
        #[serde(rename = "apiVersion")]
        api_version: &'static str,
        empty: serde_json::Map<String, Value>,
        list: Vec<u32>,
        #[serde(serialize_with = "serialize_sorted")]
        v: Value,
    }

    #[test]
    fn pretty_and_sidecar() {
        let d = Doc {
            kind: "Backup",
            api_version: "velero.io/v1",
            empty: serde_json::Map::new(),
            list: vec![1, 2],
            v: json!({"z": 1, "a": "<"}),
        };
        let p = String::from_utf8(to_vec_pretty(&d).unwrap()).unwrap();
        assert_eq!(
            p,
            "{\n  \"kind\": \"Backup\",\n  \"apiVersion\": \"velero.io/v1\",\n  \"empty\": {},\n  \"list\": [\n    1,\n    2\n  ],\n  \"v\": {\n    \"a\": \"\\u003c\",\n    \"z\": 1\n  }\n}"
        );
        let s = String::from_utf8(to_sidecar(&d).unwrap()).unwrap();
        assert_eq!(
            s,
            "{\"kind\":\"Backup\",\"apiVersion\":\"velero.io/v1\",\"empty\":{},\"list\":[1,2],\"v\":{\"a\":\"\\u003c\",\"z\":1}}\n"
        );
        assert_eq!(to_sidecar(&Value::Null).unwrap(), b"null\n");
        assert_eq!(to_sidecar(&Vec::<u8>::new()).unwrap(), b"[]\n");
    }

    #[test]
    fn gzip_round_trip_and_header() {
        let z = gzip_sidecar(b"null\n");
        assert_eq!(&z[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        assert_eq!(gunzip(&z, 100).unwrap(), b"null\n");
        let mut two = z.clone();
        two.extend_from_slice(&gzip_sidecar(b"[]\n"));
        assert_eq!(gunzip(&two, 100).unwrap(), b"null\n[]\n");
        assert!(matches!(
            gunzip(&two, 4),
            Err(Error::DecompressedTooLarge { limit: 4 })
        ));
        assert!(matches!(gunzip(&z[..z.len() - 3], 100), Err(Error::Gzip { .. })));
    }
}
