//! The JSON form of values, as stored in state files (`RawState.json` in UpgradeResourceState
//! and MoveResourceState) and accepted in the `json` field of `DynamicValue`.
//!
//! Same shapes as cty's JSON (`cty/json`): null is `null`, a dynamic value is
//! `{"type": <type JSON>, "value": ...}`, numbers are arbitrary precision (serde_json's
//! `arbitrary_precision` keeps their text, which is parsed exactly), and unknowns cannot occur.
//! Like cty, primitives convert loosely on the way in (`"5"` is a fine number, `true` a fine
//! string): old states and hand-edited ones rely on it.
use std::collections::BTreeMap;
use std::str::FromStr;

use serde_json::{Map, Value as Json};

pub use super::msgpack::CodecError;
use super::msgpack::{infer_type, value_mismatch, MAX_DEPTH};
use super::number::Number;
use super::path::PathStep;
use super::types::Type;
use super::value::Value;

/// How forgiving [`decode`] is about object attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonDecodeOptions {
    /// Drop attributes the type doesn't have instead of failing. Upgrading a stored state needs
    /// this: attributes removed from the schema must simply disappear. (Attributes the type has
    /// but the JSON lacks are null either way, as in cty.)
    pub ignore_unknown_attributes: bool,
}

/// Decodes JSON bytes as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type, opts: JsonDecodeOptions) -> Result<Value, CodecError> {
    // serde_json caps nesting (128) itself, so hostile input can't exhaust the stack.
    let json: Json =
        serde_json::from_slice(bytes).map_err(|e| CodecError::new(format!("invalid JSON: {e}")))?;
    decode_value(&json, ty, opts)
}

/// Decodes an already-parsed JSON document as a value of type `ty`.
pub fn decode_value(json: &Json, ty: &Type, opts: JsonDecodeOptions) -> Result<Value, CodecError> {
    decode_at(json, ty, opts, 0)
}

fn decode_at(
    json: &Json,
    ty: &Type,
    opts: JsonDecodeOptions,
    depth: usize,
) -> Result<Value, CodecError> {
    // Parsed text is already capped by serde_json; a document built in code is not.
    if depth > MAX_DEPTH {
        return Err(CodecError::new(format!(
            "value nested deeper than {MAX_DEPTH} levels"
        )));
    }
    if json.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        Type::Dynamic => {
            let Json::Object(obj) = json else {
                return Err(CodecError::new(
                    "a dynamic value must be an object with \"type\" and \"value\"",
                ));
            };
            if let Some(other) = obj.keys().find(|k| *k != "type" && *k != "value") {
                return Err(CodecError::new(format!(
                    "unexpected key {other:?} in a dynamic value"
                )));
            }
            let (Some(type_json), Some(inner)) = (obj.get("type"), obj.get("value")) else {
                return Err(CodecError::new(
                    "a dynamic value needs both \"type\" and \"value\"",
                ));
            };
            let inner_ty = Type::from_json(type_json)
                .map_err(|e| CodecError::new(format!("dynamic value: {e}")))?;
            let v = decode_at(inner, &inner_ty, opts, depth + 1)?;
            Ok(Value::Dynamic(inner_ty, Box::new(v)))
        }
        Type::String => match json {
            Json::String(s) => Ok(Value::String(s.clone())),
            Json::Number(n) => Ok(Value::String(n.to_string())),
            Json::Bool(b) => Ok(Value::String(b.to_string())),
            other => Err(json_mismatch("a string", other)),
        },
        Type::Number => {
            let text = match json {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.clone(),
                other => return Err(json_mismatch("a number", other)),
            };
            Number::from_str(&text)
                .map(Value::Number)
                .map_err(|e| CodecError::new(e.0))
        }
        Type::Bool => match json {
            Json::Bool(b) => Ok(Value::Bool(*b)),
            Json::String(s) if s == "true" => Ok(Value::Bool(true)),
            Json::String(s) if s == "false" => Ok(Value::Bool(false)),
            other => Err(json_mismatch("a bool", other)),
        },
        Type::List(et) | Type::Set(et) => {
            let Json::Array(items) = json else {
                return Err(json_mismatch("an array", json));
            };
            let elems = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    decode_at(item, et, opts, depth + 1)
                        .map_err(|e| e.within(PathStep::Index(i as i64)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::List(_)) {
                Value::List(elems)
            } else {
                Value::Set(elems)
            })
        }
        Type::Tuple(ets) => {
            let Json::Array(items) = json else {
                return Err(json_mismatch("an array", json));
            };
            if items.len() != ets.len() {
                return Err(CodecError::new(format!(
                    "a tuple of {} elements is required ({} given)",
                    ets.len(),
                    items.len()
                )));
            }
            let elems = items
                .iter()
                .zip(ets)
                .enumerate()
                .map(|(i, (item, et))| {
                    decode_at(item, et, opts, depth + 1)
                        .map_err(|e| e.within(PathStep::Index(i as i64)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Value::Tuple(elems))
        }
        Type::Map(et) => {
            let Json::Object(obj) = json else {
                return Err(json_mismatch("an object", json));
            };
            let mut out = BTreeMap::new();
            for (k, item) in obj {
                let v = decode_at(item, et, opts, depth + 1)
                    .map_err(|e| e.within(PathStep::Key(k.clone())))?;
                out.insert(k.clone(), v);
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let Json::Object(obj) = json else {
                return Err(json_mismatch("an object", json));
            };
            if !opts.ignore_unknown_attributes {
                if let Some(extra) = obj.keys().find(|k| !attrs.contains_key(*k)) {
                    return Err(CodecError::new(format!("unsupported attribute {extra:?}")));
                }
            }
            let mut out = BTreeMap::new();
            for (k, aty) in attrs {
                let v = match obj.get(k) {
                    Some(item) => decode_at(item, aty, opts, depth + 1)
                        .map_err(|e| e.within(PathStep::Attr(k.clone())))?,
                    None => Value::Null,
                };
                out.insert(k.clone(), v);
            }
            Ok(Value::Object(out))
        }
    }
}

fn json_kind(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn json_mismatch(expected: &str, got: &Json) -> CodecError {
    CodecError::new(format!("expected {expected}, got {}", json_kind(got)))
}

/// Encodes `v` as JSON of type `ty`, in the same shape [`decode`] reads. Unknown values (and
/// infinities, which JSON can't spell) are errors. The same leniency as the msgpack encoder
/// applies: the type picks the shape, absent object attributes are written as null.
pub fn encode(v: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let json = encode_value(v, ty)?;
    serde_json::to_vec(&json).map_err(|e| CodecError::new(format!("JSON write failed: {e}")))
}

/// Like [`encode`], returning the document instead of its bytes.
pub fn encode_value(v: &Value, ty: &Type) -> Result<Json, CodecError> {
    encode_at(v, ty, 0)
}

fn encode_at(v: &Value, ty: &Type, depth: usize) -> Result<Json, CodecError> {
    if depth > MAX_DEPTH {
        return Err(CodecError::new(format!(
            "value nested deeper than {MAX_DEPTH} levels"
        )));
    }
    match (v, ty) {
        (Value::Unknown(_), _) => return Err(CodecError::new("value is unknown")),
        (Value::Dynamic(t, inner), Type::Dynamic) => return dynamic_json(t, inner, depth),
        (Value::Dynamic(_, inner), _) => return encode_at(inner, ty, depth + 1),
        (Value::Null, _) => return Ok(Json::Null),
        (_, Type::Dynamic) => return dynamic_json(&infer_type(v)?, v, depth),
        _ => {}
    }
    match (ty, v) {
        (Type::String, Value::String(s)) => Ok(Json::String(s.clone())),
        (Type::Number, Value::Number(n)) => number_json(n),
        (Type::Bool, Value::Bool(b)) => Ok(Json::Bool(*b)),
        (Type::List(et) | Type::Set(et), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => vs
            .iter()
            .enumerate()
            .map(|(i, ev)| {
                encode_at(ev, et, depth + 1).map_err(|e| e.within(PathStep::Index(i as i64)))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array),
        (Type::Tuple(ets), Value::List(vs) | Value::Set(vs) | Value::Tuple(vs)) => {
            if vs.len() != ets.len() {
                return Err(CodecError::new(format!(
                    "a tuple of {} elements is required ({} given)",
                    ets.len(),
                    vs.len()
                )));
            }
            vs.iter()
                .zip(ets)
                .enumerate()
                .map(|(i, (ev, et))| {
                    encode_at(ev, et, depth + 1).map_err(|e| e.within(PathStep::Index(i as i64)))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array)
        }
        (Type::Map(et), Value::Map(m) | Value::Object(m)) => {
            let mut out = Map::new();
            for (k, ev) in m {
                let j =
                    encode_at(ev, et, depth + 1).map_err(|e| e.within(PathStep::Key(k.clone())))?;
                out.insert(k.clone(), j);
            }
            Ok(Json::Object(out))
        }
        (Type::Object(attrs), Value::Object(m) | Value::Map(m)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::new(format!("unsupported attribute {extra:?}")));
            }
            let mut out = Map::new();
            for (k, aty) in attrs {
                let av = m.get(k).unwrap_or(&Value::Null);
                let j = encode_at(av, aty, depth + 1)
                    .map_err(|e| e.within(PathStep::Attr(k.clone())))?;
                out.insert(k.clone(), j);
            }
            Ok(Json::Object(out))
        }
        _ => Err(value_mismatch(ty, v)),
    }
}

fn dynamic_json(t: &Type, v: &Value, depth: usize) -> Result<Json, CodecError> {
    let mut out = Map::new();
    out.insert("type".into(), t.to_json());
    out.insert("value".into(), encode_at(v, t, depth + 1)?);
    Ok(Json::Object(out))
}

fn number_json(n: &Number) -> Result<Json, CodecError> {
    if n.is_infinite() {
        return Err(CodecError::new("infinity cannot be written as JSON"));
    }
    serde_json::Number::from_str(&n.to_string())
        .map(Json::Number)
        .map_err(|e| CodecError::new(format!("number {n} is not valid JSON: {e}")))
}

/// A plain JSON rendering of any value, for logs and docs: no type wrappers, numbers exact,
/// unknowns as the string `"(unknown)"` and infinities as `"Infinity"`/`"-Infinity"`.
pub fn to_plain_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Unknown(_) => Json::String("(unknown)".into()),
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => number_json(n).unwrap_or_else(|_| Json::String(n.to_string())),
        Value::String(s) => Json::String(s.clone()),
        Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => {
            Json::Array(vs.iter().map(to_plain_json).collect())
        }
        Value::Map(m) | Value::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_plain_json(v)))
                .collect(),
        ),
        Value::Dynamic(_, inner) => to_plain_json(inner),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::path::AttributePath;

    const STRICT: JsonDecodeOptions = JsonDecodeOptions {
        ignore_unknown_attributes: false,
    };
    const UPGRADE: JsonDecodeOptions = JsonDecodeOptions {
        ignore_unknown_attributes: true,
    };

    fn num(s: &str) -> Value {
        Value::Number(s.parse().unwrap())
    }

    fn obj<const N: usize>(attrs: [(&str, Value); N]) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    fn state_type() -> Type {
        Type::object([
            ("id", Type::String),
            ("size", Type::Number),
            ("enabled", Type::Bool),
            ("tags", Type::map(Type::String)),
            ("rule", Type::list(Type::object([("port", Type::Number)]))),
        ])
    }

    #[test]
    fn upgrade_drops_unknown_attributes_and_nulls_missing_ones() {
        let raw = br#"{"id":"i-1","size":20,"old_field":{"deep":[1,2]},"rule":[{"port":443,"proto":"tcp"}]}"#;
        let v = decode(raw, &state_type(), UPGRADE).unwrap();
        assert_eq!(
            v,
            obj([
                ("id", "i-1".into()),
                ("size", num("20")),
                ("enabled", Value::Null),
                ("tags", Value::Null),
                ("rule", Value::List(vec![obj([("port", num("443"))])])),
            ])
        );
        // Strict decoding refuses the stranger, naming it and where it was.
        let e = decode(raw, &state_type(), STRICT).unwrap_err();
        assert_eq!(e.to_string(), "unsupported attribute \"old_field\"");
        let raw = br#"{"rule":[{"port":1,"proto":"tcp"}]}"#;
        let e = decode(raw, &state_type(), STRICT).unwrap_err();
        assert_eq!(e.to_string(), "rule[0]: unsupported attribute \"proto\"");
        assert_eq!(e.path, AttributePath::attr("rule").join_index(0));
    }

    #[test]
    fn numbers_are_exact() {
        for text in [
            "123456789012345678901234567890",
            "0.1",
            "-3.5",
            "1e400",
            "1.5E-300",
            "18446744073709551616",
        ] {
            let v = decode(text.as_bytes(), &Type::Number, STRICT).unwrap();
            assert_eq!(v, num(text), "{text}");
        }
        // 0.1 stays the decimal 0.1, not the nearest double.
        assert_ne!(
            decode(b"0.1", &Type::Number, STRICT).unwrap(),
            Value::Number(Number::from_f64(0.1).unwrap())
        );
        let out = encode(&num("123456789012345678901234567890.25"), &Type::Number).unwrap();
        assert_eq!(out, b"123456789012345678901234567890.25");
        assert_eq!(encode(&num("0.1"), &Type::Number).unwrap(), b"0.1");
        // serde_json spells the exponent sign out; any JSON reader accepts both.
        assert_eq!(encode(&num("1e400"), &Type::Number).unwrap(), b"1e+400");
        assert!(encode(&Value::Number(Number::infinity()), &Type::Number).is_err());
    }

    #[test]
    fn primitives_convert_loosely_like_cty() {
        assert_eq!(
            decode(br#""42""#, &Type::Number, STRICT).unwrap(),
            num("42")
        );
        assert_eq!(decode(b"42", &Type::String, STRICT).unwrap(), "42".into());
        assert_eq!(
            decode(b"true", &Type::String, STRICT).unwrap(),
            "true".into()
        );
        assert_eq!(
            decode(br#""false""#, &Type::Bool, STRICT).unwrap(),
            false.into()
        );
        assert_eq!(
            decode(br#""nope""#, &Type::Number, STRICT)
                .unwrap_err()
                .message,
            "\"nope\" is not a number"
        );
        assert_eq!(
            decode(b"[1]", &Type::String, STRICT).unwrap_err().message,
            "expected a string, got an array"
        );
        assert_eq!(
            decode(br#""yes""#, &Type::Bool, STRICT)
                .unwrap_err()
                .message,
            "expected a bool, got a string"
        );
    }

    #[test]
    fn collections_and_paths() {
        let ty = Type::object([
            ("s", Type::set(Type::String)),
            ("t", Type::Tuple(vec![Type::String, Type::Number])),
            ("m", Type::map(Type::list(Type::Bool))),
        ]);
        let v = decode(
            br#"{"s":["a","b"],"t":["x",1],"m":{"k":[true,null]}}"#,
            &ty,
            STRICT,
        )
        .unwrap();
        assert_eq!(
            v,
            obj([
                ("s", Value::Set(vec!["a".into(), "b".into()])),
                ("t", Value::Tuple(vec!["x".into(), num("1")])),
                (
                    "m",
                    Value::Map([("k".into(), Value::List(vec![true.into(), Value::Null]))].into())
                ),
            ])
        );
        assert_eq!(
            String::from_utf8(encode(&v, &ty).unwrap()).unwrap(),
            r#"{"m":{"k":[true,null]},"s":["a","b"],"t":["x",1]}"#
        );
        let e = decode(br#"{"m":{"k":[true,3]}}"#, &ty, STRICT).unwrap_err();
        assert_eq!(e.to_string(), "m[\"k\"][1]: expected a bool, got a number");
        let e = decode(br#"{"t":["x"]}"#, &ty, STRICT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t: a tuple of 2 elements is required (1 given)"
        );
        assert!(decode(b"{", &ty, STRICT)
            .unwrap_err()
            .message
            .starts_with("invalid JSON"));
        assert!(decode(b"{} {}", &ty, STRICT).is_err());
        assert_eq!(decode(b"null", &ty, STRICT).unwrap(), Value::Null);
    }

    #[test]
    fn dynamic_values() {
        let ty = Type::object([("v", Type::Dynamic)]);
        let v = decode(br#"{"v":{"type":"string","value":"x"}}"#, &ty, STRICT).unwrap();
        assert_eq!(
            v,
            obj([("v", Value::Dynamic(Type::String, Box::new("x".into())))])
        );
        assert_eq!(
            encode(&v, &ty).unwrap(),
            br#"{"v":{"type":"string","value":"x"}}"#
        );
        let v = decode(
            br#"{"type":["list","number"],"value":[1,2.5]}"#,
            &Type::Dynamic,
            STRICT,
        )
        .unwrap();
        assert_eq!(
            v,
            Value::Dynamic(
                Type::list(Type::Number),
                Box::new(Value::List(vec![num("1"), num("2.5")]))
            )
        );
        assert_eq!(
            decode(b"null", &Type::Dynamic, STRICT).unwrap(),
            Value::Null
        );
        // Plain values under dynamic get their type inferred.
        assert_eq!(
            encode(&obj([("a", true.into())]), &Type::Dynamic).unwrap(),
            br#"{"type":["object",{"a":"bool"}],"value":{"a":true}}"#
        );
        for bad in [
            &br#"{"type":"string"}"#[..],
            br#"{"value":"x"}"#,
            br#"{"type":"string","value":"x","extra":1}"#,
            br#"{"type":"strin","value":"x"}"#,
            br#""x""#,
            br#"{"type":"number","value":"x"}"#,
        ] {
            assert!(
                decode(bad, &Type::Dynamic, STRICT).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn encode_rejects_unknowns_with_path() {
        let ty = state_type();
        let v = obj([(
            "tags",
            Value::Map([("Team".into(), Value::unknown())].into()),
        )]);
        let e = encode(&v, &ty).unwrap_err();
        assert_eq!(e.to_string(), "tags[\"Team\"]: value is unknown");
        // Missing attributes are written as null, in sorted order.
        let v = obj([("id", "i-1".into())]);
        assert_eq!(
            String::from_utf8(encode(&v, &ty).unwrap()).unwrap(),
            r#"{"enabled":null,"id":"i-1","rule":null,"size":null,"tags":null}"#
        );
    }

    #[test]
    fn plain_json_for_logs() {
        let v = obj([
            ("n", num("123456789012345678901234567890.5")),
            ("d", Value::Dynamic(Type::String, Box::new("x".into()))),
            ("u", Value::unknown()),
            ("i", Value::Number(Number::neg_infinity())),
            ("l", Value::Set(vec![Value::Null, false.into()])),
        ]);
        assert_eq!(
            to_plain_json(&v).to_string(),
            r#"{"d":"x","i":"-Infinity","l":[null,false],"n":123456789012345678901234567890.5,"u":"(unknown)"}"#
        );
    }

    use crate::tfplugin::msgpack::tests::{config, typed_value};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn fuzz_json_generated_values_round_trip((ty, v) in typed_value(true)) {
            let bytes = encode(&v, &ty).unwrap();
            let back = decode(&bytes, &ty, STRICT).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(encode(&back, &ty).unwrap(), bytes);
        }

        #[test]
        fn fuzz_json_arbitrary_text_never_panics(text in "[\\[\\]{}\",:0-9a-z.eE+-]{0,64}") {
            for ty in [
                Type::Dynamic,
                Type::Number,
                Type::object([("a", Type::list(Type::Dynamic)), ("b", Type::map(Type::Number))]),
            ] {
                for opts in [STRICT, UPGRADE] {
                    if let Ok(v) = decode(text.as_bytes(), &ty, opts) {
                        let again = encode(&v, &ty).unwrap();
                        prop_assert_eq!(decode(&again, &ty, opts).unwrap(), v);
                    }
                }
            }
        }
    }
}
