//! Episode files in an object store: `s3://bucket/prefix`, `gs://bucket/prefix` or
//! `file:///folder` (the `object_store` crate). Each episode is uploaded once finished, with a
//! `NAME.sha256` object beside it holding the SHA-256 of its bytes; reading a folder of the
//! store downloads every episode into a local cache and checks it against its checksum, so a
//! corrupt or partly uploaded object is reported and left out instead of trained on.
//!
//! Credentials and endpoints come from the environment as the cloud tools read them:
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` (an
//! S3-compatible server) and `AWS_ALLOW_HTTP=true` (a server without TLS);
//! `GOOGLE_APPLICATION_CREDENTIALS` or `GOOGLE_SERVICE_ACCOUNT` for `gs://`.

use crate::error::{Error, Result};
use futures_util::TryStreamExt;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Whether `location` names an object store rather than a local path.
pub fn is_url(location: &str) -> bool {
    ["s3://", "gs://", "file://"]
        .iter()
        .any(|scheme| location.starts_with(scheme))
}

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A folder of an object store.
pub struct Store {
    url: String,
    runtime: tokio::runtime::Runtime,
    store: Box<dyn ObjectStore>,
    root: StorePath,
}

/// One upload: the object written, its size and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Uploaded {
    pub url: String,
    pub bytes: u64,
    pub seconds: f64,
    pub sha256: String,
}

/// What reading a folder of the store gave: the episodes downloaded and checked, and the
/// objects left out with why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Downloaded {
    pub files: Vec<PathBuf>,
    pub rejected: Vec<String>,
}

fn store_err(url: &str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{url}: {what}: {e}"))
}

impl Store {
    /// Opens the folder at `url`, with credentials and endpoint from the environment.
    pub fn open(url: &str) -> Result<Store> {
        let parsed = url::Url::parse(url).map_err(|e| {
            store_err(
                url,
                "not a URL (s3://bucket/prefix, gs://bucket/prefix or file:///folder)",
                e,
            )
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| store_err(url, "starting the I/O runtime", e))?;
        let options: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("GOOGLE_"))
            .collect();
        let (store, root) = {
            let _inside = runtime.enter();
            object_store::parse_url_opts(&parsed, options)
                .map_err(|e| store_err(url, "opening the object store", e))?
        };
        Ok(Store {
            url: url.trim_end_matches('/').to_string(),
            runtime,
            store,
            root,
        })
    }

    fn key(&self, name: &str) -> StorePath {
        let mut key = self.root.clone();
        key.extend(
            name.split('/')
                .filter(|s| !s.is_empty())
                .map(object_store::path::PathPart::from),
        );
        key
    }

    /// Uploads the local file `file` as `name` in this folder, then its checksum object.
    pub fn upload(&self, file: &Path, name: &str) -> Result<Uploaded> {
        let started = Instant::now();
        let bytes = std::fs::read(file).map_err(|e| Error::Io {
            context: format!("reading {} to upload it", file.display()),
            error: e,
        })?;
        let sha256 = sha256_hex(&bytes);
        let size = bytes.len() as u64;
        let target = format!("{}/{name}", self.url);
        self.runtime.block_on(async {
            self.store
                .put(&self.key(name), PutPayload::from(bytes))
                .await
                .map_err(|e| store_err(&target, "upload failed", e))?;
            // The checksum goes last: an episode without one is an unfinished upload.
            self.store
                .put(
                    &self.key(&format!("{name}.sha256")),
                    PutPayload::from(format!("{sha256}  {name}\n")),
                )
                .await
                .map_err(|e| store_err(&target, "uploading the checksum failed", e))
        })?;
        Ok(Uploaded {
            url: target,
            bytes: size,
            seconds: started.elapsed().as_secs_f64(),
            sha256,
        })
    }

    /// The names of the episode files (`.mcap`) in this folder and below, sorted.
    pub fn episodes(&self) -> Result<Vec<String>> {
        let root = self.root.clone();
        let listed: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(self.store.list(Some(&root)).try_collect())
            .map_err(|e| store_err(&self.url, "listing failed", e))?;
        let prefix = root.as_ref().len();
        let mut names: Vec<String> = listed
            .into_iter()
            .map(|m| {
                m.location.as_ref()[prefix..]
                    .trim_start_matches('/')
                    .to_string()
            })
            .filter(|n| n.ends_with(".mcap"))
            .collect();
        names.sort();
        Ok(names)
    }

    fn get(&self, name: &str) -> Result<Vec<u8>> {
        let target = format!("{}/{name}", self.url);
        self.runtime
            .block_on(async { self.store.get(&self.key(name)).await?.bytes().await })
            .map(|b| b.to_vec())
            .map_err(|e| store_err(&target, "download failed", e))
    }

    /// Downloads every episode of this folder into `cache` (a file already there with the
    /// right checksum is kept), each checked against its checksum object.
    pub fn download(&self, cache: &Path) -> Result<Downloaded> {
        crate::files::create_dir_all(cache)?;
        let mut out = Downloaded::default();
        for name in self.episodes()? {
            let target = format!("{}/{name}", self.url);
            let expected = match self.get(&format!("{name}.sha256")) {
                Ok(text) => String::from_utf8_lossy(&text)
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                Err(_) => {
                    out.rejected.push(format!(
                        "{target}: no checksum object beside it (an upload that did not finish)"
                    ));
                    continue;
                }
            };
            let local = cache.join(name.replace('/', "__"));
            let cached = std::fs::read(&local).ok().map(|b| sha256_hex(&b));
            if cached.as_deref() == Some(expected.as_str()) {
                out.files.push(local);
                continue;
            }
            let bytes = self.get(&name)?;
            let actual = sha256_hex(&bytes);
            if actual != expected {
                out.rejected.push(format!(
                    "{target}: corrupt (SHA-256 {actual}, but its checksum object says \
                     {expected}); re-upload it or delete it"
                ));
                continue;
            }
            crate::files::write_atomic(&local, &bytes)?;
            out.files.push(local);
        }
        Ok(out)
    }
}

/// The local cache folder for the store folder `url` under `base`.
pub fn cache_dir(base: &Path, url: &str) -> PathBuf {
    let safe: String = url
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    base.join(safe)
}
