//! Schema-driven transformations of values that every resource needs, so no resource can get
//! them wrong: complete objects, `[]` for absent list/set blocks, null write-only attributes,
//! computed attributes marked unknown on create.
use std::collections::BTreeMap;

use super::schema::{Block, Nesting};
use super::value::Value;

/// Brings a state value into the exact shape Terraform requires of returned state: every
/// attribute present, absent LIST/SET/MAP blocks as empty collections, GROUP blocks as objects,
/// and every write-only attribute null.
pub fn normalize_state(block: &Block, v: &mut Value) {
    if !matches!(v, Value::Object(_)) {
        return;
    }
    let Value::Object(m) = v else { return };
    for a in &block.attributes {
        let slot = m.entry(a.name.clone()).or_insert(Value::Null);
        if a.write_only {
            *slot = Value::Null;
        }
    }
    for nb in &block.blocks {
        let slot = m.entry(nb.type_name.clone()).or_insert(Value::Null);
        match (nb.nesting, &mut *slot) {
            (_, Value::Unknown(_)) => {}
            (Nesting::Single, Value::Null) => {}
            (Nesting::Group, Value::Null) => *slot = nb.block.null_object(),
            (Nesting::List, Value::Null) => *slot = Value::List(vec![]),
            (Nesting::Set, Value::Null) => *slot = Value::Set(vec![]),
            (Nesting::Map, Value::Null) => *slot = Value::Map(BTreeMap::new()),
            (Nesting::Single | Nesting::Group, obj) => normalize_state(&nb.block, obj),
            (_, Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
                items.iter_mut().for_each(|i| normalize_state(&nb.block, i))
            }
            (_, Value::Map(items)) => items
                .values_mut()
                .for_each(|i| normalize_state(&nb.block, i)),
            _ => {}
        }
    }
    // Attributes not in the schema (a field the typed layer added by mistake) would make
    // Terraform reject the whole object; drop them here.
    m.retain(|k, _| block.attribute(k).is_some() || block.nested(k).is_some());
}

/// On create, every computed attribute the configuration leaves null becomes unknown ("known
/// after apply"), in nested blocks too.
pub fn mark_computed_unknown(block: &Block, config: &Value, planned: &mut Value) {
    let Value::Object(pm) = planned else { return };
    for a in block.attributes.iter().filter(|a| a.is_computed()) {
        let config_null = config.get(&a.name).is_none_or(Value::is_null);
        if config_null {
            if let Some(slot) = pm.get_mut(&a.name) {
                if slot.is_null() {
                    *slot = Value::unknown();
                }
            }
        }
    }
    for nb in &block.blocks {
        let (Some(p), Some(c)) = (pm.get_mut(&nb.type_name), config.get(&nb.type_name)) else {
            continue;
        };
        match (p, c) {
            (p @ Value::Object(_), c) => mark_computed_unknown(&nb.block, c, p),
            (Value::List(ps), Value::List(cs)) | (Value::Tuple(ps), Value::Tuple(cs)) => {
                for (p, c) in ps.iter_mut().zip(cs) {
                    mark_computed_unknown(&nb.block, c, p);
                }
            }
            (Value::Map(ps), Value::Map(cs)) => {
                for (k, p) in ps.iter_mut() {
                    if let Some(c) = cs.get(k) {
                        mark_computed_unknown(&nb.block, c, p);
                    }
                }
            }
            // Set elements have no identity to pair them with configuration; sets of blocks
            // with computed attributes are not used by stagecraft.
            _ => {}
        }
    }
}

/// Replaces every unknown with null: for partial state after a failed apply, where the
/// operation never produced those values.
pub fn unknowns_to_null(v: &mut Value) {
    match v {
        Value::Unknown(_) => *v = Value::Null,
        Value::List(xs) | Value::Set(xs) | Value::Tuple(xs) => {
            xs.iter_mut().for_each(unknowns_to_null)
        }
        Value::Map(m) | Value::Object(m) => m.values_mut().for_each(unknowns_to_null),
        Value::Dynamic(_, inner) => unknowns_to_null(inner),
        _ => {}
    }
}

/// Paths of every unknown inside `v` (for diagnostics that must say where).
pub fn unknown_paths(v: &Value) -> Vec<super::path::AttributePath> {
    fn walk(v: &Value, at: super::path::AttributePath, out: &mut Vec<super::path::AttributePath>) {
        match v {
            Value::Unknown(_) => out.push(at),
            Value::List(xs) | Value::Set(xs) | Value::Tuple(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    walk(x, at.join_index(i), out);
                }
            }
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, at.join_attr(k), out)),
            Value::Map(m) => m.iter().for_each(|(k, x)| walk(x, at.join_key(k), out)),
            Value::Dynamic(_, inner) => walk(inner, at, out),
            _ => {}
        }
    }
    let mut out = vec![];
    walk(v, super::path::AttributePath::root(), &mut out);
    out
}

/// The object without its computed-only attributes (recursively): what the user controls.
/// Two states that agree here differ only in values the provider owns.
pub fn configurable_part(block: &Block, v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = BTreeMap::new();
    for a in block.attributes.iter().filter(|a| a.is_configurable()) {
        out.insert(
            a.name.clone(),
            m.get(&a.name).cloned().unwrap_or(Value::Null),
        );
    }
    for nb in &block.blocks {
        let inner = m.get(&nb.type_name).cloned().unwrap_or(Value::Null);
        let mapped = match inner {
            Value::List(xs) => {
                Value::List(xs.iter().map(|x| configurable_part(&nb.block, x)).collect())
            }
            Value::Set(xs) => {
                Value::Set(xs.iter().map(|x| configurable_part(&nb.block, x)).collect())
            }
            Value::Map(xs) => Value::Map(
                xs.iter()
                    .map(|(k, x)| (k.clone(), configurable_part(&nb.block, x)))
                    .collect(),
            ),
            other @ Value::Object(_) => configurable_part(&nb.block, &other),
            other => other,
        };
        out.insert(nb.type_name.clone(), mapped);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::schema::{Attribute, NestedBlock};
    use crate::tfplugin::types::Type;

    fn schema() -> Block {
        Block::new("")
            .attr(Attribute::required("name", Type::String, ""))
            .attr(Attribute::computed("id", Type::String, ""))
            .attr(Attribute::optional("password", Type::String, "").write_only())
            .block(NestedBlock::new(
                "rule",
                Nesting::List,
                Block::new("")
                    .attr(Attribute::optional("v", Type::String, ""))
                    .attr(Attribute::optional_computed("w", Type::String, "")),
            ))
            .block(NestedBlock::new(
                "grp",
                Nesting::Group,
                Block::new("").attr(Attribute::optional("x", Type::Bool, "")),
            ))
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn normalize_fills_blocks_and_nulls_write_only() {
        let mut v = obj(vec![
            ("name", "a".into()),
            ("password", "hunter2".into()),
            ("stray", "x".into()),
        ]);
        normalize_state(&schema(), &mut v);
        assert_eq!(v.get("password"), Some(&Value::Null));
        assert_eq!(v.get("id"), Some(&Value::Null));
        assert_eq!(v.get("rule"), Some(&Value::List(vec![])));
        assert_eq!(v.get("grp").and_then(|g| g.get("x")), Some(&Value::Null));
        assert!(v.get("stray").is_none());
    }

    #[test]
    fn computed_nulls_become_unknown_on_create() {
        let config = obj(vec![
            ("name", "a".into()),
            ("id", Value::Null),
            (
                "rule",
                Value::List(vec![obj(vec![("v", "1".into()), ("w", Value::Null)])]),
            ),
        ]);
        let mut planned = config.clone();
        mark_computed_unknown(&schema(), &config, &mut planned);
        assert!(planned.get("id").unwrap().is_unknown());
        assert!(planned.get("name").unwrap().as_str() == Some("a"));
        let rule = &planned.get("rule").unwrap().as_elements().unwrap()[0];
        assert!(rule.get("w").unwrap().is_unknown());
        assert!(!rule.get("v").unwrap().is_unknown());
    }

    #[test]
    fn configurable_part_ignores_computed_only() {
        let a = obj(vec![("name", "a".into()), ("id", "1".into())]);
        let b = obj(vec![("name", "a".into()), ("id", "2".into())]);
        assert_eq!(
            configurable_part(&schema(), &a),
            configurable_part(&schema(), &b)
        );
    }

    #[test]
    fn unknowns_become_null() {
        let mut v = obj(vec![
            ("id", Value::unknown()),
            ("rule", Value::List(vec![Value::unknown()])),
        ]);
        unknowns_to_null(&mut v);
        assert!(v.is_wholly_known());
    }
}
