//! The token signing secret: from `CAMET_JWT_SECRET`, or generated once and
//! kept in the data directory with mode 0600. Never logged.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use rand::RngCore;

use crate::config::{Config, Secret};
use crate::error::{AppError, AppResult};

/// File name of the generated secret inside the data directory.
pub const SECRET_FILE: &str = "jwt_secret";

/// The configured secret, else the stored one, else a new one (stored).
pub fn resolve(config: &Config) -> AppResult<Secret> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    load_or_create(&config.data_dir)
}

fn load_or_create(dir: &Path) -> AppResult<Secret> {
    let path = dir.join(SECRET_FILE);
    let context = |action: &str, e: std::io::Error| {
        AppError::Config(format!(
            "invalid CAMET_DATA_DIR: cannot {action} {} ({e}); set CAMET_JWT_SECRET or fix the folder",
            path.display()
        ))
    };
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing.trim().len() >= 32 => return Ok(Secret::new(existing.trim().to_owned())),
        Ok(_) => {
            return Err(AppError::Config(format!(
                "invalid CAMET_DATA_DIR: {} is shorter than 32 characters",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(context("read", e)),
    }
    std::fs::create_dir_all(dir).map_err(|e| context("create the folder of", e))?;
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).map_err(|e| context("write", e))?;
            Ok(Secret::new(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(dir),
        Err(e) => Err(context("create", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_stored_private_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("created");
        let second = load_or_create(dir.path()).expect("reused");
        assert_eq!(first, second);
        assert!(first.expose().len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
