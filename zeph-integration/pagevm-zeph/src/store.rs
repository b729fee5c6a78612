//! The default durable store: page-store-sqlite's `pagevm.db` beside Zeph's own database, in
//! the same process (both link one `libsqlite3-sys`, checked by `.ci/layering`).

use std::path::{Path, PathBuf};

use page_store_sqlite::SqliteStore;

use crate::AdapterError;

/// The store's file name, beside Zeph's database.
pub const STORE_FILE: &str = "pagevm.db";

/// Where the store of an agent whose `[memory] sqlite_path` is `zeph_db` lives: `pagevm.db`
/// in the same directory.
///
/// # Errors
/// [`AdapterError::NoStorePath`] when Zeph's database is not a file (`:memory:`, a URL, an
/// empty path), so there is no directory to put the store in: name one in the configuration.
pub fn default_store_path(zeph_db: &str) -> Result<PathBuf, AdapterError> {
    let not_a_file = zeph_db.trim().is_empty()
        || zeph_db.starts_with(":memory:")
        || zeph_db.contains("mode=memory")
        || zeph_db.contains("://");
    if not_a_file {
        return Err(AdapterError::NoStorePath {
            zeph_db: zeph_db.to_owned(),
        });
    }
    let path = Path::new(zeph_db.strip_prefix("sqlite:").unwrap_or(zeph_db));
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    Ok(dir.join(STORE_FILE))
}

/// Opens (creating it if needed) the store of the agent whose `[memory]` section is
/// `memory`.
///
/// # Errors
/// [`AdapterError::NoStorePath`], or [`AdapterError::Store`] when the file cannot be opened
/// or migrated.
pub fn open_default_store(memory: &zeph_config::MemoryConfig) -> Result<SqliteStore, AdapterError> {
    Ok(SqliteStore::open(default_store_path(&memory.sqlite_path)?)?)
}
