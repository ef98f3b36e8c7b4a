//! Velero's resource list (`<name>-resource-list.json.gz`) names every backed-up item, so it is
//! the one part of a backup's memory that grows with the object count. It is held front-coded.

use serde::Serialize;

/// The keys (`ns/name`) of one resource-list entry, front-coded in one buffer: Velero's
/// resource list names every item, so it grows with the backup. A LIST returns a type's items in
/// key order, so consecutive keys share most of their bytes; each key is stored as the length of
/// the prefix it shares with the previous one, the length of the rest, and the rest — a few
/// bytes per item instead of the whole key and a tree node.
#[derive(Default)]
pub(super) struct KeyList {
    buf: Vec<u8>,
    last: Vec<u8>,
    len: usize,
    /// Keys equal to the one pushed just before them.
    repeats: usize,
    /// Some key came before the one pushed ahead of it.
    unsorted: bool,
}

impl KeyList {
    pub(super) fn push(&mut self, key: &str) {
        let key = key.as_bytes();
        let shared = self.last.iter().zip(key).take_while(|(a, b)| a == b).count();
        if self.len > 0 {
            if key < self.last.as_slice() {
                self.unsorted = true;
            } else if key == self.last.as_slice() {
                self.repeats += 1;
            }
        }
        put_varint(&mut self.buf, shared);
        put_varint(&mut self.buf, key.len() - shared);
        self.buf.extend_from_slice(&key[shared..]);
        self.last.truncate(shared);
        self.last.extend_from_slice(&key[shared..]);
        self.len += 1;
    }

    /// Calls `f` with every key in push order and whether it repeats the key before it.
    fn for_each(&self, mut f: impl FnMut(&[u8], bool)) {
        let mut key: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut first = true;
        while pos < self.buf.len() {
            let shared = get_varint(&self.buf, &mut pos);
            let rest = get_varint(&self.buf, &mut pos);
            let repeat = !first && rest == 0 && shared == key.len();
            key.truncate(shared);
            key.extend_from_slice(&self.buf[pos..pos + rest]);
            pos += rest;
            first = false;
            f(&key, repeat);
        }
    }

    /// The keys sorted and de-duplicated (Velero's order). Already-sorted lists (the usual case)
    /// stay front-coded; others are decoded and sorted.
    pub(super) fn into_sorted(self) -> SortedKeys {
        if self.unsorted {
            let mut keys: Vec<String> = Vec::with_capacity(self.len);
            self.for_each(|k, _| keys.push(String::from_utf8_lossy(k).into_owned()));
            keys.sort_unstable();
            keys.dedup();
            return SortedKeys::Decoded(keys);
        }
        SortedKeys::Coded(self)
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        buf.push(u8::try_from(v & 0x7f).unwrap_or_default() | 0x80);
        v >>= 7;
    }
    buf.push(u8::try_from(v).unwrap_or_default());
}

fn get_varint(buf: &[u8], pos: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    while let Some(&b) = buf.get(*pos) {
        *pos += 1;
        v |= usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

/// A resource-list entry in sorted, de-duplicated order.
pub(super) enum SortedKeys {
    /// Pushed in order: equal keys are adjacent and skipped when written.
    Coded(KeyList),
    Decoded(Vec<String>),
}

impl SortedKeys {
    pub(super) fn len(&self) -> usize {
        match self {
            SortedKeys::Coded(keys) => keys.len - keys.repeats,
            SortedKeys::Decoded(keys) => keys.len(),
        }
    }
}

impl Serialize for SortedKeys {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            SortedKeys::Decoded(keys) => keys.serialize(s),
            SortedKeys::Coded(keys) => {
                let mut seq = s.serialize_seq(Some(self.len()))?;
                let mut result = Ok(());
                keys.for_each(|k, repeat| {
                    if result.is_ok() && !repeat {
                        result = seq.serialize_element(&*String::from_utf8_lossy(k));
                    }
                });
                result?;
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(keys: &[&str]) -> (usize, String) {
        let mut l = KeyList::default();
        for k in keys {
            l.push(k);
        }
        let sorted = l.into_sorted();
        (sorted.len(), serde_json::to_string(&sorted).expect("serialize"))
    }

    #[test]
    fn sorted_and_deduplicated_in_either_push_order() {
        let keys = [
            "ns-a/x-001",
            "ns-a/x-002",
            "ns-a/x-002",
            "ns-b/x-001",
            "ns-b/y",
            "ns-bb/é-1",
        ];
        let want = r#"["ns-a/x-001","ns-a/x-002","ns-b/x-001","ns-b/y","ns-bb/é-1"]"#;
        assert_eq!(written(&keys), (5, want.to_owned()));
        let mut shuffled = keys;
        shuffled.reverse();
        assert_eq!(written(&shuffled), (5, want.to_owned()));
        assert_eq!(written(&[]), (0, "[]".to_owned()));
    }

    #[test]
    fn long_keys_round_trip() {
        let long = format!("ns/{}", "n".repeat(300));
        let longer = format!("ns/{}", "n".repeat(301));
        assert_eq!(
            written(&[&long, &longer]).1,
            serde_json::to_string(&[&long, &longer]).expect("serialize")
        );
    }
}
