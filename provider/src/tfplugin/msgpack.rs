//! The msgpack form of `DynamicValue`, schema-driven as cty does it (`cty/msgpack`).
//!
//! The wire carries no types (except inside `dynamic`), so both directions take the
//! schema-implied [`Type`]. Rules, from the protocol notes §3.2:
//!
//! * nil is null for every type; **any** ext value is an unknown, kept byte-for-byte (type and
//!   payload) so it can be echoed; ext 12 carries [`Refinements`].
//! * numbers are read from every int/uint width, float32/64 and decimal strings, and written as
//!   int/uint when whole and in range, float64 when exact, else a decimal string.
//! * list/set/tuple are arrays, map/object are string-keyed maps; objects carry every attribute.
//! * `dynamic` is `[type JSON, value]` when the value has a concrete type, plain nil/ext otherwise.
//!
//! The decoder reads an untrusted buffer: lengths are checked against the bytes actually left
//! before anything is allocated, nesting is capped, and every failure is an error, never a panic.
use std::collections::BTreeMap;
use std::fmt;

use rmp::Marker;

use super::number::Number;
use super::path::{AttributePath, PathStep};
use super::types::Type;
use super::value::{Unknown, Value};

/// Deeper nesting than this is rejected instead of risking the stack. Real schemas nest a
/// handful of levels; each dynamic wrapper counts as one more.
pub const MAX_DEPTH: usize = 256;

/// The ext type cty uses for an unknown carrying refinements.
pub const REFINED_UNKNOWN_EXT: i8 = 12;

/// A value that doesn't fit its type (or bytes that aren't a value), and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.path, .message))]
pub struct CodecError {
    pub path: AttributePath,
    pub message: String,
}

fn render(path: &AttributePath, message: &str) -> String {
    if path.is_root() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

impl CodecError {
    /// An error at the root; enclosing steps are added by [`CodecError::within`] as the error
    /// travels out of the recursion, so the happy path never builds paths.
    pub fn new(message: impl Into<String>) -> Self {
        CodecError {
            path: AttributePath::root(),
            message: message.into(),
        }
    }

    /// Prefixes the path with the step the error happened under.
    pub fn within(mut self, step: PathStep) -> Self {
        self.path.steps.insert(0, step);
        self
    }
}

fn attr_step(name: &str) -> PathStep {
    PathStep::Attr(name.to_string())
}
fn index_step(i: usize) -> PathStep {
    PathStep::Index(i as i64)
}
fn key_step(k: &str) -> PathStep {
    PathStep::Key(k.to_string())
}

// ------------------------------------------------------------------------------------------------
// Decoding

/// Decodes a msgpack `DynamicValue` of type `ty`. The whole buffer must be one value.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut r = Reader::new(bytes);
    let v = decode_value(&mut r, ty, 0)?;
    if r.remaining() != 0 {
        return Err(CodecError::new(format!(
            "{} unexpected bytes after the value",
            r.remaining()
        )));
    }
    Ok(v)
}

/// A cursor over untrusted bytes. Every read is bounds-checked.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn peek(&self) -> Result<Marker, CodecError> {
        self.buf
            .get(self.pos)
            .map(|b| Marker::from_u8(*b))
            .ok_or_else(truncated)
    }

    fn marker(&mut self) -> Result<Marker, CodecError> {
        let m = self.peek()?;
        self.pos += 1;
        Ok(m)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if n > self.remaining() {
            return Err(truncated());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The element count of an array whose marker was just read, or `None` if it isn't one.
    /// Every element takes at least one byte, so a count larger than what's left is a lie.
    fn array_len(&mut self, m: Marker) -> Result<Option<usize>, CodecError> {
        let n = match m {
            Marker::FixArray(n) => n as usize,
            Marker::Array16 => self.u16()? as usize,
            Marker::Array32 => self.u32()? as usize,
            _ => return Ok(None),
        };
        self.check_count(n, 1)?;
        Ok(Some(n))
    }

    fn map_len(&mut self, m: Marker) -> Result<Option<usize>, CodecError> {
        let n = match m {
            Marker::FixMap(n) => n as usize,
            Marker::Map16 => self.u16()? as usize,
            Marker::Map32 => self.u32()? as usize,
            _ => return Ok(None),
        };
        // A key and a value: at least two bytes per entry.
        self.check_count(n, 2)?;
        Ok(Some(n))
    }

    fn check_count(&self, n: usize, min_bytes_each: usize) -> Result<(), CodecError> {
        if n.saturating_mul(min_bytes_each) > self.remaining() {
            return Err(truncated());
        }
        Ok(())
    }

    /// The bytes of a str or bin whose marker was just read (cty's decoder treats the two
    /// alike), or `None` for any other marker.
    fn str_or_bin(&mut self, m: Marker) -> Result<Option<&'a [u8]>, CodecError> {
        let n = match m {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.u8()? as usize,
            Marker::Str16 | Marker::Bin16 => self.u16()? as usize,
            Marker::Str32 | Marker::Bin32 => self.u32()? as usize,
            _ => return Ok(None),
        };
        self.take(n).map(Some)
    }

    /// The (type, payload) of an ext whose marker was just read, or `None`.
    fn ext(&mut self, m: Marker) -> Result<Option<(i8, &'a [u8])>, CodecError> {
        let n = match m {
            Marker::FixExt1 => 1,
            Marker::FixExt2 => 2,
            Marker::FixExt4 => 4,
            Marker::FixExt8 => 8,
            Marker::FixExt16 => 16,
            Marker::Ext8 => self.u8()? as usize,
            Marker::Ext16 => self.u16()? as usize,
            Marker::Ext32 => self.u32()? as usize,
            _ => return Ok(None),
        };
        let ty = self.u8()? as i8;
        Ok(Some((ty, self.take(n)?)))
    }

    /// A string (str or bin holding UTF-8).
    fn string(&mut self, what: &str) -> Result<String, CodecError> {
        let m = self.marker()?;
        match self.str_or_bin(m)? {
            Some(b) => utf8(b),
            None => Err(mismatch(what, m)),
        }
    }

    /// A number in any of the encodings msgpack or cty use.
    fn number(&mut self) -> Result<Number, CodecError> {
        let m = self.marker()?;
        self.number_after(m)
    }

    fn number_after(&mut self, m: Marker) -> Result<Number, CodecError> {
        let n = match m {
            Marker::FixPos(u) => Number::from(u as u64),
            Marker::FixNeg(i) => Number::from(i as i64),
            Marker::U8 => Number::from(self.u8()? as u64),
            Marker::U16 => Number::from(self.u16()? as u64),
            Marker::U32 => Number::from(self.u32()? as u64),
            Marker::U64 => Number::from(self.u64()?),
            Marker::I8 => Number::from(self.u8()? as i8 as i64),
            Marker::I16 => Number::from(self.u16()? as i16 as i64),
            Marker::I32 => Number::from(self.u32()? as i32 as i64),
            Marker::I64 => Number::from(self.u64()? as i64),
            Marker::F32 => float(f32::from_bits(self.u32()?) as f64)?,
            Marker::F64 => float(f64::from_bits(self.u64()?))?,
            other => match self.str_or_bin(other)? {
                Some(b) => utf8(b)?
                    .parse()
                    .map_err(|e: super::number::NumberError| CodecError::new(e.0))?,
                None => return Err(mismatch("a number", other)),
            },
        };
        Ok(n)
    }

    /// An integer of any width (refinement keys and lengths).
    fn integer(&mut self) -> Result<i128, CodecError> {
        let m = self.marker()?;
        let n = match m {
            Marker::FixPos(u) => u as i128,
            Marker::FixNeg(i) => i as i128,
            Marker::U8 => self.u8()? as i128,
            Marker::U16 => self.u16()? as i128,
            Marker::U32 => self.u32()? as i128,
            Marker::U64 => self.u64()? as i128,
            Marker::I8 => self.u8()? as i8 as i128,
            Marker::I16 => self.u16()? as i16 as i128,
            Marker::I32 => self.u32()? as i32 as i128,
            Marker::I64 => self.u64()? as i64 as i128,
            other => return Err(mismatch("an integer", other)),
        };
        Ok(n)
    }

    fn bool(&mut self) -> Result<bool, CodecError> {
        match self.marker()? {
            Marker::True => Ok(true),
            Marker::False => Ok(false),
            other => Err(mismatch("a bool", other)),
        }
    }

    /// Skips one value of any kind (unrecognised refinement entries).
    fn skip(&mut self, depth: usize) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let m = self.marker()?;
        let fixed = match m {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => {
                0
            }
            Marker::U8 | Marker::I8 => 1,
            Marker::U16 | Marker::I16 => 2,
            Marker::U32 | Marker::I32 | Marker::F32 => 4,
            Marker::U64 | Marker::I64 | Marker::F64 => 8,
            Marker::Reserved => return Err(CodecError::new("reserved msgpack marker 0xc1")),
            _ => {
                if self.str_or_bin(m)?.is_some() || self.ext(m)?.is_some() {
                    return Ok(());
                }
                if let Some(n) = self.array_len(m)? {
                    for _ in 0..n {
                        self.skip(depth + 1)?;
                    }
                    return Ok(());
                }
                if let Some(n) = self.map_len(m)? {
                    for _ in 0..2 * n {
                        self.skip(depth + 1)?;
                    }
                    return Ok(());
                }
                return Err(mismatch("a msgpack value", m));
            }
        };
        self.take(fixed).map(|_| ())
    }
}

fn truncated() -> CodecError {
    CodecError::new("unexpected end of msgpack data")
}

fn too_deep() -> CodecError {
    CodecError::new(format!("value nested deeper than {MAX_DEPTH} levels"))
}

fn utf8(b: &[u8]) -> Result<String, CodecError> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| CodecError::new("string is not valid UTF-8"))
}

fn float(f: f64) -> Result<Number, CodecError> {
    Number::from_f64(f).map_err(|e| CodecError::new(e.0))
}

/// A human name for what a marker starts, for "expected X, got Y".
fn describe(m: Marker) -> &'static str {
    match m {
        Marker::Null => "null",
        Marker::True | Marker::False => "a bool",
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64
        | Marker::F32
        | Marker::F64 => "a number",
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => "a string",
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => "binary data",
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => "an array",
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => "a map",
        Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16
        | Marker::Ext8
        | Marker::Ext16
        | Marker::Ext32 => "an unknown value",
        Marker::Reserved => "the reserved marker 0xc1",
    }
}

fn mismatch(expected: &str, got: Marker) -> CodecError {
    CodecError::new(format!("expected {expected}, got {}", describe(got)))
}

// The recursive path (decode_value -> a collection helper -> decode_value) is kept to small
// functions: unoptimised builds give a function one stack slot per local of every match arm, and
// a single big decoder needed ~9 KiB per nesting level, overflowing a 2 MiB thread stack well
// before MAX_DEPTH. Leaf decoding lives in non-inlined helpers for the same reason.
fn decode_value(r: &mut Reader<'_>, ty: &Type, depth: usize) -> Result<Value, CodecError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    let m = r.marker()?;
    // Any extension is an unknown, whatever the type: cty has no other extensions.
    if let Some((ext_type, payload)) = r.ext(m)? {
        return Ok(unknown_value(ext_type, payload));
    }
    if m == Marker::Null {
        return Ok(Value::Null);
    }
    match ty {
        Type::Dynamic => {
            let inner_ty = dynamic_header(r, m)?;
            let inner = decode_value(r, &inner_ty, depth + 1)?;
            Ok(Value::Dynamic(inner_ty, Box::new(inner)))
        }
        Type::String | Type::Number | Type::Bool => decode_primitive(r, m, ty),
        Type::List(et) => {
            let n = collection_len(r, m, ty)?;
            decode_elements(r, n, |_| et, depth).map(Value::List)
        }
        Type::Set(et) => {
            let n = collection_len(r, m, ty)?;
            decode_elements(r, n, |_| et, depth).map(Value::Set)
        }
        Type::Tuple(ets) => {
            let n = collection_len(r, m, ty)?;
            decode_elements(r, n, |i| &ets[i], depth).map(Value::Tuple)
        }
        Type::Map(et) => decode_map(r, m, et, depth).map(Value::Map),
        Type::Object(attrs) => decode_object(r, m, attrs, depth).map(Value::Object),
    }
}

#[inline(never)]
fn unknown_value(ext_type: i8, payload: &[u8]) -> Value {
    Value::Unknown(Unknown {
        ext_type,
        payload: payload.to_vec(),
    })
}

/// Reads `[type JSON, ` of a dynamic value and returns the type; the value follows.
#[inline(never)]
fn dynamic_header(r: &mut Reader<'_>, m: Marker) -> Result<Type, CodecError> {
    let what = "a [type, value] pair for a dynamic value";
    match r.array_len(m)? {
        Some(2) => {}
        Some(n) => {
            return Err(CodecError::new(format!(
                "{what} must have 2 elements, not {n}"
            )))
        }
        None => return Err(mismatch(what, m)),
    }
    let tm = r.marker()?;
    let type_json = r
        .str_or_bin(tm)?
        .ok_or_else(|| mismatch("the type JSON of a dynamic value", tm))?;
    Type::from_json_bytes(type_json).map_err(|e| CodecError::new(format!("dynamic value: {e}")))
}

#[inline(never)]
fn decode_primitive(r: &mut Reader<'_>, m: Marker, ty: &Type) -> Result<Value, CodecError> {
    match ty {
        Type::String => match r.str_or_bin(m)? {
            Some(b) => Ok(Value::String(utf8(b)?)),
            None => Err(mismatch("a string", m)),
        },
        Type::Number => Ok(Value::Number(r.number_after(m)?)),
        _ => match m {
            Marker::True => Ok(Value::Bool(true)),
            Marker::False => Ok(Value::Bool(false)),
            other => Err(mismatch("a bool", other)),
        },
    }
}

/// The element count of a list, set or tuple (which must have exactly the tuple's length).
#[inline(never)]
fn collection_len(r: &mut Reader<'_>, m: Marker, ty: &Type) -> Result<usize, CodecError> {
    let n = r
        .array_len(m)?
        .ok_or_else(|| mismatch(&format!("a {}", kind_name(ty)), m))?;
    if let Type::Tuple(ets) = ty {
        if n != ets.len() {
            return Err(CodecError::new(format!(
                "a tuple of {} elements is required ({n} given)",
                ets.len()
            )));
        }
    }
    Ok(n)
}

fn decode_elements<'t>(
    r: &mut Reader<'_>,
    n: usize,
    elem_ty: impl Fn(usize) -> &'t Type,
    depth: usize,
) -> Result<Vec<Value>, CodecError> {
    // `n` was checked against the remaining bytes, so this allocation is bounded by the input.
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(decode_value(r, elem_ty(i), depth + 1).map_err(|e| e.within(index_step(i)))?);
    }
    Ok(out)
}

fn decode_map(
    r: &mut Reader<'_>,
    m: Marker,
    et: &Type,
    depth: usize,
) -> Result<BTreeMap<String, Value>, CodecError> {
    let n = r.map_len(m)?.ok_or_else(|| mismatch("a map", m))?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let k = r.string("a string map key")?;
        let v = decode_value(r, et, depth + 1).map_err(|e| e.within(key_step(&k)))?;
        if out.contains_key(&k) {
            return Err(duplicate("map key", &k));
        }
        out.insert(k, v);
    }
    Ok(out)
}

fn decode_object(
    r: &mut Reader<'_>,
    m: Marker,
    attrs: &BTreeMap<String, Type>,
    depth: usize,
) -> Result<BTreeMap<String, Value>, CodecError> {
    let n = r.map_len(m)?.ok_or_else(|| mismatch("an object", m))?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let k = r.string("an attribute name")?;
        let Some(aty) = attrs.get(&k) else {
            return Err(unsupported_attribute(&k));
        };
        let v = decode_value(r, aty, depth + 1).map_err(|e| e.within(attr_step(&k)))?;
        if out.contains_key(&k) {
            return Err(duplicate("attribute", &k));
        }
        out.insert(k, v);
    }
    if let Some(missing) = attrs.keys().find(|k| !out.contains_key(*k)) {
        return Err(required_attribute(missing));
    }
    Ok(out)
}

#[inline(never)]
fn duplicate(what: &str, k: &str) -> CodecError {
    CodecError::new(format!("duplicate {what} {k:?}"))
}

#[inline(never)]
fn unsupported_attribute(k: &str) -> CodecError {
    CodecError::new(format!("unsupported attribute {k:?}"))
}

#[inline(never)]
fn required_attribute(k: &str) -> CodecError {
    CodecError::new(format!("attribute {k:?} is required"))
}

fn kind_name(ty: &Type) -> &'static str {
    match ty {
        Type::String => "string",
        Type::Number => "number",
        Type::Bool => "bool",
        Type::Dynamic => "dynamic value",
        Type::List(_) => "list",
        Type::Set(_) => "set",
        Type::Map(_) => "map",
        Type::Tuple(_) => "tuple",
        Type::Object(_) => "object",
    }
}

// ------------------------------------------------------------------------------------------------
// Encoding

/// Encodes `v` as a msgpack `DynamicValue` of type `ty`.
///
/// The type decides the wire shape, so a `Value::List`, `Set` or `Tuple` is accepted for any
/// array type and a `Value::Map` or `Object` for either map-like type; a `Value::Dynamic` under
/// a non-dynamic type is unwrapped. Object attributes absent from the value are written as null;
/// attributes the type doesn't have are an error.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode_value(&mut out, v, ty, 0)?;
    Ok(out)
}

/// Writing into a `Vec` can't fail; lengths are checked before rmp sees them.
fn wrote<T, E: fmt::Display>(r: Result<T, E>) -> Result<(), CodecError> {
    r.map(|_| ())
        .map_err(|e| CodecError::new(format!("msgpack write failed: {e}")))
}

fn len32(n: usize, what: &str) -> Result<u32, CodecError> {
    u32::try_from(n).map_err(|_| CodecError::new(format!("{what} too long for msgpack")))
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<(), CodecError> {
    len32(s.len(), "string")?;
    wrote(rmp::encode::write_str(out, s))
}

fn write_ext(out: &mut Vec<u8>, u: &Unknown) -> Result<(), CodecError> {
    let n = len32(u.payload.len(), "unknown value payload")?;
    // Written by hand: rmp reserves negative ext types, but an unknown of any type must be
    // echoed unchanged.
    let marker = match n {
        1 => Marker::FixExt1,
        2 => Marker::FixExt2,
        4 => Marker::FixExt4,
        8 => Marker::FixExt8,
        16 => Marker::FixExt16,
        0..=0xff => Marker::Ext8,
        0x100..=0xffff => Marker::Ext16,
        _ => Marker::Ext32,
    };
    out.push(marker.to_u8());
    match marker {
        Marker::Ext8 => out.push(n as u8),
        Marker::Ext16 => out.extend_from_slice(&(n as u16).to_be_bytes()),
        Marker::Ext32 => out.extend_from_slice(&n.to_be_bytes()),
        _ => {}
    }
    out.push(u.ext_type as u8);
    out.extend_from_slice(&u.payload);
    Ok(())
}

/// int when whole and in i64 range (uint up to u64), float64 when exact (and for ±Inf), else
/// decimal text, which Terraform parses at full precision.
fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), CodecError> {
    if let Some(i) = n.as_i64() {
        wrote(rmp::encode::write_sint(out, i))
    } else if let Some(u) = n.as_u64() {
        wrote(rmp::encode::write_uint(out, u))
    } else if n.is_infinite() {
        wrote(rmp::encode::write_f64(out, n.as_f64()))
    } else if let Some(f) = n.to_f64_exact() {
        wrote(rmp::encode::write_f64(out, f))
    } else {
        write_str(out, &n.to_string())
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Unknown(_) => "an unknown value",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Set(_) => "a set",
        Value::Tuple(_) => "a tuple",
        Value::Map(_) => "a map",
        Value::Object(_) => "an object",
        Value::Dynamic(..) => "a dynamic value",
    }
}

pub(crate) fn value_mismatch(ty: &Type, v: &Value) -> CodecError {
    CodecError::new(format!("expected {ty}, got {}", value_kind(v)))
}

/// The type a dynamic attribute's value is written with when the caller gave a plain value:
/// primitives, and objects and tuples built from them, are obvious; a collection needs its
/// known elements to agree. Null and unknown parts become `dynamic`, as do nested
/// `Value::Dynamic`s (which then carry their own wrapper).
pub(crate) fn infer_type(v: &Value) -> Result<Type, CodecError> {
    let part = |v: &Value| match v {
        Value::Null | Value::Unknown(_) | Value::Dynamic(..) => Ok(Type::Dynamic),
        other => infer_type(other),
    };
    match v {
        Value::String(_) => Ok(Type::String),
        Value::Number(_) => Ok(Type::Number),
        Value::Bool(_) => Ok(Type::Bool),
        Value::Dynamic(t, _) => Ok(t.clone()),
        Value::Object(m) => {
            let mut attrs = BTreeMap::new();
            for (k, av) in m {
                attrs.insert(k.clone(), part(av).map_err(|e| e.within(attr_step(k)))?);
            }
            Ok(Type::Object(attrs))
        }
        Value::Tuple(vs) => Ok(Type::Tuple(
            vs.iter()
                .enumerate()
                .map(|(i, ev)| part(ev).map_err(|e| e.within(index_step(i))))
                .collect::<Result<_, _>>()?,
        )),
        Value::List(vs) | Value::Set(vs) => {
            let et = common_type(vs.iter(), v)?;
            Ok(if matches!(v, Value::List(_)) {
                Type::list(et)
            } else {
                Type::set(et)
            })
        }
        Value::Map(m) => Ok(Type::map(common_type(m.values(), v)?)),
        Value::Null | Value::Unknown(_) => Err(CodecError::new(
            "cannot infer the type of a null or unknown dynamic value",
        )),
    }
}

fn common_type<'a>(
    elems: impl Iterator<Item = &'a Value>,
    whole: &Value,
) -> Result<Type, CodecError> {
    let mut found: Option<Type> = None;
    for ev in elems {
        let t = match ev {
            Value::Null | Value::Unknown(_) => continue,
            Value::Dynamic(..) => Type::Dynamic,
            other => infer_type(other)?,
        };
        match &found {
            None => found = Some(t),
            Some(prev) if *prev == t => {}
            Some(prev) => {
                return Err(CodecError::new(format!(
                    "cannot infer a type for {}: elements are both {prev} and {t}",
                    value_kind(whole)
                )))
            }
        }
    }
    found.ok_or_else(|| {
        CodecError::new(format!(
            "cannot infer the element type of {} without known elements; wrap it in Value::Dynamic",
            value_kind(whole)
        ))
    })
}

fn encode_value(out: &mut Vec<u8>, v: &Value, ty: &Type, depth: usize) -> Result<(), CodecError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    match (v, ty) {
        (Value::Unknown(u), _) => return write_ext(out, u),
        (Value::Dynamic(t, inner), Type::Dynamic) => return write_dynamic(out, t, inner, depth),
        (Value::Dynamic(_, inner), _) => return encode_value(out, inner, ty, depth + 1),
        (Value::Null, _) => {
            wrote(rmp::encode::write_nil(out))?;
            return Ok(());
        }
        (_, Type::Dynamic) => {
            let t = infer_type(v)?;
            return write_dynamic(out, &t, v, depth);
        }
        _ => {}
    }
    match (ty, v) {
        (Type::String, Value::String(s)) => write_str(out, s),
        (Type::Number, Value::Number(n)) => write_number(out, n),
        (Type::Bool, Value::Bool(b)) => wrote(rmp::encode::write_bool(out, *b)),
        (Type::List(et) | Type::Set(et), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => {
            wrote(rmp::encode::write_array_len(out, len32(vs.len(), "list")?))?;
            for (i, ev) in vs.iter().enumerate() {
                encode_value(out, ev, et, depth + 1).map_err(|e| e.within(index_step(i)))?;
            }
            Ok(())
        }
        (Type::Tuple(ets), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => {
            if vs.len() != ets.len() {
                return Err(CodecError::new(format!(
                    "a tuple of {} elements is required ({} given)",
                    ets.len(),
                    vs.len()
                )));
            }
            wrote(rmp::encode::write_array_len(out, len32(vs.len(), "tuple")?))?;
            for (i, (ev, et)) in vs.iter().zip(ets).enumerate() {
                encode_value(out, ev, et, depth + 1).map_err(|e| e.within(index_step(i)))?;
            }
            Ok(())
        }
        (Type::Map(et), Value::Map(m) | Value::Object(m)) => {
            wrote(rmp::encode::write_map_len(out, len32(m.len(), "map")?))?;
            for (k, ev) in m {
                write_str(out, k)?;
                encode_value(out, ev, et, depth + 1).map_err(|e| e.within(key_step(k)))?;
            }
            Ok(())
        }
        (Type::Object(attrs), Value::Object(m) | Value::Map(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::new(format!("unsupported attribute {extra:?}")));
            }
            wrote(rmp::encode::write_map_len(
                out,
                len32(attrs.len(), "object")?,
            ))?;
            // BTreeMap order is byte order: the sorted keys Terraform writes.
            for (k, aty) in attrs {
                write_str(out, k)?;
                let av = m.get(k).unwrap_or(&Value::Null);
                encode_value(out, av, aty, depth + 1).map_err(|e| e.within(attr_step(k)))?;
            }
            Ok(())
        }
        _ => Err(value_mismatch(ty, v)),
    }
}

fn write_dynamic(out: &mut Vec<u8>, t: &Type, v: &Value, depth: usize) -> Result<(), CodecError> {
    wrote(rmp::encode::write_array_len(out, 2))?;
    let type_json = t.to_json_bytes();
    len32(type_json.len(), "type JSON")?;
    wrote(rmp::encode::write_bin(out, &type_json))?;
    encode_value(out, v, t, depth + 1)
}

// ------------------------------------------------------------------------------------------------
// Refinements

/// What Terraform promises about an unknown value (cty "refinements", ext type 12).
///
/// `nullness` is the raw flag cty writes: `Some(false)` means "definitely not null". Number
/// bounds carry an "inclusive" flag. Absent fields promise nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refinements {
    pub nullness: Option<bool>,
    pub string_prefix: Option<String>,
    pub number_lower: Option<(Number, bool)>,
    pub number_upper: Option<(Number, bool)>,
    pub length_min: Option<u64>,
    pub length_max: Option<u64>,
}

const REFINE_NULLNESS: i128 = 1;
const REFINE_STRING_PREFIX: i128 = 2;
const REFINE_NUMBER_LOWER: i128 = 3;
const REFINE_NUMBER_UPPER: i128 = 4;
const REFINE_LENGTH_MIN: i128 = 5;
const REFINE_LENGTH_MAX: i128 = 6;

impl Unknown {
    /// The refinements of an ext-12 unknown; `None` for a plain unknown or a payload that
    /// doesn't parse. Keys this code doesn't know are skipped, as cty does.
    pub fn refinements(&self) -> Option<Refinements> {
        if self.ext_type != REFINED_UNKNOWN_EXT {
            return None;
        }
        let mut r = Reader::new(&self.payload);
        let m = r.marker().ok()?;
        let n = r.map_len(m).ok()??;
        let mut out = Refinements::default();
        for _ in 0..n {
            match r.integer().ok()? {
                REFINE_NULLNESS => out.nullness = Some(r.bool().ok()?),
                REFINE_STRING_PREFIX => out.string_prefix = Some(r.string("a prefix").ok()?),
                key @ (REFINE_NUMBER_LOWER | REFINE_NUMBER_UPPER) => {
                    let am = r.marker().ok()?;
                    if r.array_len(am).ok()? != Some(2) {
                        return None;
                    }
                    let bound = (r.number().ok()?, r.bool().ok()?);
                    if key == REFINE_NUMBER_LOWER {
                        out.number_lower = Some(bound);
                    } else {
                        out.number_upper = Some(bound);
                    }
                }
                key @ (REFINE_LENGTH_MIN | REFINE_LENGTH_MAX) => {
                    let len = u64::try_from(r.integer().ok()?).ok()?;
                    if key == REFINE_LENGTH_MIN {
                        out.length_min = Some(len);
                    } else {
                        out.length_max = Some(len);
                    }
                }
                _ => r.skip(0).ok()?,
            }
        }
        (r.remaining() == 0).then_some(out)
    }
}

impl Refinements {
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }

    /// The unknown carrying these refinements: ext 12 with the entries in key order, or the
    /// plain ext-0 unknown when there are none (cty never writes an empty ext 12).
    pub fn to_unknown(&self) -> Unknown {
        match self.encode_payload() {
            Ok(payload) if !self.is_empty() => Unknown {
                ext_type: REFINED_UNKNOWN_EXT,
                payload,
            },
            // A plain unknown promises nothing, so it is always a truthful fallback.
            _ => Unknown::default(),
        }
    }

    fn encode_payload(&self) -> Result<Vec<u8>, CodecError> {
        let mut p = Vec::new();
        let count = [
            self.nullness.is_some(),
            self.string_prefix.is_some(),
            self.number_lower.is_some(),
            self.number_upper.is_some(),
            self.length_min.is_some(),
            self.length_max.is_some(),
        ]
        .iter()
        .filter(|present| **present)
        .count();
        wrote(rmp::encode::write_map_len(&mut p, count as u32))?;
        if let Some(b) = self.nullness {
            wrote(rmp::encode::write_sint(&mut p, REFINE_NULLNESS as i64))?;
            wrote(rmp::encode::write_bool(&mut p, b))?;
        }
        if let Some(s) = &self.string_prefix {
            wrote(rmp::encode::write_sint(&mut p, REFINE_STRING_PREFIX as i64))?;
            write_str(&mut p, s)?;
        }
        for (key, bound) in [
            (REFINE_NUMBER_LOWER, &self.number_lower),
            (REFINE_NUMBER_UPPER, &self.number_upper),
        ] {
            if let Some((n, inclusive)) = bound {
                wrote(rmp::encode::write_sint(&mut p, key as i64))?;
                wrote(rmp::encode::write_array_len(&mut p, 2))?;
                write_number(&mut p, n)?;
                wrote(rmp::encode::write_bool(&mut p, *inclusive))?;
            }
        }
        for (key, len) in [
            (REFINE_LENGTH_MIN, self.length_min),
            (REFINE_LENGTH_MAX, self.length_max),
        ] {
            if let Some(len) = len {
                wrote(rmp::encode::write_sint(&mut p, key as i64))?;
                wrote(rmp::encode::write_uint(&mut p, len))?;
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Hex with optional spaces, so vectors read like the protocol notes.
    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn num(s: &str) -> Value {
        Value::Number(s.parse().unwrap())
    }

    /// Decodes `bytes` as `ty`, checks the value, and checks it encodes back to `bytes`.
    fn round_trip(bytes: &str, ty: &Type, want: &Value) {
        let bytes = hex(bytes);
        let got = decode(&bytes, ty).unwrap_or_else(|e| panic!("decoding {bytes:02x?}: {e}"));
        assert_eq!(&got, want, "decoding {bytes:02x?} as {ty}");
        assert_eq!(
            encode(&got, ty).unwrap(),
            bytes,
            "re-encoding {want:?} as {ty}"
        );
    }

    fn obj<const N: usize>(attrs: [(&str, Value); N]) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn decode_err(bytes: &str, ty: &Type) -> CodecError {
        decode(&hex(bytes), ty).unwrap_err()
    }

    #[test]
    fn null_is_nil_for_every_type() {
        for ty in [
            Type::String,
            Type::Number,
            Type::Bool,
            Type::Dynamic,
            Type::list(Type::String),
            Type::set(Type::Number),
            Type::map(Type::Bool),
            Type::Tuple(vec![Type::String]),
            Type::object([("a", Type::String)]),
        ] {
            round_trip("c0", &ty, &Value::Null);
        }
    }

    #[test]
    fn plain_unknown_round_trips_for_every_type() {
        for ty in [
            Type::String,
            Type::Dynamic,
            Type::list(Type::String),
            Type::object([("a", Type::String)]),
        ] {
            round_trip("d4 00 00", &ty, &Value::unknown());
        }
        assert_eq!(Value::unknown(), Value::Unknown(Unknown::default()));
    }

    #[test]
    fn refined_unknown_round_trips_and_parses() {
        // What TF 1.11.4 sent for `name = "b-${other.id}"`.
        let wire = "c7 07 0c 82 01 c2 02 a2 62 2d";
        let v = decode(&hex(wire), &Type::String).unwrap();
        let Value::Unknown(u) = &v else {
            panic!("not unknown: {v:?}")
        };
        assert_eq!(u.ext_type, 12);
        assert_eq!(u.payload, hex("82 01 c2 02 a2 62 2d"));
        let refinements = u.refinements().unwrap();
        assert_eq!(
            refinements,
            Refinements {
                nullness: Some(false),
                string_prefix: Some("b-".into()),
                ..Refinements::default()
            }
        );
        // Re-encoding the parsed refinements reproduces Terraform's bytes exactly.
        assert_eq!(&refinements.to_unknown(), u);
        assert_eq!(encode(&v, &Type::String).unwrap(), hex(wire));
        // Inside an object, too.
        let ty = Type::object([("name", Type::String)]);
        round_trip(
            &format!("81 a4 6e 61 6d 65 {wire}"),
            &ty,
            &obj([("name", v.clone())]),
        );
    }

    #[test]
    fn every_ext_width_is_an_unknown_echoed_byte_identical() {
        for (wire, ext_type, payload) in [
            ("d4 05 aa", 5, "aa"),
            ("d5 05 aa bb", 5, "aa bb"),
            ("d6 7f 01 02 03 04", 127, "01 02 03 04"),
            (
                "d7 ff 01 02 03 04 05 06 07 08",
                -1,
                "01 02 03 04 05 06 07 08",
            ),
            (
                "d8 00 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
                0,
                "00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
            ),
            ("c7 00 0c", 12, ""),
            ("c7 03 80 01 02 03", -128, "01 02 03"),
        ] {
            let want = Value::Unknown(Unknown {
                ext_type,
                payload: hex(payload),
            });
            round_trip(wire, &Type::Number, &want);
        }
        // ext16/ext32 are only canonical for long payloads; short ones still decode.
        let long = vec![0x42u8; 300];
        let mut wire = hex("c8 01 2c 03");
        wire.extend_from_slice(&long);
        let v = decode(&wire, &Type::Bool).unwrap();
        assert_eq!(
            v,
            Value::Unknown(Unknown {
                ext_type: 3,
                payload: long.clone()
            })
        );
        assert_eq!(encode(&v, &Type::Bool).unwrap(), wire);
        let v = decode(&hex("c9 00 00 00 02 09 aa bb"), &Type::String).unwrap();
        assert_eq!(
            v,
            Value::Unknown(Unknown {
                ext_type: 9,
                payload: hex("aa bb")
            })
        );
    }

    #[test]
    fn refinements_of_every_kind() {
        let r = Refinements {
            nullness: Some(false),
            string_prefix: Some("pre".into()),
            number_lower: Some((Number::from(-5), true)),
            number_upper: Some(("2.5".parse().unwrap(), false)),
            length_min: Some(1),
            length_max: Some(300),
        };
        let u = r.to_unknown();
        assert_eq!(u.ext_type, REFINED_UNKNOWN_EXT);
        assert_eq!(
            u.payload,
            hex("86 01 c2 02 a3 70 72 65 03 92 fb c3 04 92 cb 40 04 00 00 00 00 00 00 c2 05 01 06 cd 01 2c")
        );
        assert_eq!(u.refinements(), Some(r));
        // No refinements: the plain unknown, never an empty ext 12.
        assert_eq!(Refinements::default().to_unknown(), Unknown::default());
        assert_eq!(Unknown::default().refinements(), None);
        // Unknown keys are skipped; bad payloads give None instead of an error.
        let u = Unknown {
            ext_type: 12,
            payload: hex("82 07 93 01 02 03 01 c2"),
        };
        assert_eq!(u.refinements().unwrap().nullness, Some(false));
        for bad in [
            "",
            "81",
            "81 01",
            "81 01 01",
            "91 01",
            "81 03 91 01",
            "80 c0",
        ] {
            let u = Unknown {
                ext_type: 12,
                payload: hex(bad),
            };
            assert_eq!(u.refinements(), None, "{bad}");
        }
    }

    #[test]
    fn numbers_in_every_encoding() {
        // Canonical encodings survive a round trip.
        round_trip("cd 01 bb", &Type::Number, &num("443"));
        round_trip("cb 40 04 00 00 00 00 00 00", &Type::Number, &num("2.5"));
        round_trip("00", &Type::Number, &num("0"));
        round_trip("7f", &Type::Number, &num("127"));
        round_trip("cc 80", &Type::Number, &num("128"));
        round_trip("ff", &Type::Number, &num("-1"));
        round_trip("e0", &Type::Number, &num("-32"));
        round_trip("d0 df", &Type::Number, &num("-33"));
        round_trip("d1 fc 18", &Type::Number, &num("-1000"));
        round_trip("d2 ff fe 79 60", &Type::Number, &num("-100000"));
        round_trip(
            "d3 80 00 00 00 00 00 00 00",
            &Type::Number,
            &num("-9223372036854775808"),
        );
        round_trip("ce 00 01 00 00", &Type::Number, &num("65536"));
        round_trip(
            "cf 7f ff ff ff ff ff ff ff",
            &Type::Number,
            &num("9223372036854775807"),
        );
        round_trip(
            "cf ff ff ff ff ff ff ff ff",
            &Type::Number,
            &Value::Number(Number::from(u64::MAX)),
        );
        round_trip(
            "cb 7f f0 00 00 00 00 00 00",
            &Type::Number,
            &Value::Number(Number::infinity()),
        );
        round_trip(
            "cb ff f0 00 00 00 00 00 00",
            &Type::Number,
            &Value::Number(Number::neg_infinity()),
        );
        round_trip(
            "cb 3f b9 99 99 99 99 99 9a",
            &Type::Number,
            &Value::Number(Number::from_f64(0.1).unwrap()),
        );
        // 2^64 is whole, too big for u64, but exactly a float64.
        round_trip(
            "cb 43 f0 00 00 00 00 00 00",
            &Type::Number,
            &num("18446744073709551616"),
        );
        // Numbers no float64 holds travel as decimal text, unchanged.
        round_trip(
            "be 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 36 37 38 39 30",
            &Type::Number,
            &num("123456789012345678901234567890"),
        );
        round_trip("a3 30 2e 31", &Type::Number, &num("0.1"));
        round_trip("a5 31 65 34 30 30", &Type::Number, &num("1e400"));
        round_trip("a4 2d 30 2e 31", &Type::Number, &num("-0.1"));

        // Non-canonical encodings decode to the same value and re-encode compactly.
        for (wire, canonical, want) in [
            ("cc 05", "05", "5"),
            ("cd 00 05", "05", "5"),
            ("ce 00 00 00 05", "05", "5"),
            ("cf 00 00 00 00 00 00 00 05", "05", "5"),
            ("d0 05", "05", "5"),
            ("d1 ff ff", "ff", "-1"),
            ("d2 ff ff ff ff", "ff", "-1"),
            ("d3 ff ff ff ff ff ff ff ff", "ff", "-1"),
            ("ca 3f c0 00 00", "cb 3f f8 00 00 00 00 00 00", "1.5"),
            ("cb 40 59 00 00 00 00 00 00", "64", "100"),
            ("a3 34 34 33", "cd 01 bb", "443"),
            ("a4 32 2e 35 30", "cb 40 04 00 00 00 00 00 00", "2.5"),
            ("c4 01 37", "07", "7"),
        ] {
            let v = decode(&hex(wire), &Type::Number).unwrap();
            assert_eq!(v, num(want), "{wire}");
            assert_eq!(encode(&v, &Type::Number).unwrap(), hex(canonical), "{wire}");
        }
        assert!(decode_err("cb 7f f8 00 00 00 00 00 00", &Type::Number)
            .message
            .contains("NaN"));
        assert!(decode_err("a3 61 62 63", &Type::Number)
            .message
            .contains("not a number"));
        assert_eq!(
            decode_err("c3", &Type::Number).message,
            "expected a number, got a bool"
        );
    }

    #[test]
    fn strings_and_bools() {
        round_trip("a0", &Type::String, &Value::string(""));
        round_trip("a5 68 65 6c 6c 6f", &Type::String, &Value::string("hello"));
        // "héllo ✓": multi-byte UTF-8 is carried as-is.
        round_trip(
            "aa 68 c3 a9 6c 6c 6f 20 e2 9c 93",
            &Type::String,
            &Value::string("héllo ✓"),
        );
        // 40 bytes: str8.
        let long = "x".repeat(40);
        let mut wire = hex("d9 28");
        wire.extend_from_slice(long.as_bytes());
        assert_eq!(decode(&wire, &Type::String).unwrap(), Value::string(&*long));
        assert_eq!(encode(&Value::string(&*long), &Type::String).unwrap(), wire);
        // bin holding UTF-8 is accepted, as cty's decoder does; invalid UTF-8 is not.
        assert_eq!(
            decode(&hex("c4 01 61"), &Type::String).unwrap(),
            Value::string("a")
        );
        assert!(decode_err("a2 c3 28", &Type::String)
            .message
            .contains("UTF-8"));
        round_trip("c3", &Type::Bool, &Value::Bool(true));
        round_trip("c2", &Type::Bool, &Value::Bool(false));
        assert_eq!(
            decode_err("01", &Type::Bool).message,
            "expected a bool, got a number"
        );
        assert_eq!(
            decode_err("01", &Type::String).message,
            "expected a string, got a number"
        );
    }

    #[test]
    fn collections() {
        let ty = Type::list(Type::Number);
        round_trip("90", &ty, &Value::List(vec![]));
        round_trip(
            "93 01 02 03",
            &ty,
            &Value::List(vec![num("1"), num("2"), num("3")]),
        );
        round_trip(
            "92 c0 d4 00 00",
            &ty,
            &Value::List(vec![Value::Null, Value::unknown()]),
        );
        round_trip("90", &Type::set(Type::String), &Value::Set(vec![]));
        round_trip(
            "92 a1 62 a1 61",
            &Type::set(Type::String),
            &Value::Set(vec!["b".into(), "a".into()]),
        );
        let tuple = Type::Tuple(vec![Type::String, Type::Number, Type::Bool]);
        round_trip(
            "93 a1 61 01 c3",
            &tuple,
            &Value::Tuple(vec!["a".into(), num("1"), Value::Bool(true)]),
        );
        assert_eq!(
            decode_err("92 a1 61 01", &tuple).message,
            "a tuple of 3 elements is required (2 given)"
        );
        round_trip("90", &Type::Tuple(vec![]), &Value::Tuple(vec![]));
        let map = Type::map(Type::Number);
        round_trip("80", &map, &Value::Map(BTreeMap::new()));
        round_trip(
            "82 a1 61 01 a1 62 02",
            &map,
            &Value::Map([("a".into(), num("1")), ("b".into(), num("2"))].into()),
        );
        // Keys are written sorted whatever order they arrived in.
        let v = decode(&hex("82 a1 62 02 a1 61 01"), &map).unwrap();
        assert_eq!(encode(&v, &map).unwrap(), hex("82 a1 61 01 a1 62 02"));
        assert_eq!(
            decode_err("82 a1 61 01 a1 61 02", &map).message,
            "duplicate map key \"a\""
        );
        assert_eq!(
            decode_err("81 01 01", &map).message,
            "expected a string map key, got a number"
        );
        assert_eq!(
            decode_err("81 a1 61 01", &Type::list(Type::Number)).message,
            "expected a list, got a map"
        );
        // Path of an element error.
        let e = decode_err("81 a1 6b 92 01 a1 78", &Type::map(Type::list(Type::Number)));
        assert_eq!(e.to_string(), "[\"k\"][1]: \"x\" is not a number");
        let e = decode_err("81 a1 6b 92 01 c3", &Type::map(Type::list(Type::Number)));
        assert_eq!(e.to_string(), "[\"k\"][1]: expected a number, got a bool");
    }

    #[test]
    fn objects_nested() {
        let ty = Type::object([
            ("name", Type::String),
            (
                "db",
                Type::object([("size", Type::Number), ("tags", Type::map(Type::String))]),
            ),
            ("rule", Type::list(Type::object([("on", Type::Bool)]))),
        ]);
        let want = obj([
            ("name", "x".into()),
            (
                "db",
                obj([
                    ("size", num("20")),
                    ("tags", Value::Map([("T".into(), "v".into())].into())),
                ]),
            ),
            (
                "rule",
                Value::List(vec![obj([("on", true.into())]), obj([("on", Value::Null)])]),
            ),
        ]);
        // {db: {size: 20, tags: {T: "v"}}, name: "x", rule: [{on: true}, {on: nil}]}
        round_trip(
            "83 a2 64 62 82 a4 73 69 7a 65 14 a4 74 61 67 73 81 a1 54 a1 76 \
             a4 6e 61 6d 65 a1 78 \
             a4 72 75 6c 65 92 81 a2 6f 6e c3 81 a2 6f 6e c0",
            &ty,
            &want,
        );
        round_trip("80", &Type::object::<[(&str, Type); 0], &str>([]), &obj([]));
    }

    #[test]
    fn object_attribute_errors_name_attribute_and_path() {
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let e = decode_err("81 a1 61 a1 78", &ty);
        assert_eq!(e.message, "attribute \"b\" is required");
        assert!(e.path.is_root());
        assert_eq!(e.to_string(), "attribute \"b\" is required");
        let e = decode_err("83 a1 61 c0 a1 62 c0 a1 63 c0", &ty);
        assert_eq!(e.to_string(), "unsupported attribute \"c\"");
        let e = decode_err("82 a1 61 c0 a1 61 c0", &ty);
        assert_eq!(e.to_string(), "duplicate attribute \"a\"");

        let outer = Type::object([("rule", Type::list(ty.clone()))]);
        // {rule: [{a: nil, b: nil}, {a: "x"}]}
        let e = decode_err(
            "81 a4 72 75 6c 65 92 82 a1 61 c0 a1 62 c0 81 a1 61 a1 78",
            &outer,
        );
        assert_eq!(e.to_string(), "rule[1]: attribute \"b\" is required");
        assert_eq!(e.path, AttributePath::attr("rule").join_index(1));
        // A wrong type deep inside names the attribute itself.
        let e = decode_err("81 a4 72 75 6c 65 91 82 a1 61 01 a1 62 c0", &outer);
        assert_eq!(e.to_string(), "rule[0].a: expected a string, got a number");
    }

    #[test]
    fn encoding_objects_fills_missing_attributes_and_rejects_strangers() {
        let ty = Type::object([("a", Type::String), ("b", Type::list(Type::Number))]);
        let v = obj([("b", Value::List(vec![num("1")]))]);
        assert_eq!(encode(&v, &ty).unwrap(), hex("82 a1 61 c0 a1 62 91 01"));
        let e = encode(&obj([("z", Value::Null)]), &ty).unwrap_err();
        assert_eq!(e.to_string(), "unsupported attribute \"z\"");
        let e = encode(&obj([("b", Value::List(vec!["x".into()]))]), &ty).unwrap_err();
        assert_eq!(e.to_string(), "b[0]: expected number, got a string");
        // The type picks the wire shape: a Map value under an object type and a Tuple under a
        // list type are written by the type.
        let v = Value::Map([("a".into(), "s".into())].into());
        assert_eq!(encode(&v, &ty).unwrap(), hex("82 a1 61 a1 73 a1 62 c0"));
        assert_eq!(
            encode(&Value::Tuple(vec![num("1")]), &Type::list(Type::Number)).unwrap(),
            hex("91 01")
        );
        // An unknown anywhere is written as the ext it came as.
        let v = obj([("a", Value::unknown())]);
        assert_eq!(encode(&v, &ty).unwrap(), hex("82 a1 61 d4 00 00 a1 62 c0"));
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        // ["string" as bin, "x"]
        let wire = "92 c4 08 22 73 74 72 69 6e 67 22 a1 78";
        let want = Value::Dynamic(Type::String, Box::new("x".into()));
        round_trip(wire, &Type::Dynamic, &want);
        // Terraform may send the type JSON as str; it's read the same and written as bin.
        let v = decode(&hex("92 a8 22 73 74 72 69 6e 67 22 a1 78"), &Type::Dynamic).unwrap();
        assert_eq!(v, want);
        assert_eq!(encode(&v, &Type::Dynamic).unwrap(), hex(wire));
        // A plain known value under a dynamic type gets its type inferred.
        assert_eq!(encode(&"x".into(), &Type::Dynamic).unwrap(), hex(wire));
        // Null and unknown dynamic values carry no wrapper.
        round_trip("c0", &Type::Dynamic, &Value::Null);
        round_trip("d4 00 00", &Type::Dynamic, &Value::unknown());
        // A typed null keeps its wrapper: [“number”, nil].
        round_trip(
            "92 c4 08 22 6e 75 6d 62 65 72 22 c0",
            &Type::Dynamic,
            &Value::Dynamic(Type::Number, Box::new(Value::Null)),
        );
        // An object with a dynamic attribute holding a list.
        let ty = Type::object([("v", Type::Dynamic)]);
        let list_ty = Type::list(Type::Number);
        let v = obj([(
            "v",
            Value::Dynamic(
                list_ty.clone(),
                Box::new(Value::List(vec![num("1"), num("2")])),
            ),
        )]);
        let mut wire = hex("81 a1 76 92 c4");
        let tj = list_ty.to_json_bytes();
        assert_eq!(tj, br#"["list","number"]"#);
        wire.push(tj.len() as u8);
        wire.extend_from_slice(&tj);
        wire.extend_from_slice(&hex("92 01 02"));
        assert_eq!(decode(&wire, &ty).unwrap(), v);
        assert_eq!(encode(&v, &ty).unwrap(), wire);

        // Inference for objects and tuples; nulls inside become dynamic.
        let plain = obj([("a", num("1")), ("b", Value::Null)]);
        let inferred = Type::object([("a", Type::Number), ("b", Type::Dynamic)]);
        let bytes = encode(&plain, &Type::Dynamic).unwrap();
        assert_eq!(
            decode(&bytes, &Type::Dynamic).unwrap(),
            Value::Dynamic(inferred, Box::new(plain))
        );
        let plain = Value::List(vec!["a".into(), Value::Null]);
        let bytes = encode(&plain, &Type::Dynamic).unwrap();
        assert_eq!(
            decode(&bytes, &Type::Dynamic).unwrap(),
            Value::Dynamic(Type::list(Type::String), Box::new(plain))
        );
        assert!(encode(&Value::List(vec![]), &Type::Dynamic).is_err());
        assert!(encode(&Value::List(vec!["a".into(), num("1")]), &Type::Dynamic).is_err());

        // Malformed wrappers.
        assert!(decode_err("91 c4 00", &Type::Dynamic)
            .message
            .contains("2 elements"));
        assert!(decode_err("a1 78", &Type::Dynamic)
            .message
            .contains("dynamic"));
        assert!(decode_err("92 c4 03 22 78 22 c0", &Type::Dynamic)
            .message
            .contains("invalid type"));
        // The inner value must match the carried type.
        assert_eq!(
            decode_err("92 c4 08 22 73 74 72 69 6e 67 22 01", &Type::Dynamic).message,
            "expected a string, got a number"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        // Truncated at every possible point of a valid encoding.
        let ty = Type::object([("a", Type::list(Type::Dynamic)), ("b", Type::Number)]);
        let good = hex("82 a1 61 91 92 c4 08 22 73 74 72 69 6e 67 22 a1 78 a1 62 cd 01 bb");
        assert!(decode(&good, &ty).is_ok());
        for cut in 0..good.len() {
            let e = decode(&good[..cut], &ty).unwrap_err();
            assert!(e.message.contains("unexpected end"), "cut {cut}: {e}");
        }
        assert_eq!(
            decode_err("", &Type::String).message,
            "unexpected end of msgpack data"
        );
        // Declared lengths far beyond the input are rejected before allocating.
        for wire in [
            "dd ff ff ff ff",
            "df ff ff ff ff",
            "db ff ff ff ff",
            "c6 ff ff ff ff",
            "c9 ff ff ff ff 00",
        ] {
            for ty in [
                Type::list(Type::String),
                Type::map(Type::String),
                Type::String,
            ] {
                assert!(decode(&hex(wire), &ty).is_err(), "{wire} as {ty}");
            }
        }
        // Trailing bytes after the value.
        assert_eq!(
            decode_err("c0 c0", &Type::String).message,
            "1 unexpected bytes after the value"
        );
        // The reserved marker.
        assert!(decode(&hex("c1"), &Type::String).is_err());
        assert!(decode(&hex("c1"), &Type::Number).is_err());
    }

    #[test]
    fn nesting_is_capped() {
        // list(list(...(string))) 300 deep, and a value just as deep.
        let mut ty = Type::String;
        for _ in 0..300 {
            ty = Type::list(ty);
        }
        let mut wire = vec![0x91; 300];
        wire.push(0xa0);
        assert!(decode(&wire, &ty)
            .unwrap_err()
            .message
            .contains("nested deeper"));
        // Dynamic values that claim to hold dynamic values, over and over.
        let mut wire = Vec::new();
        for _ in 0..1000 {
            wire.extend_from_slice(&hex("92 c4 09 22 64 79 6e 61 6d 69 63 22"));
        }
        wire.push(0xc0);
        assert!(decode(&wire, &Type::Dynamic)
            .unwrap_err()
            .message
            .contains("nested deeper"));
        // Moderate depth is fine.
        let mut ty = Type::String;
        for _ in 0..100 {
            ty = Type::list(ty);
        }
        let mut wire = vec![0x91; 100];
        wire.push(0xa0);
        let v = decode(&wire, &ty).unwrap();
        assert_eq!(encode(&v, &ty).unwrap(), wire);
    }

    #[test]
    fn error_display_includes_path_only_when_not_root() {
        let e = CodecError::new("boom");
        assert_eq!(e.to_string(), "boom");
        let e = e
            .within(PathStep::Index(2))
            .within(PathStep::Attr("rule".into()));
        assert_eq!(e.to_string(), "rule[2]: boom");
    }

    // --------------------------------------------------------------------------------------------
    // Property tests

    use proptest::prelude::*;
    use proptest::test_runner::Config as ProptestConfig;

    pub(crate) fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 2000,
            // Don't write regression files into the source tree.
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    pub(crate) fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::String),
            Just(Type::Number),
            Just(Type::Bool),
            Just(Type::Dynamic),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(Type::list),
                inner.clone().prop_map(Type::set),
                inner.clone().prop_map(Type::map),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Type::Tuple),
                prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(Type::Object),
            ]
        })
    }

    pub(crate) fn arb_number(allow_infinity: bool) -> BoxedStrategy<Number> {
        let finite = prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            any::<f64>().prop_filter_map("NaN", |f| Number::from_f64(f)
                .ok()
                .filter(Number::is_finite)),
            (any::<i128>(), -40i64..40).prop_map(|(m, e)| format!("{m}e{e}").parse().unwrap()),
            (any::<i64>(), -400i64..400).prop_map(|(m, e)| format!("{m}e{e}").parse().unwrap()),
        ];
        if allow_infinity {
            prop_oneof![
                8 => finite,
                1 => Just(Number::infinity()),
                1 => Just(Number::neg_infinity()),
            ]
            .boxed()
        } else {
            finite.boxed()
        }
    }

    fn arb_refinements() -> impl Strategy<Value = Refinements> {
        (
            proptest::option::of(any::<bool>()),
            proptest::option::of(any::<String>()),
            proptest::option::of((arb_number(true), any::<bool>())),
            proptest::option::of((arb_number(true), any::<bool>())),
            proptest::option::of(any::<u64>()),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(
                |(nullness, string_prefix, number_lower, number_upper, length_min, length_max)| {
                    Refinements {
                        nullness,
                        string_prefix,
                        number_lower,
                        number_upper,
                        length_min,
                        length_max,
                    }
                },
            )
    }

    fn arb_unknown() -> impl Strategy<Value = Unknown> {
        prop_oneof![
            Just(Unknown::default()),
            arb_refinements().prop_map(|r| r.to_unknown()),
            (any::<i8>(), prop::collection::vec(any::<u8>(), 0..300))
                .prop_map(|(ext_type, payload)| Unknown { ext_type, payload }),
        ]
    }

    /// A value conforming to `ty`. With `json`, no unknowns or infinities (JSON has neither).
    /// `dyn_depth` bounds how many dynamic wrappers nest.
    pub(crate) fn arb_value(ty: &Type, json: bool, dyn_depth: u32) -> BoxedStrategy<Value> {
        let known: BoxedStrategy<Value> = match ty {
            Type::String => any::<String>().prop_map(Value::String).boxed(),
            Type::Number => arb_number(!json).prop_map(Value::Number).boxed(),
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::List(et) => prop::collection::vec(arb_value(et, json, dyn_depth), 0..4)
                .prop_map(Value::List)
                .boxed(),
            Type::Set(et) => prop::collection::vec(arb_value(et, json, dyn_depth), 0..4)
                .prop_map(Value::Set)
                .boxed(),
            Type::Map(et) => {
                prop::collection::btree_map(any::<String>(), arb_value(et, json, dyn_depth), 0..4)
                    .prop_map(Value::Map)
                    .boxed()
            }
            Type::Tuple(ets) => ets
                .iter()
                .map(|et| arb_value(et, json, dyn_depth))
                .collect::<Vec<_>>()
                .prop_map(Value::Tuple)
                .boxed(),
            Type::Object(attrs) => attrs
                .iter()
                .map(|(k, at)| (Just(k.clone()), arb_value(at, json, dyn_depth)))
                .collect::<Vec<_>>()
                .prop_map(|kvs| Value::Object(kvs.into_iter().collect()))
                .boxed(),
            Type::Dynamic if dyn_depth == 0 => Just(Value::Null).boxed(),
            Type::Dynamic => arb_type()
                .prop_flat_map(move |t| {
                    arb_value(&t, json, dyn_depth - 1)
                        .prop_map(move |v| Value::Dynamic(t.clone(), Box::new(v)))
                })
                .boxed(),
        };
        if json {
            prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
        } else {
            prop_oneof![
                1 => Just(Value::Null),
                1 => arb_unknown().prop_map(Value::Unknown),
                6 => known,
            ]
            .boxed()
        }
    }

    pub(crate) fn typed_value(json: bool) -> impl Strategy<Value = (Type, Value)> {
        arb_type().prop_flat_map(move |t| {
            let v = arb_value(&t, json, 2);
            (Just(t), v)
        })
    }

    fn fuzz_types() -> Vec<Type> {
        vec![
            Type::String,
            Type::Number,
            Type::Dynamic,
            Type::list(Type::Dynamic),
            Type::map(Type::Number),
            Type::Tuple(vec![Type::String, Type::Bool]),
            Type::object([
                ("a", Type::String),
                (
                    "b",
                    Type::object([("c", Type::set(Type::Number)), ("d", Type::Dynamic)]),
                ),
                ("e", Type::list(Type::object([("f", Type::Bool)]))),
            ]),
        ]
    }

    /// Whatever decodes must re-encode, and decode again to the same value and the same bytes.
    fn check_decoded_is_stable(bytes: &[u8], ty: &Type) {
        if let Ok(v) = decode(bytes, ty) {
            let again = encode(&v, ty).expect("a decoded value encodes");
            assert_eq!(decode(&again, ty).expect("re-decodes"), v);
            assert_eq!(encode(&v, ty).unwrap(), again);
        }
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn fuzz_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            for ty in fuzz_types() {
                check_decoded_is_stable(&bytes, &ty);
            }
        }

        #[test]
        fn fuzz_mutated_encodings_never_panic(
            (ty, v) in typed_value(false),
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = encode(&v, &ty).unwrap();
            for (at, b) in edits {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
            }
            if truncate && !bytes.is_empty() {
                bytes.truncate(cut.index(bytes.len()));
            }
            check_decoded_is_stable(&bytes, &ty);
            for other in fuzz_types() {
                check_decoded_is_stable(&bytes, &other);
            }
        }

        #[test]
        fn fuzz_generated_values_round_trip((ty, v) in typed_value(false)) {
            let bytes = encode(&v, &ty).unwrap();
            let back = decode(&bytes, &ty).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(encode(&back, &ty).unwrap(), bytes);
        }

        #[test]
        fn fuzz_refinements_round_trip(r in arb_refinements()) {
            let u = r.to_unknown();
            if r.is_empty() {
                prop_assert_eq!(u.refinements(), None);
            } else {
                prop_assert_eq!(u.refinements(), Some(r));
            }
        }

        #[test]
        fn fuzz_refinement_payloads_never_panic(
            payload in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let u = Unknown { ext_type: REFINED_UNKNOWN_EXT, payload };
            if let Some(r) = u.refinements() {
                // Whatever parses re-encodes to something that parses the same.
                prop_assert_eq!(r.to_unknown().refinements().unwrap_or_default(), r);
            }
        }
    }
}
