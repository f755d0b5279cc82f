//! cty types: the type system Terraform uses for every value on the wire.
//!
//! Schemas carry attribute types as compact JSON (`"string"`, `["list","number"]`,
//! `["object",{"a":"bool"}]`); the codec needs the parsed form to tell a list from a set or a
//! map from an object, and to unwrap `dynamic` values.
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

/// A cty type. Object attributes are kept sorted, as Terraform writes them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    String,
    Number,
    Bool,
    /// Any type, decided per value; on the wire a value of it carries its own type.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(BTreeMap<String, Type>),
}

/// A type JSON document that is not a cty type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid type: {0}")]
pub struct TypeError(pub String);

impl Type {
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }
    pub fn object<I, K>(attrs: I) -> Type
    where
        I: IntoIterator<Item = (K, Type)>,
        K: Into<String>,
    {
        Type::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// True when the type is or contains `dynamic` anywhere.
    pub fn has_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::String | Type::Number | Type::Bool => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.has_dynamic(),
            Type::Tuple(ts) => ts.iter().any(Type::has_dynamic),
            Type::Object(attrs) => attrs.values().any(Type::has_dynamic),
        }
    }

    /// The compact JSON form Terraform expects in `Schema.Attribute.type`.
    pub fn to_json(&self) -> Json {
        match self {
            Type::String => Json::from("string"),
            Type::Number => Json::from("number"),
            Type::Bool => Json::from("bool"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(t) => Json::Array(vec!["list".into(), t.to_json()]),
            Type::Set(t) => Json::Array(vec!["set".into(), t.to_json()]),
            Type::Map(t) => Json::Array(vec!["map".into(), t.to_json()]),
            Type::Tuple(ts) => Json::Array(vec![
                "tuple".into(),
                Json::Array(ts.iter().map(Type::to_json).collect()),
            ]),
            Type::Object(attrs) => Json::Array(vec![
                "object".into(),
                Json::Object(
                    attrs
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect(),
                ),
            ]),
        }
    }

    /// Compact JSON bytes, deterministic (object keys sorted).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).expect("type JSON always serializes")
    }

    pub fn from_json_bytes(bytes: &[u8]) -> Result<Type, TypeError> {
        let json: Json =
            serde_json::from_slice(bytes).map_err(|e| TypeError(format!("not JSON: {e}")))?;
        Type::from_json(&json)
    }

    pub fn from_json(json: &Json) -> Result<Type, TypeError> {
        match json {
            Json::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(TypeError(format!("unknown primitive type {other:?}"))),
            },
            Json::Array(parts) => {
                let kind = parts
                    .first()
                    .and_then(Json::as_str)
                    .ok_or_else(|| TypeError("a complex type must start with its kind".into()))?;
                match (kind, parts.len()) {
                    ("list", 2) => Ok(Type::list(Type::from_json(&parts[1])?)),
                    ("set", 2) => Ok(Type::set(Type::from_json(&parts[1])?)),
                    ("map", 2) => Ok(Type::map(Type::from_json(&parts[1])?)),
                    ("tuple", 2) => {
                        let elems = parts[1].as_array().ok_or_else(|| {
                            TypeError("tuple element types must be a list".into())
                        })?;
                        Ok(Type::Tuple(
                            elems
                                .iter()
                                .map(Type::from_json)
                                .collect::<Result<_, _>>()?,
                        ))
                    }
                    // The third element (optional attributes) only appears in type constraints;
                    // the attribute types are what matters for values.
                    ("object", 2 | 3) => {
                        let attrs = parts[1].as_object().ok_or_else(|| {
                            TypeError("object attribute types must be a map".into())
                        })?;
                        let mut out = BTreeMap::new();
                        for (k, v) in attrs {
                            out.insert(k.clone(), Type::from_json(v)?);
                        }
                        Ok(Type::Object(out))
                    }
                    (kind, n) => Err(TypeError(format!(
                        "unknown type kind {kind:?} with {n} parts"
                    ))),
                }
            }
            other => Err(TypeError(format!("unexpected type JSON {other}"))),
        }
    }
}

impl fmt::Display for Type {
    /// HCL-style spelling, for diagnostics: `list(string)`, `object({a=bool})`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Dynamic => f.write_str("any"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Tuple(ts) => {
                f.write_str("tuple([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, (k, t)) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={t}")?;
                }
                f.write_str("})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_of_nested_types() {
        let t = Type::object([
            ("a", Type::list(Type::set(Type::map(Type::Number)))),
            (
                "b",
                Type::Tuple(vec![Type::String, Type::Dynamic, Type::Bool]),
            ),
        ]);
        let bytes = t.to_json_bytes();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"["object",{"a":["list",["set",["map","number"]]],"b":["tuple",["string","dynamic","bool"]]}]"#
        );
        assert_eq!(Type::from_json_bytes(&bytes).unwrap(), t);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Type::from_json_bytes(b"\"strin\"").is_err());
        assert!(Type::from_json_bytes(b"[\"list\"]").is_err());
        assert!(Type::from_json_bytes(b"[1,2]").is_err());
        assert!(Type::from_json_bytes(b"{").is_err());
    }

    #[test]
    fn optional_attribute_marker_is_accepted() {
        let t = Type::from_json_bytes(br#"["object",{"a":"string"},["a"]]"#).unwrap();
        assert_eq!(t, Type::object([("a", Type::String)]));
    }
}
