//! A stand-in for the `hashicorp/aws` plugin, for offline module tests only.
//!
//! It serves a `terraform providers schema -json` document (by default the subset committed in
//! `schema/aws.schema.json`, rebuilt by `scripts/modules/gen_aws_schema.py`) through our own
//! protocol layer. Every resource and data source is built generically from that schema:
//! validation accepts (Terraform itself checks names, types, required arguments and block
//! counts against the schema) and warns on deprecated arguments; plan marks computed attributes
//! unknown on create; apply fills unknowns with typed placeholders; read echoes. Data sources
//! fill computed attributes from fixtures (`fixtures.json`, or `STANDIN_FIXTURES`), else from
//! placeholders. It never talks to AWS.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value as Json;
use terraform_provider_staging::tfplugin::diagnostics::{Diagnostic, Diagnostics};
use terraform_provider_staging::tfplugin::json::{self, JsonDecodeOptions};
use terraform_provider_staging::tfplugin::resource::{
    Applied, DynDataSource, DynResource, Planned,
};
use terraform_provider_staging::tfplugin::schema::{
    Attribute, Block, NestedBlock, Nesting, Presence, Schema,
};
use terraform_provider_staging::tfplugin::shape;
use terraform_provider_staging::tfplugin::{
    AttributePath, Ctx, Provider, ProviderData, Type, Value,
};

/// The schema subset committed with the crate.
pub const EMBEDDED_SCHEMA: &str = include_str!("../schema/aws.schema.json");
/// Data-source answers used when `STANDIN_FIXTURES` is not set.
pub const EMBEDDED_FIXTURES: &str = include_str!("../fixtures.json");
/// The provider address the stand-in answers for.
pub const ADDRESS: &str = "registry.terraform.io/hashicorp/aws";

/// A schema document that cannot be turned into our [`Schema`].
#[derive(Debug)]
pub struct SchemaError(pub String);

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SchemaError {}

fn err(at: &str, msg: impl std::fmt::Display) -> SchemaError {
    SchemaError(format!("{at}: {msg}"))
}

fn flag(j: &Json, key: &str) -> bool {
    j.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn text(j: &Json, key: &str) -> String {
    j.get(key).and_then(Json::as_str).unwrap_or("").to_string()
}

/// One attribute of a providers-schema JSON block.
pub fn attribute_from_json(name: &str, j: &Json, at: &str) -> Result<Attribute, SchemaError> {
    if j.get("nested_type").is_some() {
        return Err(err(
            at,
            "nested_type attributes (protocol 6) are not supported",
        ));
    }
    let ty = Type::from_json(
        j.get("type")
            .ok_or_else(|| err(at, "attribute without a type"))?,
    )
    .map_err(|e| err(at, e))?;
    let (required, optional, computed) = (
        flag(j, "required"),
        flag(j, "optional"),
        flag(j, "computed"),
    );
    let presence = match (required, optional, computed) {
        (true, false, false) => Presence::Required,
        (false, true, false) => Presence::Optional,
        (false, false, true) => Presence::Computed,
        (false, true, true) => Presence::OptionalComputed,
        other => {
            return Err(err(
                at,
                format!("impossible required/optional/computed {other:?}"),
            ))
        }
    };
    Ok(Attribute {
        name: name.to_string(),
        ty,
        description: text(j, "description"),
        presence,
        sensitive: flag(j, "sensitive"),
        write_only: flag(j, "write_only"),
        deprecated: flag(j, "deprecated"),
    })
}

/// A providers-schema JSON block (`{"attributes": {...}, "block_types": {...}}`).
pub fn block_from_json(j: &Json, at: &str) -> Result<Block, SchemaError> {
    let mut block = Block::new(&text(j, "description"));
    block.deprecated = flag(j, "deprecated");
    if let Some(attrs) = j.get("attributes").and_then(Json::as_object) {
        for (name, a) in attrs {
            block
                .attributes
                .push(attribute_from_json(name, a, &format!("{at}.{name}"))?);
        }
    }
    if let Some(blocks) = j.get("block_types").and_then(Json::as_object) {
        for (name, b) in blocks {
            let here = format!("{at}.{name}");
            let nesting = match b.get("nesting_mode").and_then(Json::as_str) {
                Some("single") => Nesting::Single,
                Some("group") => Nesting::Group,
                Some("list") => Nesting::List,
                Some("set") => Nesting::Set,
                Some("map") => Nesting::Map,
                other => return Err(err(&here, format!("unknown nesting mode {other:?}"))),
            };
            let inner = block_from_json(b.get("block").unwrap_or(&Json::Null), &here)?;
            let min = b.get("min_items").and_then(Json::as_i64).unwrap_or(0);
            let max = b.get("max_items").and_then(Json::as_i64).unwrap_or(0);
            block
                .blocks
                .push(NestedBlock::new(name, nesting, inner).items(min, max));
        }
    }
    Ok(block)
}

/// A providers-schema JSON schema (`{"version": N, "block": {...}}`).
pub fn schema_from_json(j: &Json, at: &str) -> Result<Schema, SchemaError> {
    let version = j.get("version").and_then(Json::as_i64).unwrap_or(0);
    let block = block_from_json(j.get("block").unwrap_or(&Json::Null), at)?;
    let schema = Schema::new(version, block);
    let problems = schema.validate();
    if !problems.is_empty() {
        return Err(err(at, problems.join("; ")));
    }
    Ok(schema)
}

/// Every schema of one provider in a `providers schema -json` document.
pub struct ProviderSchemas {
    pub provider: Schema,
    pub resources: BTreeMap<String, Schema>,
    pub data_sources: BTreeMap<String, Schema>,
}

/// Reads the schemas of `address` from a `terraform providers schema -json` document.
pub fn load_schemas(doc: &str, address: &str) -> Result<ProviderSchemas, SchemaError> {
    let j: Json = serde_json::from_str(doc).map_err(|e| err("schema", e))?;
    let p = j
        .get("provider_schemas")
        .and_then(|ps| ps.get(address))
        .ok_or_else(|| err("schema", format!("no provider_schemas.{address:?}")))?;
    let provider = match p.get("provider") {
        Some(s) => schema_from_json(s, "provider")?,
        None => Schema::default(),
    };
    let mut resources = BTreeMap::new();
    for (name, s) in p
        .get("resource_schemas")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        resources.insert(name.clone(), schema_from_json(s, name)?);
    }
    let mut data_sources = BTreeMap::new();
    for (name, s) in p
        .get("data_source_schemas")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        data_sources.insert(name.clone(), schema_from_json(s, &format!("data.{name}"))?);
    }
    Ok(ProviderSchemas {
        provider,
        resources,
        data_sources,
    })
}

/// Fixtures: `{"<data source type>": {"<attribute>": <JSON value>, ...}, ...}`.
pub type Fixtures = BTreeMap<String, serde_json::Map<String, Json>>;

pub fn parse_fixtures(doc: &str) -> Result<Fixtures, SchemaError> {
    let j: Json = serde_json::from_str(doc).map_err(|e| err("fixtures", e))?;
    let mut out = Fixtures::new();
    for (k, v) in j
        .as_object()
        .ok_or_else(|| err("fixtures", "not an object"))?
    {
        if k.starts_with('_') {
            continue;
        }
        let m = v
            .as_object()
            .ok_or_else(|| err("fixtures", format!("{k} is not an object")))?;
        out.insert(k.clone(), m.clone());
    }
    Ok(out)
}

/// A deterministic, known value of `ty` for a computed attribute nobody set.
pub fn placeholder(ty: &Type, path: &str) -> Value {
    match ty {
        Type::String => Value::string(format!("mock-{path}")),
        Type::Number => Value::Number(Default::default()),
        Type::Bool => Value::Bool(false),
        Type::Dynamic => Value::Null,
        Type::List(_) => Value::List(vec![]),
        Type::Set(_) => Value::Set(vec![]),
        Type::Map(_) => Value::Map(BTreeMap::new()),
        Type::Tuple(ts) => Value::Tuple(
            ts.iter()
                .enumerate()
                .map(|(i, t)| placeholder(t, &format!("{path}.{i}")))
                .collect(),
        ),
        Type::Object(attrs) => Value::Object(
            attrs
                .iter()
                .map(|(k, t)| (k.clone(), placeholder(t, &format!("{path}.{k}"))))
                .collect(),
        ),
    }
}

/// Replaces every unknown in `v` (of type `ty`) with a placeholder.
fn fill_unknowns(ty: &Type, v: &mut Value, path: &str) {
    if v.is_unknown() {
        *v = placeholder(ty, path);
        return;
    }
    match (ty, v) {
        (Type::List(t) | Type::Set(t), Value::List(xs) | Value::Set(xs)) => {
            for (i, x) in xs.iter_mut().enumerate() {
                fill_unknowns(t, x, &format!("{path}.{i}"));
            }
        }
        (Type::Map(t), Value::Map(m)) => {
            for (k, x) in m.iter_mut() {
                fill_unknowns(t, x, &format!("{path}.{k}"));
            }
        }
        (Type::Object(attrs), Value::Object(m)) => {
            for (k, t) in attrs {
                if let Some(x) = m.get_mut(k) {
                    fill_unknowns(t, x, &format!("{path}.{k}"));
                }
            }
        }
        (Type::Tuple(ts), Value::Tuple(xs)) => {
            for (i, (t, x)) in ts.iter().zip(xs.iter_mut()).enumerate() {
                fill_unknowns(t, x, &format!("{path}.{i}"));
            }
        }
        _ => {}
    }
}

/// Fills the null computed attributes of a data source result: fixtures first, then
/// placeholders; recursing into nested blocks.
fn fill_computed(
    block: &Block,
    v: &mut Value,
    fixture: Option<&serde_json::Map<String, Json>>,
    path: &str,
) -> Result<(), Diagnostics> {
    let Value::Object(m) = v else { return Ok(()) };
    for a in block.attributes.iter().filter(|a| a.is_computed()) {
        let slot = m.entry(a.name.clone()).or_insert(Value::Null);
        if !slot.is_null() {
            continue;
        }
        let at = format!("{path}.{}", a.name);
        *slot = match fixture.and_then(|f| f.get(&a.name)) {
            Some(j) => json::decode_value(j, &a.ty, JsonDecodeOptions::default()).map_err(|e| {
                Diagnostics::from(Diagnostic::error(
                    "Bad stand-in fixture",
                    format!("{at}: {}", e.message),
                ))
            })?,
            None => placeholder(&a.ty, &at),
        };
    }
    for nb in &block.blocks {
        if let Some(Value::List(xs) | Value::Set(xs)) = m.get_mut(&nb.type_name) {
            for x in xs.iter_mut() {
                fill_computed(&nb.block, x, None, &format!("{path}.{}", nb.type_name))?;
            }
        } else if let Some(x @ Value::Object(_)) = m.get_mut(&nb.type_name) {
            fill_computed(&nb.block, x, None, &format!("{path}.{}", nb.type_name))?;
        }
    }
    Ok(())
}

/// Warnings for deprecated arguments that are set (the real provider emits these itself).
fn deprecation_warnings(
    block: &Block,
    config: &Value,
    path: &AttributePath,
    diags: &mut Diagnostics,
) {
    for a in block.attributes.iter().filter(|a| a.deprecated) {
        if config.get(&a.name).is_some_and(|v| !v.is_null()) {
            diags.push(
                Diagnostic::warning(
                    "Argument is deprecated",
                    format!("{} is deprecated in hashicorp/aws.", a.name),
                )
                .at(path.join_attr(&a.name)),
            );
        }
    }
    for nb in &block.blocks {
        let p = path.join_attr(&nb.type_name);
        match config.get(&nb.type_name) {
            Some(v @ Value::Object(_)) => deprecation_warnings(&nb.block, v, &p, diags),
            Some(Value::List(xs)) => {
                for (i, x) in xs.iter().enumerate() {
                    if nb.block.deprecated {
                        diags.push(
                            Diagnostic::warning(
                                "Block is deprecated",
                                format!("{} is deprecated in hashicorp/aws.", nb.type_name),
                            )
                            .at(p.clone()),
                        );
                    }
                    deprecation_warnings(&nb.block, x, &p.join_index(i), diags)
                }
            }
            _ => {}
        }
    }
}

/// A managed resource type built from its schema alone.
pub struct SchemaResource {
    name: &'static str,
    schema: Schema,
    ty: Type,
}

impl SchemaResource {
    pub fn new(name: &str, schema: Schema) -> Self {
        let ty = schema.implied_type();
        SchemaResource {
            name: Box::leak(name.to_string().into_boxed_str()),
            schema,
            ty,
        }
    }
}

#[async_trait]
impl DynResource for SchemaResource {
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn validate(&self, _ctx: &Ctx, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        deprecation_warnings(&self.schema.block, config, &AttributePath::root(), &mut d);
        d
    }
    fn upgrade(&self, _version: i64, raw_json: &[u8]) -> Result<Value, Diagnostics> {
        let mut v = json::decode(
            raw_json,
            &self.ty,
            JsonDecodeOptions {
                ignore_unknown_attributes: true,
            },
        )
        .map_err(|e| {
            Diagnostics::from(Diagnostic::error("Unreadable state", e.message.clone()).at(e.path))
        })?;
        shape::normalize_state(&self.schema.block, &mut v);
        Ok(v)
    }
    async fn read(&self, _ctx: &Ctx, current: Value) -> Result<Value, Diagnostics> {
        Ok(current)
    }
    async fn plan(
        &self,
        _ctx: &Ctx,
        prior: Value,
        proposed: Value,
        config: Value,
    ) -> Result<Planned, Diagnostics> {
        let mut planned = proposed;
        if !planned.is_null() {
            if prior.is_null() {
                shape::mark_computed_unknown(&self.schema.block, &config, &mut planned);
            }
            shape::normalize_state(&self.schema.block, &mut planned);
        }
        Ok(Planned {
            state: planned,
            requires_replace: vec![],
            diagnostics: Diagnostics::new(),
        })
    }
    async fn apply(&self, _ctx: &Ctx, _prior: Value, planned: Value, _config: Value) -> Applied {
        let mut state = planned;
        if !state.is_null() {
            fill_unknowns(&self.ty, &mut state, self.name);
            shape::normalize_state(&self.schema.block, &mut state);
        }
        Applied {
            state,
            diagnostics: Diagnostics::new(),
        }
    }
    async fn import(&self, _ctx: &Ctx, id: &str) -> Result<Value, Diagnostics> {
        let mut v = self.schema.block.null_object();
        if self.schema.block.attribute("id").is_some() {
            v.set_attr("id", Value::string(id));
        }
        Ok(v)
    }
}

/// A data source built from its schema and an optional fixture.
pub struct SchemaDataSource {
    name: &'static str,
    schema: Schema,
    fixture: Option<serde_json::Map<String, Json>>,
}

impl SchemaDataSource {
    pub fn new(name: &str, schema: Schema, fixture: Option<serde_json::Map<String, Json>>) -> Self {
        SchemaDataSource {
            name: Box::leak(name.to_string().into_boxed_str()),
            schema,
            fixture,
        }
    }
}

#[async_trait]
impl DynDataSource for SchemaDataSource {
    fn type_name(&self) -> &'static str {
        self.name
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn validate(&self, _ctx: &Ctx, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        deprecation_warnings(&self.schema.block, config, &AttributePath::root(), &mut d);
        d
    }
    async fn read(&self, _ctx: &Ctx, config: Value) -> Result<Value, Diagnostics> {
        let mut v = config;
        shape::normalize_state(&self.schema.block, &mut v);
        fill_computed(&self.schema.block, &mut v, self.fixture.as_ref(), self.name)?;
        Ok(v)
    }
}

/// The stand-in provider: every type of a schema document, nothing more.
pub struct StandinProvider {
    schemas: ProviderSchemas,
    fixtures: Fixtures,
}

impl StandinProvider {
    pub fn new(schemas: ProviderSchemas, fixtures: Fixtures) -> Self {
        StandinProvider { schemas, fixtures }
    }

    /// From `STANDIN_SCHEMA` / `STANDIN_FIXTURES` (paths) when set, else the embedded files.
    pub fn from_env() -> Result<Self, SchemaError> {
        let schema = match std::env::var("STANDIN_SCHEMA") {
            Ok(p) if !p.is_empty() => std::fs::read_to_string(&p).map_err(|e| err(&p, e))?,
            _ => EMBEDDED_SCHEMA.to_string(),
        };
        let fixtures = match std::env::var("STANDIN_FIXTURES") {
            Ok(p) if !p.is_empty() => std::fs::read_to_string(&p).map_err(|e| err(&p, e))?,
            _ => EMBEDDED_FIXTURES.to_string(),
        };
        Ok(Self::new(
            load_schemas(&schema, ADDRESS)?,
            parse_fixtures(&fixtures)?,
        ))
    }

    pub fn schemas(&self) -> &ProviderSchemas {
        &self.schemas
    }
}

#[async_trait]
impl Provider for StandinProvider {
    fn schema(&self) -> Schema {
        self.schemas.provider.clone()
    }
    fn resources(&self) -> Vec<Box<dyn DynResource>> {
        self.schemas
            .resources
            .iter()
            .map(|(n, s)| Box::new(SchemaResource::new(n, s.clone())) as Box<dyn DynResource>)
            .collect()
    }
    fn data_sources(&self) -> Vec<Box<dyn DynDataSource>> {
        self.schemas
            .data_sources
            .iter()
            .map(|(n, s)| {
                Box::new(SchemaDataSource::new(
                    n,
                    s.clone(),
                    self.fixtures.get(n).cloned(),
                )) as Box<dyn DynDataSource>
            })
            .collect()
    }
    async fn configure(
        &self,
        _ctx: &Ctx,
        _tf: &str,
        _config: &Value,
    ) -> Result<ProviderData, Diagnostics> {
        Ok(Arc::new(()))
    }
}
