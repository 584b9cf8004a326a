-- Webhooks to the booking system: endpoints, a transactional outbox of events, one delivery
-- per (event, endpoint) with a lease like the reconciler's claims, and every attempt's outcome.

create table webhook_endpoints (
    id                       uuid primary key,
    -- null: the endpoint hears every tenant's events (admin keys only).
    tenant                   text,
    url                      text not null check (char_length(url) <= 2048),
    description              text not null default '',
    -- Empty: every event type.
    event_types              text[] not null default '{}',
    disabled                 boolean not null default false,
    disabled_reason          text,
    disabled_at              timestamptz,
    -- The service must sign, so the secrets are stored; they never leave the database again
    -- after the response that created or rotated them.
    secret                   text not null,
    previous_secret          text,
    previous_secret_expires_at timestamptz,
    created_by               text not null,
    created_at               timestamptz not null default now(),
    updated_at               timestamptz not null default now(),
    -- The last 2xx answer: an endpoint failing everything since long enough is disabled.
    last_success_at          timestamptz,
    -- The first failure since the last success (null while it succeeds).
    failing_since            timestamptz
);
create index webhook_endpoints_tenant on webhook_endpoints (tenant, id);
create trigger webhook_endpoints_set_updated_at before update on webhook_endpoints
    for each row execute function set_updated_at();

-- The outbox: written in the transaction of the state change that causes it.
create table webhook_events (
    -- The `webhook-id` header: the same on every attempt and every replay.
    id          text primary key,
    type        text not null,
    tenant      text,
    channel_id  uuid,
    payload     jsonb not null,
    created_at  timestamptz not null default now()
);
create index webhook_events_created on webhook_events (created_at);

create table webhook_deliveries (
    id               uuid primary key default gen_random_uuid(),
    -- The delivery log's order (newest first) and its cursor.
    seq              bigint generated always as identity,
    event_id         text not null references webhook_events (id) on delete cascade,
    endpoint_id      uuid not null references webhook_endpoints (id) on delete cascade,
    status           text not null default 'pending'
        check (status in ('pending', 'delivered', 'failed')),
    attempts         integer not null default 0,
    next_attempt_at  timestamptz not null default now(),
    lease_owner      text,
    lease_token      uuid,
    lease_expires_at timestamptz,
    created_at       timestamptz not null default now(),
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    unique (event_id, endpoint_id)
);
-- Shaped like the claim: due pending deliveries of one endpoint, soonest first.
create index webhook_deliveries_due on webhook_deliveries (endpoint_id, next_attempt_at)
    where status = 'pending';
-- When the next retry falls due (the workers sleep until then).
create index webhook_deliveries_next on webhook_deliveries (next_attempt_at)
    where status = 'pending';
-- What an endpoint has in flight (the per-endpoint concurrency bound counts these).
create index webhook_deliveries_leased on webhook_deliveries (endpoint_id)
    where lease_token is not null;
-- The delivery log of an endpoint, newest first, and the retention sweep.
create index webhook_deliveries_log on webhook_deliveries (endpoint_id, seq);
create index webhook_deliveries_created on webhook_deliveries (created_at);

create table webhook_attempts (
    id           bigserial primary key,
    delivery_id  uuid not null references webhook_deliveries (id) on delete cascade,
    at           timestamptz not null default now(),
    http_status  integer,
    duration_ms  integer not null,
    -- The first 1 KB of the answer, for the delivery log.
    response_body text,
    error        text
);
create index webhook_attempts_delivery on webhook_attempts (delivery_id, id);

-- Audit trail of endpoints (created, changed, disabled by the service, secret rotated).
create table webhook_endpoint_events (
    id          bigserial primary key,
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    at          timestamptz not null default now(),
    actor       text not null,
    kind        text not null,
    details     jsonb not null default '{}'
);
create index webhook_endpoint_events_endpoint on webhook_endpoint_events (endpoint_id, id);

-- Wake delivery workers at once when deliveries are written (one notification per statement;
-- NOTIFY is sent at commit, so a rolled-back change wakes nobody).
create function notify_webhook_work() returns trigger as $$
begin
    perform pg_notify('webhook_work', '');
    return null;
end;
$$ language plpgsql;

create trigger webhook_deliveries_notify after insert on webhook_deliveries
    for each statement execute function notify_webhook_work();
