-- What the reconciler needs: leases on channel rows, retry bookkeeping, wake-ups, and the
-- account-level resources that channels share (recording configurations, playback keys).

alter table channels
    -- A worker owns a row while lease_owner is set and lease_expires_at is in the future.
    -- Every write after the claim is fenced on lease_token, so a worker whose lease expired
    -- cannot overwrite the work of the next owner.
    add column lease_owner      text,
    add column lease_token      uuid,
    add column lease_expires_at timestamptz,
    add column attempts         integer not null default 0,
    add column next_attempt_at  timestamptz not null default now(),
    -- DELETE ?force=true: stop a live stream before deleting the channel.
    add column delete_force     boolean not null default false;

-- Shaped like the claim query: rows that may need work, soonest first.
create index channels_claimable on channels (next_attempt_at)
    where phase in ('pending', 'provisioning', 'updating', 'deleting', 'failed') or delete_after is not null;

-- Wake workers at once when a row needs work; polling is the fallback.
create function notify_channel_work() returns trigger as $$
begin
    if new.phase in ('pending', 'updating', 'deleting') then
        perform pg_notify('channel_work', new.id::text);
    end if;
    return new;
end;
$$ language plpgsql;

create trigger channels_notify_work after insert or update of phase, generation, next_attempt_at on channels
    for each row execute function notify_channel_work();

-- One IVS recording configuration per distinct settings tuple, shared by every channel using it
-- (IVS allows about 20 per region).
create table recording_configurations (
    settings_key text primary key,
    settings     jsonb not null,
    arn          text unique,
    state        text not null default 'creating'
        check (state in ('creating', 'active', 'failed', 'deleting')),
    last_error   jsonb,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create trigger recording_configurations_set_updated_at before update on recording_configurations
    for each row execute function set_updated_at();

-- Playback public keys imported into IVS (at most 3 per region): caller-supplied ones,
-- deduplicated by fingerprint, and (later) the service's managed signing keys.
create table playback_keys (
    -- SHA-256 of the key's DER SubjectPublicKeyInfo, hex: our own, computed before any import.
    fingerprint     text primary key,
    public_key_pem  text not null,
    source          text not null check (source in ('caller', 'managed')),
    arn             text unique,
    -- The fingerprint IVS reports (the seed's playback_key_pair_fingerprint output).
    ivs_fingerprint text,
    state           text not null default 'importing'
        check (state in ('importing', 'active', 'retiring', 'retired', 'failed')),
    last_error      jsonb,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    retired_at      timestamptz
);
create trigger playback_keys_set_updated_at before update on playback_keys
    for each row execute function set_updated_at();
