//! Upgrading a data dir written by an older format, in the transaction
//! that checks its identity: a long-running fake keeps what it holds
//! across an upgrade rather than asking for another data dir.

use redb::{ReadableTable, WriteTransaction};

use super::tables::{BEARER, REFRESH};
use crate::domain::secret::SecretDigest;

/// The oldest format [`upgrade`] can bring to the current one.
pub const OLDEST_UPGRADABLE: u32 = 2;

/// Brings the tables of a data dir of `format` (at least
/// [`OLDEST_UPGRADABLE`]) to the current format.
pub fn upgrade(txn: &WriteTransaction, format: u32) -> Result<(), String> {
    if format < 3 {
        tokens_by_digest(txn).map_err(|e| format!("upgrading from format {format}: {e}"))?;
    }
    Ok(())
}

/// Format 3 keys the token tables by the token's SHA-256 (hex), where
/// format 2 kept the raw bearer and refresh tokens.
fn tokens_by_digest(txn: &WriteTransaction) -> Result<(), Box<redb::Error>> {
    for def in [BEARER, REFRESH] {
        let boxed = |e: redb::Error| Box::new(e);
        let mut table = txn.open_table(def).map_err(|e| boxed(e.into()))?;
        let mut raw: Vec<(String, Vec<u8>)> = Vec::new();
        for entry in table.iter().map_err(|e| boxed(e.into()))? {
            let (k, v) = entry.map_err(|e| boxed(e.into()))?;
            raw.push((k.value().to_owned(), v.value().to_vec()));
        }
        for (token, record) in raw {
            table.remove(token.as_str()).map_err(|e| boxed(e.into()))?;
            table
                .insert(SecretDigest::of(&token).to_hex().as_str(), record.as_slice())
                .map_err(|e| boxed(e.into()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use redb::Database;

    use super::*;

    #[test]
    fn a_format_2_token_table_is_keyed_by_digest_after_the_upgrade() {
        let path = std::env::temp_dir().join(format!("f2m-migrate-{}.redb", std::process::id()));
        let db = Database::create(&path).expect("db");
        let txn = db.begin_write().expect("write");
        txn.open_table(BEARER)
            .expect("bearer")
            .insert("f2m_demo_token", b"grant".as_slice())
            .expect("insert");
        upgrade(&txn, 2).expect("upgrade");
        txn.commit().expect("commit");
        let read = db.begin_read().expect("read");
        let table = read.open_table(BEARER).expect("bearer");
        let keys: Vec<String> = table
            .iter()
            .expect("iter")
            .map(|e| e.expect("entry").0.value().to_owned())
            .collect();
        assert_eq!(keys, [SecretDigest::of("f2m_demo_token").to_hex()]);
        let grant = table.get(keys[0].as_str()).expect("get").expect("kept");
        assert_eq!(grant.value(), b"grant");
        drop((table, read, db));
        let _ = std::fs::remove_file(path);
    }
}
