-- IVS Chat logging configurations, one per destination bucket, shared by every room logging
-- there (IVS Chat allows 10 per region). Same shape and life as recording_configurations, so
-- the same queries (db::shared_configurations) serve both.
create table chat_logging_configurations (
    settings_key text primary key,
    settings     jsonb not null,
    arn          text unique,
    state        text not null default 'creating'
        check (state in ('creating', 'active', 'failed', 'deleting')),
    last_error   jsonb,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create trigger chat_logging_configurations_set_updated_at before update on chat_logging_configurations
    for each row execute function set_updated_at();

-- Counting the live channels that log chat to a bucket (before a shared configuration is
-- released) reads only the few channels with chat logging.
create index channels_chat_log_bucket on channels ((spec->'chat'->'log_to_s3_bucket'))
    where deleted_at is null and spec->'chat'->'log_to_s3_bucket' is not null;
