//! S3 reads of IVS's recordings: listing a channel's recording objects and reading a
//! recording's metadata file (docs/aws-facts.md §11.3). The service never writes to S3.

use super::{Aws, AwsError, CallClass, Op, all_pages, empty, op};

const LIST_OBJECTS_V2: Op = op("ListObjectsV2", CallClass::S3);
const GET_OBJECT: Op = op("GetObject", CallClass::S3);

/// The largest object the service reads (a recording's metadata is a few kilobytes).
const MAX_OBJECT_BYTES: i64 = 1 << 20;

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub key: String,
    pub size: i64,
}

impl Aws {
    /// Every object under `prefix` in `bucket`, all pages (1,000 keys a page).
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<S3Object>, AwsError> {
        all_pages(|next| async move {
            let request = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(next);
            let page = self.call(LIST_OBJECTS_V2, request.send()).await?;
            let objects = page
                .contents
                .unwrap_or_default()
                .into_iter()
                .filter_map(|o| {
                    Some(S3Object {
                        size: o.size.unwrap_or_default(),
                        key: o.key?,
                    })
                })
                .collect();
            let more = page.is_truncated.unwrap_or(false);
            Ok((objects, page.next_continuation_token.filter(|_| more)))
        })
        .await
    }

    /// A small object's bytes (at most 1 MiB: anything larger is refused, not read).
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let request = self.s3.get_object().bucket(bucket).key(key);
        let out = self.call(GET_OBJECT, request.send()).await?;
        if out.content_length.unwrap_or_default() > MAX_OBJECT_BYTES {
            return Err(AwsError::local(
                GET_OBJECT.name,
                super::AwsErrorKind::Other,
                format!("s3://{bucket}/{key} is larger than {MAX_OBJECT_BYTES} bytes"),
            ));
        }
        // The body streams after the response head: the operation timeout does not cover it.
        let body = tokio::time::timeout(self.timeouts.operation(), out.body.collect())
            .await
            .map_err(|_| {
                AwsError::local(
                    GET_OBJECT.name,
                    super::AwsErrorKind::Timeout,
                    format!("reading s3://{bucket}/{key} timed out"),
                )
            })?
            .map_err(|_| empty(GET_OBJECT))?;
        Ok(body.into_bytes().to_vec())
    }
}
