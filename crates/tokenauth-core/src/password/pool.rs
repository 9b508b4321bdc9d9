//! The hashing pool: `concurrency` worker threads of its own, fed from one queue of at most
//! `concurrency + max_waiting` hashes (waiting and running together); beyond that a hash is
//! refused at once.
//!
//! A hash that has started holds its worker and its place under the bound until it ends,
//! whatever becomes of the request that asked for it: a client that hangs up cannot free the
//! place while the ~19 MiB hash still runs, so neither memory nor threads can grow past the
//! bound. A request dropped while its hash still waits takes it out of the queue (no work was
//! started for it). The gauges move under the queue's lock, so they always count the hashes
//! really waiting and really running.
//!
//! Written here rather than taken from a crate: tokio's `spawn_blocking` and a semaphore were
//! the bug (the permit went with the dropped future), and the thread-pool crates (`rayon`,
//! `threadpool`) neither bound waiting and running work together nor take a queued job back
//! when its requester leaves.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::error::AuthError;
use crate::telemetry;

/// A hash to run; it hands back how to deliver its result, which the worker calls once the hash
/// no longer counts as running (so a requester that has its answer finds the place free).
type Job = Box<dyn FnOnce() -> Delivery + Send>;

/// Sends a finished hash's result to its requester, if still there.
type Delivery = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads and the queue in front of them. Dropping it lets the threads
/// finish what is queued and exit.
pub(super) struct HashPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
    concurrency: usize,
    max_waiting: usize,
}

struct State {
    /// Hashes waiting for a worker, oldest first.
    queue: VecDeque<Queued>,
    /// Hashes running on a worker now.
    running: usize,
    next_id: u64,
    /// False once the pool is dropped: the workers exit when the queue is empty.
    open: bool,
}

struct Queued {
    id: u64,
    job: Job,
}

impl HashPool {
    /// Starts `concurrency` (at least one) hashing threads with room for `max_waiting` more
    /// hashes to wait.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if a thread cannot be started.
    pub(super) fn start(concurrency: usize, max_waiting: usize) -> Result<Self, AuthError> {
        let concurrency = concurrency.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                running: 0,
                next_id: 0,
                open: true,
            }),
            work: Condvar::new(),
            concurrency,
            max_waiting,
        });
        let pool = Self { shared };
        for index in 0..concurrency {
            let shared = Arc::clone(&pool.shared);
            std::thread::Builder::new()
                .name(format!("tokenauth-hash-{index}"))
                .spawn(move || shared.work_until_closed())
                // Dropping `pool` here stops the threads already started.
                .map_err(|e| AuthError::Internal(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(pool)
    }

    /// Runs `work` on a hashing thread and returns its result.
    ///
    /// # Errors
    /// [`AuthError::Overloaded`] at once when the bound is reached; [`AuthError::Internal`] if
    /// the work panicked; else whatever `work` returns.
    pub(super) async fn run<T, F>(&self, work: F) -> Result<T, AuthError>
    where
        F: FnOnce() -> Result<T, AuthError> + Send + 'static,
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A panicking hash answers an error and leaves its worker (and place) intact.
            let result = std::panic::catch_unwind(AssertUnwindSafe(work))
                .unwrap_or_else(|_| Err(AuthError::Internal("the hash panicked".into())));
            Box::new(move || {
                // The requester may be gone: the hash still ran to its end, holding its place.
                let _ = answer.send(result);
            })
        });
        let id = self.shared.submit(job)?;
        let mut waiting = Withdraw {
            shared: &self.shared,
            id,
            armed: true,
        };
        let answer = answered.await;
        // An answer (or a dropped sender) means a worker took the job: nothing to withdraw.
        waiting.armed = false;
        answer.map_err(|_| AuthError::Internal("the hash ended without an answer".into()))?
    }

    /// The hashes waiting and running now, read together.
    pub(super) fn load(&self) -> Load {
        let state = self.shared.lock();
        Load {
            waiting: state.queue.len(),
            running: state.running,
        }
    }
}

/// What a pool holds at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Load {
    /// Hashes waiting for a worker.
    pub(super) waiting: usize,
    /// Hashes running on a worker.
    pub(super) running: usize,
}

impl Drop for HashPool {
    fn drop(&mut self) {
        self.shared.lock().open = false;
        self.shared.work.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; a poisoned one still holds consistent counts.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job` unless waiting and running hashes already fill the bound.
    fn submit(&self, job: Job) -> Result<u64, AuthError> {
        let mut state = self.lock();
        if state.queue.len() + state.running >= self.concurrency + self.max_waiting {
            drop(state);
            telemetry::hash_rejected();
            return Err(AuthError::Overloaded);
        }
        let id = state.next_id;
        state.next_id = state.next_id.wrapping_add(1);
        state.queue.push_back(Queued { id, job });
        telemetry::hash_queue(1.0);
        drop(state);
        self.work.notify_one();
        Ok(id)
    }

    /// Takes job `id` out of the queue if no worker has started it; returns it, so that it is
    /// dropped outside the lock.
    fn withdraw(&self, id: u64) -> Option<Job> {
        let mut state = self.lock();
        let position = state.queue.iter().position(|queued| queued.id == id)?;
        let queued = state.queue.remove(position)?;
        telemetry::hash_queue(-1.0);
        Some(queued.job)
    }

    /// A worker's life: take the oldest job, run it, count it done; exit once the pool is
    /// closed and the queue is empty.
    fn work_until_closed(&self) {
        loop {
            let job = {
                let mut state = self.lock();
                loop {
                    if let Some(queued) = state.queue.pop_front() {
                        state.running += 1;
                        telemetry::hash_queue(-1.0);
                        telemetry::hashes_in_flight(1.0);
                        break queued.job;
                    }
                    if !state.open {
                        return;
                    }
                    state = self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            // `job` catches the work's panic itself; this only keeps the worker alive should the
            // rest of it panic (its requester then gets an error when the answer is dropped).
            let delivery = std::panic::catch_unwind(AssertUnwindSafe(job));
            {
                let mut state = self.lock();
                state.running -= 1;
                telemetry::hashes_in_flight(-1.0);
            }
            if let Ok(deliver) = delivery {
                deliver();
            }
        }
    }
}

/// Withdraws a request's job from the queue when the request is dropped before a worker took
/// the job (the client hung up while it waited).
struct Withdraw<'a> {
    shared: &'a Shared,
    id: u64,
    armed: bool,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        if self.armed {
            drop(self.shared.withdraw(self.id));
        }
    }
}
