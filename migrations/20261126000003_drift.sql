-- What the periodic drift sweep found: channels changed or deleted outside the service, and
-- IVS channels carrying the service's tags that no row owns.

create table drift_sweeps (
    id               uuid primary key,
    started_at       timestamptz not null default now(),
    finished_at      timestamptz,
    channels_checked integer not null default 0,
    ivs_channels_seen integer not null default 0
);

create table drift_findings (
    id          bigserial primary key,
    sweep_id    uuid not null references drift_sweeps (id) on delete cascade,
    found_at    timestamptz not null default now(),
    kind        text not null check (kind in ('deleted_out_of_band', 'changed_out_of_band', 'orphan')),
    -- The row concerned; null for an orphan.
    channel_id  uuid references channels (id) on delete cascade,
    channel_arn text not null,
    details     jsonb not null default '{}'::jsonb
);
create index drift_findings_sweep on drift_findings (sweep_id, id);
