//! SSM Parameter Store operations: reading, writing and deleting parameters.

use std::collections::HashMap;

use aws_sdk_ssm::types::{ParameterType, Tag};

use super::{Aws, AwsError, CallClass, Op, empty, op};

const GET_PARAMETERS: Op = op("GetParameters", CallClass::SsmRead);
const GET_PARAMETER: Op = op("GetParameter", CallClass::SsmRead);
const PUT_PARAMETER: Op = op("PutParameter", CallClass::SsmWrite);
const DELETE_PARAMETERS: Op = op("DeleteParameters", CallClass::SsmWrite);

/// One PutParameter call.
pub struct PutParameter<'a> {
    pub name: &'a str,
    pub value: &'a str,
    /// SecureString (encrypted with the account's default SSM key) or plain String.
    pub secure: bool,
    /// Replace an existing parameter (a new version); SSM then refuses tags.
    pub overwrite: bool,
    pub tags: &'a [(String, String)],
    pub description: Option<&'a str>,
}

impl Aws {
    /// The decrypted values of those of `names` that exist (at most 10 names per call).
    pub async fn get_parameters(
        &self,
        names: Vec<String>,
    ) -> Result<HashMap<String, String>, AwsError> {
        let request = self
            .ssm
            .get_parameters()
            .set_names(Some(names))
            .with_decryption(true);
        let out = self.call(GET_PARAMETERS, request.send()).await?;
        Ok(out
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.name?, p.value?)))
            .collect())
    }

    /// One parameter's decrypted value and version; `selector` may name a version (`name:3`).
    pub async fn get_parameter(&self, selector: &str) -> Result<(String, i64), AwsError> {
        let request = self
            .ssm
            .get_parameter()
            .name(selector)
            .with_decryption(true);
        let out = self.call(GET_PARAMETER, request.send()).await?;
        let parameter = out.parameter.ok_or_else(|| empty(GET_PARAMETER))?;
        let version = parameter.version();
        Ok((parameter.value.unwrap_or_default(), version))
    }

    /// Writes a parameter; returns the version written.
    pub async fn put_parameter(&self, p: &PutParameter<'_>) -> Result<i64, AwsError> {
        let tags: Vec<Tag> = p
            .tags
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect();
        let request = self
            .ssm
            .put_parameter()
            .name(p.name)
            .value(p.value)
            .r#type(if p.secure {
                ParameterType::SecureString
            } else {
                ParameterType::String
            })
            .overwrite(p.overwrite)
            .set_description(p.description.map(str::to_owned))
            .set_tags((!tags.is_empty()).then_some(tags));
        let out = self.call(PUT_PARAMETER, request.send()).await?;
        Ok(out.version)
    }

    /// Deletes parameters; ones already gone are fine (SSM lists them as invalid).
    pub async fn delete_parameters(&self, names: Vec<String>) -> Result<(), AwsError> {
        let request = self.ssm.delete_parameters().set_names(Some(names));
        self.call(DELETE_PARAMETERS, request.send()).await.map(drop)
    }
}
