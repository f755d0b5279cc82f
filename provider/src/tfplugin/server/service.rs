//! The `tfplugin5.Provider` gRPC service: decodes requests against the schema, dispatches to
//! the provider's resources, encodes answers, and owns Stop semantics.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::tfplugin::context::Ctx;
use crate::tfplugin::diagnostics::{Diagnostic, Diagnostics};
use crate::tfplugin::path::AttributePath;
use crate::tfplugin::proto::tfplugin5 as pb;
use crate::tfplugin::provider::{Provider, ProviderData};
use crate::tfplugin::resource::{DynDataSource, DynResource};
use crate::tfplugin::schema::{Block, Schema};
use crate::tfplugin::types::Type;
use crate::tfplugin::value::Value;
use crate::tfplugin::{json, msgpack};

pub struct ProviderService {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    provider_type: Type,
    resources: BTreeMap<&'static str, (Box<dyn DynResource>, Type)>,
    data_sources: BTreeMap<&'static str, (Box<dyn DynDataSource>, Type)>,
    schema_response: pb::get_provider_schema::Response,
    /// Set by Configure. In reattach mode one server sees every Configure of every command,
    /// so this is replaced each time rather than set once.
    configured: RwLock<Option<ProviderData>>,
    /// Parent of every in-flight RPC's token. Stop cancels it and installs a fresh one, so the
    /// server keeps serving new calls.
    stop: Mutex<CancellationToken>,
}

impl ProviderService {
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        let provider_schema = provider.schema();
        let provider_type = provider_schema.implied_type();
        let mut resources = BTreeMap::new();
        for r in provider.resources() {
            let ty = r.schema().implied_type();
            resources.insert(r.type_name(), (r, ty));
        }
        let mut data_sources = BTreeMap::new();
        for d in provider.data_sources() {
            let ty = d.schema().implied_type();
            data_sources.insert(d.type_name(), (d, ty));
        }
        let schema_response = pb::get_provider_schema::Response {
            provider: Some(provider_schema.to_proto()),
            resource_schemas: resources
                .iter()
                .map(|(n, (r, _))| (n.to_string(), r.schema().to_proto()))
                .collect(),
            data_source_schemas: data_sources
                .iter()
                .map(|(n, (d, _))| (n.to_string(), d.schema().to_proto()))
                .collect(),
            diagnostics: vec![],
            provider_meta: None,
            server_capabilities: Some(pb::ServerCapabilities {
                plan_destroy: true,
                // Nothing is initialised lazily in GetSchema, so a cached schema is as good.
                get_provider_schema_optional: true,
                move_resource_state: false,
            }),
            functions: Default::default(),
            ephemeral_resource_schemas: Default::default(),
        };
        ProviderService {
            provider,
            provider_schema,
            provider_type,
            resources,
            data_sources,
            schema_response,
            configured: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    /// Cancels every in-flight RPC; new RPCs get a fresh token.
    pub fn stop_all(&self) {
        let mut guard = self.stop.lock().expect("stop lock");
        let old = std::mem::replace(&mut *guard, CancellationToken::new());
        old.cancel();
    }

    fn ctx(&self) -> Ctx {
        let token = self.stop.lock().expect("stop lock").child_token();
        Ctx::new(token, self.configured.read().expect("config lock").clone())
    }

    fn resource(&self, name: &str) -> Result<&(Box<dyn DynResource>, Type), Diagnostics> {
        self.resources
            .get(name)
            .ok_or_else(|| unknown_type("resource", name))
    }

    fn data_source(&self, name: &str) -> Result<&(Box<dyn DynDataSource>, Type), Diagnostics> {
        self.data_sources
            .get(name)
            .ok_or_else(|| unknown_type("data source", name))
    }
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    Diagnostic::error(
        format!("Unknown {kind} type"),
        format!("This provider has no {kind} type {name:?}."),
    )
    .into()
}

/// Decodes a DynamicValue: msgpack as Terraform sends it, JSON as a fallback; empty is null.
fn decode(dv: Option<&pb::DynamicValue>, ty: &Type, what: &str) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let result = if !dv.msgpack.is_empty() {
        msgpack::decode(&dv.msgpack, ty)
    } else if !dv.json.is_empty() {
        json::decode(&dv.json, ty, json::JsonDecodeOptions::default())
    } else {
        return Ok(Value::Null);
    };
    result.map_err(|e| {
        Diagnostic::error(
            format!("Malformed {what}"),
            format!(
                "Terraform sent a {what} that does not fit the schema: {}",
                e.message
            ),
        )
        .at(e.path)
        .into()
    })
}

fn encode(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    msgpack::encode(v, ty)
        .map(|msgpack| pb::DynamicValue {
            msgpack,
            json: vec![],
        })
        .map_err(|e| {
            Diagnostic::error(
                "Provider bug: value does not fit its schema",
                format!(
                    "The provider produced a value it cannot encode: {}",
                    e.message
                ),
            )
            .at(e.path)
            .into()
        })
}

/// Diagnostics for write-only attributes set while the client cannot handle them.
fn check_write_only(block: &Block, config: &Value, path: &AttributePath, diags: &mut Diagnostics) {
    for a in block.attributes.iter().filter(|a| a.write_only) {
        if config.get(&a.name).is_some_and(|v| !v.is_null()) {
            diags.push(
                Diagnostic::error(
                    "Write-only attribute not supported by this Terraform",
                    format!(
                        "{} is write-only: it needs Terraform 1.11 or later (or an OpenTofu version that supports write-only attributes).",
                        a.name
                    ),
                )
                .at(path.join_attr(&a.name)),
            );
        }
    }
    for nb in &block.blocks {
        match config.get(&nb.type_name) {
            Some(v @ Value::Object(_)) => {
                check_write_only(&nb.block, v, &path.join_attr(&nb.type_name), diags)
            }
            Some(Value::List(xs)) => {
                for (i, x) in xs.iter().enumerate() {
                    check_write_only(
                        &nb.block,
                        x,
                        &path.join_attr(&nb.type_name).join_index(i),
                        diags,
                    )
                }
            }
            Some(Value::Map(xs)) => {
                for (k, x) in xs {
                    check_write_only(
                        &nb.block,
                        x,
                        &path.join_attr(&nb.type_name).join_key(k),
                        diags,
                    )
                }
            }
            _ => {}
        }
    }
}

fn diags_of(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.to_proto()
}

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderService {
    async fn get_metadata(
        &self,
        _req: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: self.schema_response.server_capabilities,
            diagnostics: vec![],
            data_sources: self
                .data_sources
                .keys()
                .map(|n| pb::get_metadata::DataSourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            resources: self
                .resources
                .keys()
                .map(|n| pb::get_metadata::ResourceMetadata {
                    type_name: n.to_string(),
                })
                .collect(),
            functions: vec![],
            ephemeral_resources: vec![],
        }))
    }

    async fn get_schema(
        &self,
        _req: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        Ok(Response::new(self.schema_response.clone()))
    }

    async fn prepare_provider_config(
        &self,
        req: Request<pb::prepare_provider_config::Request>,
    ) -> Result<Response<pb::prepare_provider_config::Response>, Status> {
        let req = req.into_inner();
        let diagnostics = match decode(
            req.config.as_ref(),
            &self.provider_type,
            "provider configuration",
        ) {
            Ok(config) => self.provider.validate(&config).await,
            Err(d) => d,
        };
        Ok(Response::new(pb::prepare_provider_config::Response {
            // Terraform ignores the prepared config; returning the input keeps older clients happy.
            prepared_config: req.config,
            diagnostics: diags_of(diagnostics),
        }))
    }

    async fn validate_resource_type_config(
        &self,
        req: Request<pb::validate_resource_type_config::Request>,
    ) -> Result<Response<pb::validate_resource_type_config::Response>, Status> {
        let req = req.into_inner();
        let write_only_ok = req
            .client_capabilities
            .as_ref()
            .is_some_and(|c| c.write_only_attributes_allowed);
        let diagnostics = async {
            let (r, ty) = self.resource(&req.type_name)?;
            let config = decode(req.config.as_ref(), ty, "configuration")?;
            let mut diags = Diagnostics::new();
            if !write_only_ok {
                check_write_only(
                    &r.schema().block,
                    &config,
                    &AttributePath::root(),
                    &mut diags,
                );
            }
            diags.extend(r.validate(&self.ctx(), &config).await);
            Ok::<_, Diagnostics>(diags)
        }
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::validate_resource_type_config::Response {
            diagnostics: diags_of(diagnostics),
        }))
    }

    async fn validate_data_source_config(
        &self,
        req: Request<pb::validate_data_source_config::Request>,
    ) -> Result<Response<pb::validate_data_source_config::Response>, Status> {
        let req = req.into_inner();
        let diagnostics = async {
            let (d, ty) = self.data_source(&req.type_name)?;
            let config = decode(req.config.as_ref(), ty, "configuration")?;
            Ok::<_, Diagnostics>(d.validate(&self.ctx(), &config).await)
        }
        .await
        .unwrap_or_else(|d| d);
        Ok(Response::new(pb::validate_data_source_config::Response {
            diagnostics: diags_of(diagnostics),
        }))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let req = req.into_inner();
        let result = (|| {
            let (r, ty) = self.resource(&req.type_name)?;
            let raw = req.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                if !raw.flatmap.is_empty() {
                    return Err(Diagnostic::error(
                        "Unsupported state format",
                        "This state was written by Terraform 0.11 or older (flatmap); stagecraft cannot read it.",
                    )
                    .into());
                }
                return encode(&Value::Null, ty);
            }
            let v = r.upgrade(req.version, &raw.json)?;
            encode(&v, ty)
        })();
        Ok(Response::new(match result {
            Ok(v) => pb::upgrade_resource_state::Response {
                upgraded_state: Some(v),
                diagnostics: vec![],
            },
            Err(d) => pb::upgrade_resource_state::Response {
                upgraded_state: None,
                diagnostics: diags_of(d),
            },
        }))
    }

    async fn configure(
        &self,
        req: Request<pb::configure::Request>,
    ) -> Result<Response<pb::configure::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let config = decode(
                req.config.as_ref(),
                &self.provider_type,
                "provider configuration",
            )?;
            self.provider
                .configure(&self.ctx(), &req.terraform_version, &config)
                .await
        }
        .await;
        let diagnostics = match result {
            Ok(data) => {
                *self.configured.write().expect("config lock") = Some(data);
                Diagnostics::new()
            }
            Err(d) => d,
        };
        Ok(Response::new(pb::configure::Response {
            diagnostics: diags_of(diagnostics),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let (r, ty) = self.resource(&req.type_name)?;
            let current = decode(req.current_state.as_ref(), ty, "state")?;
            let new_state = r.read(&self.ctx(), current).await?;
            encode(&new_state, ty)
        }
        .await;
        Ok(Response::new(match result {
            Ok(v) => pb::read_resource::Response {
                new_state: Some(v),
                diagnostics: vec![],
                // Echoed: an empty answer would wipe it.
                private: req.private,
                deferred: None,
            },
            // On error Terraform keeps the prior state; echo it so nothing is lost either way.
            Err(d) => pb::read_resource::Response {
                new_state: req.current_state,
                diagnostics: diags_of(d),
                private: req.private,
                deferred: None,
            },
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let (r, ty) = self.resource(&req.type_name)?;
            let prior = decode(req.prior_state.as_ref(), ty, "prior state")?;
            let proposed = decode(req.proposed_new_state.as_ref(), ty, "proposed state")?;
            let config = decode(req.config.as_ref(), ty, "configuration")?;
            let planned = r.plan(&self.ctx(), prior, proposed, config).await?;
            Ok::<_, Diagnostics>((encode(&planned.state, ty)?, planned))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, planned)) => pb::plan_resource_change::Response {
                planned_state: Some(state),
                requires_replace: planned
                    .requires_replace
                    .iter()
                    .map(AttributePath::to_proto)
                    .collect(),
                planned_private: req.prior_private,
                diagnostics: diags_of(planned.diagnostics),
                legacy_type_system: false,
                deferred: None,
            },
            Err(d) => pb::plan_resource_change::Response {
                diagnostics: diags_of(d),
                ..Default::default()
            },
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let (r, ty) = self.resource(&req.type_name)?;
            let prior = decode(req.prior_state.as_ref(), ty, "prior state")?;
            let planned = decode(req.planned_state.as_ref(), ty, "planned state")?;
            let config = decode(req.config.as_ref(), ty, "configuration")?;
            let applied = r.apply(&self.ctx(), prior, planned, config).await;
            let mut diags = applied.diagnostics;
            let state = match encode(&applied.state, ty) {
                Ok(s) => s,
                Err(d) => {
                    diags.extend(d);
                    req.prior_state.clone().unwrap_or_default()
                }
            };
            Ok::<_, Diagnostics>((state, diags))
        }
        .await;
        Ok(Response::new(match result {
            Ok((state, diags)) => pb::apply_resource_change::Response {
                new_state: Some(state),
                private: req.planned_private,
                diagnostics: diags_of(diags),
                legacy_type_system: false,
            },
            Err(d) => pb::apply_resource_change::Response {
                // Nothing was attempted: the prior state stands.
                new_state: req.prior_state,
                private: req.planned_private,
                diagnostics: diags_of(d),
                legacy_type_system: false,
            },
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let (r, ty) = self.resource(&req.type_name)?;
            let state = r.import(&self.ctx(), &req.id).await?;
            encode(&state, ty)
        }
        .await;
        Ok(Response::new(match result {
            Ok(state) => pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: req.type_name,
                    state: Some(state),
                    private: vec![],
                }],
                diagnostics: vec![],
                deferred: None,
            },
            Err(d) => pb::import_resource_state::Response {
                diagnostics: diags_of(d),
                ..Default::default()
            },
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let req = req.into_inner();
        let result = async {
            let (d, ty) = self.data_source(&req.type_name)?;
            let config = decode(req.config.as_ref(), ty, "configuration")?;
            let state = d.read(&self.ctx(), config).await?;
            encode(&state, ty)
        }
        .await;
        Ok(Response::new(match result {
            Ok(state) => pb::read_data_source::Response {
                state: Some(state),
                diagnostics: vec![],
                deferred: None,
            },
            Err(d) => pb::read_data_source::Response {
                diagnostics: diags_of(d),
                ..Default::default()
            },
        }))
    }

    async fn get_functions(
        &self,
        _req: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn stop(
        &self,
        _req: Request<pb::stop::Request>,
    ) -> Result<Response<pb::stop::Response>, Status> {
        tracing::info!("Stop requested: cancelling in-flight operations");
        self.stop_all();
        Ok(Response::new(pb::stop::Response {
            error: String::new(),
        }))
    }
}

impl ProviderService {
    /// The provider's configuration schema (for docs).
    pub fn provider_schema(&self) -> &Schema {
        &self.provider_schema
    }
}
