//! SSM parameter shapes: a parameter with its kept versions (newest last) and its tags.

use serde::Serialize;

use crate::validate::Tags;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterVersion {
    pub version: i64,
    #[serde(rename = "type")]
    pub param_type: String,
    pub value: String,
    pub key_id: Option<String>,
    pub last_modified_date: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Parameter {
    pub name: String,
    pub arn: String,
    pub tier: String,
    pub data_type: String,
    pub tags: Tags,
    /// Oldest first; at most 100 are kept, as in SSM.
    pub versions: Vec<ParameterVersion>,
}

impl Parameter {
    pub const MAX_VERSIONS: usize = 100;

    pub fn current(&self) -> Option<&ParameterVersion> {
        self.versions.last()
    }
}
