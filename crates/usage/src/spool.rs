//! The spool: an append-only file of length-prefixed protobuf records, replaced atomically.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use prost::Message;
use tokio::io::AsyncWriteExt;
use tollgate_proto::billing::v1::UsageEvent;

use crate::SpoolError;

const SPOOL_FILE: &str = "usage.spool";
/// Where a rewrite of the spool is written before it is renamed over [`SPOOL_FILE`].
const SPOOL_TMP_FILE: &str = "usage.spool.tmp";

pub(crate) struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
    /// Records in the file, acknowledged or not.
    pub(crate) records_in_file: usize,
}

impl Spool {
    pub(crate) async fn open(dir: &Path) -> Result<(Spool, VecDeque<UsageEvent>), SpoolError> {
        let path = dir.join(SPOOL_FILE);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let existing = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        // A temp file left by a crash mid-rewrite is never read: until the rename the spool file
        // itself is the complete old version. The rewrite below overwrites the temp file.
        let pending = decode_all(&existing);
        let all: Vec<&UsageEvent> = pending.iter().collect();
        // Rewrite only complete records, dropping a torn tail from a crash mid-write.
        let file = replace_file(dir, &path, &encode_all(&path, &all)?).await?;
        let spool = Spool {
            file,
            path,
            records_in_file: pending.len(),
        };
        Ok((spool, pending))
    }

    pub(crate) async fn append(&mut self, events: &[&UsageEvent]) -> Result<(), SpoolError> {
        if events.is_empty() {
            return Ok(());
        }
        let buf = encode_all(&self.path, events)?;
        let path = self.path.clone();
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        self.file.write_all(&buf).await.map_err(io)?;
        self.file.sync_data().await.map_err(io)?;
        self.records_in_file += events.len();
        Ok(())
    }

    /// Everything in the file is acknowledged (or rewritten as `pending`). Replaced atomically
    /// like at open, so a crash here leaves the old file or the new one, never a truncated one.
    pub(crate) async fn rewrite(
        &mut self,
        pending: &VecDeque<UsageEvent>,
    ) -> Result<(), SpoolError> {
        let all: Vec<&UsageEvent> = pending.iter().collect();
        let bytes = encode_all(&self.path, &all)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        self.file = replace_file(dir, &self.path, &bytes).await?;
        self.records_in_file = all.len();
        Ok(())
    }
}

/// Length-prefixed protobuf records, the spool's format.
fn encode_all(path: &Path, events: &[&UsageEvent]) -> Result<Vec<u8>, SpoolError> {
    let mut buf = Vec::with_capacity(events.len() * 160);
    for ev in events {
        let len = ev.encoded_len() as u32;
        buf.extend_from_slice(&len.to_le_bytes());
        ev.encode(&mut buf).map_err(|e| SpoolError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
    }
    Ok(buf)
}

/// Replaces `path` with `bytes` crash-safely (temp file in the same directory, fsync, rename,
/// fsync the directory) and returns it opened for appending. Truncating in place would lose
/// every spooled event if the process died between the truncation and the rewrite.
async fn replace_file(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<tokio::fs::File, SpoolError> {
    let tmp = dir.join(SPOOL_TMP_FILE);
    let at = |p: &Path| {
        let p = p.to_owned();
        move |source| SpoolError::Io { path: p, source }
    };
    let mut f = tokio::fs::File::create(&tmp).await.map_err(at(&tmp))?;
    f.write_all(bytes).await.map_err(at(&tmp))?;
    f.sync_all().await.map_err(at(&tmp))?;
    drop(f);
    tokio::fs::rename(&tmp, path).await.map_err(at(path))?;
    // The rename is durable only once the directory entry is.
    tokio::fs::File::open(dir)
        .await
        .map_err(at(dir))?
        .sync_all()
        .await
        .map_err(at(dir))?;
    tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await
        .map_err(at(path))
}

fn decode_all(mut bytes: &[u8]) -> VecDeque<UsageEvent> {
    let mut out = VecDeque::new();
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if bytes.len() < 4 + len {
            break;
        }
        match UsageEvent::decode(&bytes[4..4 + len]) {
            Ok(ev) => out.push_back(ev),
            Err(_) => break,
        }
        bytes = &bytes[4 + len..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> UsageEvent {
        UsageEvent {
            request_id: id.into(),
            input_tokens: 7,
            ..UsageEvent::default()
        }
    }

    #[tokio::test]
    async fn the_spool_survives_a_restart_and_drops_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("tg-spool-{}", uuid::Uuid::now_v7()));
        {
            let (mut spool, pending) = Spool::open(&dir).await.unwrap();
            assert!(pending.is_empty());
            spool.append(&[&ev("a"), &ev("b")]).await.unwrap();
        }
        // A crash mid-write leaves half a record.
        let path = dir.join(SPOOL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2]);
        std::fs::write(&path, bytes).unwrap();

        let (_spool, pending) = Spool::open(&dir).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let (mut spool, pending) = Spool::open(&dir).await.unwrap();
        assert_eq!(pending.len(), 2, "reopening keeps the records");
        spool.rewrite(&VecDeque::new()).await.unwrap();
        let (_s, pending) = Spool::open(&dir).await.unwrap();
        assert!(pending.is_empty(), "acknowledged records are gone");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A crash between writing the rewrite and renaming it leaves a temp file next to the
    /// complete old spool: the next start recovers every event from the spool.
    #[tokio::test]
    async fn a_rewrite_cut_before_its_rename_loses_nothing() {
        let dir = std::env::temp_dir().join(format!("tg-spool-{}", uuid::Uuid::now_v7()));
        {
            let (mut spool, _) = Spool::open(&dir).await.unwrap();
            spool.append(&[&ev("a"), &ev("b"), &ev("c")]).await.unwrap();
        }
        // The crashed rewrite got half of its records out.
        let torn = encode_all(&dir, &[&ev("a")]).unwrap();
        std::fs::write(dir.join(SPOOL_TMP_FILE), &torn[..torn.len() - 2]).unwrap();
        let (_spool, pending) = Spool::open(&dir).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(
            !dir.join(SPOOL_TMP_FILE).exists(),
            "the temp file was renamed"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Open rewrites the spool by replacing it, never by truncating the file in place: whatever
    /// still refers to the old file (here a hard link, in real life the disk after a crash
    /// mid-rewrite) keeps every byte of it until the new one is complete.
    #[tokio::test]
    async fn open_replaces_the_spool_instead_of_truncating_it() {
        let dir = std::env::temp_dir().join(format!("tg-spool-{}", uuid::Uuid::now_v7()));
        {
            let (mut spool, _) = Spool::open(&dir).await.unwrap();
            spool.append(&[&ev("a"), &ev("b")]).await.unwrap();
        }
        let path = dir.join(SPOOL_FILE);
        let mut old = std::fs::read(&path).unwrap();
        old.extend_from_slice(&[40, 0, 0, 0, 1, 2]); // a torn tail, so the rewrite differs
        std::fs::write(&path, &old).unwrap();
        let keep = dir.join("old-inode");
        std::fs::hard_link(&path, &keep).unwrap();

        let (mut spool, pending) = Spool::open(&dir).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(
            std::fs::read(&keep).unwrap(),
            old,
            "the old file was modified in place"
        );
        spool.rewrite(&VecDeque::new()).await.unwrap();
        assert_eq!(
            std::fs::read(&keep).unwrap(),
            old,
            "the old file was modified in place"
        );
        // Appends after a rewrite land in the new file.
        spool.append(&[&ev("d")]).await.unwrap();
        let (_s, pending) = Spool::open(&dir).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["d"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
