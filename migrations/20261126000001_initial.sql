-- The desired state of every channel, its recorded status, the audit trail and API keys.

create function set_updated_at() returns trigger as $$
begin
    new.updated_at = now();
    return new;
end;
$$ language plpgsql;

create table channels (
    id                  uuid primary key,
    tenant              text not null,
    name                text not null,
    -- The validated, normalized spec (everything but tenant, name and delete_after).
    spec                jsonb not null,
    -- generation is bumped by every accepted spec change; observed_generation is the last
    -- generation the reconciler made true in AWS. A row needs work while they differ.
    generation          bigint not null default 1 check (generation >= 1),
    observed_generation bigint not null default 0 check (observed_generation >= 0),
    phase               text not null default 'pending'
        constraint channels_phase_known check (phase in
            ('pending', 'provisioning', 'ready', 'updating', 'failed', 'deleting', 'deleted')),
    -- The seed module's outputs, each null until known.
    outputs             jsonb not null default '{}'::jsonb,
    last_error          jsonb,
    delete_after        timestamptz,
    created_at          timestamptz not null default now(),
    updated_at          timestamptz not null default now(),
    deleted_at          timestamptz,
    constraint channels_deleted_at_only_when_deleted check ((deleted_at is null) = (phase <> 'deleted'))
);

-- One live channel per (tenant, name): deleted rows stay as history and free the name.
create unique index channels_live_tenant_name on channels (tenant, name) where deleted_at is null;
create index channels_tenant_id on channels (tenant, id);

create trigger channels_set_updated_at before update on channels
    for each row execute function set_updated_at();

create table channel_events (
    id          bigserial primary key,
    channel_id  uuid not null references channels (id) on delete cascade,
    at          timestamptz not null default now(),
    -- The API key name, or the component (e.g. "reconciler") that acted.
    actor       text not null,
    kind        text not null,
    -- What changed, e.g. {"changes": [{"field": "/latency_mode", "from": "LOW", "to": "NORMAL"}]}.
    details     jsonb not null default '{}'::jsonb
);
create index channel_events_channel on channel_events (channel_id, id);

create table api_keys (
    id          uuid primary key,
    name        text not null,
    -- SHA-256 of the whole key: keys carry 256 bits of entropy, so a fast hash is enough and
    -- lets each request find its key with one indexed lookup.
    key_hash    bytea not null unique,
    -- The first characters of the key, to recognise it in listings without storing it.
    key_prefix  text not null,
    scopes      text[] not null check (cardinality(scopes) > 0),
    tenant      text,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
create unique index api_keys_active_name on api_keys (name) where revoked_at is null;
