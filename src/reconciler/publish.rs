//! A channel's SSM parameters (the layout is in `domain::resources`): the ingest endpoint and
//! stream key as SecureString, the playback URL as String. Only missing or changed values are
//! written: SSM's write rate (about 3/s, docs/aws-facts.md §2) is the scarcest budget the
//! service has.

use super::Ctx;
use super::step::StepError;
use crate::aws::{AwsErrorKind, PutParameter};
use crate::domain::resources::{Parameter, parameter_names};

/// Writes every parameter whose value in SSM is missing or different; creates carry the tags.
pub async fn publish(
    ctx: &Ctx,
    params: &[Parameter],
    tags: &[(String, String)],
) -> Result<(), StepError> {
    let current = read_current(ctx, params).await?;
    for p in params {
        match current.get(&p.name) {
            Some(value) if *value == p.value => continue,
            Some(_) => put(ctx, p, true, &[]).await?,
            None => match put(ctx, p, false, tags).await {
                // Written by an attempt whose response was lost: overwrite (SSM refuses tags with overwrite).
                Err(StepError::Aws(e)) if e.kind == AwsErrorKind::AlreadyExists => {
                    put(ctx, p, true, &[]).await?
                }
                other => other?,
            },
        }
    }
    Ok(())
}

async fn read_current(
    ctx: &Ctx,
    params: &[Parameter],
) -> Result<std::collections::HashMap<String, String>, StepError> {
    let names = params.iter().map(|p| p.name.clone()).collect();
    Ok(ctx.aws.get_parameters(names).await?)
}

async fn put(
    ctx: &Ctx,
    p: &Parameter,
    overwrite: bool,
    tags: &[(String, String)],
) -> Result<(), StepError> {
    let request = PutParameter {
        name: &p.name,
        value: &p.value,
        secure: p.secure,
        overwrite,
        tags,
        description: None,
    };
    ctx.aws.put_parameter(&request).await?;
    Ok(())
}

/// Deletes the channel's parameters; ones already gone are fine.
pub async fn unpublish(ctx: &Ctx, tenant: &str, name: &str) -> Result<(), StepError> {
    let names = parameter_names(&ctx.settings.ssm_prefix, tenant, name).to_vec();
    Ok(ctx.aws.delete_parameters(names).await?)
}
