//! Comparing what caches sign with what the local store holds: a cache that
//! signs another digest for a package than the one built here is either
//! building differently (a non-reproducible package) or lying.

use std::sync::atomic::Ordering;

use super::record::{self};
use super::remote::RemoteError;
use super::substitute::{check_record, open_caches, Expect};
use super::{block_on, sign, CacheError};
use crate::settings::Settings;
use crate::store::PackageRecord;

/// What the caches say about one package of the store.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    pub name: String,
    pub version: String,
    /// The digest in the local store.
    pub local: String,
    pub claims: Vec<RemoteClaim>,
}

impl Challenge {
    /// Some cache's validly signed record disagrees with the store.
    pub fn disagrees(&self) -> bool {
        self.claims
            .iter()
            .any(|c| c.digest.as_ref().is_some_and(|d| *d != self.local) && !c.signers.is_empty())
    }
}

/// One cache's record of a package.
#[derive(Debug, Clone)]
pub struct RemoteClaim {
    pub url: String,
    /// The digest the record gives (None: the record could not be read).
    pub digest: Option<String>,
    /// Trusted keys whose signatures are valid.
    pub signers: Vec<String>,
    /// Why the record is not trusted, if it is not.
    pub problem: Option<String>,
}

/// Ask every substituter about `packages` (records of the local store).
pub fn challenge(packages: &[PackageRecord], settings: &Settings) -> Result<Vec<Challenge>, CacheError> {
    let trusted = sign::trusted_keys(settings)?;
    block_on(async {
        let caches = open_caches(settings).await?;
        let mut out = Vec::new();
        for p in packages {
            let mut claims = Vec::new();
            let path = record::record_path(&p.id);
            for (i, c) in caches.iter().enumerate() {
                let listed =
                    !c.dead.load(Ordering::Relaxed) && c.index.as_ref().is_some_and(|x| x.packages.contains_key(&p.id));
                if !listed {
                    continue;
                }
                let want = Expect {
                    id: &p.id,
                    name: &p.name,
                    version: &p.version,
                    run_deps: p.run_deps.clone(),
                };
                let claim = match c.remote.get(&path, 1 << 20).await {
                    Ok(bytes) => match check_record(&bytes, &want, &trusted, i) {
                        Ok(v) => RemoteClaim {
                            url: c.remote.url.clone(),
                            digest: Some(v.digest),
                            signers: v.signers,
                            problem: None,
                        },
                        Err(why) => RemoteClaim {
                            url: c.remote.url.clone(),
                            digest: record::parse(&bytes).ok().map(|(_, r)| r.digest),
                            signers: Vec::new(),
                            problem: Some(why),
                        },
                    },
                    Err(e) => {
                        if matches!(e, RemoteError::Down(_)) {
                            c.dead.store(true, Ordering::Relaxed);
                        }
                        RemoteClaim {
                            url: c.remote.url.clone(),
                            digest: None,
                            signers: Vec::new(),
                            problem: Some(format!("record: {e}")),
                        }
                    }
                };
                claims.push(claim);
            }
            out.push(Challenge {
                id: p.id.clone(),
                name: p.name.clone(),
                version: p.version.clone(),
                local: p.digest.clone(),
                claims,
            });
        }
        Ok(out)
    })?
}
