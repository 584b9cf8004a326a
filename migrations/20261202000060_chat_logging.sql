-- IVS Chat logging configurations, one per destination bucket, shared by every room logging
-- there (IVS Chat allows 10 per region). The same columns, defaults, checks and keys as
-- recording_configurations, so one set of queries (db::shared_configurations) serves both.
create table chat_logging_configurations (like recording_configurations including all);
create trigger chat_logging_configurations_set_updated_at before update on chat_logging_configurations
    for each row execute function set_updated_at();

-- Counting the live channels that log chat to a bucket (before a shared configuration is
-- released) reads only the few channels with chat logging.
create index channels_chat_log_bucket on channels ((spec->'chat'->'log_to_s3_bucket'))
    where deleted_at is null and spec->'chat'->'log_to_s3_bucket' is not null;
