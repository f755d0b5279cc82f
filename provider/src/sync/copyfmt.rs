//! PostgreSQL COPY streams: parse rows out of `COPY ... TO STDOUT`, rewrite the sanitized
//! fields, and emit the `COPY ... FROM STDIN` stream, without decoding the fields no rule needs.
//!
//! Binary format is the default (no text parsing on the target, ~30% faster end to end); the text
//! format is the fallback for tables whose binary form is not portable between servers (arrays
//! and composites of user-defined types carry the type's OID) or whose ruled columns have a type
//! this module cannot encode in binary.

use std::hash::{BuildHasher, Hasher};

use bytes::{BufMut, Bytes, BytesMut};

use super::report::{Check, CheckKind};
use super::rules::TableTransform;

pub(crate) const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Binary,
    Text,
}

/// Binary wire types this module can turn into text and back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinType {
    Int2,
    Int4,
    Int8,
    /// text, varchar, bpchar, name, citext, enum labels, xml, json: the bytes are UTF-8 text.
    Text,
    /// jsonb: a version byte (1) then text.
    Jsonb,
    Uuid,
    Bool,
    /// Anything else: passed through untouched, never decoded.
    Opaque,
}

impl BinType {
    /// From `pg_type.typname` / `typtype` of the column type.
    pub fn of(typname: &str, typtype: &str) -> BinType {
        match typname {
            "int2" => BinType::Int2,
            "int4" => BinType::Int4,
            "int8" => BinType::Int8,
            "text" | "varchar" | "bpchar" | "name" | "citext" | "json" | "xml" => BinType::Text,
            "jsonb" => BinType::Jsonb,
            "uuid" => BinType::Uuid,
            "bool" => BinType::Bool,
            _ if typtype == "e" => BinType::Text,
            _ => BinType::Opaque,
        }
    }

    pub fn decodable(self) -> bool {
        self != BinType::Opaque
    }

    fn decode(self, raw: &[u8]) -> Option<String> {
        Some(match self {
            BinType::Int2 => i16::from_be_bytes(raw.try_into().ok()?).to_string(),
            BinType::Int4 => i32::from_be_bytes(raw.try_into().ok()?).to_string(),
            BinType::Int8 => i64::from_be_bytes(raw.try_into().ok()?).to_string(),
            BinType::Text => String::from_utf8_lossy(raw).into_owned(),
            BinType::Jsonb => String::from_utf8_lossy(raw.get(1..)?).into_owned(),
            BinType::Uuid => {
                let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                if h.len() != 32 {
                    return None;
                }
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[0..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            }
            BinType::Bool => (if raw.first() == Some(&1) {
                "true"
            } else {
                "false"
            })
            .into(),
            BinType::Opaque => return None,
        })
    }

    fn encode(self, s: &str, out: &mut BytesMut) -> Result<(), String> {
        let start = out.len();
        out.put_i32(0);
        match self {
            BinType::Int2 => out.put_i16(s.trim().parse().map_err(|_| bad(s, "smallint"))?),
            BinType::Int4 => out.put_i32(s.trim().parse().map_err(|_| bad(s, "integer"))?),
            BinType::Int8 => out.put_i64(s.trim().parse().map_err(|_| bad(s, "bigint"))?),
            BinType::Text => out.put_slice(s.as_bytes()),
            BinType::Jsonb => {
                out.put_u8(1);
                out.put_slice(s.as_bytes());
            }
            BinType::Uuid => {
                let hex: Vec<u8> = s.bytes().filter(|c| *c != b'-').collect();
                if hex.len() != 32 {
                    return Err(bad(s, "uuid"));
                }
                for pair in hex.chunks(2) {
                    let p = std::str::from_utf8(pair).map_err(|_| bad(s, "uuid"))?;
                    out.put_u8(u8::from_str_radix(p, 16).map_err(|_| bad(s, "uuid"))?);
                }
            }
            BinType::Bool => out.put_u8(match s {
                "t" | "true" | "1" | "yes" | "on" => 1,
                "f" | "false" | "0" | "no" | "off" => 0,
                _ => return Err(bad(s, "boolean")),
            }),
            BinType::Opaque => return Err("cannot encode this type in binary COPY".into()),
        }
        let len = (out.len() - start - 4) as i32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

fn bad(s: &str, ty: &str) -> String {
    // The value itself stays out of the message: it may be PII.
    format!(
        "a rule produced a value of {} bytes that is not a valid {ty}",
        s.len()
    )
}

/// Text-format field → value (`\N` is handled by the caller).
pub(crate) fn text_unescape(raw: &[u8]) -> String {
    if !raw.contains(&b'\\') {
        return String::from_utf8_lossy(raw).into_owned();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' || i + 1 >= raw.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let n = raw[i + 1];
        i += 2;
        match n {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(n - b'0');
                let mut k = 0;
                while k < 2 && i < raw.len() && (b'0'..=b'7').contains(&raw[i]) {
                    v = v * 8 + u32::from(raw[i] - b'0');
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            b'x' => {
                let mut v = 0u32;
                let mut k = 0;
                while k < 2 && i < raw.len() && raw[i].is_ascii_hexdigit() {
                    v = v * 16 + (raw[i] as char).to_digit(16).unwrap_or(0);
                    i += 1;
                    k += 1;
                }
                out.push(v as u8);
            }
            other => out.push(other),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn text_escape(s: &str, out: &mut BytesMut) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.put_slice(b"\\\\"),
            b'\t' => out.put_slice(b"\\t"),
            b'\n' => out.put_slice(b"\\n"),
            b'\r' => out.put_slice(b"\\r"),
            _ => out.put_u8(b),
        }
    }
}

/// A bounded sample of hashed source values of one sanitized column (reservoir sampling beyond
/// the limit), probed against the target afterwards.
#[derive(Clone, Debug)]
pub(crate) struct ProbeSet {
    pub column: usize,
    pub limit: usize,
    pub seen: u64,
    hashes: Vec<u64>,
    /// Set by [`ProbeSet::seal`]: where each bucket of hashes (by their top `bits` bits) starts
    /// in the sorted `hashes`, plus the end. The hashes are uniform, so a bucket holds about
    /// eight: a lookup reads one directory entry and one cache line of hashes, where a binary
    /// search over a million of them misses the cache twenty times (it was 6% of the sync's
    /// CPU, on every value the leak probe reads back).
    buckets: Vec<u32>,
    bits: u32,
}

/// Hashes per directory bucket, at least (log2).
const PER_BUCKET_LOG2: u32 = 3;

/// A hash's bucket: its top `bits` bits (none: bucket 0).
fn bucket_of(h: u64, bits: u32) -> usize {
    h.checked_shr(64 - bits).unwrap_or(0) as usize
}

impl ProbeSet {
    pub fn new(column: usize, limit: usize) -> Self {
        ProbeSet {
            column,
            limit,
            seen: 0,
            hashes: Vec::new(),
            buckets: Vec::new(),
            bits: 0,
        }
    }
    pub fn add(&mut self, h: u64) {
        self.seen += 1;
        if self.hashes.len() < self.limit {
            self.hashes.push(h);
        } else if self.limit > 0 {
            let j = rand::random_range(0..self.seen);
            if (j as usize) < self.limit {
                self.hashes[j as usize] = h;
            }
        }
    }
    /// The sample is complete: sorted, deduplicated and indexed for [`ProbeSet::contains`].
    pub fn seal(&mut self) {
        self.hashes.sort_unstable();
        self.hashes.dedup();
        self.hashes.shrink_to_fit();
        let n = self.hashes.len();
        if u32::try_from(n).is_err() {
            // Beyond what the directory's offsets can hold: binary search.
            self.buckets.clear();
            return;
        }
        self.bits = n.max(1).ilog2().saturating_sub(PER_BUCKET_LOG2);
        self.buckets = vec![0; (1usize << self.bits) + 1];
        // Counting, then prefix sums: buckets[b] = how many hashes fall before bucket b.
        for &h in &self.hashes {
            let b = bucket_of(h, self.bits);
            self.buckets[b + 1] += 1;
        }
        for b in 1..self.buckets.len() {
            self.buckets[b] += self.buckets[b - 1];
        }
    }

    /// The leak-probe check of target column `table.column`, in which `hits` of `scanned`
    /// values matched a remembered source value. The detail holds counts only, never values.
    pub fn check(&self, table: &str, column: &str, hits: u64, scanned: u64) -> Check {
        let sampled = self.seen as usize > self.hashes.len();
        Check::new(
            CheckKind::LeakProbe,
            table,
            column,
            hits == 0,
            format!(
                "{hits} of {scanned} target values equal a source value ({} distinct source values{})",
                self.hashes.len(),
                if sampled { ", sampled" } else { "" }
            ),
        )
    }

    /// Whether `h` is in the sample (after [`ProbeSet::seal`]).
    pub fn contains(&self, h: u64) -> bool {
        let b = bucket_of(h, self.bits);
        match self.buckets.get(b..b + 2) {
            Some(&[start, end]) => self.hashes[start as usize..end as usize].contains(&h),
            _ => self.hashes.binary_search(&h).is_ok(),
        }
    }
}

/// Keyed (a new key per run) hash of the values the leak probe remembers. Not cryptographic,
/// and it need not be: equal values always hash alike, so a collision can only report a leak
/// that is not there, never hide one; it is several times faster than SipHash on every
/// sanitized value of the copy.
pub(crate) type ProbeHasher = foldhash::quality::RandomState;

pub(crate) fn hash_bytes<S: BuildHasher>(state: &S, raw: &[u8]) -> u64 {
    let mut h = state.build_hasher();
    h.write(raw);
    h.finish()
}

/// Streaming transcoder for one table: feed source COPY chunks, take target COPY chunks.
pub(crate) struct Transcoder<S: BuildHasher> {
    format: Format,
    types: Vec<BinType>,
    tt: TableTransform,
    inbuf: BytesMut,
    out: BytesMut,
    header_seen: bool,
    trailer_seen: bool,
    pub rows: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub probes: Vec<ProbeSet>,
    hasher: S,
    /// Per column, the encoded output of a rule that gives every row the same value
    /// (`Some(None)`: NULL), written as is instead of evaluating the rule on every row.
    constants: Vec<Option<Option<Vec<u8>>>>,
    /// Whether some ruled column is not constant (only then is the rule set evaluated per row).
    evaluate: bool,
    // scratch
    fields: Vec<(usize, i32)>,
    results: Vec<Option<Option<String>>>,
}

impl<S: BuildHasher> Transcoder<S> {
    /// `server_constants[i]`: column `i`'s constant as the target server encoded it in binary
    /// (without its length), for types this module has no encoder for; may be empty.
    pub fn new(
        format: Format,
        types: Vec<BinType>,
        tt: TableTransform,
        probe_limit: usize,
        hasher: S,
        server_constants: &[Option<Vec<u8>>],
    ) -> Self {
        let n = types.len();
        let probes = tt
            .actions
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_some())
            .map(|(i, _)| ProbeSet::new(i, probe_limit))
            .collect();
        let constants: Vec<Option<Option<Vec<u8>>>> = tt
            .actions
            .iter()
            .zip(&types)
            .enumerate()
            .map(|(i, (a, ty))| {
                let value = a.as_ref()?.constant_output()?;
                let Some(v) = value else {
                    return Some(None);
                };
                let mut b = BytesMut::new();
                match (format, server_constants.get(i)) {
                    // Encoded by the target server (a type this module has no encoder for).
                    (Format::Binary, Some(Some(bytes))) => {
                        b.put_i32(bytes.len() as i32);
                        b.put_slice(bytes);
                    }
                    // A value the column's type cannot hold stays on the per-row path, which
                    // reports it.
                    (Format::Binary, _) => ty.encode(&v, &mut b).ok()?,
                    (Format::Text, _) => text_escape(&v, &mut b),
                }
                Some(Some(b.to_vec()))
            })
            .collect();
        let evaluate = tt
            .actions
            .iter()
            .zip(&constants)
            .any(|(a, c)| a.is_some() && c.is_none());
        let mut out = BytesMut::with_capacity(256 * 1024);
        if format == Format::Binary {
            out.put_slice(BINARY_HEADER);
            out.put_i32(0);
            out.put_i32(0);
        }
        Transcoder {
            format,
            types,
            tt,
            inbuf: BytesMut::new(),
            out,
            header_seen: false,
            trailer_seen: false,
            rows: 0,
            bytes_in: 0,
            bytes_out: 0,
            probes,
            hasher,
            constants,
            evaluate,
            fields: Vec::with_capacity(n),
            results: vec![None; n],
        }
    }

    /// Output waiting to be sent.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    pub fn take(&mut self) -> Bytes {
        self.bytes_out += self.out.len() as u64;
        self.out.split().freeze()
    }

    pub fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.bytes_in += chunk.len() as u64;
        if self.inbuf.is_empty() {
            // Common case (one CopyData message per row): parse straight from the chunk.
            let used = self.parse(chunk)?;
            if used < chunk.len() {
                self.inbuf.extend_from_slice(&chunk[used..]);
            }
        } else {
            self.inbuf.extend_from_slice(chunk);
            let buf = std::mem::take(&mut self.inbuf);
            let used = self.parse(&buf)?;
            self.inbuf = buf;
            let _ = self.inbuf.split_to(used);
        }
        Ok(())
    }

    /// End of the source stream: everything must have been consumed.
    pub fn finish(&mut self) -> Result<(), String> {
        if !self.inbuf.is_empty() {
            return Err(format!(
                "source COPY stream ended inside a row ({} bytes left)",
                self.inbuf.len()
            ));
        }
        if self.format == Format::Binary {
            if !self.trailer_seen {
                return Err("source binary COPY stream ended without its trailer".into());
            }
            self.out.put_i16(-1);
        }
        // The probes stay unsealed: sorting a million hashes is not work the target's COPY
        // should wait for. Whoever checks the table seals them.
        Ok(())
    }

    /// Parse as many complete rows as `buf` holds; returns bytes consumed.
    fn parse(&mut self, buf: &[u8]) -> Result<usize, String> {
        match self.format {
            Format::Binary => self.parse_binary(buf),
            Format::Text => self.parse_text(buf),
        }
    }

    fn parse_binary(&mut self, buf: &[u8]) -> Result<usize, String> {
        let mut pos = 0;
        if !self.header_seen {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != BINARY_HEADER {
                return Err("source COPY stream has no binary header".into());
            }
            let ext = i32::from_be_bytes(buf[15..19].try_into().expect("4 bytes")) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_seen = true;
        }
        loop {
            if self.trailer_seen {
                return Ok(buf.len());
            }
            let start = pos;
            if buf.len() < pos + 2 {
                return Ok(start);
            }
            let nf = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            pos += 2;
            if nf == -1 {
                self.trailer_seen = true;
                return Ok(pos);
            }
            if nf as usize != self.types.len() {
                return Err(format!(
                    "source row has {nf} fields, expected {}",
                    self.types.len()
                ));
            }
            self.fields.clear();
            let mut complete = true;
            for _ in 0..nf {
                if buf.len() < pos + 4 {
                    complete = false;
                    break;
                }
                let len = i32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes"));
                pos += 4;
                let l = len.max(0) as usize;
                if buf.len() < pos + l {
                    complete = false;
                    break;
                }
                self.fields.push((pos, len));
                pos += l;
            }
            if !complete {
                return Ok(start);
            }
            self.rows += 1;
            self.emit_binary(&buf[start..pos], buf)?;
        }
    }

    fn emit_binary(&mut self, row: &[u8], buf: &[u8]) -> Result<(), String> {
        if self.tt.is_identity() {
            self.out.put_slice(row);
            return Ok(());
        }
        let types = &self.types;
        let fields = &self.fields;
        let field = |i: usize| -> Option<&[u8]> {
            let (off, len) = fields[i];
            (len >= 0).then(|| &buf[off..off + len as usize])
        };
        for p in &mut self.probes {
            if let Some(v) = field(p.column) {
                p.add(hash_bytes(&self.hasher, v));
            }
        }
        let mut text = |i: usize| field(i).and_then(|v| types[i].decode(v));
        let is_null = |i: usize| fields[i].1 < 0;
        if self.evaluate {
            self.tt
                .eval(self.rows, &mut text, &is_null, &mut self.results);
        }
        self.out.put_i16(types.len() as i16);
        for i in 0..types.len() {
            match (&self.constants[i], &self.tt.actions[i], &self.results[i]) {
                // A NULL stays NULL whatever the rule.
                (Some(Some(c)), _, _) if !is_null(i) => self.out.put_slice(c),
                (Some(_), _, _) => self.out.put_i32(-1),
                (None, Some(_), Some(Some(v))) => types[i].encode(v, &mut self.out)?,
                (None, Some(_), _) => self.out.put_i32(-1),
                (None, None, _) => {
                    let (off, len) = fields[i];
                    self.out.put_i32(len);
                    if len > 0 {
                        self.out.put_slice(&buf[off..off + len as usize]);
                    }
                }
            }
        }
        Ok(())
    }

    fn parse_text(&mut self, buf: &[u8]) -> Result<usize, String> {
        let mut pos = 0;
        while let Some(nl) = memchr(b'\n', &buf[pos..]) {
            let line = &buf[pos..pos + nl];
            self.rows += 1;
            self.emit_text(line)?;
            pos += nl + 1;
        }
        Ok(pos)
    }

    fn emit_text(&mut self, line: &[u8]) -> Result<(), String> {
        if self.tt.is_identity() {
            self.out.put_slice(line);
            self.out.put_u8(b'\n');
            return Ok(());
        }
        self.fields.clear();
        let mut start = 0;
        for (i, &b) in line.iter().enumerate() {
            if b == b'\t' {
                self.fields.push((start, (i - start) as i32));
                start = i + 1;
            }
        }
        self.fields.push((start, (line.len() - start) as i32));
        if self.fields.len() != self.types.len() {
            return Err(format!(
                "source row has {} fields, expected {}",
                self.fields.len(),
                self.types.len()
            ));
        }
        let fields = &self.fields;
        let field = |i: usize| -> Option<&[u8]> {
            let (off, len) = fields[i];
            let v = &line[off..off + len as usize];
            (v != b"\\N").then_some(v)
        };
        for p in &mut self.probes {
            if let Some(v) = field(p.column) {
                p.add(hash_bytes(&self.hasher, v));
            }
        }
        let mut text = |i: usize| field(i).map(text_unescape);
        let is_null = |i: usize| field(i).is_none();
        if self.evaluate {
            self.tt
                .eval(self.rows, &mut text, &is_null, &mut self.results);
        }
        for (i, &(off, len)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.put_u8(b'\t');
            }
            match (&self.constants[i], &self.tt.actions[i], &self.results[i]) {
                // A NULL stays NULL whatever the rule.
                (Some(Some(c)), _, _) if !is_null(i) => self.out.put_slice(c),
                (Some(_), _, _) => self.out.put_slice(b"\\N"),
                (None, Some(_), Some(Some(v))) => text_escape(v, &mut self.out),
                (None, Some(_), _) => self.out.put_slice(b"\\N"),
                (None, None, _) => self.out.put_slice(&line[off..off + len as usize]),
            }
        }
        self.out.put_u8(b'\n');
        Ok(())
    }
}

/// Walks a COPY stream of the probed columns of one table (one scan of the table for all of
/// them) and reports each non-NULL raw field with its column's position in the stream.
pub(crate) struct ColumnScanner {
    format: Format,
    columns: usize,
    inbuf: BytesMut,
    header_seen: bool,
    /// Rows seen so far, NULLs included: the probe scan doubles as the row count.
    pub rows: u64,
}

impl ColumnScanner {
    pub fn new(format: Format, columns: usize) -> Self {
        ColumnScanner {
            format,
            columns,
            inbuf: BytesMut::new(),
            header_seen: false,
            rows: 0,
        }
    }

    pub fn push(&mut self, chunk: &[u8], f: &mut dyn FnMut(usize, &[u8])) -> Result<(), String> {
        if self.inbuf.is_empty() {
            // Common case (one CopyData message per row): parse straight from the chunk.
            let used = self.parse(chunk, f)?;
            self.inbuf.extend_from_slice(&chunk[used..]);
        } else {
            self.inbuf.extend_from_slice(chunk);
            let buf = std::mem::take(&mut self.inbuf);
            let used = self.parse(&buf, f)?;
            self.inbuf = buf;
            let _ = self.inbuf.split_to(used);
        }
        Ok(())
    }

    /// Parse the complete rows `buf` holds; returns the bytes consumed.
    fn parse(&mut self, buf: &[u8], f: &mut dyn FnMut(usize, &[u8])) -> Result<usize, String> {
        let mut pos = 0;
        match self.format {
            Format::Text => {
                while let Some(nl) = memchr(b'\n', &buf[pos..]) {
                    let line = &buf[pos..pos + nl];
                    self.rows += 1;
                    // A tab inside a value is escaped, so every raw tab separates fields.
                    let mut n = 0;
                    for v in line.split(|&b| b == b'\t') {
                        if v != b"\\N" {
                            f(n, v);
                        }
                        n += 1;
                    }
                    if n != self.columns {
                        return Err(format!(
                            "probe stream has {n} fields per row, expected {}",
                            self.columns
                        ));
                    }
                    pos += nl + 1;
                }
            }
            Format::Binary => {
                if !self.header_seen {
                    if buf.len() < 19 {
                        return Ok(0);
                    }
                    let ext = i32::from_be_bytes(buf[15..19].try_into().expect("4 bytes")) as usize;
                    if buf.len() < 19 + ext {
                        return Ok(0);
                    }
                    pos = 19 + ext;
                    self.header_seen = true;
                }
                'rows: while buf.len() >= pos + 2 {
                    let nf = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
                    if nf == -1 {
                        return Ok(buf.len());
                    }
                    if nf as usize != self.columns {
                        return Err(format!(
                            "probe stream has {nf} fields per row, expected {}",
                            self.columns
                        ));
                    }
                    // Only whole rows are reported, so a row split across chunks is seen once.
                    let mut end = pos + 2;
                    for _ in 0..nf {
                        if buf.len() < end + 4 {
                            break 'rows;
                        }
                        let len = i32::from_be_bytes(buf[end..end + 4].try_into().expect("4"));
                        end += 4 + len.max(0) as usize;
                        if buf.len() < end {
                            break 'rows;
                        }
                    }
                    let mut at = pos + 2;
                    for n in 0..self.columns {
                        let len = i32::from_be_bytes(buf[at..at + 4].try_into().expect("4"));
                        at += 4;
                        if len >= 0 {
                            f(n, &buf[at..at + len as usize]);
                            at += len as usize;
                        }
                    }
                    self.rows += 1;
                    pos = end;
                }
            }
        }
        Ok(pos)
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::rules::{HashKey, Transform};
    use std::collections::hash_map::RandomState;

    fn tt(cols: &[(&str, Option<Transform>)]) -> TableTransform {
        let c: Vec<_> = cols
            .iter()
            .map(|(n, t)| (n.to_string(), t.clone(), None))
            .collect();
        TableTransform::compile("users", &c, &["id".into()], &HashKey::new("k")).unwrap()
    }

    fn bin_row(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut v = (fields.len() as i16).to_be_bytes().to_vec();
        for f in fields {
            match f {
                Some(b) => {
                    v.extend((b.len() as i32).to_be_bytes());
                    v.extend(*b);
                }
                None => v.extend((-1i32).to_be_bytes()),
            }
        }
        v
    }

    #[test]
    fn probe_set_finds_exactly_the_sampled_hashes() {
        // Sizes around the directory's steps, and hashes at both ends of the range (the first
        // and the last bucket).
        for n in [0usize, 1, 2, 7, 8, 9, 100, 4096, 50_000] {
            let mut p = ProbeSet::new(0, usize::MAX);
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ n as u64;
            let mut inserted = std::collections::HashSet::new();
            for i in 0..n {
                // xorshift: spread over the whole range, duplicates possible but rare.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let h = match i {
                    0 => 0,
                    1 => u64::MAX,
                    _ => x,
                };
                p.add(h);
                inserted.insert(h);
            }
            // A duplicate is remembered once.
            if n > 2 {
                p.add(x);
            }
            p.seal();
            for &h in &inserted {
                assert!(p.contains(h), "n = {n}: {h:#x} was added");
            }
            let mut misses = 0;
            for k in 0..20_000u64 {
                let h = k.wrapping_mul(0xd6e8_feb8_6659_fd93).rotate_left(17);
                assert_eq!(p.contains(h), inserted.contains(&h), "n = {n}: {h:#x}");
                misses += u64::from(!inserted.contains(&h));
            }
            assert!(misses > 19_000, "the lookups must mostly miss");
            assert_eq!(p.hashes.len(), inserted.len());
        }
    }

    #[test]
    fn column_scanner_reads_every_probed_column_and_counts_rows_across_chunk_boundaries() {
        let mut bin = b"PGCOPY\n\xff\r\n\0".to_vec();
        bin.extend(0i32.to_be_bytes());
        bin.extend(0i32.to_be_bytes());
        for row in [
            [Some(&b"a@x.org"[..]), Some(&b"555"[..])],
            [None, None],
            [Some(&b"b@x.org"[..]), None],
        ] {
            bin.extend(bin_row(&row));
        }
        bin.extend((-1i16).to_be_bytes());
        let text = b"a@x.org\t555\n\\N\t\\N\nb@x.org\t\\N\n".to_vec();
        for (format, data) in [(Format::Binary, bin), (Format::Text, text)] {
            for size in [1, 3, 7, 1000] {
                let mut sc = ColumnScanner::new(format, 2);
                let mut seen = vec![];
                for chunk in data.chunks(size) {
                    sc.push(chunk, &mut |n, v| seen.push((n, v.to_vec())))
                        .unwrap();
                }
                assert_eq!(sc.rows, 3, "{format:?} in chunks of {size}");
                assert_eq!(
                    seen,
                    [
                        (0, b"a@x.org".to_vec()),
                        (1, b"555".to_vec()),
                        (0, b"b@x.org".to_vec())
                    ],
                    "{format:?} in chunks of {size}"
                );
            }
        }
    }

    #[test]
    fn column_scanner_refuses_rows_of_the_wrong_width() {
        let mut sc = ColumnScanner::new(Format::Text, 2);
        assert!(sc.push(b"a\tb\tc\n", &mut |_, _| {}).is_err());
        let mut sc = ColumnScanner::new(Format::Binary, 2);
        let mut bin = BINARY_HEADER.to_vec();
        bin.extend([0u8; 8]);
        bin.extend(bin_row(&[Some(&b"a"[..])]));
        assert!(sc.push(&bin, &mut |_, _| {}).is_err());
    }

    #[test]
    fn binary_rewrites_only_ruled_fields_across_chunk_boundaries() {
        let t = tt(&[
            ("id", None),
            (
                "email",
                Some(Transform::Template("staging+user{id}@example.com".into())),
            ),
            ("note", None),
            ("avatar", Some(Transform::Null)),
        ]);
        let types = vec![BinType::Int8, BinType::Text, BinType::Opaque, BinType::Text];
        let mut tc = Transcoder::new(Format::Binary, types, t, 10, RandomState::new(), &[]);
        let mut src = BINARY_HEADER.to_vec();
        src.extend([0u8; 8]);
        src.extend(bin_row(&[
            Some(&7i64.to_be_bytes()),
            Some(b"bob@corp.com"),
            Some(b"\x00\x01raw"),
            Some(b"http://x"),
        ]));
        src.extend(bin_row(&[Some(&8i64.to_be_bytes()), None, None, None]));
        src.extend((-1i16).to_be_bytes());
        for chunk in src.chunks(5) {
            tc.push(chunk).unwrap();
        }
        tc.finish().unwrap();
        assert_eq!(tc.rows, 2);
        let out = tc.take();
        let mut expect = BINARY_HEADER.to_vec();
        expect.extend([0u8; 8]);
        expect.extend(bin_row(&[
            Some(&7i64.to_be_bytes()),
            Some(b"staging+user7@example.com"),
            Some(b"\x00\x01raw"),
            None,
        ]));
        // NULL stays NULL under every rule.
        expect.extend(bin_row(&[Some(&8i64.to_be_bytes()), None, None, None]));
        expect.extend((-1i16).to_be_bytes());
        assert_eq!(&out[..], &expect[..]);
        tc.probes[0].seal();
        assert!(tc.probes[0].contains(hash_bytes(&tc.hasher, b"bob@corp.com")));
    }

    #[test]
    fn constant_rules_are_encoded_once_and_keep_nulls() {
        let t = tt(&[
            ("id", None),
            ("body", Some(Transform::Fixed("generic\ttext".into()))),
            ("media", Some(Transform::Null)),
            ("title", Some(Transform::Template("Untitled".into()))),
        ]);
        let types = vec![BinType::Int8, BinType::Text, BinType::Text, BinType::Text];
        let mut tc = Transcoder::new(
            Format::Binary,
            types,
            t.clone(),
            10,
            RandomState::new(),
            &[],
        );
        assert!(
            !tc.evaluate,
            "only constant rules: nothing to evaluate per row"
        );
        let mut src = BINARY_HEADER.to_vec();
        src.extend([0u8; 8]);
        src.extend(bin_row(&[
            Some(&1i64.to_be_bytes()),
            Some(b"secret"),
            Some(b"http://m"),
            Some(b"t"),
        ]));
        src.extend(bin_row(&[
            Some(&2i64.to_be_bytes()),
            None,
            Some(b"x"),
            None,
        ]));
        src.extend((-1i16).to_be_bytes());
        tc.push(&src).unwrap();
        tc.finish().unwrap();
        let mut expect = BINARY_HEADER.to_vec();
        expect.extend([0u8; 8]);
        expect.extend(bin_row(&[
            Some(&1i64.to_be_bytes()),
            Some(b"generic\ttext"),
            None,
            Some(b"Untitled"),
        ]));
        expect.extend(bin_row(&[Some(&2i64.to_be_bytes()), None, None, None]));
        expect.extend((-1i16).to_be_bytes());
        assert_eq!(&tc.take()[..], &expect[..]);

        let types = vec![BinType::Opaque; 4];
        let mut tc = Transcoder::new(Format::Text, types, t, 10, RandomState::new(), &[]);
        tc.push(b"1\tsecret\thttp://m\tt\n2\t\\N\tx\t\\N\n")
            .unwrap();
        tc.finish().unwrap();
        assert_eq!(
            &tc.take()[..],
            b"1\tgeneric\\ttext\t\\N\tUntitled\n2\t\\N\t\\N\t\\N\n"
        );
    }

    #[test]
    fn server_encoded_constants_are_written_as_given_and_keep_nulls() {
        // An inet column (opaque here) with a fixed address, and an untouched bigint.
        let t = tt(&[
            ("id", None),
            ("ip", Some(Transform::Fixed("192.0.2.1".into()))),
        ]);
        let inet = vec![2u8, 32, 0, 4, 192, 0, 2, 1];
        let mut tc = Transcoder::new(
            Format::Binary,
            vec![BinType::Int8, BinType::Opaque],
            t,
            10,
            RandomState::new(),
            &[None, Some(inet.clone())],
        );
        assert!(!tc.evaluate, "the only rule is now a written constant");
        let mut src = BINARY_HEADER.to_vec();
        src.extend([0u8; 8]);
        src.extend(bin_row(&[
            Some(&1i64.to_be_bytes()),
            Some(&[2, 32, 0, 4, 10, 0, 0, 1]),
        ]));
        src.extend(bin_row(&[Some(&2i64.to_be_bytes()), None]));
        src.extend((-1i16).to_be_bytes());
        tc.push(&src).unwrap();
        tc.finish().unwrap();
        let mut want = BINARY_HEADER.to_vec();
        want.extend([0u8; 8]);
        want.extend(bin_row(&[Some(&1i64.to_be_bytes()), Some(&inet)]));
        want.extend(bin_row(&[Some(&2i64.to_be_bytes()), None]));
        want.extend((-1i16).to_be_bytes());
        assert_eq!(&tc.take()[..], &want[..]);
    }

    #[test]
    fn a_constant_the_column_type_cannot_hold_is_an_error_per_row() {
        let t = tt(&[("id", None), ("age", Some(Transform::Fixed("old".into())))]);
        let mut tc = Transcoder::new(
            Format::Binary,
            vec![BinType::Int8, BinType::Int4],
            t,
            10,
            RandomState::new(),
            &[],
        );
        let mut src = BINARY_HEADER.to_vec();
        src.extend([0u8; 8]);
        src.extend(bin_row(&[
            Some(&1i64.to_be_bytes()),
            Some(&30i32.to_be_bytes()),
        ]));
        let err = tc.push(&src).unwrap_err();
        assert!(err.contains("not a valid integer"), "{err}");
    }

    #[test]
    fn text_format_escapes() {
        let t = tt(&[
            ("id", None),
            ("name", Some(Transform::Template("T\t{id}".into()))),
        ]);
        let mut tc = Transcoder::new(
            Format::Text,
            vec![BinType::Opaque, BinType::Opaque],
            t,
            10,
            RandomState::new(),
            &[],
        );
        tc.push(b"4\tBob\\tSmith\n5\tX\n6\t\\N\n").unwrap();
        tc.finish().unwrap();
        assert_eq!(&tc.take()[..], b"4\tT\\t4\n5\tT\\t5\n6\t\\N\n");
        assert_eq!(text_unescape(b"a\\\\b\\nc\\101"), "a\\b\ncA");
    }
}
