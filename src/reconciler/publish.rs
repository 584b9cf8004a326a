//! The SSM parameters of a channel (DESIGN.md §3): `<prefix>/<tenant>/<name>/ingest-endpoint`
//! and `/stream-key` as SecureString, `/playback-url` as String. Only missing or changed values
//! are written: SSM's write rate (about 3/s) is the scarcest budget the service has.

use std::collections::HashMap;

use aws_sdk_ssm::types::{ParameterType, Tag};

use super::Ctx;
use super::step::StepError;
use crate::aws::errors::from_sdk;
use crate::aws::limits::CallClass;

pub struct Parameter {
    pub name: String,
    pub value: String,
    pub secure: bool,
}

pub fn parameter_names(prefix: &str, tenant: &str, name: &str) -> [String; 3] {
    let base = format!("{}/{tenant}/{name}", prefix.trim_end_matches('/'));
    [
        format!("{base}/ingest-endpoint"),
        format!("{base}/stream-key"),
        format!("{base}/playback-url"),
    ]
}

pub fn parameters(
    prefix: &str,
    tenant: &str,
    name: &str,
    ingest: &str,
    stream_key: &str,
    playback: &str,
) -> Vec<Parameter> {
    let [ingest_name, key_name, playback_name] = parameter_names(prefix, tenant, name);
    vec![
        Parameter {
            name: ingest_name,
            value: ingest.to_owned(),
            secure: true,
        },
        Parameter {
            name: key_name,
            value: stream_key.to_owned(),
            secure: true,
        },
        Parameter {
            name: playback_name,
            value: playback.to_owned(),
            secure: false,
        },
    ]
}

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
                Err(StepError::Aws(e)) if e.is_code("ParameterAlreadyExists") => {
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
) -> Result<HashMap<String, String>, StepError> {
    ctx.aws
        .limits
        .wait("GetParameters", CallClass::SsmRead)
        .await;
    let out = ctx
        .aws
        .ssm
        .get_parameters()
        .set_names(Some(params.iter().map(|p| p.name.clone()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| from_sdk("GetParameters", e))?;
    Ok(out
        .parameters()
        .iter()
        .filter_map(|p| Some((p.name()?.to_owned(), p.value()?.to_owned())))
        .collect())
}

async fn put(
    ctx: &Ctx,
    p: &Parameter,
    overwrite: bool,
    tags: &[(String, String)],
) -> Result<(), StepError> {
    ctx.aws
        .limits
        .wait("PutParameter", CallClass::SsmWrite)
        .await;
    let tags: Vec<Tag> = tags
        .iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect();
    ctx.aws
        .ssm
        .put_parameter()
        .name(&p.name)
        .value(&p.value)
        .r#type(if p.secure {
            ParameterType::SecureString
        } else {
            ParameterType::String
        })
        .overwrite(overwrite)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .map_err(|e| from_sdk("PutParameter", e))?;
    Ok(())
}

/// Deletes the channel's parameters; ones already gone are fine.
pub async fn unpublish(ctx: &Ctx, tenant: &str, name: &str) -> Result<(), StepError> {
    ctx.aws
        .limits
        .wait("DeleteParameters", CallClass::SsmWrite)
        .await;
    ctx.aws
        .ssm
        .delete_parameters()
        .set_names(Some(
            parameter_names(&ctx.settings.ssm_prefix, tenant, name).to_vec(),
        ))
        .send()
        .await
        .map_err(|e| from_sdk("DeleteParameters", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_the_design_layout() {
        let ps = parameters("/live/", "acme", "yoga", "i.example", "sk_x", "https://p");
        let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "/live/acme/yoga/ingest-endpoint",
                "/live/acme/yoga/stream-key",
                "/live/acme/yoga/playback-url"
            ]
        );
        assert_eq!(
            ps.iter().map(|p| p.secure).collect::<Vec<_>>(),
            [true, true, false]
        );
    }
}
