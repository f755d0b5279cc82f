//! The dynamic value layer: one Rust value for every cty value, including null and unknown.
//!
//! Values are untyped here; the schema-implied [`Type`](super::types::Type) drives the codec
//! (`msgpack`, `json`) and the typed serde layer.
use std::collections::BTreeMap;

pub use super::number::Number;
use super::types::Type;

/// An unknown value, kept exactly as Terraform sent it so it can be echoed back unchanged.
///
/// `ext_type` 0 is a plain unknown; 12 is a refined unknown whose payload is a msgpack map of
/// refinements (nullness, string prefix, number bounds, collection length bounds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    pub ext_type: i8,
    pub payload: Vec<u8>,
}

impl Default for Unknown {
    /// The unrefined unknown cty writes: fixext1, type 0, payload 0.
    fn default() -> Self {
        Unknown {
            ext_type: 0,
            payload: vec![0],
        }
    }
}

/// A cty value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    #[default]
    Null,
    Unknown(Unknown),
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// Elements are unique; order carries no meaning (equality ignores it).
    Set(Vec<Value>),
    Tuple(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    /// A known, non-null value of a `dynamic`-typed attribute, with the concrete type it carries
    /// on the wire.
    Dynamic(Type, Box<Value>),
}

impl Value {
    pub fn unknown() -> Value {
        Value::Unknown(Unknown::default())
    }
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }
    /// True when neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Dynamic(_, v) => v.as_str(),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }
    /// Attributes of an object (or entries of a map).
    pub fn as_object(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Object(m) | Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_object_mut(&mut self) -> Option<&mut BTreeMap<String, Value>> {
        match self {
            Value::Object(m) | Value::Map(m) => Some(m),
            _ => None,
        }
    }
    /// Elements of a list, set or tuple.
    pub fn as_elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }
    /// An object attribute; `None` when this is not an object or has no such attribute.
    pub fn get(&self, attr: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(attr))
    }
    /// Sets an object attribute; no-op on anything but an object or map.
    pub fn set_attr(&mut self, attr: &str, v: Value) {
        if let Some(m) = self.as_object_mut() {
            m.insert(attr.to_string(), v);
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Unknown(a), Unknown(b)) => a == b,
            (Bool(a), Bool(b)) => a == b,
            (Number(a), Number(b)) => a == b,
            (String(a), String(b)) => a == b,
            (List(a), List(b)) | (Tuple(a), Tuple(b)) => a == b,
            (Set(a), Set(b)) => {
                a.len() == b.len()
                    && a.iter().all(|x| b.contains(x))
                    && b.iter().all(|x| a.contains(x))
            }
            (Map(a), Map(b)) | (Object(a), Object(b)) => a == b,
            (Dynamic(ta, a), Dynamic(tb, b)) => ta == tb && a == b,
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Number(Number::from(n))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map(Into::into).unwrap_or(Value::Null)
    }
}
