//! A fixed set of threads for the CPU work of a request (parsing, policy,
//! redaction, hashing): `serve` uses two per core.
//!
//! Why not `spawn_blocking`: tokio's blocking pool grows a thread per
//! waiting task (up to 512). Sixteen connections posting at once became
//! sixteen threads parsing on two cores — no faster — each allocating from
//! its own malloc arena, which keeps what it freed (glibc makes up to eight
//! arenas per core): with 16 apiservers' load the server's peak RSS was
//! 331–348 MB that way and 240–258 MB with this pool (bench/ingest.sh, three
//! runs each). Beyond the threads the work queues in arrival order. One
//! thread per core was tried too: as low in memory, but the p99 latency
//! was worse, since two threads get a smaller share of the CPU beside the
//! IO threads, the journal writer and the index than sixteen did.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A pool of CPU threads; dropping it lets the threads finish their queue
/// and exit.
#[derive(Debug)]
pub struct CpuPool {
    jobs: mpsc::Sender<Job>,
    threads: usize,
}

/// The job gave no answer: it panicked, or the pool's threads are gone.
#[derive(Debug, thiserror::Error)]
#[error("the CPU pool's thread stopped before answering")]
pub struct PoolGone;

impl CpuPool {
    /// A pool of `threads` threads (at least one) named `name`.
    pub fn new(name: &str, threads: usize) -> std::io::Result<CpuPool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = threads.max(1);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || loop {
                    // Hold the lock only to take a job, not to run it.
                    let job = {
                        let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
                        rx.recv()
                    };
                    match job {
                        // A job that panics answers nothing (its caller
                        // gets `PoolGone`); the thread goes on.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(mpsc::RecvError) => return,
                    }
                })?;
        }
        Ok(CpuPool { jobs: tx, threads })
    }

    /// A pool with `per_core` threads per core.
    pub fn per_core(name: &str, per_core: usize) -> std::io::Result<CpuPool> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        CpuPool::new(name, cores * per_core)
    }

    /// How many threads run jobs.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on one of the pool's threads, in arrival order, and returns
    /// its result.
    pub async fn run<T, F>(&self, f: F) -> Result<T, PoolGone>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        self.jobs.send(job).map_err(|_| PoolGone)?;
        rx.await.map_err(|_| PoolGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_on_its_own_named_threads() {
        let pool = CpuPool::new("test-cpu", 2).expect("pool");
        let names: Vec<String> = thread_names_of(&pool, 8).await;
        assert_eq!(names.len(), 8);
        assert!(
            names.iter().all(|n| n.starts_with("test-cpu-")),
            "{names:?}"
        );
        assert_eq!(pool.threads(), 2);
    }

    /// The names of the threads that ran `n` jobs, one after another.
    async fn thread_names_of(pool: &CpuPool, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let name = pool
                .run(|| std::thread::current().name().unwrap_or_default().to_owned())
                .await
                .expect("answer");
            out.push(name);
        }
        out
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_not_a_hang() {
        let pool = CpuPool::new("test-panic", 1).expect("pool");
        let answer = pool.run(|| -> u32 { panic!("job panics") }).await;
        assert!(answer.is_err());
        // The pool's only thread survived it.
        let later = pool.run(|| 7u32).await;
        assert_eq!(later.ok(), Some(7));
    }
}
