//! Finding and reading recorded session files on disk. Paths are as untrusted as contents: a
//! walk never loops on a symlink cycle, never reads from a FIFO or a device, never reads past
//! a size limit, and reports every entry it passes over with the reason.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::Read as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::{Diagnostic, Format, ImportError, Transcript, import};

/// The largest file read as a recorded session (512 MiB): a bound on memory, far above any
/// session seen.
pub const MAX_TRACE_BYTES: u64 = 512 << 20;

/// Why a session file could not be read at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FileError {
    /// The path does not exist, cannot be opened, or a read failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a FIFO, a device, a socket or a directory where a file was expected.
    #[error("{path}: not a regular file ({kind})")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// The file is larger than [`MAX_TRACE_BYTES`].
    #[error(
        "{path}: {bytes} bytes is larger than the {MAX_TRACE_BYTES}-byte limit for a session file"
    )]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The file is readable but not a recorded session of a known format.
    #[error("{path}: {source}")]
    Import {
        /// The path.
        path: PathBuf,
        /// What the importer said.
        #[source]
        source: ImportError,
    },
}

/// An entry a walk passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry.
    pub path: PathBuf,
    /// Why, for the user.
    pub reason: String,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: skipped: {}", self.path.display(), self.reason)
    }
}

/// The session files under a path, and what the walk passed over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceFiles {
    /// Regular files, sorted.
    pub files: Vec<PathBuf>,
    /// Entries not taken (FIFOs, devices, dangling links, cycles, unreadable directories),
    /// sorted by path.
    pub skipped: Vec<Skipped>,
}

/// The session files at `root`: `root` itself when it is a file, else every regular file
/// below it (following symlinks, each directory visited once), without licences, provenance
/// notes, indexes and hidden files.
///
/// # Errors
/// [`FileError::Io`] when `root` does not exist or cannot be read;
/// [`FileError::NotRegular`] when it is neither a directory nor a regular file.
pub fn find_traces(root: &Path) -> Result<TraceFiles, FileError> {
    let meta = fs::metadata(root).map_err(|source| FileError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        regular(root, &meta)?;
        return Ok(TraceFiles {
            files: vec![root.to_path_buf()],
            skipped: Vec::new(),
        });
    }
    let mut out = TraceFiles::default();
    let mut visited = BTreeSet::new();
    visited.insert(identity(root, &meta));
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if dir == root => {
                return Err(FileError::Io {
                    path: dir,
                    source: e,
                });
            }
            Err(e) => {
                out.skipped
                    .push(skip(&dir, format!("cannot read the directory: {e}")));
                continue;
            }
        };
        for entry in entries {
            let path = match entry {
                Ok(entry) => entry.path(),
                Err(e) => {
                    out.skipped
                        .push(skip(&dir, format!("cannot list an entry: {e}")));
                    continue;
                }
            };
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !is_session_name(name) {
                continue;
            }
            // `metadata` follows links; a link whose target is missing fails here.
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    let dangling = fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink());
                    let reason = if dangling {
                        format!("a symlink to nothing ({e})")
                    } else {
                        e.to_string()
                    };
                    out.skipped.push(skip(&path, reason));
                    continue;
                }
            };
            if meta.is_dir() {
                if visited.insert(identity(&path, &meta)) {
                    stack.push(path);
                } else {
                    out.skipped.push(skip(
                        &path,
                        "a directory already walked (a symlink cycle)".into(),
                    ));
                }
            } else if let Err(e) = regular(&path, &meta) {
                out.skipped.push(skip(&path, reason_of(&e)));
            } else {
                out.files.push(path);
            }
        }
    }
    out.files.sort();
    out.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads the session file at `path` and imports it as `format` (detected when `None`).
/// Invalid UTF-8 becomes U+FFFD and is reported as a diagnostic; a UTF-8 byte-order mark is
/// accepted.
///
/// # Errors
/// [`FileError::NotRegular`] for a FIFO, device or directory, [`FileError::TooLarge`],
/// [`FileError::Io`],
/// and [`FileError::Import`] when it is no recorded session.
pub fn import_file(path: &Path, format: Option<Format>) -> Result<Transcript, FileError> {
    let io = |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer comes. The
    // opened handle is checked again, so a path swapped meanwhile cannot slip through.
    regular(path, &fs::metadata(path).map_err(io)?)?;
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    regular(path, &meta)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_TRACE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_TRACE_BYTES {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            bytes: meta.len().max(bytes.len() as u64),
        });
    }
    let (text, bad_utf8) = match String::from_utf8(bytes) {
        Ok(text) => (text, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            (text, Some(at))
        }
    };
    let mut transcript = import(&text, format).map_err(|source| FileError::Import {
        path: path.to_path_buf(),
        source,
    })?;
    if let Some(at) = bad_utf8 {
        transcript.diagnostics.insert(
            0,
            Diagnostic {
                location: format!("byte {at}"),
                message: "invalid UTF-8 (first of possibly several places); replaced by U+FFFD"
                    .to_owned(),
            },
        );
    }
    Ok(transcript)
}

/// Whether a file name can be a session (not a licence, provenance note, index or hidden).
fn is_session_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    !(upper.starts_with("LICENSE")
        || upper.starts_with("SOURCES")
        || upper.starts_with("README")
        || upper.starts_with("INDEX")
        || name.starts_with('.'))
}

fn regular(path: &Path, meta: &Metadata) -> Result<(), FileError> {
    if meta.is_file() {
        if meta.len() > MAX_TRACE_BYTES {
            return Err(FileError::TooLarge {
                path: path.to_path_buf(),
                bytes: meta.len(),
            });
        }
        return Ok(());
    }
    Err(FileError::NotRegular {
        path: path.to_path_buf(),
        kind: kind(meta),
    })
}

fn kind(meta: &Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

fn reason_of(e: &FileError) -> String {
    match e {
        FileError::NotRegular { kind, .. } => format!("not a regular file ({kind})"),
        FileError::TooLarge { bytes, .. } => {
            format!("{bytes} bytes is larger than the {MAX_TRACE_BYTES}-byte limit")
        }
        FileError::Io { source, .. } => source.to_string(),
        FileError::Import { source, .. } => source.to_string(),
    }
}

fn skip(path: &Path, reason: String) -> Skipped {
    Skipped {
        path: path.to_path_buf(),
        reason,
    }
}

/// A directory's identity: device and inode where there are such, else its canonical path.
fn identity(path: &Path, meta: &Metadata) -> (u64, u64, PathBuf) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let _ = path;
        (meta.dev(), meta.ino(), PathBuf::new())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (
            0,
            0,
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        )
    }
}
