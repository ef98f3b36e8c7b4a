//! The compressed item store: every backup item and every planned object is held as compact
//! JSON bytes ([`RawJson`]), zstd-compressed with a dictionary trained on the backup
//! ([`JsonDict`]) once enough items are read.

use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

/// A JSON document held as compact bytes and parsed when needed.
///
/// A parsed [`Value`] costs several times its JSON size (a map node, a `String` and an
/// allocation per field); a restore holds every item of the backup and every planned object, so
/// both are kept in this form: `serde_json`'s compact output (keys sorted, so equal values give
/// equal bytes), zstd-compressed with a [`JsonDict`] when one is given. Always valid JSON: it is
/// only made from a [`Value`]. Equality compares the documents' bytes.
#[derive(Clone, Default)]
pub struct RawJson(Repr);

#[derive(Clone)]
enum Repr {
    Plain(Box<[u8]>),
    Zstd {
        frame: Box<[u8]>,
        /// Length of the JSON.
        len: u32,
        dict: Arc<JsonDict>,
    },
}

impl Default for Repr {
    fn default() -> Self {
        Self::Plain(Box::default())
    }
}

impl RawJson {
    /// Serializes `value`.
    pub fn from_value(value: &Value) -> Self {
        Self::with_dict(value, None)
    }

    /// Serializes `value`, compressed with `dict` when given.
    pub fn with_dict(value: &Value, dict: Option<&Arc<JsonDict>>) -> Self {
        // Serializing a `Value` cannot fail (its map keys are strings).
        Self::from_json(serde_json::to_vec(value).unwrap_or_default(), dict)
    }

    /// The same document compressed with `dict`.
    #[must_use]
    pub fn compress(&self, dict: &Arc<JsonDict>) -> Self {
        match &self.0 {
            Repr::Plain(b) => Self::from_json(b.to_vec(), Some(dict)),
            Repr::Zstd { .. } => self.clone(),
        }
    }

    fn from_json(json: Vec<u8>, dict: Option<&Arc<JsonDict>>) -> Self {
        if let Some(dict) = dict
            && let Ok(len) = u32::try_from(json.len())
            && let Some(frame) = dict.compress(&json)
        {
            return Self(Repr::Zstd {
                frame,
                len,
                dict: dict.clone(),
            });
        }
        Self(Repr::Plain(json.into_boxed_slice()))
    }

    /// The JSON bytes.
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.0 {
            Repr::Plain(b) => Cow::Borrowed(b),
            // Made by `from_json`, so it decompresses (an empty fallback is unreachable).
            Repr::Zstd { frame, len, dict } => {
                Cow::Owned(dict.decompress(frame, *len as usize).unwrap_or_default())
            }
        }
    }

    /// Length of the JSON in bytes (without decompressing it).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Plain(b) => b.len(),
            Repr::Zstd { len, .. } => *len as usize,
        }
    }

    /// Whether the JSON is empty (only a default value is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parsed document.
    pub fn to_value(&self) -> Value {
        // Made from a `Value`, so it parses (the `Null` fallback is unreachable).
        serde_json::from_slice(&self.bytes()).unwrap_or(Value::Null)
    }

    /// The dictionary it is compressed with, if any.
    pub fn dict(&self) -> Option<&Arc<JsonDict>> {
        match &self.0 {
            Repr::Plain(_) => None,
            Repr::Zstd { dict, .. } => Some(dict),
        }
    }
}

impl From<&Value> for RawJson {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for RawJson {}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes()))
    }
}

impl Serialize for RawJson {
    /// As the document itself (the plan prints the same as when it held `Value`s).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// A zstd dictionary for the items of one backup, trained on a sample of them. Kubernetes
/// objects are small and repeat the same keys, labels and `managedFields` shapes: compressed one
/// by one without a dictionary they shrink by about a half, with one by four to six times.
pub struct JsonDict {
    cdict: zstd::zstd_safe::CDict<'static>,
    ddict: zstd::zstd_safe::DDict<'static>,
}

/// Size limit of a trained dictionary.
const DICT_SIZE: usize = 16 * 1024;
/// zstd level: the fastest (the dictionary does the work).
const DICT_LEVEL: i32 = 1;

thread_local! {
    static CCTX: RefCell<Option<zstd::zstd_safe::CCtx<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::zstd_safe::DCtx<'static>>> = const { RefCell::new(None) };
}

impl JsonDict {
    /// Trains a dictionary on `samples` (JSON documents); `None` when zstd finds none (too few
    /// or too small samples).
    pub fn train<S: AsRef<[u8]>>(samples: &[S]) -> Option<Arc<Self>> {
        let dict = zstd::dict::from_samples(samples, DICT_SIZE).ok()?;
        Some(Arc::new(Self {
            cdict: zstd::zstd_safe::CDict::try_create(&dict, DICT_LEVEL)?,
            ddict: zstd::zstd_safe::DDict::try_create(&dict)?,
        }))
    }

    fn compress(&self, src: &[u8]) -> Option<Box<[u8]>> {
        CCTX.with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            if c.is_none() {
                *c = zstd::zstd_safe::CCtx::try_create();
            }
            let cctx = c.as_mut()?;
            let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(src.len()));
            cctx.compress_using_cdict(&mut out, src, &self.cdict).ok()?;
            Some(out.into_boxed_slice())
        })
    }

    fn decompress(&self, frame: &[u8], len: usize) -> Option<Vec<u8>> {
        DCTX.with(|d| {
            let mut d = d.try_borrow_mut().ok()?;
            if d.is_none() {
                *d = zstd::zstd_safe::DCtx::try_create();
            }
            let dctx = d.as_mut()?;
            let mut out = Vec::with_capacity(len);
            dctx.decompress_using_ddict(&mut out, frame, &self.ddict).ok()?;
            (out.len() == len).then_some(out)
        })
    }
}

impl fmt::Debug for JsonDict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JsonDict")
    }
}
