-- Playback tokens: managed signing keys with rotation, stream-key rotation requests, and the
-- notifications that keep each API process's in-memory caches exact.

alter table playback_keys
    -- The SSM parameter version holding a managed private key (the key itself never comes here).
    add column ssm_version  bigint,
    add column activated_at timestamptz,
    add column retiring_at  timestamptz,
    -- A retiring key is deleted from IVS once every token it signed has expired.
    add column delete_after timestamptz;

-- One managed key signs at a time.
create unique index playback_keys_one_active_managed on playback_keys ((true))
    where source = 'managed' and state = 'active';

-- POST /v1/channels/{id}/stream-key/rotate: the reconciler replaces the key and clears this.
alter table channels add column stream_key_rotation_requested_at timestamptz;

-- Each API process caches authenticated API keys, the channels it mints tokens for and the
-- active signing key; these notifications invalidate the caches the moment a row changes.
create function notify_cache_invalidation() returns trigger as $$
begin
    if tg_table_name = 'channels' then
        perform pg_notify('ivsp_cache', 'channel:' || new.id::text);
    else
        perform pg_notify('ivsp_cache', tg_table_name);
    end if;
    return null;
end;
$$ language plpgsql;

create trigger api_keys_invalidate_cache after update or delete on api_keys
    for each row execute function notify_cache_invalidation();

create trigger channels_invalidate_cache after update on channels
    for each row
    when (old.phase is distinct from new.phase or old.spec is distinct from new.spec
          or old.outputs is distinct from new.outputs or old.tenant is distinct from new.tenant
          or old.deleted_at is distinct from new.deleted_at)
    execute function notify_cache_invalidation();

create trigger playback_keys_invalidate_cache after insert or update on playback_keys
    for each row execute function notify_cache_invalidation();
