//! The typed layer: resources read and write plain serde structs; this module converts them to
//! and from the dynamic [`Value`] tree the wire codecs speak.
//!
//! * [`to_value`] serializes against the schema-implied [`Type`], so its result always conforms
//!   to it: every object attribute present, lists, sets and tuples told apart, `dynamic` values
//!   wrapped with the concrete type they carry.
//! * [`from_value`] deserializes from a `&Value` and tracks the attribute path while descending,
//!   so an error becomes a diagnostic Terraform can pin on the offending attribute.
//! * [`Tf<T>`] is the tri-state attribute (known / null / unknown). A plain `T` or `Option<T>`
//!   field works too, but meeting an unknown value is then an error.
//! * A field of type [`Value`] carries the raw sub-tree through unchanged.
//!
//! serde knows neither "unknown" nor our `Value`, so both cross the serde boundary in disguise:
//! a newtype struct with a private name that only this module's serializer and deserializer
//! recognise (the trick `serde_json::value::RawValue` uses). Every other serde format sees an
//! ordinary transparent newtype, so `Tf<T>` behaves like `Option<T>` there and a `Value` like the
//! equivalent JSON.
//!
//! Limitation: serde buffers the input of `#[serde(flatten)]` fields and untagged enums through
//! `deserialize_any`, which cannot express the disguise; an unknown value met there is an error
//! and a raw `Value` arrives as its JSON-like equivalent (tuples and objects).
use std::cell::RefCell;
use std::collections::{btree_map, BTreeMap};
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use serde::{Deserialize, Deserializer, Serializer};

use super::number::{Number, NumberError};
use super::path::{AttributePath, PathStep};
use super::types::Type;
use super::value::{Unknown, Value};

/// Newtype name `Tf::Unknown` serializes under; our serializer turns it into `Value::Unknown`.
const UNKNOWN_TOKEN: &str = "$stagecraft::typed::Unknown";
/// Newtype name `Tf<T>` deserializes through; our deserializer answers an unknown value with
/// `visit_str(UNKNOWN_TOKEN)` instead of descending.
const TF_TOKEN: &str = "$stagecraft::typed::Tf";
/// Newtype name a raw `Value` (de)serializes through; the value itself travels in [`RAW`].
const RAW_TOKEN: &str = "$stagecraft::typed::Value";
/// How `serde_json::Number` presents itself with the workspace's `arbitrary_precision` feature:
/// a one-field struct holding the exact decimal text.
const JSON_NUMBER_TOKEN: &str = "$serde_json::private::Number";

static DYNAMIC: Type = Type::Dynamic;

thread_local! {
    /// Carries a raw `Value` across one serde call: serde only passes primitives between a
    /// (de)serializer and the type on the other side, so the sender parks the value here right
    /// before handing over the `RAW_TOKEN` newtype and the receiver takes it straight away.
    static RAW: RefCell<Option<Value>> = const { RefCell::new(None) };
}

fn raw_put(v: Value) {
    RAW.with(|r| *r.borrow_mut() = Some(v));
}

fn raw_take() -> Option<Value> {
    RAW.with(|r| r.borrow_mut().take())
}

// ------------------------------------------------------------------------------------------------
// Tf<T>

/// One attribute as Terraform sees it: a known value, null, or not yet known (during plan).
///
/// With [`to_value`]/[`from_value`] all three states round-trip; with any other serde format
/// `Tf<T>` behaves like `Option<T>` (unknown is written as null).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tf<T> {
    Known(T),
    #[default]
    Null,
    Unknown,
}

impl<T> Tf<T> {
    pub fn is_known(&self) -> bool {
        matches!(self, Tf::Known(_))
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Tf::Null)
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Tf::Unknown)
    }
    /// The value if known; `None` for both null and unknown.
    pub fn known(&self) -> Option<&T> {
        match self {
            Tf::Known(v) => Some(v),
            _ => None,
        }
    }
    pub fn into_known(self) -> Option<T> {
        match self {
            Tf::Known(v) => Some(v),
            _ => None,
        }
    }
    pub fn as_ref(&self) -> Tf<&T> {
        match self {
            Tf::Known(v) => Tf::Known(v),
            Tf::Null => Tf::Null,
            Tf::Unknown => Tf::Unknown,
        }
    }
    pub fn as_mut(&mut self) -> Tf<&mut T> {
        match self {
            Tf::Known(v) => Tf::Known(v),
            Tf::Null => Tf::Null,
            Tf::Unknown => Tf::Unknown,
        }
    }
    /// Transforms a known value; null and unknown stay what they are.
    pub fn map<U, F: FnOnce(T) -> U>(self, f: F) -> Tf<U> {
        match self {
            Tf::Known(v) => Tf::Known(f(v)),
            Tf::Null => Tf::Null,
            Tf::Unknown => Tf::Unknown,
        }
    }
    /// The known value, or `default` when null or unknown.
    pub fn unwrap_or(self, default: T) -> T {
        self.into_known().unwrap_or(default)
    }
    pub fn unwrap_or_else<F: FnOnce() -> T>(self, f: F) -> T {
        self.into_known().unwrap_or_else(f)
    }
    /// `self` if known, otherwise `other` (e.g. `planned.or(prior)`).
    pub fn or(self, other: Tf<T>) -> Tf<T> {
        if self.is_known() {
            self
        } else {
            other
        }
    }
}

impl<T> From<T> for Tf<T> {
    fn from(v: T) -> Self {
        Tf::Known(v)
    }
}

impl<T> From<Option<T>> for Tf<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Tf::Null, Tf::Known)
    }
}

impl<T: Serialize> Serialize for Tf<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tf::Known(v) => s.serialize_some(v),
            Tf::Null => s.serialize_none(),
            // Other formats see a transparent newtype around `None`: exactly what an
            // `Option::None` writes, so Tf stays wire-compatible with Option everywhere.
            Tf::Unknown => s.serialize_newtype_struct(UNKNOWN_TOKEN, &None::<()>),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Tf<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(TF_TOKEN, TfVisitor(PhantomData))
    }
}

struct TfVisitor<T>(PhantomData<T>);

impl<T> TfVisitor<T> {
    fn known<'de, D: Deserializer<'de>>(d: D) -> Result<Tf<T>, D::Error>
    where
        T: Deserialize<'de>,
    {
        T::deserialize(d).map(Tf::Known)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for TfVisitor<T> {
    type Value = Tf<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, null or unknown")
    }

    // The usual path (our deserializer for non-unknown values, serde_json, ...): the newtype
    // wraps an Option.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Tf<T>, D::Error> {
        Option::<T>::deserialize(d).map(Tf::from)
    }
    fn visit_none<E: de::Error>(self) -> Result<Tf<T>, E> {
        Ok(Tf::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Tf<T>, E> {
        Ok(Tf::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tf<T>, D::Error> {
        Self::known(d)
    }

    // Formats whose newtype handling falls back to `deserialize_any` hand over the value
    // itself; pass it on to T.
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Tf<T>, E> {
        Self::known(v.into_deserializer())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Tf<T>, E> {
        Self::known(v.into_deserializer())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tf<T>, E> {
        Self::known(v.into_deserializer())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tf<T>, E> {
        Self::known(v.into_deserializer())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tf<T>, E> {
        if v == UNKNOWN_TOKEN {
            return Ok(Tf::Unknown);
        }
        Self::known(v.into_deserializer())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Tf<T>, E> {
        if v == UNKNOWN_TOKEN {
            return Ok(Tf::Unknown);
        }
        Self::known(BorrowedStrDeserializer::new(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Tf<T>, E> {
        if v == UNKNOWN_TOKEN {
            return Ok(Tf::Unknown);
        }
        Self::known(v.into_deserializer())
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Tf<T>, A::Error> {
        Self::known(SeqAccessDeserializer::new(seq))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Tf<T>, A::Error> {
        Self::known(MapAccessDeserializer::new(map))
    }
}

// ------------------------------------------------------------------------------------------------
// Value as a serde type (pass-through)

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        raw_put(self.clone());
        let out = s.serialize_newtype_struct(RAW_TOKEN, &Plain(self));
        // Another format never takes the parked value; don't leave it lying around.
        raw_take();
        out
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_newtype_struct(RAW_TOKEN, ValueVisitor)
    }
}

/// How a `Value` looks to other serde formats: its JSON-like equivalent, unknown as null.
struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null | Value::Unknown(_) => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => s.serialize_i64(i),
                (_, Some(u)) => s.serialize_u64(u),
                _ => s.serialize_f64(n.as_f64()),
            },
            Value::String(v) => s.serialize_str(v),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                s.collect_seq(items.iter().map(Plain))
            }
            Value::Map(m) | Value::Object(m) => s.collect_map(m.iter().map(|(k, v)| (k, Plain(v)))),
            Value::Dynamic(_, v) => Plain(v).serialize(s),
        }
    }
}

/// Builds a `Value` from our deserializer (taking the parked raw value) or, for any other
/// format, from its self-described data the way cty infers types from JSON (arrays are tuples,
/// objects are objects).
struct ValueVisitor;

impl ValueVisitor {
    fn string(v: &str) -> Value {
        if v == RAW_TOKEN {
            if let Some(raw) = raw_take() {
                return raw;
            }
        }
        Value::String(v.to_owned())
    }
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Self::string(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        v.to_string().parse().map(Value::Number).map_err(E::custom)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        v.to_string().parse().map(Value::Number).map_err(E::custom)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        f64_number(v).map(Value::Number).map_err(E::custom)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(PlainSeed)? {
            items.push(v);
        }
        Ok(Value::Tuple(items))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.is_empty() && k == JSON_NUMBER_TOKEN {
                let text: String = map.next_value()?;
                return text.parse().map(Value::Number).map_err(de::Error::custom);
            }
            out.insert(k, map.next_value_seed(PlainSeed)?);
        }
        Ok(Value::Object(out))
    }
}

/// Deserializes children of a foreign-format value without re-entering the raw-value token
/// (children are never parked).
struct PlainSeed;

impl<'de> DeserializeSeed<'de> for PlainSeed {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// An `f64` as the shortest decimal that reads back as the same `f64` — the number the user
/// wrote, not the binary expansion (`0.1`, not `0.1000000000000000055…`), so a float attribute
/// copied from configuration into state compares equal to it.
fn f64_number(v: f64) -> Result<Number, NumberError> {
    // `Display` for floats prints that shortest round-trip form; `inf` and `NaN` reach
    // `Number`'s parser as infinity and an error.
    v.to_string().parse()
}

// ------------------------------------------------------------------------------------------------
// Errors and paths

/// A conversion failure and the attribute it happened at.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(&self.path, &self.message))]
pub struct TypedError {
    pub path: AttributePath,
    pub message: String,
}

fn render(path: &AttributePath, message: &str) -> String {
    if path.is_root() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

impl TypedError {
    pub fn new(path: AttributePath, message: impl Into<String>) -> Self {
        TypedError {
            path,
            message: message.into(),
        }
    }

    fn at(at: &Crumb<'_>, message: impl Into<String>) -> Self {
        TypedError::new(at.path(), message)
    }

    /// Errors raised by serde-generated code or user impls (`custom`, `missing_field`) know no
    /// path. Every deeper error already carries a non-root one, so a root-path error coming
    /// out of a child belongs to that child.
    fn located(mut self, at: &Crumb<'_>) -> Self {
        if self.path.is_root() {
            self.path = at.path();
        }
        self
    }
}

impl ser::Error for TypedError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TypedError::new(AttributePath::root(), msg.to_string())
    }
}

impl de::Error for TypedError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        TypedError::new(AttributePath::root(), msg.to_string())
    }
}

/// The path to the node being converted, as a chain of borrowed steps on the stack: building an
/// `AttributePath` per node would allocate for every attribute, and it's needed only on error.
#[derive(Clone, Copy)]
enum Crumb<'a> {
    Root,
    Attr(&'a Crumb<'a>, &'a str),
    Key(&'a Crumb<'a>, &'a str),
    Index(&'a Crumb<'a>, usize),
}

impl Crumb<'_> {
    fn path(&self) -> AttributePath {
        let mut steps = Vec::new();
        let mut c = self;
        loop {
            c = match c {
                Crumb::Root => break,
                Crumb::Attr(p, n) => {
                    steps.push(PathStep::Attr((*n).to_owned()));
                    p
                }
                Crumb::Key(p, k) => {
                    steps.push(PathStep::Key((*k).to_owned()));
                    p
                }
                Crumb::Index(p, i) => {
                    steps.push(PathStep::Index(*i as i64));
                    p
                }
            };
        }
        steps.reverse();
        AttributePath { steps }
    }
}

/// Runs `f` at `at`, or one attribute further down when converting the payload of an
/// externally tagged enum variant (`{variant = payload}`).
fn under<R>(at: &Crumb<'_>, variant: Option<&str>, f: impl FnOnce(&Crumb<'_>) -> R) -> R {
    match variant {
        Some(v) => f(&Crumb::Attr(at, v)),
        None => f(at),
    }
}

/// What a value is, for "expected X, got Y" messages.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Unknown(_) => "an unknown value".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::List(_) => "list".into(),
        Value::Set(_) => "set".into(),
        Value::Tuple(_) => "tuple".into(),
        Value::Map(_) => "map".into(),
        Value::Object(_) => "object".into(),
        Value::Dynamic(t, _) => format!("a dynamic value of type {t}"),
    }
}

// ------------------------------------------------------------------------------------------------
// to_value

/// Serializes `v` into a [`Value`] conforming to `ty`.
///
/// Structs and maps become objects under an object type (attributes the struct lacks are null;
/// struct fields the type lacks are an error) and maps under a map type; sequences become
/// lists, sets (duplicates dropped) or tuples as the type says; `None`/`Tf::Null` is null and
/// `Tf::Unknown` unknown. Under `dynamic` the concrete type is inferred (string, number, bool,
/// tuple, object) and the value wrapped in [`Value::Dynamic`]. A [`Value`] field is checked
/// against its type and otherwise passed through (a plain value under `dynamic` gets wrapped).
pub fn to_value<T: Serialize + ?Sized>(v: &T, ty: &Type) -> Result<Value, TypedError> {
    let root = Crumb::Root;
    v.serialize(Ser { ty, at: &root })
}

#[derive(Clone, Copy)]
struct Ser<'a> {
    ty: &'a Type,
    at: &'a Crumb<'a>,
}

impl<'a> Ser<'a> {
    fn err(&self, message: impl Into<String>) -> TypedError {
        TypedError::at(self.at, message)
    }

    fn mismatch(&self, got: &str) -> TypedError {
        self.err(format!("expected {}, got {got}", self.ty))
    }

    fn primitive(self, v: Value, t: Type, got: &str) -> Result<Value, TypedError> {
        match self.ty {
            Type::Dynamic => Ok(Value::Dynamic(t, Box::new(v))),
            ty if *ty == t => Ok(v),
            _ => Err(self.mismatch(got)),
        }
    }

    fn number(self, n: Result<Number, NumberError>) -> Result<Value, TypedError> {
        let n = n.map_err(|e| self.err(e.to_string()))?;
        self.primitive(Value::Number(n), Type::Number, "number")
    }

    fn string(self, s: String) -> Result<Value, TypedError> {
        self.primitive(Value::String(s), Type::String, "string")
    }

    /// The type of an enum variant's payload, which is encoded as `{variant = payload}`.
    fn variant_type(&self, variant: &str) -> Result<&'a Type, TypedError> {
        match self.ty {
            Type::Object(attrs) => attrs.get(variant).ok_or_else(|| {
                self.err(format!(
                    "enum variant `{variant}` is not an attribute of {}",
                    self.ty
                ))
            }),
            Type::Map(t) => Ok(t),
            Type::Dynamic => Ok(&DYNAMIC),
            _ => Err(self.mismatch(&format!("enum variant `{variant}` with a payload"))),
        }
    }
}

/// Wraps an enum variant's payload as the single non-null attribute of an object (or entry of
/// a map) of type `ty`.
fn wrap_variant(ty: &Type, variant: &str, payload: Value) -> Value {
    match ty {
        Type::Object(attrs) => {
            let mut m: BTreeMap<String, Value> =
                attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
            m.insert(variant.to_owned(), payload);
            Value::Object(m)
        }
        Type::Map(_) => Value::Map(BTreeMap::from([(variant.to_owned(), payload)])),
        _ => {
            let (t, v) = split(payload);
            Value::Dynamic(
                Type::object([(variant, t)]),
                Box::new(Value::Object(BTreeMap::from([(variant.to_owned(), v)]))),
            )
        }
    }
}

/// Splits a value produced under `dynamic` into its concrete type and bare value, for building
/// the inferred type of an enclosing tuple or object. Null and unknown stay `dynamic`.
fn split(v: Value) -> (Type, Value) {
    match v {
        Value::Dynamic(t, inner) => (t, *inner),
        other => (Type::Dynamic, other),
    }
}

/// Set elements are unique. Unknown elements are kept: two unknowns may turn out different.
fn dedupe(items: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for v in items {
        if !(v.is_wholly_known() && out.contains(&v)) {
            out.push(v);
        }
    }
    out
}

impl<'a> Serializer for Ser<'a> {
    type Ok = Value;
    type Error = TypedError;
    type SerializeSeq = SeqSer<'a>;
    type SerializeTuple = SeqSer<'a>;
    type SerializeTupleStruct = SeqSer<'a>;
    type SerializeTupleVariant = SeqSer<'a>;
    type SerializeMap = ObjSer<'a>;
    type SerializeStruct = ObjSer<'a>;
    type SerializeStructVariant = ObjSer<'a>;

    fn serialize_bool(self, v: bool) -> Result<Value, TypedError> {
        self.primitive(Value::Bool(v), Type::Bool, "bool")
    }
    fn serialize_i8(self, v: i8) -> Result<Value, TypedError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, TypedError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, TypedError> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, TypedError> {
        self.number(Ok(v.into()))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, TypedError> {
        self.number(v.to_string().parse())
    }
    fn serialize_u8(self, v: u8) -> Result<Value, TypedError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, TypedError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, TypedError> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, TypedError> {
        self.number(Ok(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, TypedError> {
        self.number(v.to_string().parse())
    }
    fn serialize_f32(self, v: f32) -> Result<Value, TypedError> {
        // Through f32's own shortest form: widening first would turn 0.1f32 into
        // 0.100000001490116…
        self.number(v.to_string().parse())
    }
    fn serialize_f64(self, v: f64) -> Result<Value, TypedError> {
        self.number(f64_number(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, TypedError> {
        self.string(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<Value, TypedError> {
        self.string(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<Value, TypedError> {
        Err(self.err("raw bytes have no Terraform type; encode them as a string"))
    }
    fn serialize_none(self) -> Result<Value, TypedError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Value, TypedError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, TypedError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, TypedError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, TypedError> {
        self.string(variant.to_owned())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<Value, TypedError> {
        match name {
            UNKNOWN_TOKEN => Ok(Value::Unknown(Unknown::default())),
            RAW_TOKEN => {
                let raw =
                    raw_take().ok_or_else(|| self.err("raw value went missing in transit"))?;
                conform(raw, self.ty, self.at)
            }
            _ => v.serialize(self),
        }
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<Value, TypedError> {
        let ty = self.variant_type(variant)?;
        let c = Crumb::Attr(self.at, variant);
        let payload = v.serialize(Ser { ty, at: &c }).map_err(|e| e.located(&c))?;
        Ok(wrap_variant(self.ty, variant, payload))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<SeqSer<'a>, TypedError> {
        SeqSer::new(self, None, self.ty)
    }
    fn serialize_tuple(self, _len: usize) -> Result<SeqSer<'a>, TypedError> {
        SeqSer::new(self, None, self.ty)
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<SeqSer<'a>, TypedError> {
        SeqSer::new(self, None, self.ty)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<SeqSer<'a>, TypedError> {
        let ty = self.variant_type(variant)?;
        SeqSer::new(self, Some(variant), ty)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<ObjSer<'a>, TypedError> {
        ObjSer::new(self, None, self.ty, "map")
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<ObjSer<'a>, TypedError> {
        if name == JSON_NUMBER_TOKEN {
            // A serde_json::Number: keep its exact text rather than going through f64.
            let mut o = ObjSer::new(self, None, &DYNAMIC, "object")?;
            o.json_number = true;
            return Ok(o);
        }
        ObjSer::new(self, None, self.ty, "object")
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<ObjSer<'a>, TypedError> {
        let ty = self.variant_type(variant)?;
        ObjSer::new(self, Some(variant), ty, "object")
    }
}

/// Collects a sequence; the target type decides list, set or tuple.
struct SeqSer<'a> {
    /// The node being serialized (for a variant: the enclosing `{variant = [...]}`).
    outer: Ser<'a>,
    variant: Option<&'static str>,
    /// The sequence's own type.
    ty: &'a Type,
    items: Vec<Value>,
}

impl<'a> SeqSer<'a> {
    fn new(
        outer: Ser<'a>,
        variant: Option<&'static str>,
        ty: &'a Type,
    ) -> Result<Self, TypedError> {
        match ty {
            Type::List(_) | Type::Set(_) | Type::Tuple(_) | Type::Dynamic => Ok(SeqSer {
                outer,
                variant,
                ty,
                items: Vec::new(),
            }),
            _ => Err(under(outer.at, variant, |c| {
                TypedError::at(c, format!("expected {ty}, got sequence"))
            })),
        }
    }

    fn element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), TypedError> {
        let i = self.items.len();
        let ty = match self.ty {
            Type::List(t) | Type::Set(t) => &**t,
            Type::Tuple(ts) => match ts.get(i) {
                Some(t) => t,
                None => {
                    return Err(under(self.outer.at, self.variant, |c| {
                        TypedError::at(c, format!("expected {}, got more elements", self.ty))
                    }))
                }
            },
            _ => &DYNAMIC,
        };
        let value = under(self.outer.at, self.variant, |base| {
            let c = Crumb::Index(base, i);
            v.serialize(Ser { ty, at: &c }).map_err(|e| e.located(&c))
        })?;
        self.items.push(value);
        Ok(())
    }

    fn finish(self) -> Result<Value, TypedError> {
        let SeqSer {
            outer,
            variant,
            ty,
            items,
        } = self;
        let seq = match ty {
            Type::List(_) => Value::List(items),
            Type::Set(_) => Value::Set(dedupe(items)),
            Type::Tuple(ts) if ts.len() == items.len() => Value::Tuple(items),
            Type::Tuple(_) => {
                return Err(under(outer.at, variant, |c| {
                    TypedError::at(c, format!("expected {ty}, got {} elements", items.len()))
                }))
            }
            _ => {
                let (types, values) = items.into_iter().map(split).unzip();
                Value::Dynamic(Type::Tuple(types), Box::new(Value::Tuple(values)))
            }
        };
        Ok(match variant {
            Some(name) => wrap_variant(outer.ty, name, seq),
            None => seq,
        })
    }
}

impl ser::SerializeSeq for SeqSer<'_> {
    type Ok = Value;
    type Error = TypedError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), TypedError> {
        self.element(v)
    }
    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

impl ser::SerializeTuple for SeqSer<'_> {
    type Ok = Value;
    type Error = TypedError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), TypedError> {
        self.element(v)
    }
    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for SeqSer<'_> {
    type Ok = Value;
    type Error = TypedError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), TypedError> {
        self.element(v)
    }
    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for SeqSer<'_> {
    type Ok = Value;
    type Error = TypedError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), TypedError> {
        self.element(v)
    }
    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

/// Collects a struct or map; the target type decides object or map.
struct ObjSer<'a> {
    outer: Ser<'a>,
    variant: Option<&'static str>,
    ty: &'a Type,
    entries: BTreeMap<String, Value>,
    /// Struct fields the object type lacks, reported together at the end.
    strays: Vec<String>,
    /// A map key waiting for its value.
    key: Option<String>,
    json_number: bool,
}

impl<'a> ObjSer<'a> {
    fn new(
        outer: Ser<'a>,
        variant: Option<&'static str>,
        ty: &'a Type,
        got: &str,
    ) -> Result<Self, TypedError> {
        match ty {
            Type::Object(_) | Type::Map(_) | Type::Dynamic => Ok(ObjSer {
                outer,
                variant,
                ty,
                entries: BTreeMap::new(),
                strays: Vec::new(),
                key: None,
                json_number: false,
            }),
            _ => Err(under(outer.at, variant, |c| {
                TypedError::at(c, format!("expected {ty}, got {got}"))
            })),
        }
    }

    fn entry<T: ?Sized + Serialize>(&mut self, name: &str, v: &T) -> Result<(), TypedError> {
        if self.json_number {
            let text = v.serialize(Ser {
                ty: &Type::String,
                at: self.outer.at,
            })?;
            self.entries.insert(name.to_owned(), text);
            return Ok(());
        }
        let ty = match self.ty {
            Type::Object(attrs) => match attrs.get(name) {
                Some(t) => t,
                None => {
                    self.strays.push(name.to_owned());
                    return Ok(());
                }
            },
            Type::Map(t) => &**t,
            _ => &DYNAMIC,
        };
        // The path step follows the target type, not the Rust shape: a HashMap serialized as an
        // object has attributes, a struct serialized as a map has keys.
        let keyed = matches!(self.ty, Type::Map(_));
        let value = under(self.outer.at, self.variant, |base| {
            let c = if keyed {
                Crumb::Key(base, name)
            } else {
                Crumb::Attr(base, name)
            };
            v.serialize(Ser { ty, at: &c }).map_err(|e| e.located(&c))
        })?;
        self.entries.insert(name.to_owned(), value);
        Ok(())
    }

    fn finish(self) -> Result<Value, TypedError> {
        let ObjSer {
            outer,
            variant,
            ty,
            mut entries,
            strays,
            json_number,
            ..
        } = self;
        if json_number {
            let text = match entries.remove(JSON_NUMBER_TOKEN) {
                Some(Value::String(s)) => s,
                _ => return Err(outer.err("malformed serde_json number")),
            };
            return outer.number(text.parse());
        }
        let obj = match ty {
            Type::Object(attrs) => {
                if !strays.is_empty() {
                    let names: Vec<String> = strays.iter().map(|s| format!("`{s}`")).collect();
                    let (noun, verb) = if strays.len() == 1 {
                        ("field", "is not an attribute")
                    } else {
                        ("fields", "are not attributes")
                    };
                    let expected: Vec<&str> = attrs.keys().map(String::as_str).collect();
                    return Err(under(outer.at, variant, |c| {
                        TypedError::at(
                            c,
                            format!(
                                "struct {noun} {} {verb} of the schema type (its attributes: {})",
                                names.join(", "),
                                expected.join(", ")
                            ),
                        )
                    }));
                }
                for k in attrs.keys() {
                    entries.entry(k.clone()).or_insert(Value::Null);
                }
                Value::Object(entries)
            }
            Type::Map(_) => Value::Map(entries),
            _ => {
                let mut types = BTreeMap::new();
                let mut values = BTreeMap::new();
                for (k, v) in entries {
                    let (t, v) = split(v);
                    types.insert(k.clone(), t);
                    values.insert(k, v);
                }
                Value::Dynamic(Type::Object(types), Box::new(Value::Object(values)))
            }
        };
        Ok(match variant {
            Some(name) => wrap_variant(outer.ty, name, obj),
            None => obj,
        })
    }
}

impl ser::SerializeMap for ObjSer<'_> {
    type Ok = Value;
    type Error = TypedError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), TypedError> {
        // Keys go through the dynamic serializer, which tells us what primitive they are.
        let k = match key.serialize(Ser {
            ty: &DYNAMIC,
            at: self.outer.at,
        })? {
            Value::Dynamic(_, v) => match *v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(self.outer.err(format!(
                        "map keys must be strings, got {}",
                        describe(&other)
                    )))
                }
            },
            other => {
                return Err(self.outer.err(format!(
                    "map keys must be strings, got {}",
                    describe(&other)
                )))
            }
        };
        self.key = Some(k);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), TypedError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| self.outer.err("map value without a key"))?;
        self.entry(&key, v)
    }

    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

impl ser::SerializeStruct for ObjSer<'_> {
    type Ok = Value;
    type Error = TypedError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), TypedError> {
        self.entry(key, v)
    }
    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for ObjSer<'_> {
    type Ok = Value;
    type Error = TypedError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), TypedError> {
        self.entry(key, v)
    }
    fn end(self) -> Result<Value, TypedError> {
        self.finish()
    }
}

/// Checks a raw `Value` against `ty`, returning it unchanged where it already conforms. Two
/// repairs are made rather than refusing: a plain value under `dynamic` gets wrapped with its
/// inferred type, and a `Dynamic` wrapper around exactly the expected type is removed. Missing
/// object attributes become null, as for structs.
fn conform(v: Value, ty: &Type, at: &Crumb<'_>) -> Result<Value, TypedError> {
    let mismatch = |v: &Value| TypedError::at(at, format!("expected {ty}, got {}", describe(v)));
    match (v, ty) {
        (v @ (Value::Null | Value::Unknown(_)), _) => Ok(v),
        (Value::Dynamic(t, inner), Type::Dynamic) => match conform(*inner, &t, at)? {
            // A wrapper only ever holds a known, non-null value.
            v @ (Value::Null | Value::Unknown(_)) => Ok(v),
            v => Ok(Value::Dynamic(t, Box::new(v))),
        },
        (Value::Dynamic(t, inner), ty) if t == *ty => conform(*inner, ty, at),
        (v, Type::Dynamic) => {
            let (t, v) = infer(v, at)?;
            Ok(Value::Dynamic(t, Box::new(v)))
        }
        (v @ Value::String(_), Type::String)
        | (v @ Value::Number(_), Type::Number)
        | (v @ Value::Bool(_), Type::Bool) => Ok(v),
        (Value::List(items), Type::List(e)) => {
            conform_items(items, |_| Some(e), at).map(Value::List)
        }
        (Value::Set(items), Type::Set(e)) => conform_items(items, |_| Some(e), at).map(Value::Set),
        (Value::Tuple(items), Type::Tuple(ts)) if items.len() == ts.len() => {
            conform_items(items, |i| ts.get(i), at).map(Value::Tuple)
        }
        (Value::Map(m), Type::Map(e)) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let v = conform(v, e, &Crumb::Key(at, &k))?;
                out.insert(k, v);
            }
            Ok(Value::Map(out))
        }
        (Value::Object(m), Type::Object(attrs)) => {
            let strays: Vec<String> = m
                .keys()
                .filter(|k| !attrs.contains_key(*k))
                .map(|k| format!("`{k}`"))
                .collect();
            if !strays.is_empty() {
                return Err(TypedError::at(
                    at,
                    format!("attributes {} are not in {ty}", strays.join(", ")),
                ));
            }
            let mut m = m;
            let mut out = BTreeMap::new();
            for (k, t) in attrs {
                let v = m.remove(k).unwrap_or(Value::Null);
                out.insert(k.clone(), conform(v, t, &Crumb::Attr(at, k))?);
            }
            Ok(Value::Object(out))
        }
        (v, _) => Err(mismatch(&v)),
    }
}

fn conform_items<'t>(
    items: Vec<Value>,
    ty_of: impl Fn(usize) -> Option<&'t Type>,
    at: &Crumb<'_>,
) -> Result<Vec<Value>, TypedError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| conform(v, ty_of(i).unwrap_or(&DYNAMIC), &Crumb::Index(at, i)))
        .collect()
}

/// The concrete type of a known, non-null raw value placed under `dynamic`, and the value with
/// nested `dynamic` wrappers removed where the inferred type makes them redundant.
fn infer(v: Value, at: &Crumb<'_>) -> Result<(Type, Value), TypedError> {
    match v {
        Value::String(_) => Ok((Type::String, v)),
        Value::Number(_) => Ok((Type::Number, v)),
        Value::Bool(_) => Ok((Type::Bool, v)),
        Value::Tuple(items) => {
            let mut types = Vec::with_capacity(items.len());
            let mut values = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let (t, v) = split(conform(item, &DYNAMIC, &Crumb::Index(at, i))?);
                types.push(t);
                values.push(v);
            }
            Ok((Type::Tuple(types), Value::Tuple(values)))
        }
        Value::Object(m) => {
            let mut types = BTreeMap::new();
            let mut values = BTreeMap::new();
            for (k, item) in m {
                let (t, v) = split(conform(item, &DYNAMIC, &Crumb::Attr(at, &k))?);
                types.insert(k.clone(), t);
                values.insert(k, v);
            }
            Ok((Type::Object(types), Value::Object(values)))
        }
        Value::List(items) => {
            let (t, items) = infer_elements(items, at)?;
            Ok((Type::list(t), Value::List(items)))
        }
        Value::Set(items) => {
            let (t, items) = infer_elements(items, at)?;
            Ok((Type::set(t), Value::Set(items)))
        }
        Value::Map(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let (t, items) = infer_elements(m.into_values().collect(), at)?;
            Ok((
                Type::map(t),
                Value::Map(keys.into_iter().zip(items).collect()),
            ))
        }
        // `conform` handles these before asking.
        Value::Null | Value::Unknown(_) | Value::Dynamic(..) => Ok((Type::Dynamic, v)),
    }
}

/// A collection's elements share one type: that of its known elements (null and unknown fit
/// any), or `dynamic` when there is none.
fn infer_elements(items: Vec<Value>, at: &Crumb<'_>) -> Result<(Type, Vec<Value>), TypedError> {
    let mut elem: Option<Type> = None;
    let mut values = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let (t, v) = split(conform(item, &DYNAMIC, &Crumb::Index(at, i))?);
        if t != Type::Dynamic {
            match &elem {
                None => elem = Some(t),
                Some(e) if *e == t => {}
                Some(e) => {
                    return Err(TypedError::at(
                        at,
                        format!("collection elements must share one type, found {e} and {t}"),
                    ))
                }
            }
        }
        values.push(v);
    }
    Ok((elem.unwrap_or(Type::Dynamic), values))
}

// ------------------------------------------------------------------------------------------------
// from_value

/// Deserializes a `T` from a [`Value`].
///
/// Objects and maps feed structs and maps (attributes a struct doesn't name are ignored unless
/// it says `deny_unknown_fields`), lists, sets and tuples feed sequences, numbers feed any
/// integer or float that can hold them exactly (integers) or nearly (floats), null feeds
/// `None`/`Tf::Null`/`()`. Unknown feeds `Tf::Unknown` and is an error anywhere else. `dynamic`
/// wrappers are transparent, except to a [`Value`] field, which receives its sub-tree as is.
/// Errors carry the attribute path they happened at.
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, TypedError> {
    let root = Crumb::Root;
    T::deserialize(De {
        value: v,
        at: &root,
    })
}

/// Deserializes one attribute of an object; errors point at that attribute. A null object has
/// only null attributes (convenient for a prior state on create); an unknown object only
/// unknown ones.
pub fn get_attr<T: DeserializeOwned>(obj: &Value, name: &str) -> Result<T, TypedError> {
    static NULL: Value = Value::Null;
    let root = Crumb::Root;
    let c = Crumb::Attr(&root, name);
    let mut inner = obj;
    while let Value::Dynamic(_, v) = inner {
        inner = v;
    }
    let value = match inner {
        Value::Object(m) | Value::Map(m) => m
            .get(name)
            .ok_or_else(|| TypedError::at(&c, "no such attribute"))?,
        Value::Null => &NULL,
        Value::Unknown(_) => inner,
        other => {
            return Err(TypedError::new(
                AttributePath::root(),
                format!("expected object, got {}", describe(other)),
            ))
        }
    };
    T::deserialize(De { value, at: &c }).map_err(|e| e.located(&c))
}

#[derive(Clone, Copy)]
struct De<'de, 'a> {
    value: &'de Value,
    at: &'a Crumb<'a>,
}

impl<'de> De<'de, '_> {
    fn err(&self, message: impl Into<String>) -> TypedError {
        TypedError::at(self.at, message)
    }

    fn mismatch(&self, expected: &str, got: &Value) -> TypedError {
        self.err(format!("expected {expected}, got {}", describe(got)))
    }

    /// The value with `dynamic` wrappers removed: a typed field wants the data, not the wire
    /// type tag.
    fn inner(&self) -> &'de Value {
        let mut v = self.value;
        while let Value::Dynamic(_, inner) = v {
            v = inner;
        }
        v
    }

    /// The value for a read that can't represent "unknown".
    fn known(&self) -> Result<&'de Value, TypedError> {
        match self.inner() {
            Value::Unknown(_) => Err(self.err("value is not yet known")),
            v => Ok(v),
        }
    }

    fn number(&self, expected: &str) -> Result<&'de Number, TypedError> {
        match self.known()? {
            Value::Number(n) => Ok(n),
            v => Err(self.mismatch(expected, v)),
        }
    }

    /// An integer of type `I`, only when the number is whole and in range: silently truncating
    /// 2.5 to 2 would hide a configuration mistake.
    fn integer<I>(&self, name: &str) -> Result<I, TypedError>
    where
        I: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
    {
        let n = self.number(name)?;
        if !n.is_integer() {
            return Err(self.err(format!("expected a whole number ({name}), got {n}")));
        }
        n.as_i64()
            .and_then(|i| I::try_from(i).ok())
            .or_else(|| n.as_u64().and_then(|u| I::try_from(u).ok()))
            // Only 128-bit targets get here with a value they can hold.
            .or_else(|| n.to_string().parse().ok())
            .ok_or_else(|| self.err(format!("{n} is out of range for {name}")))
    }

    fn elements<V: Visitor<'de>>(
        &self,
        items: &'de [Value],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        let mut access = Elements {
            items: items.iter().enumerate(),
            at: self.at,
        };
        let out = visitor.visit_seq(&mut access)?;
        let left = access.items.len();
        if left > 0 {
            return Err(self.err(format!(
                "expected {} elements, got {}",
                items.len() - left,
                items.len()
            )));
        }
        Ok(out)
    }

    fn entries<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::Object(m) | Value::Map(m) => visitor.visit_map(Entries {
                iter: m.iter(),
                pending: None,
                keyed: matches!(self.inner(), Value::Map(_)),
                at: self.at,
            }),
            v => Err(self.mismatch("object", v)),
        }
    }
}

macro_rules! deserialize_integers {
    ($($method:ident => $visit:ident($t:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
            visitor.$visit(self.integer::<$t>(stringify!($t))?)
        }
    )*};
}

impl<'de> Deserializer<'de> for De<'de, '_> {
    type Error = TypedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (_, Some(u)) => visitor.visit_u64(u),
                _ => visitor.visit_f64(n.as_f64()),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                self.elements(items, visitor)
            }
            Value::Map(_) | Value::Object(_) => self.entries(visitor),
            // `known` strips wrappers and rejects unknowns.
            Value::Unknown(_) | Value::Dynamic(..) => Err(self.err("value is not yet known")),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::Bool(b) => visitor.visit_bool(*b),
            v => Err(self.mismatch("bool", v)),
        }
    }

    deserialize_integers! {
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_f32(self.number("number")?.as_f64() as f32)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_f64(self.number("number")?.as_f64())
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::String(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => visitor.visit_char(c),
                    _ => Err(self.err(format!("expected a single character, got {s:?}"))),
                }
            }
            v => Err(self.mismatch("string", v)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::String(s) => visitor.visit_borrowed_str(s),
            v => Err(self.mismatch("string", v)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::String(s) => visitor.visit_borrowed_bytes(s.as_bytes()),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                self.elements(items, visitor)
            }
            v => Err(self.mismatch("string", v)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::Null => visitor.visit_unit(),
            v => Err(self.mismatch("null", v)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        match name {
            RAW_TOKEN => {
                raw_put(self.value.clone());
                let out = visitor.visit_borrowed_str(RAW_TOKEN);
                raw_take();
                out
            }
            TF_TOKEN if self.inner().is_unknown() => visitor.visit_borrowed_str(UNKNOWN_TOKEN),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                self.elements(items, visitor)
            }
            v => Err(self.mismatch("list", v)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.entries(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.entries(visitor)
    }

    /// Unit variants are strings; variants with a payload are an object whose single non-null
    /// attribute names the variant (what `to_value` writes).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        match self.known()? {
            Value::String(s) => visitor.visit_enum(BorrowedStrDeserializer::new(s)),
            Value::Map(m) | Value::Object(m) => {
                let mut set = m.iter().filter(|(_, v)| !v.is_null());
                match (set.next(), set.next()) {
                    (Some((name, value)), None) => visitor.visit_enum(Variant {
                        name,
                        value,
                        at: self.at,
                    }),
                    _ => {
                        Err(self.err("expected exactly one non-null attribute naming the variant"))
                    }
                }
            }
            v => Err(self.mismatch("string or object", v)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        self.deserialize_str(visitor)
    }

    /// Skipped attributes are not inspected, so an unknown one is no error.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_unit()
    }
}

struct Elements<'de, 'a> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    at: &'a Crumb<'a>,
}

impl<'de> de::SeqAccess<'de> for Elements<'de, '_> {
    type Error = TypedError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TypedError> {
        let Some((i, value)) = self.items.next() else {
            return Ok(None);
        };
        let c = Crumb::Index(self.at, i);
        seed.deserialize(De { value, at: &c })
            .map(Some)
            .map_err(|e| e.located(&c))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Entries<'de, 'a> {
    iter: btree_map::Iter<'de, String, Value>,
    pending: Option<(&'de str, &'de Value)>,
    /// Map entries are addressed by key, object attributes by name.
    keyed: bool,
    at: &'a Crumb<'a>,
}

impl<'de> de::MapAccess<'de> for Entries<'de, '_> {
    type Error = TypedError;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, TypedError> {
        let Some((k, v)) = self.iter.next() else {
            return Ok(None);
        };
        self.pending = Some((k, v));
        seed.deserialize(KeyDe(k)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, TypedError> {
        let (k, value) = self
            .pending
            .take()
            .ok_or_else(|| TypedError::at(self.at, "map value requested before its key"))?;
        let c = if self.keyed {
            Crumb::Key(self.at, k)
        } else {
            Crumb::Attr(self.at, k)
        };
        seed.deserialize(De { value, at: &c })
            .map_err(|e| e.located(&c))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An object attribute name or map key; parses into numeric or bool keys on request.
struct KeyDe<'de>(&'de str);

impl KeyDe<'_> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, TypedError> {
        self.0.parse().map_err(|_| {
            TypedError::new(
                AttributePath::root(),
                format!("key {:?} is not a valid {what}", self.0),
            )
        })
    }
}

macro_rules! deserialize_parsed_keys {
    ($($method:ident => $visit:ident($t:ty)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
            visitor.$visit(self.parse::<$t>(stringify!($t))?)
        }
    )*};
}

impl<'de> Deserializer<'de> for KeyDe<'de> {
    type Error = TypedError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_borrowed_str(self.0)
    }

    deserialize_parsed_keys! {
        deserialize_bool => visit_bool(bool),
        deserialize_i8 => visit_i8(i8),
        deserialize_i16 => visit_i16(i16),
        deserialize_i32 => visit_i32(i32),
        deserialize_i64 => visit_i64(i64),
        deserialize_i128 => visit_i128(i128),
        deserialize_u8 => visit_u8(u8),
        deserialize_u16 => visit_u16(u16),
        deserialize_u32 => visit_u32(u32),
        deserialize_u64 => visit_u64(u64),
        deserialize_u128 => visit_u128(u128),
        deserialize_f32 => visit_f32(f32),
        deserialize_f64 => visit_f64(f64),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, TypedError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        visitor.visit_enum(BorrowedStrDeserializer::new(self.0))
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

/// The payload of an enum variant given as `{variant = payload}`.
struct Variant<'de, 'a> {
    name: &'de str,
    value: &'de Value,
    at: &'a Crumb<'a>,
}

impl<'de> Variant<'de, '_> {
    fn payload<R>(
        self,
        f: impl FnOnce(De<'de, '_>) -> Result<R, TypedError>,
    ) -> Result<R, TypedError> {
        let c = Crumb::Attr(self.at, self.name);
        f(De {
            value: self.value,
            at: &c,
        })
        .map_err(|e| e.located(&c))
    }
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'de, 'a> {
    type Error = TypedError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), TypedError> {
        let v = seed.deserialize(BorrowedStrDeserializer::<TypedError>::new(self.name))?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de, '_> {
    type Error = TypedError;

    fn unit_variant(self) -> Result<(), TypedError> {
        Err(TypedError::at(
            &Crumb::Attr(self.at, self.name),
            format!("variant `{}` takes no value", self.name),
        ))
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, TypedError> {
        self.payload(|de| seed.deserialize(de))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.payload(|de| de.deserialize_tuple(len, visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, TypedError> {
        self.payload(|de| de.deserialize_struct("", fields, visitor))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serialize};

    use super::*;

    fn num(s: &str) -> Value {
        Value::Number(s.parse().unwrap())
    }

    fn obj<const N: usize>(attrs: [(&str, Value); N]) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Database {
        engine: String,
        port: i64,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Rule {
        column: String,
        weight: Option<i64>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Everything {
        name: String,
        count: i64,
        ratio: f64,
        enabled: bool,
        description: Option<String>,
        known: Tf<String>,
        null: Tf<String>,
        unknown: Tf<String>,
        tags_list: Vec<String>,
        tags_set: Vec<String>,
        labels: BTreeMap<String, String>,
        database: Database,
        rule: Vec<Rule>,
        extra: Value,
    }

    fn rule_type() -> Type {
        Type::object([("column", Type::String), ("weight", Type::Number)])
    }

    fn everything_type() -> Type {
        Type::object([
            ("name", Type::String),
            ("count", Type::Number),
            ("ratio", Type::Number),
            ("enabled", Type::Bool),
            ("description", Type::String),
            ("known", Type::String),
            ("null", Type::String),
            ("unknown", Type::String),
            ("tags_list", Type::list(Type::String)),
            ("tags_set", Type::set(Type::String)),
            ("labels", Type::map(Type::String)),
            (
                "database",
                Type::object([("engine", Type::String), ("port", Type::Number)]),
            ),
            ("rule", Type::list(rule_type())),
            ("extra", Type::Dynamic),
        ])
    }

    fn everything() -> Everything {
        Everything {
            name: "staging".into(),
            count: -3,
            ratio: 0.1,
            enabled: true,
            description: None,
            known: Tf::Known("k".into()),
            null: Tf::Null,
            unknown: Tf::Unknown,
            tags_list: vec!["b".into(), "a".into()],
            tags_set: vec!["x".into(), "y".into()],
            labels: BTreeMap::from([("Team".into(), "data".into()), ("Env".into(), "stg".into())]),
            database: Database {
                engine: "postgres".into(),
                port: 5432,
            },
            rule: vec![
                Rule {
                    column: "email".into(),
                    weight: Some(2),
                },
                Rule {
                    column: "ssn".into(),
                    weight: None,
                },
            ],
            extra: Value::Dynamic(
                Type::list(Type::String),
                Box::new(Value::List(vec!["p".into(), Value::unknown()])),
            ),
        }
    }

    #[test]
    fn round_trip_through_value() {
        let e = everything();
        let v = to_value(&e, &everything_type()).unwrap();
        assert_eq!(from_value::<Everything>(&v).unwrap(), e);
    }

    #[test]
    fn to_value_shapes_follow_the_type() {
        let v = to_value(&everything(), &everything_type()).unwrap();
        let expected = obj([
            ("name", "staging".into()),
            ("count", num("-3")),
            // The number written, not the binary expansion of the f64.
            ("ratio", num("0.1")),
            ("enabled", true.into()),
            ("description", Value::Null),
            ("known", "k".into()),
            ("null", Value::Null),
            ("unknown", Value::unknown()),
            ("tags_list", Value::List(vec!["b".into(), "a".into()])),
            ("tags_set", Value::Set(vec!["y".into(), "x".into()])),
            (
                "labels",
                Value::Map(BTreeMap::from([
                    ("Env".into(), "stg".into()),
                    ("Team".into(), "data".into()),
                ])),
            ),
            (
                "database",
                obj([("engine", "postgres".into()), ("port", num("5432"))]),
            ),
            (
                "rule",
                Value::List(vec![
                    obj([("column", "email".into()), ("weight", num("2"))]),
                    obj([("column", "ssn".into()), ("weight", Value::Null)]),
                ]),
            ),
            ("extra", everything().extra),
        ]);
        assert_eq!(v, expected);
        // Set equality ignores order; make sure it really is a Set and a List where asked.
        assert!(matches!(v.get("tags_set"), Some(Value::Set(_))));
        assert!(matches!(v.get("tags_list"), Some(Value::List(_))));
    }

    #[test]
    fn missing_struct_fields_become_null_attributes() {
        #[derive(Serialize)]
        struct Partial {
            name: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<String>,
        }
        let ty = Type::object([
            ("name", Type::String),
            ("skipped", Type::String),
            ("computed_id", Type::String),
            ("nested", Type::list(rule_type())),
        ]);
        let v = to_value(
            &Partial {
                name: "n".into(),
                skipped: None,
            },
            &ty,
        )
        .unwrap();
        assert_eq!(
            v,
            obj([
                ("name", "n".into()),
                ("skipped", Value::Null),
                ("computed_id", Value::Null),
                ("nested", Value::Null),
            ])
        );
    }

    #[test]
    fn struct_fields_outside_the_type_are_named() {
        #[derive(Serialize)]
        struct Extra {
            name: String,
            typo: String,
            other: bool,
        }
        let ty = Type::object([("db", Type::object([("name", Type::String)]))]);
        #[derive(Serialize)]
        struct Outer {
            db: Extra,
        }
        let err = to_value(
            &Outer {
                db: Extra {
                    name: "n".into(),
                    typo: "t".into(),
                    other: true,
                },
            },
            &ty,
        )
        .unwrap_err();
        assert_eq!(err.path.to_string(), "db");
        assert!(err.message.contains("`typo`, `other`"), "{err}");
    }

    #[test]
    fn serialize_type_mismatch_names_path_and_kinds() {
        let ty = Type::object([("rule", Type::list(Type::object([("column", Type::String)])))]);
        let err = to_value(&serde_json::json!({"rule": [{"column": true}]}), &ty).unwrap_err();
        assert_eq!(err.to_string(), "rule[0].column: expected string, got bool");
    }

    #[test]
    fn sequences_become_lists_sets_or_tuples() {
        let items = vec!["a", "b", "a"];
        assert_eq!(
            to_value(&items, &Type::list(Type::String)).unwrap(),
            Value::List(vec!["a".into(), "b".into(), "a".into()])
        );
        let Value::Set(set) = to_value(&items, &Type::set(Type::String)).unwrap() else {
            panic!("not a set")
        };
        assert_eq!(set.len(), 2, "duplicates dropped");
        let tuple = Type::Tuple(vec![Type::String, Type::Number]);
        assert_eq!(
            to_value(&("a", 1), &tuple).unwrap(),
            Value::Tuple(vec!["a".into(), num("1")])
        );
        assert!(to_value(&("a", 1, 2), &tuple).is_err());
        assert!(to_value(&("a",), &tuple).is_err());
    }

    #[test]
    fn hash_maps_become_sorted_maps_or_objects() {
        let m: HashMap<String, i64> = [("z", 1), ("a", 2), ("m", 3)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let Value::Map(out) = to_value(&m, &Type::map(Type::Number)).unwrap() else {
            panic!("not a map")
        };
        assert_eq!(out.keys().collect::<Vec<_>>(), ["a", "m", "z"]);
        let ty = Type::object([
            ("a", Type::Number),
            ("m", Type::Number),
            ("z", Type::Number),
            ("q", Type::Bool),
        ]);
        let v = to_value(&m, &ty).unwrap();
        assert_eq!(v.get("q"), Some(&Value::Null));
        assert_eq!(v.get("z"), Some(&num("1")));
    }

    #[test]
    fn dynamic_infers_the_concrete_type() {
        #[derive(Serialize)]
        struct S {
            a: String,
            b: Vec<i32>,
            c: Option<bool>,
        }
        let v = to_value(
            &S {
                a: "x".into(),
                b: vec![1, 2],
                c: None,
            },
            &Type::Dynamic,
        )
        .unwrap();
        let ty = Type::object([
            ("a", Type::String),
            ("b", Type::Tuple(vec![Type::Number, Type::Number])),
            ("c", Type::Dynamic),
        ]);
        let inner = obj([
            ("a", "x".into()),
            ("b", Value::Tuple(vec![num("1"), num("2")])),
            ("c", Value::Null),
        ]);
        assert_eq!(v, Value::Dynamic(ty, Box::new(inner)));
        assert_eq!(
            to_value(&None::<String>, &Type::Dynamic).unwrap(),
            Value::Null
        );
        assert_eq!(
            to_value(&Tf::<String>::Unknown, &Type::Dynamic).unwrap(),
            Value::unknown()
        );
        // And the typed side reads straight through the wrapper.
        #[derive(Deserialize, Debug, PartialEq)]
        struct Back {
            a: String,
            b: Vec<i32>,
        }
        assert_eq!(
            from_value::<Back>(&v).unwrap(),
            Back {
                a: "x".into(),
                b: vec![1, 2]
            }
        );
    }

    #[test]
    fn raw_values_pass_through_and_are_checked() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Raw {
            any: Value,
            strings: Value,
        }
        let ty = Type::object([
            ("any", Type::Dynamic),
            ("strings", Type::list(Type::String)),
        ]);
        let r = Raw {
            any: Value::Dynamic(Type::Number, Box::new(num("1e400"))),
            strings: Value::List(vec!["a".into(), Value::unknown(), Value::Null]),
        };
        let v = to_value(&r, &ty).unwrap();
        assert_eq!(v.get("any"), Some(&r.any));
        assert_eq!(from_value::<Raw>(&v).unwrap(), r);

        // A bare value under dynamic gets the type it needs on the wire.
        let plain = Raw {
            any: obj([("k", "v".into())]),
            strings: Value::Null,
        };
        let v = to_value(&plain, &ty).unwrap();
        assert_eq!(
            v.get("any"),
            Some(&Value::Dynamic(
                Type::object([("k", Type::String)]),
                Box::new(obj([("k", "v".into())]))
            ))
        );

        let bad = Raw {
            any: Value::Null,
            strings: Value::List(vec![true.into()]),
        };
        let err = to_value(&bad, &ty).unwrap_err();
        assert_eq!(err.to_string(), "strings[0]: expected string, got bool");
    }

    #[test]
    fn error_path_points_into_nested_blocks() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)] // only the error matters
        struct Rule {
            column: String,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Table {
            rule: Vec<Rule>,
        }
        let v = obj([("rule", Value::List(vec![obj([("column", num("5"))])]))]);
        let err = from_value::<Table>(&v).unwrap_err();
        assert_eq!(err.path.to_string(), "rule[0].column");
        assert_eq!(
            err.to_string(),
            "rule[0].column: expected string, got number"
        );
        assert_eq!(
            err.path,
            AttributePath::attr("rule")
                .join_index(0)
                .join_attr("column")
        );
    }

    #[test]
    fn numbers_must_fit_the_target() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct N {
            n: i64,
        }
        let err = from_value::<N>(&obj([("n", num("2.5"))])).unwrap_err();
        assert_eq!(err.path.to_string(), "n");
        assert!(err.message.contains("2.5"), "{err}");
        assert!(from_value::<u8>(&num("256")).is_err());
        assert!(from_value::<u8>(&num("-1")).is_err());
        assert_eq!(from_value::<u8>(&num("255")).unwrap(), 255);
        assert_eq!(
            from_value::<u64>(&num("18446744073709551615")).unwrap(),
            u64::MAX
        );
        assert_eq!(
            from_value::<i128>(&num("-170141183460469231731687303715884105728")).unwrap(),
            i128::MIN
        );
        assert_eq!(from_value::<f64>(&num("2.5")).unwrap(), 2.5);
        assert_eq!(from_value::<i32>(&num("1e3")).unwrap(), 1000);
    }

    #[test]
    fn unknown_needs_tf() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Plain {
            name: String,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Optional {
            name: Option<String>,
        }
        #[derive(Deserialize, Debug)]
        struct Lenient {
            name: Tf<String>,
        }
        let v = obj([("name", Value::unknown())]);
        let err = from_value::<Plain>(&v).unwrap_err();
        assert_eq!(err.to_string(), "name: value is not yet known");
        let err = from_value::<Optional>(&v).unwrap_err();
        assert_eq!(err.path, AttributePath::attr("name"));
        assert_eq!(from_value::<Lenient>(&v).unwrap().name, Tf::Unknown);
        // Unknown behind a dynamic wrapper is still unknown.
        let v = obj([(
            "name",
            Value::Dynamic(Type::String, Box::new(Value::unknown())),
        )]);
        assert_eq!(from_value::<Lenient>(&v).unwrap().name, Tf::Unknown);
    }

    #[test]
    fn ignored_attributes_may_be_unknown_unless_denied() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Small {
            a: String,
        }
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            a: String,
        }
        let v = obj([("a", "x".into()), ("b", Value::unknown())]);
        assert_eq!(from_value::<Small>(&v).unwrap(), Small { a: "x".into() });
        assert!(from_value::<Strict>(&v).is_err());
    }

    #[test]
    fn missing_attribute_is_reported_at_the_object() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Needs {
            a: String,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            inner: Needs,
        }
        let err = from_value::<Outer>(&obj([("inner", obj([]))])).unwrap_err();
        assert_eq!(err.path.to_string(), "inner");
        assert!(err.message.contains("missing field `a`"), "{err}");
    }

    #[test]
    fn map_keys_appear_in_paths() {
        let v = Value::Map(BTreeMap::from([("Team".into(), true.into())]));
        let err = from_value::<BTreeMap<String, String>>(&v).unwrap_err();
        assert_eq!(err.to_string(), "[\"Team\"]: expected string, got bool");
        let err = to_value(
            &BTreeMap::from([("Team", 1)]),
            &Type::object([("tags", Type::map(Type::String))]),
        )
        .unwrap_err();
        assert_eq!(err.path, AttributePath::root());
        let err = to_value(
            &BTreeMap::from([("tags", BTreeMap::from([("Team", 1)]))]),
            &Type::object([("tags", Type::map(Type::String))]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "tags[\"Team\"]: expected string, got number"
        );
    }

    #[test]
    fn enums_are_strings_or_single_attribute_objects() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "lowercase")]
        enum Engine {
            Postgres,
            Mysql,
        }
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum Source {
            Snapshot(String),
            Fresh { size: u32 },
        }
        assert_eq!(
            to_value(&Engine::Mysql, &Type::String).unwrap(),
            "mysql".into()
        );
        assert_eq!(
            from_value::<Engine>(&"postgres".into()).unwrap(),
            Engine::Postgres
        );
        let err = from_value::<Engine>(&"oracle".into()).unwrap_err();
        assert!(err.message.contains("unknown variant"), "{err}");

        let ty = Type::object([
            ("snapshot", Type::String),
            ("fresh", Type::object([("size", Type::Number)])),
        ]);
        for s in [
            Source::Snapshot("snap-1".into()),
            Source::Fresh { size: 20 },
        ] {
            let v = to_value(&s, &ty).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 2, "all attributes present");
            assert_eq!(from_value::<Source>(&v).unwrap(), s);
        }
    }

    #[test]
    fn get_attr_reads_one_attribute() {
        let v = obj([
            ("id", "i-1".into()),
            ("port", num("80")),
            ("later", Value::unknown()),
        ]);
        assert_eq!(get_attr::<String>(&v, "id").unwrap(), "i-1");
        assert_eq!(get_attr::<u16>(&v, "port").unwrap(), 80);
        assert_eq!(get_attr::<Tf<String>>(&v, "later").unwrap(), Tf::Unknown);
        let err = get_attr::<String>(&v, "port").unwrap_err();
        assert_eq!(err.to_string(), "port: expected string, got number");
        let err = get_attr::<String>(&v, "later").unwrap_err();
        assert_eq!(err.to_string(), "later: value is not yet known");
        assert_eq!(
            get_attr::<Option<String>>(&Value::Null, "id").unwrap(),
            None
        );
        assert_eq!(
            get_attr::<String>(&v, "nope").unwrap_err().path,
            AttributePath::attr("nope")
        );
    }

    #[test]
    fn tf_behaves_like_option_in_json() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct S {
            a: Tf<i32>,
            b: Tf<i32>,
            c: Tf<i32>,
            #[serde(default)]
            d: Tf<i32>,
        }
        let s = S {
            a: Tf::Known(1),
            b: Tf::Null,
            c: Tf::Unknown,
            d: Tf::Null,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"a":1,"b":null,"c":null,"d":null}"#);
        let back: S = serde_json::from_str(r#"{"a":1,"b":null,"c":null}"#).unwrap();
        assert_eq!(
            back,
            S {
                a: Tf::Known(1),
                b: Tf::Null,
                c: Tf::Null,
                d: Tf::Null
            }
        );
    }

    #[test]
    fn value_falls_back_to_json_in_other_formats() {
        let v = obj([
            ("a", Value::List(vec![num("1"), num("2.5")])),
            ("b", Value::unknown()),
            ("c", Value::Dynamic(Type::String, Box::new("s".into()))),
        ]);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#"{"a":[1,2.5],"b":null,"c":"s"}"#);
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back,
            obj([
                ("a", Value::Tuple(vec![num("1"), num("2.5")])),
                ("b", Value::Null),
                ("c", "s".into()),
            ])
        );
        // serde_json values keep their exact numbers on the way in.
        let j: serde_json::Value = serde_json::from_str("0.30000000000000000001").unwrap();
        assert_eq!(
            to_value(&j, &Type::Number).unwrap(),
            num("0.30000000000000000001")
        );
    }

    #[test]
    fn raw_values_inside_wrappers_and_flattened_structs() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Common {
            id: Tf<String>,
        }
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Wrapped {
            maybe: Tf<Value>,
            opt: Option<Value>,
            many: Vec<Value>,
            #[serde(flatten)]
            common: Common,
        }
        let ty = Type::object([
            ("maybe", Type::Dynamic),
            ("opt", Type::String),
            ("many", Type::list(Type::Dynamic)),
            ("id", Type::String),
        ]);
        let w = Wrapped {
            maybe: Tf::Unknown,
            opt: Some("s".into()),
            many: vec![
                Value::Dynamic(Type::Bool, Box::new(true.into())),
                Value::Null,
            ],
            common: Common {
                id: Tf::Known("i-1".into()),
            },
        };
        let v = to_value(&w, &ty).unwrap();
        assert_eq!(v.get("maybe"), Some(&Value::unknown()));
        assert_eq!(v.get("id"), Some(&"i-1".into()));
        assert_eq!(from_value::<Wrapped>(&v).unwrap(), w);
    }

    #[test]
    fn tf_helpers() {
        let k: Tf<i32> = 5.into();
        assert!(k.is_known() && !k.is_null() && !k.is_unknown());
        assert_eq!(k.known(), Some(&5));
        assert_eq!(k.map(|v| v * 2), Tf::Known(10));
        assert_eq!(Tf::<i32>::Unknown.map(|v| v * 2), Tf::Unknown);
        assert_eq!(Tf::<i32>::from(None), Tf::Null);
        assert_eq!(Tf::<i32>::from(Some(1)), Tf::Known(1));
        assert_eq!(Tf::<i32>::default(), Tf::Null);
        assert_eq!(Tf::<i32>::Null.unwrap_or(3), 3);
        assert_eq!(Tf::<i32>::Unknown.unwrap_or_else(|| 4), 4);
        assert_eq!(Tf::<i32>::Unknown.or(Tf::Known(1)), Tf::Known(1));
        assert_eq!(Tf::Known(2).or(Tf::Known(1)), Tf::Known(2));
        assert_eq!(
            Tf::Known(String::from("x")).as_ref(),
            Tf::Known(&String::from("x"))
        );
        assert_eq!(Tf::Known(7).into_known(), Some(7));
    }

    #[test]
    fn floats_keep_the_written_decimal() {
        assert_eq!(to_value(&0.1f64, &Type::Number).unwrap(), num("0.1"));
        assert_eq!(to_value(&0.1f32, &Type::Number).unwrap(), num("0.1"));
        assert_eq!(
            to_value(&f64::INFINITY, &Type::Number).unwrap(),
            Value::Number(Number::infinity())
        );
        assert!(to_value(&f64::NAN, &Type::Number).is_err());
        assert_eq!(
            to_value(&u64::MAX, &Type::Number).unwrap(),
            num("18446744073709551615")
        );
    }
}
