//! IVS Chat through the real `aws-sdk-ivschat` over HTTP (rooms, logging configurations, tokens,
//! moderation calls, tags, quotas, rates, faults) and the messaging WebSocket through
//! tokio-tungstenite: a token admits its holder with exactly its capabilities.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ivschat::config::retry::RetryConfig;
use aws_sdk_ivschat::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ivschat::error::ProvideErrorMetadata;
use aws_sdk_ivschat::types::{
    ChatTokenCapability, DestinationConfiguration, FallbackResult, MessageReviewHandler,
    S3DestinationConfiguration,
};
use aws_sim::{FailMode, RateSettings, SimConfig};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const LAMBDA: &str = "arn:aws:lambda:us-east-1:123456789012:function:review";

struct Chat {
    running: aws_sim::RunningSim,
    client: aws_sdk_ivschat::Client,
}

fn client(endpoint: &str, retry: RetryConfig) -> aws_sdk_ivschat::Client {
    let config = aws_sdk_ivschat::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(common::REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(retry)
        .build();
    aws_sdk_ivschat::Client::from_conf(config)
}

impl Chat {
    async fn start(config: SimConfig) -> Self {
        let running = aws_sim::spawn(config).await.expect("simulator starts");
        let client = client(&running.endpoint(), common::fast_retries());
        Self { running, client }
    }

    async fn for_tests() -> Self {
        Self::start(SimConfig::for_tests()).await
    }

    /// A client that never retries, to see each answer the simulator gives.
    fn single_shot(&self) -> aws_sdk_ivschat::Client {
        client(&self.running.endpoint(), RetryConfig::disabled())
    }

    async fn room(&self, max_rate: i32) -> String {
        let room = self
            .client
            .create_room()
            .name("class")
            .maximum_message_rate_per_second(max_rate)
            .send()
            .await
            .expect("create room");
        room.arn().expect("arn").to_owned()
    }

    async fn token(&self, room: &str, user: &str, capabilities: &[ChatTokenCapability]) -> String {
        self.client
            .create_chat_token()
            .room_identifier(room)
            .user_id(user)
            .set_capabilities(Some(capabilities.to_vec()))
            .attributes("displayName", user.to_uppercase())
            .send()
            .await
            .expect("chat token")
            .token()
            .expect("token")
            .to_owned()
    }

    /// Opens the messaging WebSocket with `token` as the sub-protocol, as AWS's clients do.
    async fn connect(&self, token: &str) -> Result<Socket, WsError> {
        let mut request = format!("ws://{}/", self.running.addr).into_client_request()?;
        let protocol = HeaderValue::from_str(token).expect("token is a header value");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol);
        let (socket, response) = tokio_tungstenite::connect_async(request).await?;
        assert_eq!(
            response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some(token),
            "the token is echoed as the selected sub-protocol"
        );
        Ok(socket)
    }

    async fn member(&self, room: &str, user: &str, caps: &[ChatTokenCapability]) -> Socket {
        let token = self.token(room, user, caps).await;
        self.connect(&token).await.expect("connects")
    }

    async fn admin(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.running.endpoint());
        reqwest::get(url)
            .await
            .expect("admin hook")
            .json()
            .await
            .expect("json")
    }

    async fn connected_users(&self, room: &str) -> Vec<String> {
        let id = room.rsplit('/').next().unwrap_or_default();
        let body = self
            .admin(&format!("/_sim/chat/rooms/{id}/connections"))
            .await;
        let mut users: Vec<String> = body["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .filter_map(|c| c["userId"].as_str().map(str::to_owned))
            .collect();
        users.sort();
        users
    }
}

/// The next frame the server pushes, as JSON; None when the server closed the connection.
/// (The timeout only keeps a broken simulator from hanging the test.)
async fn next_frame(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("the server answers within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Some(serde_json::from_str(text.as_str()).expect("frames are JSON"));
            }
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn publish(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .expect("send");
}

fn s3(bucket: &str) -> DestinationConfiguration {
    DestinationConfiguration::S3(
        S3DestinationConfiguration::builder()
            .bucket_name(bucket)
            .build()
            .expect("s3"),
    )
}

fn code<E, R>(err: &aws_sdk_ivschat::error::SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err {
        aws_sdk_ivschat::error::SdkError::ServiceError(service) => {
            service.err().code().unwrap_or_default().to_owned()
        }
        other => panic!("not a service error: {other:?}"),
    }
}

#[tokio::test]
async fn rooms_crud_with_the_model_defaults() {
    let chat = Chat::for_tests().await;
    let created = chat
        .client
        .create_room()
        .name("yoga-101")
        .tags("ivs-provisioner:channel", "ch_1")
        .send()
        .await
        .unwrap();
    let arn = created.arn().unwrap();
    let id = created.id().unwrap();
    assert!(
        arn.starts_with("arn:aws:ivschat:us-east-1:123456789012:room/") && arn.ends_with(id),
        "{arn}"
    );
    assert!(id.len() == 12 && id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(created.maximum_message_rate_per_second(), Some(10));
    assert_eq!(created.maximum_message_length(), Some(500));
    assert!(created.message_review_handler().is_none());
    assert!(created.create_time().is_some());

    let handler = MessageReviewHandler::builder()
        .uri(LAMBDA)
        .fallback_result(FallbackResult::Deny)
        .build();
    let updated = chat
        .client
        .update_room()
        .identifier(arn)
        .maximum_message_length(140)
        .message_review_handler(handler)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.maximum_message_length(), Some(140));
    assert_eq!(
        updated.name(),
        Some("yoga-101"),
        "fields not given are kept"
    );
    let got = chat.client.get_room().identifier(arn).send().await.unwrap();
    let handler = got.message_review_handler().unwrap();
    assert_eq!(handler.uri(), Some(LAMBDA));
    assert_eq!(handler.fallback_result(), Some(&FallbackResult::Deny));
    assert_eq!(
        got.tags()
            .unwrap()
            .get("ivs-provisioner:channel")
            .map(String::as_str),
        Some("ch_1")
    );

    let cleared = MessageReviewHandler::builder().uri("").build();
    let updated = chat
        .client
        .update_room()
        .identifier(arn)
        .message_review_handler(cleared)
        .send()
        .await
        .unwrap();
    assert!(
        updated.message_review_handler().is_none(),
        "an empty uri removes the handler"
    );

    chat.client
        .delete_room()
        .identifier(arn)
        .send()
        .await
        .unwrap();
    let err = chat
        .client
        .get_room()
        .identifier(arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let typed = err.into_service_error();
    assert!(typed.is_resource_not_found_exception());
}

#[tokio::test]
async fn list_rooms_pages_and_filters() {
    let chat = Chat::for_tests().await;
    let config = chat
        .client
        .create_logging_configuration()
        .destination_configuration(s3("chat-logs"))
        .send()
        .await
        .unwrap();
    let config_arn = config.arn().unwrap();
    let mut arns = Vec::new();
    for i in 0..5 {
        let mut create = chat.client.create_room().name(format!("room-{i}"));
        if i % 2 == 0 {
            create = create.logging_configuration_identifiers(config_arn);
        }
        arns.push(create.send().await.unwrap().arn().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = chat
            .client
            .list_rooms()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.rooms().len() <= 2);
        seen.extend(page.rooms().iter().map(|r| r.arn().unwrap().to_owned()));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let newest_first: Vec<String> = arns.iter().rev().cloned().collect();
    assert_eq!(
        seen, newest_first,
        "ListRooms sorts by updateTime, newest first"
    );

    let logged = chat
        .client
        .list_rooms()
        .logging_configuration_identifier(config_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(logged.rooms().len(), 3);
    let named = chat
        .client
        .list_rooms()
        .name("room-3")
        .send()
        .await
        .unwrap();
    assert_eq!(named.rooms().len(), 1);
    assert_eq!(named.rooms()[0].name(), Some("room-3"));

    let err = chat
        .client
        .list_rooms()
        .max_results(51)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn validation_lists_every_bad_field() {
    let chat = Chat::for_tests().await;
    let bad_handler = MessageReviewHandler::builder()
        .uri("arn:aws:lambda:us-east-1:123:layer:nope")
        .build();
    let err = chat
        .client
        .create_room()
        .name("has space")
        .maximum_message_rate_per_second(0)
        .maximum_message_length(501)
        .message_review_handler(bad_handler)
        .set_logging_configuration_identifiers(Some(vec!["not-an-arn".into(); 4]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let service = err.into_service_error();
    let validation = match &service {
        aws_sdk_ivschat::operation::create_room::CreateRoomError::ValidationException(v) => v,
        other => panic!("expected ValidationException, got {other:?}"),
    };
    assert_eq!(validation.reason().as_str(), "FIELD_VALIDATION_FAILED");
    let mut names: Vec<&str> = validation.field_list().iter().map(|f| f.name()).collect();
    names.dedup();
    assert_eq!(
        names,
        [
            "name",
            "maximumMessageRatePerSecond",
            "maximumMessageLength",
            "messageReviewHandler.uri",
            "loggingConfigurationIdentifiers"
        ]
    );

    let room = chat.room(10).await;
    let token = || chat.client.create_chat_token().room_identifier(&room);
    let token_errors = [
        token().user_id("").send().await,
        token()
            .user_id("u")
            .session_duration_in_minutes(181)
            .send()
            .await,
        token()
            .user_id("u")
            .attributes("k", "v".repeat(1024))
            .send()
            .await,
        token()
            .user_id("u")
            .capabilities(ChatTokenCapability::from("BAN_EVERYONE"))
            .send()
            .await,
    ];
    for result in token_errors {
        assert_eq!(code(&result.unwrap_err()), "ValidationException");
    }
    let missing = room.replace(room.rsplit('/').next().unwrap(), "AbCdEfGhIjKl");
    let err = chat
        .client
        .create_chat_token()
        .room_identifier(missing)
        .user_id("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn tags_on_rooms_and_logging_configurations() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let config = chat
        .client
        .create_logging_configuration()
        .destination_configuration(s3("chat-logs"))
        .tags("owner", "svc")
        .send()
        .await
        .unwrap();
    for arn in [room.as_str(), config.arn().unwrap()] {
        chat.client
            .tag_resource()
            .resource_arn(arn)
            .tags("a", "1")
            .tags("b", "2")
            .send()
            .await
            .unwrap();
        chat.client
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("a")
            .send()
            .await
            .unwrap();
        let tags = chat
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        assert_eq!(tags.tags().get("b").map(String::as_str), Some("2"));
        assert!(!tags.tags().contains_key("a"));
    }
    let err = chat
        .client
        .tag_resource()
        .resource_arn(&room)
        .tags("aws:reserved", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
}

#[tokio::test]
async fn chat_and_ivs_share_paths_but_not_resources() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let endpoint = chat.running.endpoint();
    let ivs = common::ivs_client(&endpoint, RetryConfig::disabled());
    let err = ivs
        .list_tags_for_resource()
        .resource_arn(&room)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        common::code(&err).as_deref(),
        Some("ValidationException"),
        "IVS does not know chat ARNs"
    );
    let channel = ivs.create_channel().send().await.unwrap();
    let channel_arn = channel.channel().unwrap().arn().unwrap();
    let err = chat
        .client
        .list_tags_for_resource()
        .resource_arn(channel_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let counts = chat.running.simulator.call_counts();
    assert_eq!(counts.get("ivschat:CreateRoom"), Some(&1));
    assert_eq!(counts.get("ivs:CreateChannel"), Some(&1));
}

#[tokio::test]
async fn logging_configuration_in_use_cannot_be_deleted() {
    let mut config = SimConfig::for_tests();
    config.quotas.chat_logging_configurations = 2;
    let chat = Chat::start(config).await;
    let created = chat
        .client
        .create_logging_configuration()
        .name("class-logs")
        .destination_configuration(s3("class-recordings"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.state().map(|s| s.as_str()), Some("ACTIVE"));
    let config_arn = created.arn().unwrap();
    assert!(
        config_arn.starts_with("arn:aws:ivschat:us-east-1:123456789012:logging-configuration/")
    );
    let room = chat
        .client
        .create_room()
        .logging_configuration_identifiers(config_arn)
        .send()
        .await
        .unwrap();
    let err = chat
        .client
        .delete_logging_configuration()
        .identifier(config_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ConflictException");

    chat.client
        .update_room()
        .identifier(room.arn().unwrap())
        .set_logging_configuration_identifiers(Some(Vec::new()))
        .send()
        .await
        .unwrap();
    let updated = chat
        .client
        .update_logging_configuration()
        .identifier(config_arn)
        .destination_configuration(s3("other-bucket"))
        .send()
        .await
        .unwrap();
    match updated.destination_configuration() {
        Some(DestinationConfiguration::S3(s3)) => assert_eq!(s3.bucket_name(), "other-bucket"),
        other => panic!("expected an S3 destination, got {other:?}"),
    }
    chat.client
        .delete_logging_configuration()
        .identifier(config_arn)
        .send()
        .await
        .unwrap();
    let listed = chat
        .client
        .list_logging_configurations()
        .send()
        .await
        .unwrap();
    assert!(listed.logging_configurations().is_empty());

    for _ in 0..2 {
        chat.client
            .create_logging_configuration()
            .destination_configuration(s3("chat-logs"))
            .send()
            .await
            .unwrap();
    }
    let err = chat
        .client
        .create_logging_configuration()
        .destination_configuration(s3("chat-logs"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ServiceQuotaExceededException");
    let missing = "arn:aws:ivschat:us-east-1:123456789012:logging-configuration/AbCdEfGhIjKl";
    let err = chat
        .client
        .create_room()
        .logging_configuration_identifiers(missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn room_quota_and_api_rates_are_enforced() {
    let mut config = SimConfig::for_tests();
    config.quotas.chat_rooms = 1;
    let chat = Chat::start(config).await;
    chat.room(10).await;
    let err = chat.client.create_room().send().await.unwrap_err();
    assert_eq!(code(&err), "ServiceQuotaExceededException");
    let service = err.into_service_error();
    assert!(service.is_service_quota_exceeded_exception());

    chat.running.simulator.set_rates(RateSettings {
        enabled: true,
        scale: 1.0,
    });
    let single = chat.single_shot();
    let mut throttled = 0;
    for _ in 0..12 {
        if let Err(err) = single.list_rooms().send().await {
            assert_eq!(code(&err), "ThrottlingException");
            throttled += 1;
        }
    }
    assert!(
        throttled >= 1,
        "ListRooms allows 5 TPS, a burst of 12 cannot all pass"
    );
}

#[tokio::test]
async fn faults_apply_to_chat_operations() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let sim = &chat.running.simulator;
    sim.fail_next(
        "CreateChatToken",
        1,
        "ThrottlingException",
        FailMode::Before,
    );
    let err = chat
        .single_shot()
        .create_chat_token()
        .room_identifier(&room)
        .user_id("u")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ThrottlingException");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    sim.set_faults(aws_sim::FaultSettings {
        error_rate: 1.0,
        ..Default::default()
    });
    let err = chat
        .single_shot()
        .get_room()
        .identifier(&room)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InternalServerException");
    sim.clear_faults();
    chat.client
        .get_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();
    assert_eq!(sim.calls_of("ivschat:CreateChatToken"), 1);
}

#[tokio::test]
async fn a_lost_create_room_response_still_creates_the_room() {
    let chat = Chat::for_tests().await;
    chat.running.simulator.fail_next(
        "CreateRoom",
        1,
        "InternalServerException",
        FailMode::ApplyThenFail,
    );
    let err = chat
        .single_shot()
        .create_room()
        .tags("ivs-provisioner:channel", "ch_lost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InternalServerException");
    let rooms = chat.client.list_rooms().send().await.unwrap();
    assert_eq!(
        rooms.rooms().len(),
        1,
        "the effect happened; only the answer was lost"
    );
    let tags = rooms.rooms()[0].tags().unwrap();
    assert_eq!(
        tags.get("ivs-provisioner:channel").map(String::as_str),
        Some("ch_lost")
    );
}

#[tokio::test]
async fn a_token_connects_sends_and_receives() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let token = chat
        .client
        .create_chat_token()
        .room_identifier(&room)
        .user_id("alice")
        .capabilities(ChatTokenCapability::SendMessage)
        .attributes("displayName", "Alice")
        .send()
        .await
        .unwrap();
    assert!(token.token_expiration_time().is_some());
    assert!(token.session_expiration_time() > token.token_expiration_time());
    let mut alice = chat.connect(token.token().unwrap()).await.unwrap();
    let mut bob = chat.member(&room, "bob", &[]).await;
    assert_eq!(chat.connected_users(&room).await, ["alice", "bob"]);

    publish(
        &mut alice,
        json!({ "Action": "SEND_MESSAGE", "RequestId": "r-1", "Content": "hello class", "Attributes": { "mood": "happy" } }),
    )
    .await;
    for socket in [&mut bob, &mut alice] {
        let frame = next_frame(socket).await.expect("a message");
        assert_eq!(frame["Type"], "MESSAGE");
        assert_eq!(frame["Content"], "hello class");
        assert_eq!(frame["RequestId"], "r-1");
        assert_eq!(frame["Attributes"]["mood"], "happy");
        assert_eq!(frame["Sender"]["UserId"], "alice");
        assert_eq!(frame["Sender"]["Attributes"]["displayName"], "Alice");
        assert_eq!(frame["Id"].as_str().map(str::len), Some(12));
        assert!(frame["SendTime"].is_string());
    }
    let id = room.rsplit('/').next().unwrap();
    let said = chat.admin(&format!("/_sim/chat/rooms/{id}/messages")).await;
    assert_eq!(said["messages"][0]["frame"]["Content"], "hello class");
}

#[tokio::test]
async fn capabilities_are_exactly_what_the_token_grants() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let mut viewer = chat.member(&room, "viewer", &[]).await;
    let mut writer = chat
        .member(&room, "writer", &[ChatTokenCapability::SendMessage])
        .await;
    for action in [
        json!({ "Action": "SEND_MESSAGE", "RequestId": "r-send", "Content": "hi" }),
        json!({ "Action": "DELETE_MESSAGE", "RequestId": "r-del", "Id": "AbCdEfGhIjKl" }),
        json!({ "Action": "DISCONNECT_USER", "RequestId": "r-kick", "UserId": "writer" }),
    ] {
        publish(&mut viewer, action.clone()).await;
        let frame = next_frame(&mut viewer).await.expect("an error");
        assert_eq!(frame["Type"], "ERROR");
        assert_eq!(frame["ErrorCode"], 403);
        assert_eq!(frame["RequestId"], action["RequestId"]);
    }
    publish(
        &mut writer,
        json!({ "Action": "SEND_MESSAGE", "RequestId": "r-long", "Content": "x".repeat(501) }),
    )
    .await;
    let frame = next_frame(&mut writer).await.expect("an error");
    assert_eq!(
        (frame["Type"].as_str(), frame["ErrorCode"].as_i64()),
        (Some("ERROR"), Some(413))
    );
    publish(&mut writer, json!({ "Action": "JUMP" })).await;
    let frame = next_frame(&mut writer).await.expect("an error");
    assert_eq!(frame["ErrorCode"], 400);
    let id = room.rsplit('/').next().unwrap();
    let said = chat.admin(&format!("/_sim/chat/rooms/{id}/messages")).await;
    assert_eq!(
        said["messages"],
        json!([]),
        "nothing refused reached the room"
    );
}

#[tokio::test]
async fn disconnect_user_drops_every_connection_of_that_user() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let mut kicked = [
        chat.member(&room, "troll", &[]).await,
        chat.member(&room, "troll", &[]).await,
    ];
    let mut stays = chat.member(&room, "fan", &[]).await;
    chat.client
        .disconnect_user()
        .room_identifier(&room)
        .user_id("troll")
        .reason("spam")
        .send()
        .await
        .unwrap();
    for socket in &mut kicked {
        let event = next_frame(socket).await.expect("the disconnect event");
        assert_eq!(event["EventName"], "aws:DISCONNECT_USER");
        assert_eq!(event["Attributes"]["UserId"], "troll");
        assert_eq!(event["Attributes"]["Reason"], "spam");
        assert!(next_frame(socket).await.is_none(), "then the server closes");
    }
    let event = next_frame(&mut stays).await.expect("the room hears it");
    assert_eq!(event["EventName"], "aws:DISCONNECT_USER");
    assert_eq!(chat.connected_users(&room).await, ["fan"]);

    // A moderator's token can do the same over the WebSocket.
    let mut moderator = chat
        .member(&room, "mod", &[ChatTokenCapability::DisconnectUser])
        .await;
    publish(
        &mut moderator,
        json!({ "Action": "DISCONNECT_USER", "RequestId": "k", "UserId": "fan", "Reason": "bye" }),
    )
    .await;
    let event = next_frame(&mut stays).await.expect("the disconnect event");
    assert_eq!(event["Attributes"]["Reason"], "bye");
    assert!(next_frame(&mut stays).await.is_none());
    assert_eq!(chat.connected_users(&room).await, ["mod"]);
}

#[tokio::test]
async fn send_event_and_delete_message_reach_every_member() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let mut members = [
        chat.member(&room, "a", &[ChatTokenCapability::SendMessage])
            .await,
        chat.member(&room, "b", &[ChatTokenCapability::DeleteMessage])
            .await,
    ];
    let sent = chat
        .client
        .send_event()
        .room_identifier(&room)
        .event_name("class-starts")
        .attributes("inMinutes", "5")
        .send()
        .await
        .unwrap();
    for socket in &mut members {
        let event = next_frame(socket).await.expect("the event");
        assert_eq!(event["Type"], "EVENT");
        assert_eq!(event["EventName"], "class-starts");
        assert_eq!(event["Attributes"]["inMinutes"], "5");
        assert_eq!(event["Id"].as_str(), sent.id());
    }
    publish(
        &mut members[0],
        json!({ "Action": "SEND_MESSAGE", "Content": "oops" }),
    )
    .await;
    let mut message_id = String::new();
    for socket in &mut members {
        message_id = next_frame(socket).await.expect("message")["Id"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    chat.client
        .delete_message()
        .room_identifier(&room)
        .id(&message_id)
        .reason("off topic")
        .send()
        .await
        .unwrap();
    publish(
        &mut members[1],
        json!({ "Action": "DELETE_MESSAGE", "RequestId": "d", "Id": message_id, "Reason": "again" }),
    )
    .await;
    for socket in &mut members {
        for reason in ["off topic", "again"] {
            let event = next_frame(socket).await.expect("the delete event");
            assert_eq!(event["EventName"], "aws:DELETE_MESSAGE");
            assert_eq!(event["Attributes"]["MessageId"], message_id.as_str());
            assert_eq!(event["Attributes"]["Reason"], reason);
        }
    }
    let id = room.rsplit('/').next().unwrap();
    let said = chat.admin(&format!("/_sim/chat/rooms/{id}/messages")).await;
    let deleted: Vec<&Value> = said["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["deleted"] == true)
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["frame"]["Content"], "oops");
}

fn http_status(err: WsError) -> u16 {
    match err {
        WsError::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_used_and_expired_tokens_are_refused() {
    let chat = Chat::for_tests().await;
    let room = chat.room(10).await;
    let unknown = chat.connect("AQICAHnotatoken").await.unwrap_err();
    assert_eq!(http_status(unknown), 401);

    let token = chat.token(&room, "once", &[]).await;
    let _first = chat.connect(&token).await.expect("first use connects");
    let again = chat.connect(&token).await.unwrap_err();
    assert_eq!(http_status(again), 401, "a token admits one connection");

    let token = chat.token(&room, "gone", &[]).await;
    chat.client
        .delete_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();
    let gone = chat.connect(&token).await.unwrap_err();
    assert_eq!(http_status(gone), 401, "deleting a room voids its tokens");

    let mut config = SimConfig::for_tests();
    config.chat.token_ttl_ms = 0;
    let expiring = Chat::start(config).await;
    let room = expiring.room(10).await;
    let token = expiring.token(&room, "late", &[]).await;
    let late = expiring.connect(&token).await.unwrap_err();
    assert_eq!(http_status(late), 401);
}

#[tokio::test]
async fn sessions_end_and_deleted_rooms_close_their_connections() {
    let mut config = SimConfig::for_tests();
    config.chat.minute_ms = 50;
    let chat = Chat::start(config).await;
    let room = chat.room(10).await;
    let mut short = chat.member(&room, "short", &[]).await;
    assert!(
        next_frame(&mut short).await.is_none(),
        "a 1-minute session ends"
    );

    let plain = Chat::for_tests().await;
    let room = plain.room(10).await;
    let mut member = plain.member(&room, "m", &[]).await;
    plain
        .client
        .delete_room()
        .identifier(&room)
        .send()
        .await
        .unwrap();
    assert!(next_frame(&mut member).await.is_none());
}

#[tokio::test]
async fn the_room_message_rate_is_enforced() {
    let chat = Chat::for_tests().await;
    let room = chat.room(1).await;
    let mut sender = chat
        .member(&room, "fast", &[ChatTokenCapability::SendMessage])
        .await;
    for i in 0..3 {
        publish(
            &mut sender,
            json!({ "Action": "SEND_MESSAGE", "RequestId": format!("m{i}"), "Content": "spam" }),
        )
        .await;
    }
    let mut kinds: HashMap<String, usize> = HashMap::new();
    for _ in 0..3 {
        let frame = next_frame(&mut sender).await.expect("a frame per message");
        let kind = match frame["Type"].as_str() {
            Some("ERROR") => format!("ERROR {}", frame["ErrorCode"]),
            other => other.unwrap_or_default().to_owned(),
        };
        *kinds.entry(kind).or_default() += 1;
    }
    assert_eq!(
        kinds.get("MESSAGE"),
        Some(&1),
        "1 message per second: {kinds:?}"
    );
    assert_eq!(kinds.get("ERROR 429"), Some(&2), "{kinds:?}");
}

#[tokio::test]
async fn a_denying_review_handler_rejects_messages() {
    let chat = Chat::for_tests().await;
    let handler = MessageReviewHandler::builder()
        .uri(LAMBDA)
        .fallback_result(FallbackResult::Deny)
        .build();
    let room = chat
        .client
        .create_room()
        .message_review_handler(handler)
        .send()
        .await
        .unwrap();
    let mut sender = chat
        .member(
            room.arn().unwrap(),
            "s",
            &[ChatTokenCapability::SendMessage],
        )
        .await;
    publish(
        &mut sender,
        json!({ "Action": "SEND_MESSAGE", "Content": "hi" }),
    )
    .await;
    let frame = next_frame(&mut sender).await.expect("an error");
    assert_eq!(frame["ErrorCode"], 406);
}
