//! Limits of one Jsonnet evaluation: how long it may run, how much memory
//! it may take, how deeply its functions may call each other. A definition
//! that recurses without end, or builds an enormous value, stops with a
//! clear error naming the setting instead of running or growing for ever.
//!
//! Time and memory are watched by a thread started with each evaluation
//! ([`Watch`], held by the session): it looks every 10 ms, and past a limit
//! it prints the error and ends the process with exit status 1 (an
//! evaluation holds no store lock and no scratch entry, so nothing is left
//! half-written). Memory is what the process's allocator has handed out
//! beyond what it had when the evaluation started, counted by the `magpkg`
//! binary's allocator ([`ALLOCATED`]); a binary that does not count has no
//! memory limit. Call depth is jrsonnet's own stack limit, set from
//! `evalMaxStack`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bytes the process's allocator has handed out and not taken back, kept
/// by the `magpkg` binary's global allocator.
pub static ALLOCATED: AtomicU64 = AtomicU64::new(0);

/// The limits, as the settings give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time of one evaluation (`None`: no limit).
    pub timeout: Option<Duration>,
    /// Bytes one evaluation may allocate (`None`: no limit).
    pub max_memory: Option<u64>,
    /// Nested function calls (jrsonnet's stack frames).
    pub max_stack: usize,
}

/// Defaults: `evalTimeout` 300 s, `evalMaxMemory` 4 GiB (four times what
/// evaluating 100,000 packages takes, bench/README.md), `evalMaxStack` 200
/// (jrsonnet's own default).
pub const DEFAULT: Limits = Limits {
    timeout: Some(Duration::from_secs(300)),
    max_memory: Some(4 << 30),
    max_stack: 200,
};

static CURRENT: Mutex<Limits> = Mutex::new(DEFAULT);

/// Set the limits of every evaluation from now on (once the settings are
/// known; the config file itself is evaluated under the defaults).
pub fn set(limits: Limits) {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = limits;
}

/// The limits in force.
pub fn current() -> Limits {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Watches one evaluation while it lives.
pub struct Watch {
    done: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    /// Start watching an evaluation under the current limits.
    pub fn start() -> Watch {
        let limits = current();
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        if limits.timeout.is_none() && limits.max_memory.is_none() {
            return Watch { done, thread: None };
        }
        let flag = done.clone();
        let start = Instant::now();
        let base = ALLOCATED.load(Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name("eval-watch".into())
            .spawn(move || {
                let (lock, cv) = &*flag;
                let mut finished = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*finished {
                    if let Some(t) = limits.timeout {
                        if start.elapsed() > t {
                            stop(&format!(
                                "the evaluation ran longer than the evaluation timeout of {} s (evalTimeout / \
                                 MAGPKG_EVAL_TIMEOUT) and was stopped",
                                t.as_secs_f64()
                            ));
                        }
                    }
                    if let Some(max) = limits.max_memory {
                        let used = ALLOCATED.load(Ordering::Relaxed).saturating_sub(base);
                        if used > max {
                            stop(&format!(
                                "the evaluation took more than the evaluation memory limit of {} \
                                 (evalMaxMemory / MAGPKG_EVAL_MAX_MEMORY) and was stopped",
                                human(max)
                            ));
                        }
                    }
                    finished = cv
                        .wait_timeout(finished, Duration::from_millis(10))
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            })
            .ok();
        Watch { done, thread }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Print the error as every error is printed and end the process: the
/// evaluation cannot be interrupted from outside, and it holds nothing
/// that needs cleaning up.
fn stop(message: &str) -> ! {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "error: {message}\nhint: a definition that recurses without end or builds an enormous value? \
         If the input really needs more, raise the limit (doc/settings.md)"
    );
    std::process::exit(crate::error::EXIT_USER)
}

fn human(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else {
        format!("{n} bytes")
    }
}
