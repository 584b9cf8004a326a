//! IVS Chat rooms and logging configurations: create, read, list, update, delete and tag them
//! (docs/aws-facts.md §12). Chat tokens and moderation live in their own module.

use std::collections::HashMap;

use aws_sdk_ivschat::types::{
    DestinationConfiguration, FallbackResult, LoggingConfigurationState,
    LoggingConfigurationSummary, MessageReviewHandler, RoomSummary, S3DestinationConfiguration,
};

use super::{Aws, AwsError, AwsErrorKind, CallClass, Op, all_pages, empty, ivs_name, op};
use crate::domain::channel::{ChatSpec, MessageReviewHandlerSpec};

const CREATE_ROOM: Op = op("CreateRoom", CallClass::ChatRoom);
const GET_ROOM: Op = op("GetRoom", CallClass::ChatRoom);
const LIST_ROOMS: Op = op("ListRooms", CallClass::ChatRoom);
const UPDATE_ROOM: Op = op("UpdateRoom", CallClass::ChatRoom);
const DELETE_ROOM: Op = op("DeleteRoom", CallClass::ChatRoom);
const CREATE_LOGGING: Op = op("CreateLoggingConfiguration", CallClass::ChatLogging);
const GET_LOGGING: Op = op("GetLoggingConfiguration", CallClass::ChatLogging);
const LIST_LOGGING: Op = op("ListLoggingConfigurations", CallClass::ChatLogging);
const DELETE_LOGGING: Op = op("DeleteLoggingConfiguration", CallClass::ChatLogging);
const CHAT_TAG_RESOURCE: Op = op("TagResource", CallClass::ChatTag);
const CHAT_UNTAG_RESOURCE: Op = op("UntagResource", CallClass::ChatTag);

/// IVS Chat's page limit for ListRooms and ListLoggingConfigurations.
const PAGE: i32 = 50;

/// A room as IVS Chat holds it: what the reconciler compares with the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatRoom {
    pub arn: String,
    pub id: String,
    pub name: Option<String>,
    pub maximum_message_rate_per_second: Option<i32>,
    pub maximum_message_length: Option<i32>,
    /// The handler's Lambda ARN and fallback, as IVS spells it; `None` without a handler.
    pub review_handler: Option<(String, String)>,
    pub logging_configuration_arns: Vec<String>,
    pub tags: HashMap<String, String>,
}

impl ChatRoom {
    /// Whether the room differs from the spec in anything UpdateRoom sets.
    pub fn differs_from(&self, spec: &ChatSpec, logging_arn: Option<&str>) -> bool {
        let want_handler = spec
            .message_review_handler
            .as_ref()
            .map(|h| (h.lambda_arn.clone(), ivs_name(&h.fallback_result)));
        self.maximum_message_rate_per_second != Some(spec.maximum_message_rate_per_second as i32)
            || self.maximum_message_length != Some(spec.maximum_message_length as i32)
            || self.review_handler != want_handler
            || self.logging_configuration_arns.as_slice()
                != logging_arn.map(str::to_owned).as_slice()
    }
}

fn handler(spec: Option<&MessageReviewHandlerSpec>) -> MessageReviewHandler {
    match spec {
        Some(h) => MessageReviewHandler::builder()
            .uri(&h.lambda_arn)
            .fallback_result(FallbackResult::from(ivs_name(&h.fallback_result).as_str()))
            .build(),
        // An empty URI is how UpdateRoom removes a handler.
        None => MessageReviewHandler::builder().uri("").build(),
    }
}

fn handler_of(h: Option<&MessageReviewHandler>) -> Option<(String, String)> {
    let h = h?;
    let uri = h.uri().filter(|u| !u.is_empty())?;
    let fallback = h.fallback_result().map_or("ALLOW", |f| f.as_str());
    Some((uri.to_owned(), fallback.to_owned()))
}

/// The room in a CreateRoom or GetRoom answer (two SDK types with the same fields).
macro_rules! room_of {
    ($out:expr, $op:expr) => {{
        let out = $out;
        ChatRoom {
            arn: out.arn.ok_or_else(|| empty($op))?,
            id: out.id.unwrap_or_default(),
            name: out.name,
            maximum_message_rate_per_second: out.maximum_message_rate_per_second,
            maximum_message_length: out.maximum_message_length,
            review_handler: handler_of(out.message_review_handler.as_ref()),
            logging_configuration_arns: out.logging_configuration_identifiers.unwrap_or_default(),
            tags: out.tags.unwrap_or_default(),
        }
    }};
}

impl Aws {
    /// Creates a room, sent exactly once.
    pub async fn create_room(
        &self,
        name: &str,
        spec: &ChatSpec,
        logging_arn: Option<&str>,
        tags: HashMap<String, String>,
    ) -> Result<ChatRoom, AwsError> {
        let request = self
            .ivschat_once
            .create_room()
            .name(name)
            .maximum_message_rate_per_second(spec.maximum_message_rate_per_second as i32)
            .maximum_message_length(spec.maximum_message_length as i32)
            .set_message_review_handler(
                spec.message_review_handler
                    .as_ref()
                    .map(|h| handler(Some(h))),
            )
            .set_logging_configuration_identifiers(logging_arn.map(|a| vec![a.to_owned()]))
            .set_tags(Some(tags));
        let out = self.call(CREATE_ROOM, request.send()).await?;
        Ok(room_of!(out, CREATE_ROOM))
    }

    pub async fn get_room(&self, arn: &str) -> Result<ChatRoom, AwsError> {
        let request = self.ivschat.get_room().identifier(arn);
        let out = self.call(GET_ROOM, request.send()).await?;
        Ok(room_of!(out, GET_ROOM))
    }

    /// Every room summary IVS Chat lists, all pages, optionally filtered by name.
    pub async fn list_rooms(&self, name: Option<&str>) -> Result<Vec<RoomSummary>, AwsError> {
        all_pages(|next| async move {
            let request = self
                .ivschat
                .list_rooms()
                .set_name(name.map(str::to_owned))
                .max_results(PAGE)
                .set_next_token(next);
            let page = self.call(LIST_ROOMS, request.send()).await?;
            Ok((page.rooms, page.next_token))
        })
        .await
    }

    /// Sets every field UpdateRoom sets to the spec's (a missing handler or logging
    /// configuration is removed).
    pub async fn update_room(
        &self,
        arn: &str,
        spec: &ChatSpec,
        logging_arn: Option<&str>,
    ) -> Result<(), AwsError> {
        let request = self
            .ivschat
            .update_room()
            .identifier(arn)
            .maximum_message_rate_per_second(spec.maximum_message_rate_per_second as i32)
            .maximum_message_length(spec.maximum_message_length as i32)
            .message_review_handler(handler(spec.message_review_handler.as_ref()))
            .set_logging_configuration_identifiers(Some(
                logging_arn.map(str::to_owned).into_iter().collect(),
            ));
        self.call(UPDATE_ROOM, request.send()).await.map(drop)
    }

    pub async fn delete_room(&self, arn: &str) -> Result<(), AwsError> {
        let request = self.ivschat.delete_room().identifier(arn);
        self.call(DELETE_ROOM, request.send()).await.map(drop)
    }

    pub async fn chat_tag_resource(
        &self,
        arn: &str,
        tags: HashMap<String, String>,
    ) -> Result<(), AwsError> {
        let request = self
            .ivschat
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags));
        self.call(CHAT_TAG_RESOURCE, request.send()).await.map(drop)
    }

    pub async fn chat_untag_resource(&self, arn: &str, keys: Vec<String>) -> Result<(), AwsError> {
        let request = self
            .ivschat
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys));
        self.call(CHAT_UNTAG_RESOURCE, request.send())
            .await
            .map(drop)
    }

    /// Creates a logging configuration writing to an S3 bucket, sent exactly once; returns its
    /// ARN.
    pub async fn create_chat_logging_configuration(
        &self,
        name: &str,
        bucket: &str,
        tags: HashMap<String, String>,
    ) -> Result<String, AwsError> {
        let s3 = S3DestinationConfiguration::builder()
            .bucket_name(bucket)
            .build()
            .map_err(|e| {
                AwsError::local(CREATE_LOGGING.name, AwsErrorKind::Other, e.to_string())
            })?;
        let request = self
            .ivschat_once
            .create_logging_configuration()
            .name(name)
            .destination_configuration(DestinationConfiguration::S3(s3))
            .set_tags(Some(tags));
        let out = self.call(CREATE_LOGGING, request.send()).await?;
        out.arn.ok_or_else(|| empty(CREATE_LOGGING))
    }

    /// The state of a logging configuration (`ACTIVE` when it logs).
    pub async fn get_chat_logging_state(
        &self,
        arn: &str,
    ) -> Result<LoggingConfigurationState, AwsError> {
        let request = self.ivschat.get_logging_configuration().identifier(arn);
        let out = self.call(GET_LOGGING, request.send()).await?;
        out.state.ok_or_else(|| empty(GET_LOGGING))
    }

    /// Every logging configuration in the region, all pages.
    pub async fn list_chat_logging_configurations(
        &self,
    ) -> Result<Vec<LoggingConfigurationSummary>, AwsError> {
        all_pages(|next| async move {
            let request = self
                .ivschat
                .list_logging_configurations()
                .max_results(PAGE)
                .set_next_token(next);
            let page = self.call(LIST_LOGGING, request.send()).await?;
            Ok((page.logging_configurations, page.next_token))
        })
        .await
    }

    pub async fn delete_chat_logging_configuration(&self, arn: &str) -> Result<(), AwsError> {
        let request = self.ivschat.delete_logging_configuration().identifier(arn);
        self.call(DELETE_LOGGING, request.send()).await.map(drop)
    }
}
