//! S3 buckets as caches, through `object_store`. `s3://BUCKET/PREFIX`;
//! credentials, region and endpoint come from the usual `AWS_*` variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` for a server that is not AWS). Without an access
//! key, requests go unsigned (a public bucket): never to the instance
//! metadata service, which on a laptop is a two-second hang.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::remote::{RemoteError, FIRST_BYTE};

/// Files larger than this go up in parts.
const MULTIPART_FROM: u64 = 16 << 20;

pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Bucket {
    pub fn open(url: &url::Url, push: bool) -> Result<Bucket, String> {
        let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or("no bucket name")?;
        let prefix = url.path().trim_matches('/').to_string();
        let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let endpoint = std::env::var("AWS_ENDPOINT_URL").ok().filter(|e| !e.is_empty());
        if let Some(e) = &endpoint {
            b = b.with_endpoint(e);
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            b = b.with_skip_signature(true);
        }
        // A lookup must fail fast (the build goes on without the cache); an
        // upload may take its time and retry.
        let retry = object_store::RetryConfig {
            max_retries: if push { 5 } else { 1 },
            retry_timeout: if push { Duration::from_secs(120) } else { FIRST_BYTE },
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(if push { 10 } else { 1 }),
                base: 2.0,
            },
        };
        // Client options replace the builder's: `allow_http` is one of them.
        let client = object_store::ClientOptions::new()
            .with_allow_http(endpoint.as_deref().is_some_and(|e| e.starts_with("http://")))
            .with_connect_timeout(FIRST_BYTE)
            // Bodies are watched for stalls by the caller; a whole-request
            // timeout would cut a large archive on a slow link.
            .with_timeout_disabled();
        let store = b
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Bucket {
            store: Arc::new(store),
            prefix,
        })
    }

    fn path(&self, rel: &str) -> Result<object_store::path::Path, RemoteError> {
        let full = if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        object_store::path::Path::parse(&full).map_err(|e| RemoteError::Other(e.to_string()))
    }

    pub async fn get(&self, rel: &str) -> Result<BoxStream<'static, Result<Vec<u8>, String>>, RemoteError> {
        let path = self.path(rel)?;
        match self.store.get(&path).await {
            Ok(r) => Ok(r
                .into_stream()
                .map(|c| c.map(|b| b.to_vec()).map_err(|e| e.to_string()))
                .boxed()),
            Err(object_store::Error::NotFound { .. }) => Err(RemoteError::NotFound),
            Err(e) => Err(RemoteError::Down(e.to_string())),
        }
    }

    pub async fn put(&self, rel: &str, data: Vec<u8>) -> Result<(), RemoteError> {
        let path = self.path(rel)?;
        self.store
            .put(&path, PutPayload::from(data))
            .await
            .map(|_| ())
            .map_err(|e| RemoteError::Other(e.to_string()))
    }

    pub async fn put_file(&self, rel: &str, src: &Path) -> Result<(), RemoteError> {
        let io = |e: std::io::Error| RemoteError::Other(format!("{}: {e}", src.display()));
        let size = std::fs::metadata(src).map_err(io)?.len();
        if size < MULTIPART_FROM {
            return self.put(rel, std::fs::read(src).map_err(io)?).await;
        }
        let path = self.path(rel)?;
        let upload = self
            .store
            .put_multipart(&path)
            .await
            .map_err(|e| RemoteError::Other(e.to_string()))?;
        let mut w = object_store::WriteMultipart::new(upload);
        let mut f = std::fs::File::open(src).map_err(io)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut f, &mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            w.wait_for_capacity(4)
                .await
                .map_err(|e| RemoteError::Other(e.to_string()))?;
            w.write(&buf[..n]);
        }
        w.finish()
            .await
            .map(|_| ())
            .map_err(|e| RemoteError::Other(e.to_string()))
    }
}
