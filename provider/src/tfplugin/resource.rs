//! Resources: the typed lifecycle a resource implements, and the dynamic adapter the gRPC
//! service drives.
//!
//! A resource works with its own serde state struct (attributes as [`Tf`](super::typed::Tf)
//! where they can be unknown) and returns `Result`s. Everything the plugin protocol demands
//! of every resource — complete objects, null write-only attributes, computed attributes
//! unknown on create, timeouts, partial state on failure — is done here once.
use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::context::Ctx;
use super::diagnostics::{Diagnostic, Diagnostics};
use super::path::AttributePath;
use super::schema::Schema;
use super::shape;
use super::timeouts::{self, Timeouts};
use super::typed::{from_value, to_value, TypedError};
use super::types::Type;
use super::value::Value;

/// A failed apply step. `state` is what exists remotely despite the failure (for create and
/// update), or what still exists (for delete); Terraform records it, so nothing leaks.
#[derive(Debug)]
pub struct ApplyError<S> {
    pub state: Option<S>,
    pub diagnostics: Diagnostics,
}

impl<S> ApplyError<S> {
    /// Nothing was changed remotely.
    pub fn clean(diagnostics: impl Into<Diagnostics>) -> Self {
        ApplyError {
            state: None,
            diagnostics: diagnostics.into(),
        }
    }
    /// The remote object exists in this shape.
    pub fn partial(state: S, diagnostics: impl Into<Diagnostics>) -> Self {
        ApplyError {
            state: Some(state),
            diagnostics: diagnostics.into(),
        }
    }
}

impl<S> From<Diagnostics> for ApplyError<S> {
    fn from(d: Diagnostics) -> Self {
        Self::clean(d)
    }
}
impl<S> From<Diagnostic> for ApplyError<S> {
    fn from(d: Diagnostic) -> Self {
        Self::clean(d)
    }
}

/// What a resource sees and shapes while planning.
#[derive(Debug)]
pub struct Plan<S> {
    /// The current state; `None` when creating.
    pub prior: Option<S>,
    /// The configuration (may hold unknowns).
    pub config: S,
    /// Terraform's proposal merged with the framework's defaults: on create, computed
    /// attributes the configuration leaves null are unknown; on update, they keep their prior
    /// values. The resource adjusts it.
    pub planned: S,
    /// Attributes whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Warnings to show with the plan.
    pub warnings: Diagnostics,
}

impl<S> Plan<S> {
    pub fn is_create(&self) -> bool {
        self.prior.is_none()
    }
}

/// The typed lifecycle of one managed resource type.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    type State: Serialize + DeserializeOwned + Clone + Debug + Send + Sync;

    /// The full type name, e.g. `staging_environment`.
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Deadlines used when the configuration's `timeouts` block leaves them out.
    fn default_timeouts(&self) -> Timeouts {
        Timeouts::default()
    }

    /// Checks configuration that may still hold unknowns (never fail on an unknown).
    async fn validate(&self, _ctx: &Ctx, _config: &Self::State) -> Diagnostics {
        Diagnostics::new()
    }

    /// Adjusts the plan: predicts computed values, marks values that will change unknown,
    /// lists attributes that force replacement. May read remote data (with the provider
    /// configured).
    async fn plan(&self, _ctx: &Ctx, _plan: &mut Plan<Self::State>) -> Result<(), Diagnostics> {
        Ok(())
    }

    async fn create(
        &self,
        ctx: &Ctx,
        planned: Self::State,
        config: &Self::State,
    ) -> Result<Self::State, ApplyError<Self::State>>;

    /// The remote object as it is now; `Ok(None)` when it no longer exists.
    async fn read(
        &self,
        ctx: &Ctx,
        current: Self::State,
    ) -> Result<Option<Self::State>, Diagnostics>;

    async fn update(
        &self,
        ctx: &Ctx,
        prior: Self::State,
        planned: Self::State,
        config: &Self::State,
    ) -> Result<Self::State, ApplyError<Self::State>>;

    async fn delete(&self, ctx: &Ctx, prior: Self::State) -> Result<(), ApplyError<Self::State>>;

    /// A state stub for `id`; Terraform calls `read` on it next.
    async fn import(&self, _ctx: &Ctx, _id: &str) -> Result<Self::State, Diagnostics> {
        Err(Diagnostic::error(
            "Import not supported",
            format!("{} cannot be imported.", self.type_name()),
        )
        .into())
    }

    /// Migrates stored state JSON from an older schema version to the current one. Attributes
    /// the current schema no longer has are dropped afterwards by the framework.
    fn upgrade_state(
        &self,
        _from_version: i64,
        state: serde_json::Value,
    ) -> Result<serde_json::Value, Diagnostics> {
        Ok(state)
    }
}

/// What the gRPC layer needs from a resource, on dynamic values.
pub struct Planned {
    pub state: Value,
    pub requires_replace: Vec<AttributePath>,
    pub diagnostics: Diagnostics,
}

/// The outcome of ApplyResourceChange: a state to record (possibly alongside errors).
pub struct Applied {
    pub state: Value,
    pub diagnostics: Diagnostics,
}

#[async_trait]
pub trait DynResource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    async fn validate(&self, ctx: &Ctx, config: &Value) -> Diagnostics;
    fn upgrade(&self, version: i64, raw_json: &[u8]) -> Result<Value, Diagnostics>;
    async fn read(&self, ctx: &Ctx, current: Value) -> Result<Value, Diagnostics>;
    async fn plan(
        &self,
        ctx: &Ctx,
        prior: Value,
        proposed: Value,
        config: Value,
    ) -> Result<Planned, Diagnostics>;
    async fn apply(&self, ctx: &Ctx, prior: Value, planned: Value, config: Value) -> Applied;
    async fn import(&self, ctx: &Ctx, id: &str) -> Result<Value, Diagnostics>;
}

/// Adapts a typed [`Resource`] to [`DynResource`].
pub struct Typed<R: Resource> {
    inner: R,
    schema: Schema,
    ty: Type,
}

impl<R: Resource> Typed<R> {
    pub fn new(inner: R) -> Self {
        let schema = inner.schema();
        let ty = schema.implied_type();
        Typed { inner, schema, ty }
    }

    fn decode(&self, v: &Value) -> Result<R::State, Diagnostics> {
        from_value(v).map_err(|e| typed_diag(self.inner.type_name(), e))
    }

    fn encode(&self, s: &R::State) -> Result<Value, Diagnostics> {
        let mut v = to_value(s, &self.ty).map_err(|e| typed_diag(self.inner.type_name(), e))?;
        shape::normalize_state(&self.schema.block, &mut v);
        Ok(v)
    }

    /// Encodes a state that is going into Terraform's state file: no unknowns allowed.
    fn encode_final(&self, s: &R::State, what: &str) -> Result<Value, Diagnostics> {
        let v = self.encode(s)?;
        if v.is_wholly_known() {
            Ok(v)
        } else {
            Err(Diagnostic::error(
                "Provider bug: unknown values after apply",
                format!(
                    "{} returned a {what} state with values still unknown at: {}.",
                    self.inner.type_name(),
                    shape::unknown_paths(&v)
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into())
        }
    }

    /// Runs an apply step under its context (deadline and Stop), with a backstop for a
    /// resource that does not watch its context: a grace period after the interrupt the future
    /// is dropped and the step fails. Well-behaved resources return partial state before that.
    async fn backstop<T>(
        &self,
        ctx: &Ctx,
        op: &str,
        f: impl std::future::Future<Output = Result<T, ApplyError<R::State>>>,
    ) -> Result<T, ApplyError<R::State>> {
        let grace = Duration::from_secs(30);
        let give_up = async {
            let interrupt = ctx.interrupted().await;
            tokio::time::sleep(grace).await;
            interrupt
        };
        tokio::select! {
            r = f => r,
            interrupt = give_up => {
                let mut d = Diagnostics::from(interrupt.to_diagnostic());
                d.error(
                    format!("{op} did not stop"),
                    format!("{} kept working {grace:?} past the interrupt and was abandoned.", self.inner.type_name()),
                );
                Err(ApplyError::clean(d))
            }
        }
    }

    fn apply_failure(&self, fallback: &Value, err: ApplyError<R::State>) -> Applied {
        let mut diagnostics = err.diagnostics;
        if !diagnostics.has_errors() {
            diagnostics.error("Apply failed", "The operation failed without details.");
        }
        let state = match err.state {
            Some(s) => match self.encode(&s) {
                Ok(mut v) => {
                    shape::unknowns_to_null(&mut v);
                    v
                }
                Err(d) => {
                    diagnostics.extend(d);
                    fallback.clone()
                }
            },
            None => fallback.clone(),
        };
        Applied { state, diagnostics }
    }
}

fn typed_diag(type_name: &str, e: TypedError) -> Diagnostics {
    Diagnostic::error("Invalid value", format!("{type_name}: {}", e.message))
        .at(e.path)
        .into()
}

#[async_trait]
impl<R: Resource> DynResource for Typed<R> {
    fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }

    async fn validate(&self, ctx: &Ctx, config: &Value) -> Diagnostics {
        let mut diags = timeouts::validate(config);
        match self.decode(config) {
            Ok(c) => diags.extend(self.inner.validate(ctx, &c).await),
            // Validation runs with unknowns (e.g. a `dynamic` block over a variable during
            // `terraform validate`); what a typed field cannot hold yet is checked again at
            // plan and apply, when it is known.
            Err(_) if !config.is_wholly_known() => {}
            Err(d) => diags.extend(d),
        }
        diags
    }

    fn upgrade(&self, version: i64, raw_json: &[u8]) -> Result<Value, Diagnostics> {
        let json: serde_json::Value = serde_json::from_slice(raw_json).map_err(|e| {
            Diagnostics::from(Diagnostic::error(
                "Unreadable state",
                format!("The stored state is not JSON: {e}"),
            ))
        })?;
        if version > self.schema.version {
            return Err(Diagnostic::error(
                "State from a newer provider",
                format!(
                    "This state was written by schema version {version} of {}, newer than this provider's {}. Upgrade the provider.",
                    self.type_name(),
                    self.schema.version
                ),
            )
            .into());
        }
        let migrated = if version < self.schema.version {
            self.inner.upgrade_state(version, json)?
        } else {
            json
        };
        let bytes = serde_json::to_vec(&migrated).expect("JSON re-serializes");
        let mut v = super::json::decode(
            &bytes,
            &self.ty,
            super::json::JsonDecodeOptions {
                ignore_unknown_attributes: true,
            },
        )
        .map_err(|e| {
            Diagnostics::from(
                Diagnostic::error(
                    "Unreadable state",
                    format!("Stored state does not fit the schema: {}", e.message),
                )
                .at(e.path.clone()),
            )
        })?;
        shape::normalize_state(&self.schema.block, &mut v);
        Ok(v)
    }

    async fn read(&self, ctx: &Ctx, current: Value) -> Result<Value, Diagnostics> {
        if current.is_null() {
            return Ok(Value::Null);
        }
        let s = self.decode(&current)?;
        let after = self
            .inner
            .default_timeouts()
            .for_operation(&current, "read");
        let ctx = ctx.with_timeout("read", after);
        match self.inner.read(&ctx, s).await? {
            None => Ok(Value::Null),
            Some(s) => self.encode_final(&s, "refreshed"),
        }
    }

    async fn plan(
        &self,
        ctx: &Ctx,
        prior: Value,
        proposed: Value,
        config: Value,
    ) -> Result<Planned, Diagnostics> {
        if proposed.is_null() {
            // Destroy: the plan is null; nothing for the resource to add.
            return Ok(Planned {
                state: Value::Null,
                requires_replace: vec![],
                diagnostics: Diagnostics::new(),
            });
        }
        let mut planned = proposed.clone();
        if prior.is_null() {
            shape::mark_computed_unknown(&self.schema.block, &config, &mut planned);
        }
        if !config.is_wholly_known()
            && (self.decode(&config).is_err() || self.decode(&planned).is_err())
        {
            // Part of the configuration the typed state cannot hold yet is unknown (a whole
            // nested-block list, say). Plan conservatively: every computed value may change.
            // Terraform plans again with everything known before it applies.
            if let Value::Object(m) = &mut planned {
                for a in self
                    .schema
                    .block
                    .attributes
                    .iter()
                    .filter(|a| a.is_computed())
                {
                    if config.get(&a.name).is_none_or(Value::is_null) {
                        m.insert(a.name.clone(), Value::unknown());
                    }
                }
            }
            shape::normalize_state(&self.schema.block, &mut planned);
            return Ok(Planned {
                state: planned,
                requires_replace: vec![],
                diagnostics: Diagnostics::new(),
            });
        }
        let mut plan = Plan {
            prior: if prior.is_null() {
                None
            } else {
                Some(self.decode(&prior)?)
            },
            config: self.decode(&config)?,
            planned: self.decode(&planned)?,
            requires_replace: vec![],
            warnings: Diagnostics::new(),
        };
        self.inner.plan(ctx, &mut plan).await?;
        let state = self.encode(&plan.planned)?;
        Ok(Planned {
            state,
            requires_replace: plan.requires_replace,
            diagnostics: plan.warnings,
        })
    }

    async fn apply(&self, ctx: &Ctx, prior: Value, planned: Value, config: Value) -> Applied {
        let defaults = self.inner.default_timeouts();
        if planned.is_null() {
            let after = defaults.for_operation(&prior, "delete");
            let ctx = ctx.with_timeout("delete", after);
            let result = match self.decode(&prior) {
                Ok(p) => {
                    self.backstop(&ctx, "delete", self.inner.delete(&ctx, p))
                        .await
                }
                Err(d) => Err(ApplyError::clean(d)),
            };
            return match result {
                Ok(()) => Applied {
                    state: Value::Null,
                    diagnostics: Diagnostics::new(),
                },
                Err(e) => self.apply_failure(&prior, e),
            };
        }
        let (op, fallback) = if prior.is_null() {
            ("create", Value::Null)
        } else {
            ("update", prior.clone())
        };
        let after = defaults.for_operation(&planned, op);
        let ctx = ctx.with_timeout(op, after);
        let (planned_s, config_s) = match (self.decode(&planned), self.decode(&config)) {
            (Ok(p), Ok(c)) => (p, c),
            (Err(d), _) | (_, Err(d)) => {
                return Applied {
                    state: fallback,
                    diagnostics: d,
                }
            }
        };
        let result = if prior.is_null() {
            self.backstop(&ctx, op, self.inner.create(&ctx, planned_s, &config_s))
                .await
        } else {
            match self.decode(&prior) {
                Ok(p) => {
                    self.backstop(&ctx, op, self.inner.update(&ctx, p, planned_s, &config_s))
                        .await
                }
                Err(d) => Err(ApplyError::clean(d)),
            }
        };
        match result {
            Ok(s) => match self.encode_final(&s, "new") {
                Ok(state) => Applied {
                    state,
                    diagnostics: Diagnostics::new(),
                },
                Err(d) => {
                    // Still record what we can: the object exists.
                    let mut v = self.encode(&s).unwrap_or(fallback);
                    shape::unknowns_to_null(&mut v);
                    Applied {
                        state: v,
                        diagnostics: d,
                    }
                }
            },
            Err(e) => self.apply_failure(&fallback, e),
        }
    }

    async fn import(&self, ctx: &Ctx, id: &str) -> Result<Value, Diagnostics> {
        let s = self.inner.import(ctx, id).await?;
        let mut v = self.encode(&s)?;
        shape::unknowns_to_null(&mut v);
        Ok(v)
    }
}

/// The typed lifecycle of a data source.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    type State: Serialize + DeserializeOwned + Clone + Debug + Send + Sync;
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn validate(&self, _ctx: &Ctx, _config: &Self::State) -> Diagnostics {
        Diagnostics::new()
    }
    /// Reads the data; the result must be wholly known.
    async fn read(&self, ctx: &Ctx, config: Self::State) -> Result<Self::State, Diagnostics>;
}

#[async_trait]
pub trait DynDataSource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    async fn validate(&self, ctx: &Ctx, config: &Value) -> Diagnostics;
    async fn read(&self, ctx: &Ctx, config: Value) -> Result<Value, Diagnostics>;
}

/// Adapts a typed [`DataSource`] to [`DynDataSource`].
pub struct TypedData<D: DataSource> {
    inner: D,
    schema: Schema,
    ty: Type,
}

impl<D: DataSource> TypedData<D> {
    pub fn new(inner: D) -> Self {
        let schema = inner.schema();
        let ty = schema.implied_type();
        TypedData { inner, schema, ty }
    }
}

#[async_trait]
impl<D: DataSource> DynDataSource for TypedData<D> {
    fn type_name(&self) -> &'static str {
        self.inner.type_name()
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn validate(&self, ctx: &Ctx, config: &Value) -> Diagnostics {
        match from_value(config) {
            Ok(c) => self.inner.validate(ctx, &c).await,
            Err(e) => typed_diag(self.type_name(), e),
        }
    }
    async fn read(&self, ctx: &Ctx, config: Value) -> Result<Value, Diagnostics> {
        let c = from_value(&config).map_err(|e| typed_diag(self.type_name(), e))?;
        let s = self.inner.read(ctx, c).await?;
        let mut v = to_value(&s, &self.ty).map_err(|e| typed_diag(self.type_name(), e))?;
        shape::normalize_state(&self.schema.block, &mut v);
        if !v.is_wholly_known() {
            return Err(Diagnostic::error(
                "Provider bug: data source result not wholly known",
                format!("{} returned unknown values.", self.type_name()),
            )
            .into());
        }
        Ok(v)
    }
}
