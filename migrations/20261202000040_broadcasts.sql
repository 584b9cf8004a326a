-- The broadcast lifecycle as facts: IVS events processed (the dedupe record), stream sessions,
-- recordings, and queue messages set aside. History: no foreign key to channels, so a session
-- or a recording outlives its channel row; each keeps its tenant and channel ARN for filtering.

-- Each EventBridge event once: its `id` is the same on every delivery (SQS is at least once,
-- EventBridge retries). Written in the same transaction as the event's effect.
create table ivs_events (
    id           text primary key,
    detail_type  text not null,
    channel_id   uuid not null,
    event_time   timestamptz not null,
    received_at  timestamptz not null default now()
);
-- Pruning after the retention (oldest first).
create index ivs_events_received on ivs_events (received_at);

create table stream_sessions (
    id            uuid primary key,
    channel_id    uuid not null,
    tenant        text not null,
    channel_arn   text not null,
    -- IVS's id of one live session (`st-…`); one channel has many.
    stream_id     text not null unique,
    started_at    timestamptz,
    ended_at      timestamptz,
    -- [{at, state: starving|healthy}], oldest first, each once.
    health_changes jsonb not null default '[]'::jsonb,
    -- [{at, event, code, message}] as IVS reported them, oldest first, each once.
    error_events  jsonb not null default '[]'::jsonb,
    viewer_peak   bigint,
    first_seen_at timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    -- The list order, newest first: the start when known, else the end, else when first seen.
    listed_at     timestamptz not null generated always as
                      (coalesce(started_at, ended_at, first_seen_at)) stored
);
create index stream_sessions_channel_listed on stream_sessions (channel_id, listed_at desc, id desc);
-- The open session of a channel (the channel's `stream` section).
create index stream_sessions_open on stream_sessions (channel_id, started_at desc)
    where ended_at is null and started_at is not null;

create table recordings (
    id                  uuid primary key,
    channel_id          uuid not null,
    tenant              text not null,
    channel_arn         text not null,
    -- IVS's recording id: the last element of the S3 prefix (for a start failure, which has
    -- no prefix, the recording session id or the stream id).
    recording_id        text not null,
    status              text not null check (status in ('recording', 'ready', 'failed')),
    reason              text,
    started_at          timestamptz,
    ended_at            timestamptz,
    duration_ms         bigint,
    bucket              text,
    prefix              text,
    master_playlist_key text,
    byte_range_playlist_key text,
    renditions          jsonb,
    thumbnails_prefix   text,
    stream_ids          text[] not null default '{}',
    recording_session_id text,
    first_seen_at       timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    listed_at           timestamptz not null generated always as
                            (coalesce(started_at, ended_at, first_seen_at)) stored,
    unique (channel_id, recording_id)
);
-- The lists, newest first: per channel, operator-wide, and by tenant and/or status.
create index recordings_channel_listed on recordings (channel_id, listed_at desc, id desc);
create index recordings_listed on recordings (listed_at desc, id desc);
create index recordings_tenant_listed on recordings (tenant, listed_at desc, id desc);
create index recordings_status_listed on recordings (status, listed_at desc, id desc);
create index recordings_tenant_status_listed on recordings (tenant, status, listed_at desc, id desc);

-- Queue messages that are not IVS events the service can read, kept for people (their bodies
-- with secrets redacted, at most 8 KiB) and never retried.
create table ivs_event_rejects (
    id          bigserial primary key,
    -- SQS's MessageId: a redelivered message is kept once.
    message_id  text not null unique,
    reason      text not null,
    body        text not null,
    received_at timestamptz not null default now()
);
create index ivs_event_rejects_received on ivs_event_rejects (received_at);

-- Events come with the channel's ARN: find its row (live or deleted) by it.
create index channels_arn on channels ((outputs ->> 'channel_arn'))
    where outputs ->> 'channel_arn' is not null;

-- Audit entries that must happen once per stream or recording (stream_started, recording_ready,
-- …) carry a key; a second write of the same key is a no-op, in the fact's transaction.
alter table channel_events add column once_key text;
create unique index channel_events_once on channel_events (channel_id, once_key)
    where once_key is not null;

-- The union of two lists of timed facts ({at, ...} objects), each once, oldest first, at most
-- the 200 latest (a flapping encoder must not grow a row without bound). Stable: it reads
-- timestamps.
create function merge_broadcast_facts(a jsonb, b jsonb) returns jsonb language sql stable as $$
    select coalesce(jsonb_agg(e order by at), '[]'::jsonb)
      from (select e, at
              from (select distinct e, (e ->> 'at')::timestamptz as at
                      from jsonb_array_elements(coalesce(a, '[]'::jsonb) || coalesce(b, '[]'::jsonb)) as t(e)) d
             order by at desc
             limit 200) latest
$$;
