//! A provider whose only resource, `conformance_thing`, covers every corner of the protocol
//! layer: every cty type and nesting mode, sensitive and write-only attributes, a schema
//! version upgrade, replacement, import, a slow create that honours timeouts and Stop, and an
//! error injected after creation.
//!
//! Its "cloud" is a directory (`store_dir`): one JSON file per object, so tests can check that
//! the state and the remote side agree, and cause drift by editing or deleting a file.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use terraform_provider_staging::tfplugin::schema::Presence;
use terraform_provider_staging::tfplugin::timeouts::{self, Timeouts};
use terraform_provider_staging::tfplugin::{
    json, resource::DynResource, ApplyError, Attribute, AttributePath, Block, Ctx, Diagnostic,
    Diagnostics, NestedBlock, Nesting, Plan, Provider, ProviderData, Resource, Schema, Tf, Type,
    Typed, Value,
};

pub const ADDRESS: &str = "stagecraft/conformance";

pub struct ConformanceProvider;

/// Provider data: where the objects live.
pub struct Store {
    pub dir: PathBuf,
}

impl Store {
    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }
}

#[async_trait]
impl Provider for ConformanceProvider {
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("Test-only provider.").attr(Attribute::required(
                "store_dir",
                Type::String,
                "Directory that plays the remote API.",
            )),
        )
    }

    fn resources(&self) -> Vec<Box<dyn DynResource>> {
        vec![Box::new(Typed::new(ThingResource))]
    }

    async fn configure(
        &self,
        _ctx: &Ctx,
        _tf: &str,
        config: &Value,
    ) -> Result<ProviderData, Diagnostics> {
        let dir = config
            .get("store_dir")
            .and_then(Value::as_str)
            .ok_or_else(|| Diagnostics::from(Diagnostic::error("store_dir must be known", "")))?;
        std::fs::create_dir_all(dir).map_err(|e| {
            Diagnostics::from(
                Diagnostic::error("Cannot create store_dir", e.to_string())
                    .at(AttributePath::attr("store_dir")),
            )
        })?;
        Ok(Arc::new(Store { dir: dir.into() }))
    }
}

/// The state of a `conformance_thing`. Values whose exact form matters (numbers, dynamic,
/// tuples) are kept as raw `Value`s so they round-trip bit for bit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Thing {
    pub id: Tf<String>,
    pub name: Tf<String>,
    pub s: Tf<String>,
    pub n: Value,
    pub b: Tf<bool>,
    pub l: Tf<Vec<String>>,
    pub st: Value,
    pub m: Tf<std::collections::BTreeMap<String, String>>,
    pub obj: Value,
    pub tup: Value,
    pub dyn_value: Value,
    pub secret: Tf<String>,
    pub password_wo: Tf<String>,
    pub password_hash: Tf<String>,
    pub oc: Tf<String>,
    pub revision: Tf<i64>,
    pub create_delay: Tf<String>,
    pub fail_after_create: Tf<bool>,
    pub single: Option<SingleBlock>,
    pub group: GroupBlock,
    pub items: Vec<Item>,
    pub tags_set: Value,
    pub named: Value,
    pub timeouts: Value,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SingleBlock {
    pub x: Tf<String>,
    pub y: Value,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct GroupBlock {
    pub g: Tf<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Item {
    pub k: Tf<String>,
    pub v: Tf<String>,
}

pub struct ThingResource;

impl ThingResource {
    fn schema_v1() -> Schema {
        let attr =
            |n: &str, t: Type, p: Presence| Attribute::new(n, t, p, &format!("The {n} attribute."));
        use Presence::*;
        let block = Block::new("A thing stored as a file; covers every value kind.")
            .attr(attr("id", Type::String, Computed))
            .attr(attr("name", Type::String, Required))
            .attr(attr("s", Type::String, Optional))
            .attr(attr("n", Type::Number, Optional))
            .attr(attr("b", Type::Bool, Optional))
            .attr(attr("l", Type::list(Type::String), Optional))
            .attr(attr("st", Type::set(Type::Number), Optional))
            .attr(attr("m", Type::map(Type::String), Optional))
            .attr(attr(
                "obj",
                Type::object([("a", Type::String), ("b", Type::list(Type::Number))]),
                Optional,
            ))
            .attr(attr(
                "tup",
                Type::Tuple(vec![Type::String, Type::Number, Type::Bool]),
                Optional,
            ))
            .attr(attr("dyn_value", Type::Dynamic, Optional))
            .attr(attr("secret", Type::String, Optional).sensitive())
            .attr(attr("password_wo", Type::String, Optional).write_only())
            .attr(attr("password_hash", Type::String, Computed))
            .attr(attr("oc", Type::String, OptionalComputed))
            .attr(attr("revision", Type::Number, Computed))
            .attr(attr("create_delay", Type::String, Optional))
            .attr(attr("fail_after_create", Type::Bool, Optional))
            .block(NestedBlock::new(
                "single",
                Nesting::Single,
                Block::new("A single block.")
                    .attr(attr("x", Type::String, Required))
                    .attr(attr("y", Type::Number, Optional)),
            ))
            .block(NestedBlock::new(
                "group",
                Nesting::Group,
                Block::new("A group block.").attr(attr("g", Type::String, Optional)),
            ))
            .block(NestedBlock::new(
                "items",
                Nesting::List,
                Block::new("A list block.")
                    .attr(attr("k", Type::String, Required))
                    .attr(attr("v", Type::String, OptionalComputed)),
            ))
            .block(NestedBlock::new(
                "tags_set",
                Nesting::Set,
                Block::new("A set block.")
                    .attr(attr("key", Type::String, Required))
                    .attr(attr("value", Type::String, Optional)),
            ))
            .block(NestedBlock::new(
                "named",
                Nesting::Map,
                Block::new("A map block.").attr(attr("port", Type::Number, Optional)),
            ))
            .block(timeouts::block(&Self::timeouts()));
        Schema::new(1, block)
    }

    fn timeouts() -> Timeouts {
        Timeouts {
            create: Duration::from_secs(60),
            ..Timeouts::default()
        }
    }

    fn store(ctx: &Ctx) -> Result<Arc<Store>, Diagnostics> {
        ctx.data::<Store>()
    }

    fn save(store: &Store, thing: &Thing) -> Result<(), Diagnostics> {
        let ty = Self::schema_v1().implied_type();
        let mut stored = thing.clone();
        stored.password_wo = Tf::Null;
        let v = terraform_provider_staging::tfplugin::typed::to_value(&stored, &ty)
            .map_err(|e| Diagnostics::from(Diagnostic::error("encode", e.to_string())))?;
        let bytes = json::encode(&v, &ty)
            .map_err(|e| Diagnostics::from(Diagnostic::error("encode", e.to_string())))?;
        let id = thing.id.known().cloned().unwrap_or_default();
        std::fs::write(store.path(&id), bytes)
            .map_err(|e| Diagnostic::error("Cannot write the object", e.to_string()).into())
    }

    fn load(store: &Store, id: &str) -> Result<Option<Thing>, Diagnostics> {
        let bytes = match std::fs::read(store.path(id)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Diagnostic::error("Cannot read the object", e.to_string()).into()),
        };
        let ty = Self::schema_v1().implied_type();
        let v = json::decode(&bytes, &ty, json::JsonDecodeOptions::default()).map_err(|e| {
            Diagnostics::from(Diagnostic::error("Corrupt object file", e.to_string()))
        })?;
        terraform_provider_staging::tfplugin::typed::from_value(&v)
            .map(Some)
            .map_err(|e| Diagnostic::error("Corrupt object file", e.to_string()).into())
    }

    fn hash(s: &str) -> String {
        hex::encode(Sha256::digest(s.as_bytes()))
    }

    /// The user-controlled part, for change detection.
    fn configurable(t: &Thing) -> Thing {
        Thing {
            id: Tf::Null,
            password_hash: Tf::Null,
            revision: Tf::Null,
            // Write-only: null in state, set in config; compared through its hash instead.
            password_wo: Tf::Null,
            ..t.clone()
        }
    }
}

/// Creates a unique id without a clock or randomness in the plan.
fn new_id(dir: &Path) -> String {
    for n in 1.. {
        let id = format!("thing-{n:04}");
        if !dir.join(format!("{id}.json")).exists() {
            return id;
        }
    }
    unreachable!()
}

#[async_trait]
impl Resource for ThingResource {
    type State = Thing;

    fn type_name(&self) -> &'static str {
        "conformance_thing"
    }

    fn schema(&self) -> Schema {
        Self::schema_v1()
    }

    fn default_timeouts(&self) -> Timeouts {
        Self::timeouts()
    }

    async fn validate(&self, _ctx: &Ctx, config: &Thing) -> Diagnostics {
        let mut d = Diagnostics::new();
        if let Tf::Known(delay) = &config.create_delay {
            if timeouts::parse(delay).is_err() {
                d.error_at(
                    AttributePath::attr("create_delay"),
                    "Invalid duration",
                    format!("{delay:?} is not a duration"),
                );
            }
        }
        if let Tf::Known(name) = &config.name {
            if name.is_empty() {
                d.error_at(
                    AttributePath::attr("name"),
                    "Empty name",
                    "name must not be empty",
                );
            }
        }
        d
    }

    async fn plan(&self, _ctx: &Ctx, plan: &mut Plan<Thing>) -> Result<(), Diagnostics> {
        // A default the provider picks when the user leaves `oc` out: known at plan time.
        if plan.config.oc.is_null() && plan.planned.oc.is_unknown() {
            plan.planned.oc = Tf::Known("default-oc".into());
        }
        for item in plan.planned.items.iter_mut() {
            if item.v.is_unknown() || item.v.is_null() {
                item.v = match &item.k {
                    Tf::Known(k) => Tf::Known(format!("{k}-default")),
                    _ => Tf::Unknown,
                };
            }
        }
        match &plan.prior {
            None => {
                plan.planned.password_hash = match &plan.config.password_wo {
                    Tf::Known(p) => Tf::Known(Self::hash(p)),
                    Tf::Null => Tf::Null,
                    Tf::Unknown => Tf::Unknown,
                };
            }
            Some(prior) => {
                if prior.name != plan.planned.name {
                    plan.requires_replace.push(AttributePath::attr("name"));
                }
                let new_hash = match &plan.config.password_wo {
                    Tf::Known(p) => Tf::Known(Self::hash(p)),
                    Tf::Null => Tf::Null,
                    Tf::Unknown => Tf::Unknown,
                };
                plan.planned.password_hash = new_hash;
                if Self::configurable(prior) != Self::configurable(&plan.planned)
                    || prior.password_hash != plan.planned.password_hash
                {
                    plan.planned.revision = Tf::Unknown;
                }
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx,
        planned: Thing,
        config: &Thing,
    ) -> Result<Thing, ApplyError<Thing>> {
        let store = Self::store(ctx)?;
        let mut thing = planned;
        thing.id = Tf::Known(new_id(&store.dir));
        thing.revision = Tf::Known(1);
        thing.password_hash = config.password_wo.known().map(|p| Self::hash(p)).into();
        Self::save(&store, &thing)?;
        // From here on the object exists: every failure returns it.
        if let Tf::Known(delay) = &config.create_delay {
            let d = timeouts::parse(delay).unwrap_or_default();
            if let Err(interrupt) = ctx.sleep(d).await {
                return Err(ApplyError::partial(thing, interrupt));
            }
        }
        if config.fail_after_create == Tf::Known(true) {
            return Err(ApplyError::partial(
                thing,
                Diagnostic::error(
                    "Injected failure",
                    "fail_after_create is set: the object was created, then this error was raised.",
                ),
            ));
        }
        Ok(thing)
    }

    async fn read(&self, ctx: &Ctx, current: Thing) -> Result<Option<Thing>, Diagnostics> {
        let store = Self::store(ctx)?;
        let Some(id) = current.id.known() else {
            return Ok(None);
        };
        Ok(Self::load(&store, id)?.map(|mut remote| {
            // Settings that only steer the provider are not remote properties: keep them.
            remote.timeouts = current.timeouts.clone();
            remote.create_delay = current.create_delay.clone();
            remote.fail_after_create = current.fail_after_create;
            remote
        }))
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: Thing,
        planned: Thing,
        config: &Thing,
    ) -> Result<Thing, ApplyError<Thing>> {
        let store = Self::store(ctx)?;
        let mut thing = planned;
        if thing.revision.is_unknown() {
            thing.revision = Tf::Known(prior.revision.known().copied().unwrap_or(0) + 1);
        }
        thing.password_hash = config.password_wo.known().map(|p| Self::hash(p)).into();
        Self::save(&store, &thing)?;
        Ok(thing)
    }

    async fn delete(&self, ctx: &Ctx, prior: Thing) -> Result<(), ApplyError<Thing>> {
        let store = Self::store(ctx)?;
        if let Some(id) = prior.id.known() {
            match std::fs::remove_file(store.path(id)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(ApplyError::partial(
                        prior,
                        Diagnostic::error("Cannot delete", e.to_string()),
                    ))
                }
            }
        }
        Ok(())
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> Result<Thing, Diagnostics> {
        let store = Self::store(ctx)?;
        match Self::load(&store, id)? {
            Some(t) => Ok(t),
            None => Err(Diagnostic::error(
                "Cannot import",
                format!("No thing with id {id:?} exists."),
            )
            .into()),
        }
    }

    /// Version 0 called `s` `title`, and had an `obsolete` attribute that is gone now (the
    /// framework drops it).
    fn upgrade_state(
        &self,
        from: i64,
        mut state: serde_json::Value,
    ) -> Result<serde_json::Value, Diagnostics> {
        if from == 0 {
            if let Some(obj) = state.as_object_mut() {
                if let Some(title) = obj.remove("title") {
                    obj.insert("s".into(), title);
                }
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_is_valid() {
        let errors = ThingResource::schema_v1().validate();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(ConformanceProvider.schema().validate().is_empty());
    }
}
