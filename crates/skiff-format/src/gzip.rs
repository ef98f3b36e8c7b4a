//! Multi-member gzip decoding that checks every member and what follows the last one.
//!
//! Velero writes one gzip member, skiff many; both must decode completely: every member's CRC-32
//! and ISIZE are checked (including the last one's, which a tar reader that stops at the
//! end-of-archive blocks never reaches), truncation anywhere is an error, and after the last
//! member only zero bytes may follow (tape padding, which GNU gzip and Python also accept).

use std::io::{self, BufRead, Read};

use flate2::bufread::GzDecoder;

/// Size of the buffer over the compressed input.
const INPUT_BUFFER: usize = 64 << 10;

/// A buffered reader over the compressed input that counts the bytes consumed (the exact
/// position in the `.tar.gz`, unlike a count of bytes read ahead) and remembers whether the
/// input itself failed.
pub(crate) struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    consumed: u64,
    failed: bool,
}

impl<R: Read> Source<R> {
    pub(crate) fn new(inner: R) -> Self {
        Source {
            inner,
            buf: vec![0; INPUT_BUFFER].into_boxed_slice(),
            pos: 0,
            filled: 0,
            consumed: 0,
            failed: false,
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(out.len());
            out[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            self.pos = 0;
            self.filled = 0;
            loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => {
                        self.filled = n;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.failed = true;
                        return Err(e);
                    }
                }
            }
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.filled - self.pos);
        self.pos += amt;
        self.consumed += amt as u64;
    }
}

enum State<R> {
    /// Between members (or before the first): the next byte starts a member, zero padding, or
    /// the end.
    Between(Source<R>),
    /// Inside a member.
    Member(Box<GzDecoder<Source<R>>>),
    /// After the end of the input (or a failure).
    Done(Source<R>),
    /// Transient, while moving the source between states.
    Empty,
}

/// Which layer an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The compressed input could not be read.
    Source,
    /// The gzip data is corrupt, truncated, or followed by garbage.
    Gzip,
}

/// Decompresses all members of a gzip stream, checking each completely.
pub(crate) struct Members<R> {
    state: State<R>,
    /// Members started so far.
    started: u64,
    /// Bytes produced so far.
    produced: u64,
    /// Refuse output beyond this many bytes (an error of the gzip layer).
    max_output: u64,
    /// Exactly one member and nothing after it (a member fetched by a ranged read).
    single: bool,
    failure: Option<Failure>,
}

fn gzip_error(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> Members<R> {
    pub(crate) fn new(input: R, single: bool, max_output: u64) -> Self {
        Members {
            state: State::Between(Source::new(input)),
            started: 0,
            produced: 0,
            max_output,
            single,
            failure: None,
        }
    }

    /// Compressed bytes consumed.
    pub(crate) fn consumed(&self) -> u64 {
        match &self.state {
            State::Between(s) | State::Done(s) => s.consumed,
            State::Member(d) => d.get_ref().consumed,
            State::Empty => 0,
        }
    }

    /// Decompressed bytes produced.
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    /// Members started so far.
    pub(crate) fn members(&self) -> u64 {
        self.started
    }

    /// The layer of the last error, if any.
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.failure
    }

    fn source_failed(&self) -> bool {
        match &self.state {
            State::Between(s) | State::Done(s) => s.failed,
            State::Member(d) => d.get_ref().failed,
            State::Empty => false,
        }
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failure = Some(if self.source_failed() {
            Failure::Source
        } else {
            Failure::Gzip
        });
        e
    }

    /// At a member boundary: decide what the next bytes are.
    fn between(&mut self, mut src: Source<R>) -> io::Result<State<R>> {
        let first = match src.fill_buf() {
            Ok(b) => b.first().copied(),
            Err(e) => {
                self.state = State::Done(src);
                return Err(e);
            }
        };
        match first {
            None if self.started == 0 => Err(gzip_error("empty input: not a gzip stream")),
            None => Ok(State::Done(src)),
            Some(_) if self.single && self.started > 0 => Err(gzip_error("data after the gzip member")),
            Some(0) if self.started > 0 => {
                // Zero padding after the last member: only zeros up to the end.
                loop {
                    let buf = src.fill_buf()?;
                    if buf.is_empty() {
                        return Ok(State::Done(src));
                    }
                    let n = buf.len();
                    if buf.iter().any(|&b| b != 0) {
                        return Err(gzip_error("trailing garbage after the last gzip member"));
                    }
                    src.consume(n);
                }
            }
            Some(_) => {
                self.started += 1;
                Ok(State::Member(Box::new(GzDecoder::new(src))))
            }
        }
    }
}

impl<R: Read> Read for Members<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.failure.is_some() {
            return Err(gzip_error("gzip stream already failed"));
        }
        loop {
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Between(src) => match self.between(src) {
                    Ok(next) => self.state = next,
                    Err(e) => return Err(self.fail(e)),
                },
                State::Member(mut dec) => match dec.read(out) {
                    Ok(0) => self.state = State::Between(dec.into_inner()),
                    Ok(n) => {
                        self.state = State::Member(dec);
                        self.produced += n as u64;
                        if self.produced > self.max_output {
                            return Err(self.fail(gzip_error("decompressed data exceeds the limit")));
                        }
                        return Ok(n);
                    }
                    Err(e) => {
                        self.state = State::Member(dec);
                        let e = if e.kind() == io::ErrorKind::UnexpectedEof {
                            io::Error::new(io::ErrorKind::UnexpectedEof, "gzip stream truncated")
                        } else {
                            e
                        };
                        return Err(self.fail(e));
                    }
                },
                State::Done(src) => {
                    self.state = State::Done(src);
                    return Ok(0);
                }
                State::Empty => return Err(gzip_error("gzip stream already failed")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gojson::gzip_sidecar;

    fn all(data: &[u8], single: bool) -> (io::Result<Vec<u8>>, Option<Failure>) {
        let mut m = Members::new(data, single, u64::MAX);
        let mut out = Vec::new();
        let r = m.read_to_end(&mut out).map(|_| out);
        (r, m.failure())
    }

    #[test]
    fn members_padding_and_garbage() {
        let mut two = gzip_sidecar(b"hello ");
        two.extend_from_slice(&gzip_sidecar(b"world"));
        assert_eq!(all(&two, false).0.unwrap(), b"hello world");
        let mut padded = two.clone();
        padded.extend_from_slice(&[0; 1000]);
        assert_eq!(all(&padded, false).0.unwrap(), b"hello world");
        let mut garbage = two.clone();
        garbage.extend_from_slice(b"\0\0x");
        assert_eq!(all(&garbage, false).1, Some(Failure::Gzip));
        assert_eq!(all(&two, true).1, Some(Failure::Gzip));
        for cut in 1..=8 {
            let (r, f) = all(&two[..two.len() - cut], false);
            assert!(r.is_err(), "cut {cut}");
            assert_eq!(f, Some(Failure::Gzip));
        }
        let mut flipped = gzip_sidecar(b"hello world, hello world");
        let n = flipped.len();
        flipped[n - 9] ^= 1; // last byte of the deflate data
        assert!(all(&flipped, false).0.is_err());
        assert_eq!(all(b"", false).1, Some(Failure::Gzip));
    }

    #[test]
    fn output_limit() {
        let z = gzip_sidecar(&[0; 10_000]);
        let mut m = Members::new(&z[..], false, 100);
        let err = m.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
