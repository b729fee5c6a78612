//! The evaluation's output directory: pagevm writes, replaces and removes only the files its
//! own manifest lists, so an output directory shared with anything else loses nothing.
//!
//! The manifest (`.pagevm-eval-manifest`, one relative path per line) names every file an
//! earlier run wrote. A run may overwrite or remove a listed file; a file that exists but is
//! not listed was not written by pagevm and stops the run before anything is written. The
//! manifest is widened to the union of the old and new files before any file is written and
//! narrowed to the new ones after the stale ones are removed, so a run killed at any point
//! still lists every file pagevm wrote.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::EvalError;

/// The manifest's file name inside the output directory.
pub const MANIFEST: &str = ".pagevm-eval-manifest";

const HEADER: &str = "# Files written by `pagevm eval`: it replaces or removes only these.";

/// An output directory made ready for a run: created, known to be writable, and with the set
/// of files an earlier run wrote there.
#[derive(Debug)]
pub struct OutputDir {
    dir: PathBuf,
    owned: BTreeSet<String>,
}

impl OutputDir {
    /// Creates `dir` when absent, reads its manifest and proves it writable by rewriting the
    /// manifest, before any computation starts.
    ///
    /// # Errors
    /// [`EvalError::OutputOverlapsInput`] when `dir` and one of `inputs` (directories the run
    /// reads) contain one another; [`EvalError::WriteOutput`] when `dir` cannot be created or
    /// written; [`EvalError::BadManifest`] when the manifest names a path outside `dir`.
    pub fn prepare(dir: &Path, inputs: &[&Path]) -> Result<Self, EvalError> {
        fs::create_dir_all(dir).map_err(write_err(dir))?;
        let canonical = fs::canonicalize(dir).map_err(write_err(dir))?;
        for input in inputs {
            // An input that does not exist cannot be overwritten; the run reports it itself.
            let Ok(input_canonical) = fs::canonicalize(input) else {
                continue;
            };
            if input_canonical.starts_with(&canonical) || canonical.starts_with(&input_canonical) {
                return Err(EvalError::OutputOverlapsInput {
                    output: dir.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
        let owned = read_manifest(dir)?;
        let out = Self {
            dir: dir.to_path_buf(),
            owned,
        };
        out.write_manifest(&out.owned)?;
        Ok(out)
    }

    /// The directory.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `files` (`(relative path, contents)`), then removes the files of the previous
    /// run that this one did not write.
    ///
    /// # Errors
    /// [`EvalError::NotOurs`] when a file to write exists and the manifest does not list it
    /// (nothing is written then); [`EvalError::BadManifest`] for a path that would leave the
    /// directory; [`EvalError::WriteOutput`] naming the path that could not be written.
    pub fn replace_with<'a>(
        &mut self,
        files: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Result<(), EvalError> {
        let fresh: BTreeSet<String> = files
            .clone()
            .into_iter()
            .map(|(p, _)| p.to_owned())
            .collect();
        for rel in &fresh {
            check_relative(rel)?;
            let path = self.dir.join(rel);
            if !self.owned.contains(rel) && fs::symlink_metadata(&path).is_ok() {
                return Err(EvalError::NotOurs { path });
            }
        }
        let union: BTreeSet<String> = self.owned.union(&fresh).cloned().collect();
        self.write_manifest(&union)?;
        for (rel, text) in files {
            let path = self.dir.join(rel);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(write_err(parent))?;
            }
            fs::write(&path, text).map_err(write_err(&path))?;
        }
        for stale in self.owned.difference(&fresh) {
            let path = self.dir.join(stale);
            match fs::symlink_metadata(&path) {
                // Only a regular file can be one pagevm wrote; anything else is left alone.
                Ok(meta) if meta.is_file() => {
                    fs::remove_file(&path).map_err(write_err(&path))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(write_err(&path)(e)),
            }
        }
        self.write_manifest(&fresh)?;
        self.owned = fresh;
        Ok(())
    }

    fn write_manifest(&self, files: &BTreeSet<String>) -> Result<(), EvalError> {
        let mut text = String::from(HEADER);
        text.push('\n');
        for f in files {
            text.push_str(f);
            text.push('\n');
        }
        let path = self.dir.join(MANIFEST);
        let tmp = self.dir.join(format!("{MANIFEST}.tmp"));
        fs::write(&tmp, text).map_err(write_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(write_err(&path))
    }
}

fn read_manifest(dir: &Path) -> Result<BTreeSet<String>, EvalError> {
    let path = dir.join(MANIFEST);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(write_err(&path)(e)),
    };
    let mut owned = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        check_relative(line)?;
        owned.insert(line.to_owned());
    }
    Ok(owned)
}

/// A manifest path stays inside the directory: relative, no `..`, not the manifest itself.
fn check_relative(rel: &str) -> Result<(), EvalError> {
    let path = Path::new(rel);
    let inside = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if inside && !rel.is_empty() && !rel.starts_with(MANIFEST) {
        Ok(())
    } else {
        Err(EvalError::BadManifest {
            entry: rel.to_owned(),
        })
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError {
    let path = path.to_path_buf();
    move |source| EvalError::WriteOutput { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files<'a>(names: &'a [&'a str]) -> Vec<(&'a str, &'a str)> {
        names.iter().map(|n| (*n, "x")).collect()
    }

    #[test]
    fn a_second_run_replaces_its_own_files_and_keeps_everything_else() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir_all(dir.join("traces")).unwrap();
        fs::write(dir.join("traces/mine.jsonl"), "user data").unwrap();
        let mut out = OutputDir::prepare(&dir, &[]).unwrap();
        // A file pagevm did not write stops the run before anything is written.
        let err = out
            .replace_with(files(&["summary.json", "traces/mine.jsonl"]))
            .unwrap_err();
        assert!(matches!(err, EvalError::NotOurs { .. }), "{err}");
        assert!(!dir.join("summary.json").exists());
        out.replace_with(files(&["summary.json", "traces/a.jsonl", "traces/b.jsonl"]))
            .unwrap();
        let mut again = OutputDir::prepare(&dir, &[]).unwrap();
        again
            .replace_with(files(&["summary.json", "traces/a.jsonl"]))
            .unwrap();
        assert!(dir.join("traces/a.jsonl").exists());
        assert!(
            !dir.join("traces/b.jsonl").exists(),
            "a stale file of ours is removed"
        );
        assert_eq!(
            fs::read_to_string(dir.join("traces/mine.jsonl")).unwrap(),
            "user data"
        );
        let manifest = fs::read_to_string(dir.join(MANIFEST)).unwrap();
        assert!(
            manifest.ends_with("summary.json\ntraces/a.jsonl\n"),
            "{manifest}"
        );
    }

    #[test]
    fn an_output_that_holds_or_sits_in_an_input_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("proj");
        let traces = out.join("traces");
        fs::create_dir_all(&traces).unwrap();
        for (o, i) in [(&out, &traces), (&traces, &out), (&out, &out)] {
            let err = OutputDir::prepare(o, &[i.as_path()]).unwrap_err();
            assert!(
                matches!(err, EvalError::OutputOverlapsInput { .. }),
                "{err}"
            );
        }
        OutputDir::prepare(&tmp.path().join("elsewhere"), &[traces.as_path()]).unwrap();
    }

    #[test]
    fn a_manifest_cannot_point_outside_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(MANIFEST), "../../etc/passwd\n").unwrap();
        let err = OutputDir::prepare(tmp.path(), &[]).unwrap_err();
        assert!(matches!(err, EvalError::BadManifest { .. }), "{err}");
    }
}
