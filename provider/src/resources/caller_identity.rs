//! `staging_caller_identity`: who the provider acts as. Used by the offline demo to prove the
//! AWS path end to end (credentials, region, endpoint overrides).
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::aws::{errors, Aws};
use crate::tfplugin::{Attribute, Block, Ctx, DataSource, Diagnostics, Schema, Tf, Type};

pub struct CallerIdentity;

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct State {
    pub account_id: Tf<String>,
    pub arn: Tf<String>,
    pub user_id: Tf<String>,
    pub region: Tf<String>,
}

#[async_trait]
impl DataSource for CallerIdentity {
    type State = State;

    fn type_name(&self) -> &'static str {
        "staging_caller_identity"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("The AWS identity and region the provider acts as.")
                .attr(Attribute::computed(
                    "account_id",
                    Type::String,
                    "AWS account ID.",
                ))
                .attr(Attribute::computed(
                    "arn",
                    Type::String,
                    "ARN of the calling identity.",
                ))
                .attr(Attribute::computed(
                    "user_id",
                    Type::String,
                    "Unique ID of the calling identity.",
                ))
                .attr(Attribute::computed(
                    "region",
                    Type::String,
                    "Region the provider works in.",
                )),
        )
    }

    async fn read(&self, ctx: &Ctx, _config: State) -> Result<State, Diagnostics> {
        let aws = ctx.data::<Aws>()?;
        let region = aws.require_region().await?;
        let out = ctx
            .run(aws.sts().await.get_caller_identity().send())
            .await?
            .map_err(|e| {
                Diagnostics::from(errors::diagnostic("reading the caller identity", &e))
            })?;
        Ok(State {
            account_id: out.account.into(),
            arn: out.arn.into(),
            user_id: out.user_id.into(),
            region: Tf::Known(region),
        })
    }
}
