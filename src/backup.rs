//! `camet backup` and `camet restore` for the embedded SQLite databases.
//!
//! A backup is one tar archive: `manifest.json`, `global.db` and one
//! `tenant_<id>.db` per tenant. Each database is copied with `VACUUM INTO`
//! through the ordinary connection pools, so the copy is one read
//! transaction of its database (WAL lets the server keep writing meanwhile)
//! and holds every transaction committed before that read began: a
//! detection acknowledged to a client before `camet backup` started is in
//! the archive, and no batch is ever half in it. The global database is
//! copied first and the tenants listed from that copy, so the archive never
//! holds a tenant database without its tenant row.
//!
//! A restore unpacks into a staging folder beside the databases, checks each
//! file (`PRAGMA integrity_check`), refuses while another process has the
//! current databases open (unless `--force`), moves the current files aside
//! into `pre-restore-<timestamp>/` and renames the restored ones into place.
//! MySQL/MariaDB deployments back up with `mariadb-dump` instead
//! (docs/deployment.md); both commands say so and change nothing there.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use diesel::{Connection, ExpressionMethods, QueryDsl, RunQueryDsl, SqliteConnection};
use serde::{Deserialize, Serialize};

use crate::config::{Config, DatabaseUrl};
use crate::db::{Databases, sqlite_tenant_path};
use crate::error::{AppError, AppResult};

/// What the archive says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Version of the format.
    pub version: u32,
    /// The camet version that wrote it.
    pub camet_version: String,
    /// When the copy started (UTC, RFC 3339).
    pub started_at: String,
    /// The tenants whose databases the archive holds.
    pub tenants: Vec<i32>,
}

/// The `format` of every manifest.
pub const FORMAT: &str = "camet-sqlite-backup";
const MANIFEST: &str = "manifest.json";
const GLOBAL: &str = "global.db";

/// What `camet backup` prints.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The archive written.
    pub file: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Tenants copied.
    pub tenants: Vec<i32>,
}

/// What `camet restore` prints.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The global database now in place.
    pub database: String,
    /// Tenants restored.
    pub tenants: Vec<i32>,
    /// Where the databases that were there before went (absent when there were none).
    pub previous: Option<String>,
}

/// The embedded database's file, or the error telling MySQL users what to use.
fn sqlite_path(config: &Config, command: &str) -> AppResult<PathBuf> {
    match &config.database_url {
        DatabaseUrl::Sqlite { path } => Ok(path.clone()),
        DatabaseUrl::Mysql { .. } => Err(AppError::BadRequest(format!(
            "camet {command} is for the embedded SQLite database, and DATABASE_URL names MySQL/MariaDB: \
             back it up with mariadb-dump (see docs/deployment.md, Backups)"
        ))),
    }
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> AppError {
    AppError::BadRequest(format!("cannot {what} {}: {error}", path.display()))
}

/// A folder beside `near` for intermediate files, removed when dropped.
struct Staging(PathBuf);

impl Staging {
    fn beside(near: &Path, purpose: &str) -> AppResult<Staging> {
        let parent = near
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = parent.join(format!(
            ".camet-{purpose}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir(&dir).map_err(|e| io_error("create", &dir, e))?;
        Ok(Staging(dir))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Opens a plain (synchronous) connection to an SQLite file, for checks.
fn open_sqlite(path: &Path) -> AppResult<SqliteConnection> {
    let url = path
        .to_str()
        .ok_or_else(|| AppError::BadRequest(format!("{} is not a UTF-8 path", path.display())))?;
    SqliteConnection::establish(url).map_err(|e| AppError::BadRequest(format!("cannot open {}: {e}", path.display())))
}

/// The tenants of a global database file.
fn tenant_ids(global: &Path) -> AppResult<Vec<i32>> {
    use crate::db::schema::global::tenant;
    let mut conn = open_sqlite(global)?;
    let ids = tenant::table
        .select(tenant::tenant_id)
        .order(tenant::tenant_id.asc())
        .load::<i32>(&mut conn)?;
    Ok(ids)
}

/// Writes a consistent archive of the global and every tenant database to
/// `file` (which must not exist), while a server may be serving.
pub async fn backup(config: &Config, file: &Path) -> AppResult<BackupReport> {
    let global_path = sqlite_path(config, "backup")?;
    if !global_path.exists() {
        return Err(AppError::BadRequest(format!(
            "no database at {} (DATABASE_URL): nothing to back up",
            global_path.display()
        )));
    }
    if file.exists() {
        return Err(AppError::BadRequest(format!(
            "{} exists: camet backup never overwrites a file",
            file.display()
        )));
    }
    let started_at = crate::clock::now_utc().to_rfc3339();
    let staging = Staging::beside(file, "backup")?;
    let databases = Databases::open(config).await?;
    let global_copy = staging.0.join(GLOBAL);
    databases.global().vacuum_into(&global_copy).await?;
    // Tenants as the copy of the global database knows them.
    let tenants = tenant_ids(&global_copy)?;
    let mut entries = vec![(GLOBAL.to_owned(), global_copy)];
    for &tenant_id in &tenants {
        let live = sqlite_tenant_path(&global_path, tenant_id);
        if !live.exists() {
            return Err(AppError::BadRequest(format!(
                "tenant {tenant_id} has no database at {}",
                live.display()
            )));
        }
        let name = format!("tenant_{tenant_id}.db");
        let copy = staging.0.join(&name);
        databases.tenant(tenant_id).await?.vacuum_into(&copy).await?;
        entries.push((name, copy));
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        version: 1,
        camet_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        tenants: tenants.clone(),
    };
    let manifest_path = staging.0.join(MANIFEST);
    let manifest_json = serde_json::to_vec_pretty(&manifest).map_err(AppError::internal)?;
    fs::write(&manifest_path, manifest_json).map_err(|e| io_error("write", &manifest_path, e))?;
    entries.insert(0, (MANIFEST.to_owned(), manifest_path));

    // Written under a temporary name, synced, then renamed: a crash never
    // leaves a truncated archive under the requested name.
    let partial = staging.0.join("archive.tar");
    {
        let out = File::create(&partial).map_err(|e| io_error("create", &partial, e))?;
        let mut archive = tar::Builder::new(BufWriter::new(out));
        for (name, path) in &entries {
            archive
                .append_path_with_name(path, name)
                .map_err(|e| io_error("archive", path, e))?;
        }
        let writer = archive.into_inner().map_err(|e| io_error("write", &partial, e))?;
        let out = writer
            .into_inner()
            .map_err(|e| io_error("write", &partial, e.into_error()))?;
        out.sync_all().map_err(|e| io_error("sync", &partial, e))?;
    }
    fs::rename(&partial, file).map_err(|e| io_error("move the archive to", file, e))?;
    let bytes = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport {
        file: file.display().to_string(),
        bytes,
        tenants,
    })
}

/// What an archive entry is, by its name; anything else is refused (no
/// paths, so nothing is ever written outside the staging folder).
fn entry_kind(name: &str) -> Option<Option<i32>> {
    match name {
        MANIFEST | GLOBAL => Some(None),
        _ => name
            .strip_prefix("tenant_")
            .and_then(|rest| rest.strip_suffix(".db"))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|id| id.parse::<i32>().ok())
            .filter(|id| *id > 0)
            .map(Some),
    }
}

/// Whether some other connection (another process: a running server) has
/// the SQLite file open. In WAL mode every open connection holds a shared
/// lock on the WAL index, so an exclusive-mode `BEGIN EXCLUSIVE` fails at
/// once while any other connection exists, idle ones included.
pub fn in_use(path: &Path) -> AppResult<bool> {
    use diesel::connection::SimpleConnection;
    let mut conn = open_sqlite(path)?;
    conn.batch_execute("PRAGMA busy_timeout = 0; PRAGMA locking_mode = EXCLUSIVE;")?;
    match conn.batch_execute("BEGIN EXCLUSIVE; ROLLBACK;") {
        Ok(()) => Ok(false),
        Err(diesel::result::Error::DatabaseError(_, info)) if info.message().contains("locked") => Ok(true),
        Err(other) => Err(other.into()),
    }
}

fn integrity_ok(path: &Path) -> AppResult<()> {
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let mut conn = open_sqlite(path)?;
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut conn)?;
    match rows.as_slice() {
        [only] if only.integrity_check == "ok" => Ok(()),
        _ => Err(AppError::BadRequest(format!(
            "the archive's {} is damaged (integrity_check: {})",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            rows.iter()
                .map(|r| r.integrity_check.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

/// The files of a database: the file, its WAL and its WAL index.
fn with_sidecars(path: &Path) -> [PathBuf; 3] {
    let text = path.display().to_string();
    [
        path.to_path_buf(),
        PathBuf::from(format!("{text}-wal")),
        PathBuf::from(format!("{text}-shm")),
    ]
}

/// The databases now beside `global`: itself and every `<stem>_tenant_<id>.db`.
fn current_databases(global: &Path) -> AppResult<Vec<PathBuf>> {
    let mut found = Vec::new();
    if global.exists() {
        found.push(global.to_path_buf());
    }
    let dir = global
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = global
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "camet".into());
    let prefix = format!("{stem}_tenant_");
    if dir.exists() {
        for entry in fs::read_dir(dir).map_err(|e| io_error("list", dir, e))? {
            let entry = entry.map_err(|e| io_error("list", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_tenant = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(".db"))
                .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            if is_tenant {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Replaces the configured SQLite databases with those of `file`. Refuses
/// while another process has them open unless `force`.
pub fn restore(config: &Config, file: &Path, force: bool) -> AppResult<RestoreReport> {
    let global_path = sqlite_path(config, "restore")?;
    let staging = Staging::beside(&global_path, "restore").or_else(|_| {
        if let Some(parent) = global_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
        }
        Staging::beside(&global_path, "restore")
    })?;
    let input = File::open(file).map_err(|e| io_error("open", file, e))?;
    let mut archive = tar::Archive::new(BufReader::new(input));
    let not_a_backup = |why: String| AppError::BadRequest(format!("{} is not a camet backup: {why}", file.display()));
    let mut manifest: Option<Manifest> = None;
    let mut found_tenants = Vec::new();
    let mut found_global = false;
    for entry in archive.entries().map_err(|e| not_a_backup(e.to_string()))? {
        let mut entry = entry.map_err(|e| not_a_backup(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| not_a_backup(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let Some(kind) = entry_kind(&name) else {
            return Err(not_a_backup(format!("unexpected entry {name:?}")));
        };
        if !entry.header().entry_type().is_file() {
            return Err(not_a_backup(format!("{name:?} is not a file")));
        }
        if name == MANIFEST {
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| not_a_backup(e.to_string()))?;
            manifest = Some(serde_json::from_str(&text).map_err(|e| not_a_backup(format!("manifest: {e}")))?);
            continue;
        }
        let target = staging.0.join(&name);
        let mut out = File::create(&target).map_err(|e| io_error("create", &target, e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| io_error("write", &target, e))?;
        out.flush().map_err(|e| io_error("write", &target, e))?;
        out.sync_all().map_err(|e| io_error("sync", &target, e))?;
        match kind {
            Some(tenant_id) => found_tenants.push(tenant_id),
            None => found_global = true,
        }
    }
    let manifest = manifest.ok_or_else(|| not_a_backup("no manifest.json".into()))?;
    if manifest.format != FORMAT || manifest.version != 1 {
        return Err(not_a_backup(format!(
            "format {:?} version {}",
            manifest.format, manifest.version
        )));
    }
    found_tenants.sort_unstable();
    let mut listed = manifest.tenants.clone();
    listed.sort_unstable();
    if !found_global || found_tenants != listed {
        return Err(not_a_backup(format!(
            "the manifest lists tenants {listed:?} but the archive holds {found_tenants:?}{}",
            if found_global { "" } else { " and no global.db" }
        )));
    }
    let staged_global = staging.0.join(GLOBAL);
    integrity_ok(&staged_global)?;
    for tenant_id in &found_tenants {
        integrity_ok(&staging.0.join(format!("tenant_{tenant_id}.db")))?;
    }
    if tenant_ids(&staged_global)? != found_tenants {
        return Err(not_a_backup(
            "its global database lists other tenants than its files".into(),
        ));
    }

    let current = current_databases(&global_path)?;
    if !force {
        for path in &current {
            if in_use(path)? {
                return Err(AppError::Conflict(format!(
                    "{} is in use by another process (a running server?): stop it first, \
                     or pass --force to replace it anyway",
                    path.display()
                )));
            }
        }
    }
    // Nothing is deleted: what was there moves aside, whole.
    let previous = if current.is_empty() {
        None
    } else {
        let stamp = crate::clock::now_utc().format("%Y%m%dT%H%M%SZ");
        let parent = global_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let aside = parent.join(format!("pre-restore-{stamp}-{}", std::process::id()));
        fs::create_dir(&aside).map_err(|e| io_error("create", &aside, e))?;
        for path in &current {
            for file in with_sidecars(path) {
                if let Some(name) = file.file_name().filter(|_| file.exists()) {
                    let to = aside.join(name);
                    fs::rename(&file, &to).map_err(|e| io_error("move aside", &file, e))?;
                }
            }
        }
        Some(aside.display().to_string())
    };
    fs::rename(&staged_global, &global_path).map_err(|e| io_error("put in place", &global_path, e))?;
    for &tenant_id in &found_tenants {
        let to = sqlite_tenant_path(&global_path, tenant_id);
        let from = staging.0.join(format!("tenant_{tenant_id}.db"));
        fs::rename(&from, &to).map_err(|e| io_error("put in place", &to, e))?;
    }
    Ok(RestoreReport {
        database: global_path.display().to_string(),
        tenants: found_tenants,
        previous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_files_of_a_backup_are_accepted_as_entries() {
        assert_eq!(entry_kind("manifest.json"), Some(None));
        assert_eq!(entry_kind("global.db"), Some(None));
        assert_eq!(entry_kind("tenant_12.db"), Some(Some(12)));
        for bad in [
            "../global.db",
            "tenant_.db",
            "tenant_0.db",
            "tenant_-1.db",
            "tenant_1.db/x",
            "/etc/passwd",
            "sub/tenant_1.db",
            "tenant_99999999999.db",
        ] {
            assert_eq!(entry_kind(bad), None, "{bad}");
        }
    }
}
