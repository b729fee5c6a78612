//! The async-friendly facade: an [`Engine`] on a thread of its own, driven by messages.
//!
//! The engine is synchronous and its store may block (SQLite fsyncs at every boundary). An
//! async harness must not run that on an executor's worker, so [`EngineHandle`] owns the
//! engine on a dedicated thread; each call is a closure sent to it, and its result comes back
//! through a oneshot channel the caller awaits. The oneshot is runtime-agnostic: the handle
//! works under tokio or any other executor, and the engine's calls stay strictly ordered.

use std::sync::mpsc;
use std::thread::JoinHandle;

use thiserror::Error;
use tokio::sync::oneshot;

use crate::engine::Engine;

type Job<S, C> = Box<dyn FnOnce(&mut Engine<S, C>) + Send>;

/// The engine thread is gone: it panicked, or the handle was shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the engine thread has stopped")]
pub struct EngineStopped;

/// An engine running on its own thread.
pub struct EngineHandle<S, C> {
    jobs: Option<mpsc::Sender<Job<S, C>>>,
    thread: Option<JoinHandle<Engine<S, C>>>,
}

impl<S, C> std::fmt::Debug for EngineHandle<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("running", &self.jobs.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Send + 'static, C: Send + 'static> EngineHandle<S, C> {
    /// Moves `engine` to a new thread.
    ///
    /// # Errors
    /// The OS error when the thread cannot be started.
    pub fn spawn(engine: Engine<S, C>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job<S, C>>();
        let thread = std::thread::Builder::new()
            .name("pagevm-engine".to_owned())
            .spawn(move || {
                let mut engine = engine;
                while let Ok(job) = rx.recv() {
                    job(&mut engine);
                }
                engine
            })?;
        Ok(Self {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `f` on the engine thread and awaits its result. Calls run in the order they
    /// were made.
    ///
    /// # Errors
    /// [`EngineStopped`] when the engine thread is gone.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Engine<S, C>) -> R + Send + 'static,
    ) -> Result<R, EngineStopped> {
        let (tx, rx) = oneshot::channel();
        let job: Job<S, C> = Box::new(move |engine| {
            // The caller may have stopped waiting; the work is done either way.
            let _sent = tx.send(f(engine));
        });
        self.jobs
            .as_ref()
            .ok_or(EngineStopped)?
            .send(job)
            .map_err(|_| EngineStopped)?;
        rx.await.map_err(|_| EngineStopped)
    }

    /// Stops the thread after the calls already sent and gives the engine back (for
    /// [`Engine::session_end`]). Blocks until the thread finishes: call it from a blocking
    /// context.
    ///
    /// # Errors
    /// [`EngineStopped`] when the thread panicked.
    pub fn into_engine(mut self) -> Result<Engine<S, C>, EngineStopped> {
        self.jobs = None;
        self.thread
            .take()
            .ok_or(EngineStopped)?
            .join()
            .map_err(|_| EngineStopped)
    }
}

impl<S, C> Drop for EngineHandle<S, C> {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop; it is not joined here, so dropping a
        // handle on an async worker never blocks it.
        self.jobs = None;
    }
}
