//! Bounded password hashing on its own threads. argon2id costs 19 MiB and tens of
//! milliseconds, so a flood of logins must queue rather than exhaust memory, and must not take
//! the processor from data requests: the hashing threads run at a lower scheduling priority
//! (nice [`HASHING_NICENESS`]), so the kernel gives the cores to request handling first and
//! to hashing what is left.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, OnceLock};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{mpsc, oneshot};

/// The niceness of hashing threads (0 is normal, 19 the lowest priority): each weighs about a
/// tenth of a request thread, without starving logins when the server is busy.
pub const HASHING_NICENESS: i32 = 10;
/// [`HASHING_NICENESS`] on `thread_priority`'s 0–99 scale, which it maps onto niceness
/// 19 … -20 as `-20 + 39 × (1 − p / 99)`, truncated (a test checks the niceness itself).
const HASHING_PRIORITY: u8 = 22;
/// Hashes waiting beyond those running; callers wait (asynchronously) when it is full.
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone)]
pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    /// A real hash of a random password, verified against when the account does not exist so
    /// that unknown and known emails cost the same time. Made by the first verification of
    /// either kind (so that one costs two hashes whichever it is), not at start: its 19 MiB
    /// would otherwise stay in the allocator's cache of an idle server.
    dummy: Arc<OnceLock<Option<String>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing is unavailable")]
pub struct HashUnavailable;

impl PasswordHasher {
    /// Starts `concurrency` hashing threads: at most that many hashes run at once.
    pub fn new(concurrency: usize) -> Result<Self, HashUnavailable> {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("rampart-hash-{i}"))
                .spawn(move || hashing_thread(&queue))
                .map_err(|_| HashUnavailable)?;
        }
        Ok(Self {
            jobs,
            dummy: Arc::default(),
        })
    }

    /// Runs `work` on a hashing thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashUnavailable> {
        let (done, answer) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = done.send(work());
            }))
            .await
            .map_err(|_| HashUnavailable)?;
        answer.await.map_err(|_| HashUnavailable)
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, HashUnavailable> {
        let password = password.clone();
        self.run(move || rampart_crypto::hash_password(password.expose_secret()))
            .await?
            .map_err(|_| HashUnavailable)
    }

    /// Verifies against `phc`, or against the dummy hash when `phc` is `None`
    /// (then the answer is always false, after the same work).
    pub async fn verify(
        &self,
        password: &SecretString,
        phc: Option<&str>,
    ) -> Result<bool, HashUnavailable> {
        let password = password.clone();
        let (phc, dummy) = (phc.map(str::to_owned), self.dummy.clone());
        self.run(move || {
            let dummy = dummy.get_or_init(|| {
                let random = hex_of(&rampart_crypto::random_bytes::<16>());
                rampart_crypto::hash_password(&random).ok()
            });
            match (phc, dummy) {
                (Some(phc), _) => Ok(rampart_crypto::verify_password(
                    password.expose_secret(),
                    &phc,
                )),
                (None, Some(dummy)) => {
                    rampart_crypto::verify_password(password.expose_secret(), dummy);
                    Ok(false)
                }
                (None, None) => Err(HashUnavailable),
            }
        })
        .await?
    }
}

fn hashing_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    let lowered = thread_priority::ThreadPriorityValue::try_from(HASHING_PRIORITY)
        .ok()
        .map(|p| {
            thread_priority::set_current_thread_priority(
                thread_priority::ThreadPriority::Crossplatform(p),
            )
        });
    if !matches!(lowered, Some(Ok(()))) {
        tracing::warn!("could not lower the priority of a password hashing thread");
    }
    loop {
        // One idle thread waits on the queue at a time; the others wait for the lock.
        let job = match queue.lock() {
            Ok(mut q) => q.blocking_recv(),
            Err(_) => None,
        };
        let Some(job) = job else { return };
        // A panicking job answers nothing (its caller sees the hasher as unavailable); the
        // thread stays.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niceness of the calling thread, from the kernel's own account.
    fn own_niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // Fields after the command name (which ends with ')'): state is field 3, nice is 19.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[tokio::test]
    async fn hashing_runs_on_threads_of_lower_priority() {
        let hasher = PasswordHasher::new(1).unwrap();
        let (request_thread, hashing) = (own_niceness(), hasher.run(own_niceness).await.unwrap());
        assert_eq!(hashing, request_thread + HASHING_NICENESS);
    }

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_pass() {
        let hasher = PasswordHasher::new(2).unwrap();
        let password = SecretString::from("correct horse battery staple");
        let phc = hasher.hash(&password).await.unwrap();
        assert!(hasher.verify(&password, Some(&phc)).await.unwrap());
        let wrong = SecretString::from("wrong horse battery staple");
        assert!(!hasher.verify(&wrong, Some(&phc)).await.unwrap());
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_panicking_job_leaves_the_thread_working() {
        let hasher = PasswordHasher::new(1).unwrap();
        assert!(hasher.run(|| panic!("boom")).await.is_err());
        assert_eq!(hasher.run(|| 7).await.unwrap(), 7);
    }
}
