-- Fair share between tenants: per-tenant limits with their audit trail, and what IVS itself said
-- about the account's channel quota (the account-quota guard's correction).

-- A tenant's own limits. No row, or a null column, means the deployment default (TENANT_*
-- settings); 0 means unlimited for max_live_channels and the two rates.
create table tenant_limits (
    tenant                    text primary key,
    max_live_channels         integer check (max_live_channels >= 0),
    requests_per_second       integer check (requests_per_second >= 0),
    burst                     integer check (burst >= 1),
    token_requests_per_second integer check (token_requests_per_second >= 0),
    token_burst               integer check (token_burst >= 1),
    updated_at                timestamptz not null default now(),
    -- The API key name that set them.
    updated_by                text not null
);

-- Who changed a tenant's limits, when, and from what to what.
create table tenant_limit_events (
    id      bigserial primary key,
    tenant  text not null,
    at      timestamptz not null default now(),
    actor   text not null,
    kind    text not null,
    details jsonb not null default '{}'::jsonb
);
create index tenant_limit_events_tenant on tenant_limit_events (tenant, id);

-- At most one row: the number of IVS channels the service held when CreateChannel last failed
-- with ServiceQuotaExceededException. The account is full at that many (other channels in the
-- account, or a quota below IVS_CHANNEL_QUOTA), so the guard refuses creates beyond it. Cleared
-- when IVS later accepts more channels than that.
create table ivs_channel_quota_observations (
    id                boolean primary key default true check (id),
    full_at_channels  integer not null check (full_at_channels >= 0),
    observed_at       timestamptz not null default now(),
    message           text not null
);

-- Each API process caches tenant limits for its request budgets (the token hot path reads no
-- row); the same notification channel as the other caches tells it when a tenant's row changes.
create function notify_tenant_limits_changed() returns trigger as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('ivsp_cache', 'tenant_limits:' || old.tenant);
    else
        perform pg_notify('ivsp_cache', 'tenant_limits:' || new.tenant);
    end if;
    return null;
end;
$$ language plpgsql;

create trigger tenant_limits_invalidate_cache after insert or update or delete on tenant_limits
    for each row execute function notify_tenant_limits_changed();
