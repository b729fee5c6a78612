//! Errors of the replay harness: a workload that does not validate, or an output that cannot be
//! written.

use std::path::PathBuf;

use thiserror::Error;

/// Why an evaluation could not run or write its results.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A generated or hand-built workload was rejected by the policy crate's validation.
    #[error("workload {workload} is invalid: {reason}")]
    InvalidWorkload {
        /// The workload id.
        workload: String,
        /// The validation error, as the policy crate reported it.
        reason: String,
    },
    /// A workload generator built an id or signature page-core rejects (a generator bug).
    #[error("workload generator produced an invalid value: {0}")]
    Generate(String),
    /// A summary or trace could not be serialized.
    #[error("could not serialize evaluation output: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The directory of recorded sessions could not be walked.
    #[error("recorded sessions: {0}")]
    Traces(#[source] page_import::FileError),
    /// The tokenizer for the real-session replay could not be built.
    #[error("could not build the tokenizer for the real-session replay: {0}")]
    Tokenizer(String),
    /// The lifecycle engine or its store failed outright while running an end-to-end gate.
    #[error("engine gate could not run: {0}")]
    Engine(String),
    /// An output file or directory could not be written.
    #[error("could not write {path}: {source}")]
    WriteOutput {
        /// The file or directory.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The output directory and a directory the run reads contain one another: writing the
    /// results could overwrite the inputs, or the next run would read its own results.
    #[error(
        "--out {output} and {input} overlap (one contains the other): choose an output directory outside the inputs"
    )]
    OutputOverlapsInput {
        /// The output directory.
        output: PathBuf,
        /// The input directory.
        input: PathBuf,
    },
    /// A file to be written exists and pagevm's manifest does not list it.
    #[error(
        "{path} exists and pagevm did not write it (not in the output's .pagevm-eval-manifest): move it away or choose another --out; nothing was written"
    )]
    NotOurs {
        /// The file.
        path: PathBuf,
    },
    /// The output manifest names a path outside the output directory.
    #[error("the output manifest lists {entry:?}, which is not a path inside the output directory")]
    BadManifest {
        /// The offending line.
        entry: String,
    },
}
