-- The operator console: server-side sessions (an API key exchanged for a session cookie), the
-- notification that moves channel phases on open pages, and the index behind a channel's
-- webhook deliveries.

-- Only the SHA-256 of the session token is stored (the token has 256 bits of entropy, as API
-- keys do). A session acts with its API key, read on every request: a revoked key ends it.
create table console_sessions (
    token_hash  bytea primary key,
    api_key_id  uuid not null references api_keys (id) on delete cascade,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);
create index console_sessions_api_key on console_sessions (api_key_id);
-- The sweep of expired sessions at each sign-in.
create index console_sessions_expires on console_sessions (expires_at);

-- Every open console hears phase changes through one LISTEN per process; the payload carries
-- what a page shows, so no process reads the row back.
create function notify_console_channel() returns trigger as $$
begin
    perform pg_notify('console_channels', json_build_object(
        'id', new.id, 'tenant', new.tenant, 'name', new.name, 'phase', new.phase)::text);
    return null;
end;
$$ language plpgsql;

create trigger channels_notify_console_insert after insert on channels
    for each row execute function notify_console_channel();
create trigger channels_notify_console_update after update on channels
    for each row when (old.phase is distinct from new.phase)
    execute function notify_console_channel();

-- The webhook deliveries about one channel, newest first (the channel page).
create index webhook_events_channel on webhook_events (channel_id, created_at)
    where channel_id is not null;
