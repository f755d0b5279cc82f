//! Schemas: what a provider, resource or data source accepts, in declaration order.
//!
//! Order is kept as written (Vec, not HashMap) so GetSchema output and generated docs are
//! deterministic. [`Schema::validate`] applies Terraform's schema validity rules; a schema that
//! fails them would make the provider unusable, so every schema is checked in a unit test.
use std::collections::BTreeMap;

use super::proto::tfplugin5 as pb;
use super::types::Type;
use super::value::Value;

/// How a nested block type may appear in configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; absent is null.
    Single,
    /// At most one block; absent is an object of nulls (never null itself).
    Group,
    List,
    Set,
    /// Blocks with one label each, keyed by it.
    Map,
}

/// Whether an attribute is set by the user, by the provider, or either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    /// Set by the user, or by the provider when the user leaves it out.
    OptionalComputed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub presence: Presence,
    pub sensitive: bool,
    pub write_only: bool,
    pub deprecated: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NestedBlock {
    pub type_name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub description: String,
    pub deprecated: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Attribute {
    pub fn new(name: &str, ty: Type, presence: Presence, description: &str) -> Self {
        Attribute {
            name: name.into(),
            ty,
            description: description.into(),
            presence,
            sensitive: false,
            write_only: false,
            deprecated: false,
        }
    }
    pub fn required(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Presence::Required, description)
    }
    pub fn optional(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Presence::Optional, description)
    }
    pub fn computed(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Presence::Computed, description)
    }
    pub fn optional_computed(name: &str, ty: Type, description: &str) -> Self {
        Self::new(name, ty, Presence::OptionalComputed, description)
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Only ever in configuration: null in every state Terraform stores (TF ≥ 1.11).
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }
    pub fn is_computed(&self) -> bool {
        matches!(
            self.presence,
            Presence::Computed | Presence::OptionalComputed
        )
    }
    pub fn is_configurable(&self) -> bool {
        !matches!(self.presence, Presence::Computed)
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: self.ty.to_json_bytes(),
            description: self.description.clone(),
            required: self.presence == Presence::Required,
            optional: matches!(
                self.presence,
                Presence::Optional | Presence::OptionalComputed
            ),
            computed: self.is_computed(),
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated,
            write_only: self.write_only,
        }
    }
}

impl NestedBlock {
    pub fn new(type_name: &str, nesting: Nesting, block: Block) -> Self {
        // Optional by default. (Terraform: a SINGLE block has min == max, 1/1 when required.)
        NestedBlock {
            type_name: type_name.into(),
            nesting,
            block,
            min_items: 0,
            max_items: 0,
        }
    }
    pub fn items(mut self, min: i64, max: i64) -> Self {
        self.min_items = min;
        self.max_items = max;
        self
    }

    /// The type of the attribute this block type contributes to its parent object.
    pub fn implied_type(&self) -> Type {
        let obj = self.block.implied_type();
        match self.nesting {
            Nesting::Single | Nesting::Group => obj,
            // cty cannot put values of different types in a list, so Terraform uses a tuple
            // when the block contains dynamic attributes.
            Nesting::List if obj.has_dynamic() => Type::Dynamic,
            Nesting::List => Type::list(obj),
            Nesting::Set => Type::set(obj),
            Nesting::Map if obj.has_dynamic() => Type::Dynamic,
            Nesting::Map => Type::map(obj),
        }
    }

    /// The value Terraform sends when no block of this type is written.
    pub fn empty_value(&self) -> Value {
        match self.nesting {
            Nesting::Single => Value::Null,
            Nesting::Group => self.block.null_object(),
            Nesting::List => Value::List(vec![]),
            Nesting::Set => Value::Set(vec![]),
            Nesting::Map => Value::Map(BTreeMap::new()),
        }
    }

    fn to_proto(&self) -> pb::schema::NestedBlock {
        use pb::schema::nested_block::NestingMode;
        let nesting = match self.nesting {
            Nesting::Single => NestingMode::Single,
            Nesting::Group => NestingMode::Group,
            Nesting::List => NestingMode::List,
            Nesting::Set => NestingMode::Set,
            Nesting::Map => NestingMode::Map,
        };
        pb::schema::NestedBlock {
            type_name: self.type_name.clone(),
            block: Some(self.block.to_proto()),
            nesting: nesting as i32,
            min_items: self.min_items,
            max_items: self.max_items,
        }
    }
}

impl Block {
    pub fn new(description: &str) -> Self {
        Block {
            description: description.into(),
            ..Default::default()
        }
    }
    pub fn attr(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
    pub fn nested(&self, type_name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.type_name == type_name)
    }

    /// The object type of a value of this block: its attributes plus one per block type.
    pub fn implied_type(&self) -> Type {
        let mut attrs = BTreeMap::new();
        for a in &self.attributes {
            attrs.insert(a.name.clone(), a.ty.clone());
        }
        for b in &self.blocks {
            attrs.insert(b.type_name.clone(), b.implied_type());
        }
        Type::Object(attrs)
    }

    /// An object with every attribute null and every nested collection empty.
    pub fn null_object(&self) -> Value {
        let mut m = BTreeMap::new();
        for a in &self.attributes {
            m.insert(a.name.clone(), Value::Null);
        }
        for b in &self.blocks {
            m.insert(b.type_name.clone(), b.empty_value());
        }
        Value::Object(m)
    }

    fn to_proto(&self) -> pb::schema::Block {
        pb::schema::Block {
            version: 0,
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self.blocks.iter().map(NestedBlock::to_proto).collect(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated,
        }
    }

    /// Terraform's schema validity rules (configschema `InternalValidate`), collecting every
    /// problem with the dotted name of where it is.
    fn validate_into(&self, prefix: &str, in_set: bool, errors: &mut Vec<String>) {
        let mut seen = std::collections::BTreeSet::new();
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        };
        for a in &self.attributes {
            let at = format!("{prefix}{}", a.name);
            if !valid_name(&a.name) {
                errors.push(format!("{at}: name must match ^[a-z0-9_]+$"));
            }
            if !seen.insert(a.name.clone()) {
                errors.push(format!("{at}: declared more than once"));
            }
            if in_set && a.ty.has_dynamic() {
                errors.push(format!(
                    "{at}: dynamic types are not allowed inside SET blocks"
                ));
            }
            if in_set && a.write_only {
                errors.push(format!(
                    "{at}: write-only attributes are not allowed inside SET blocks"
                ));
            }
            if a.write_only && a.presence == Presence::Computed {
                errors.push(format!(
                    "{at}: a write-only attribute cannot be computed-only"
                ));
            }
            if a.write_only && a.presence == Presence::OptionalComputed {
                errors.push(format!("{at}: a write-only attribute cannot be computed"));
            }
        }
        for b in &self.blocks {
            let at = format!("{prefix}{}", b.type_name);
            if !valid_name(&b.type_name) {
                errors.push(format!("{at}: block name must match ^[a-z0-9_]+$"));
            }
            if !seen.insert(b.type_name.clone()) {
                errors.push(format!(
                    "{at}: name used for both an attribute and a block, or twice"
                ));
            }
            match b.nesting {
                Nesting::Single => {
                    if b.min_items != b.max_items || !(0..=1).contains(&b.min_items) {
                        errors.push(format!(
                            "{at}: SINGLE blocks need min_items == max_items, 0 or 1"
                        ));
                    }
                }
                Nesting::Group | Nesting::Map => {
                    if b.min_items != 0 || b.max_items != 0 {
                        errors.push(format!(
                            "{at}: GROUP and MAP blocks cannot set min_items or max_items"
                        ));
                    }
                }
                Nesting::List | Nesting::Set => {
                    if b.min_items < 0 || b.max_items < 0 {
                        errors.push(format!("{at}: min_items and max_items cannot be negative"));
                    }
                    if b.max_items != 0 && b.min_items > b.max_items {
                        errors.push(format!("{at}: min_items is greater than max_items"));
                    }
                }
            }
            let nested_in_set = in_set || b.nesting == Nesting::Set;
            b.block
                .validate_into(&format!("{at}."), nested_in_set, errors);
        }
    }
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Schema { version, block }
    }
    pub fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(self.block.to_proto()),
        }
    }
    pub fn implied_type(&self) -> Type {
        self.block.implied_type()
    }
    /// Every violation of Terraform's schema validity rules; empty when the schema is valid.
    pub fn validate(&self) -> Vec<String> {
        let mut errors = vec![];
        if self.version < 0 {
            errors.push("version cannot be negative".into());
        }
        self.block.validate_into("", false, &mut errors);
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Block {
        Block::new("test")
            .attr(Attribute::required("name", Type::String, "n"))
            .block(NestedBlock::new(
                "rule",
                Nesting::List,
                Block::new("r").attr(Attribute::optional("v", Type::Number, "v")),
            ))
    }

    #[test]
    fn valid_schema_has_no_errors() {
        assert!(Schema::new(0, block()).validate().is_empty());
    }

    #[test]
    fn catches_each_rule() {
        let bad = Block::new("bad")
            .attr(Attribute::required("Name", Type::String, ""))
            .attr(Attribute::optional("dup", Type::String, ""))
            .block(NestedBlock::new("dup", Nesting::Group, Block::default()))
            .block(NestedBlock::new("single", Nesting::Single, Block::default()).items(0, 1))
            .block(NestedBlock::new("list", Nesting::List, Block::default()).items(3, 1))
            .block(NestedBlock::new("grp", Nesting::Group, Block::default()).items(0, 1))
            .block(NestedBlock::new(
                "s",
                Nesting::Set,
                Block::new("")
                    .attr(Attribute::optional("d", Type::Dynamic, ""))
                    .attr(Attribute::optional("w", Type::String, "").write_only()),
            ))
            .attr(Attribute::computed("wc", Type::String, "").write_only());
        let errors = Schema::new(-1, bad).validate();
        let text = errors.join("\n");
        for needle in [
            "version cannot be negative",
            "Name: name must match",
            "dup: name used for both",
            "single: SINGLE blocks",
            "list: min_items is greater",
            "grp: GROUP and MAP",
            "s.d: dynamic types are not allowed",
            "s.w: write-only attributes are not allowed",
            "wc: a write-only attribute cannot be computed-only",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn implied_type_and_empty_values() {
        let t = block().implied_type();
        assert_eq!(
            t,
            Type::object([
                ("name", Type::String),
                ("rule", Type::list(Type::object([("v", Type::Number)]))),
            ])
        );
        let nb = NestedBlock::new("g", Nesting::Group, block());
        assert_eq!(
            nb.empty_value().get("rule"),
            Some(&Value::List(vec![])),
            "GROUP blocks are never null; their nested lists are empty"
        );
    }
}
