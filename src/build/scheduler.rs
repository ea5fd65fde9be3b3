//! Running jobs in dependency order, independent ones in parallel.

use std::collections::BTreeSet;
use std::sync::mpsc;

/// What [`run`] did: the jobs that succeeded (in the order they finished)
/// and the ones that failed. Jobs never started (because a job failed
/// first, or a dependency failed) are in neither.
pub struct Outcome<T, E> {
    pub done: Vec<(usize, T)>,
    pub failed: Vec<(usize, E)>,
}

/// Run jobs `0..deps.len()`; job `i` starts once every job in `deps[i]` has
/// succeeded, at most `jobs` at a time, lower indices first among the ready
/// ones. After a failure no new job starts; the running ones finish (their
/// results are kept: a finished build is a finished build).
pub fn run<T, E, F>(deps: &[Vec<usize>], jobs: usize, work: F) -> Outcome<T, E>
where
    T: Send,
    E: Send,
    F: Fn(usize) -> Result<T, E> + Sync,
{
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut out = Outcome {
        done: Vec::new(),
        failed: Vec::new(),
    };
    let mut panic = None;
    let (tx, rx) = mpsc::channel();
    let work = &work;
    std::thread::scope(|s| {
        let mut running = 0usize;
        loop {
            while out.failed.is_empty() && panic.is_none() && running < jobs.max(1) {
                let Some(i) = ready.pop_first() else { break };
                running += 1;
                let tx = tx.clone();
                s.spawn(move || {
                    // A panicking job must still report, or we would wait forever.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(i)));
                    let _ = tx.send((i, r));
                });
            }
            if running == 0 {
                break;
            }
            let (i, r) = rx.recv().expect("the sender is held by this loop");
            running -= 1;
            match r {
                Ok(Ok(t)) => {
                    out.done.push((i, t));
                    for &j in &dependents[i] {
                        waiting[j] -= 1;
                        if waiting[j] == 0 {
                            ready.insert(j);
                        }
                    }
                }
                Ok(Err(e)) => out.failed.push((i, e)),
                Err(p) => panic = Some(p),
            }
        }
    });
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    #[test]
    fn runs_in_dependency_order_and_in_parallel() {
        // 0 and 1 independent, 2 needs both, 3 needs 2.
        let deps = vec![vec![], vec![], vec![0, 1], vec![2]];
        let running = AtomicUsize::new(0);
        let max = AtomicUsize::new(0);
        let log = Mutex::new(Vec::new());
        let out = run(&deps, 2, |i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            max.fetch_max(now, Ordering::SeqCst);
            // Let the two independent jobs overlap.
            std::thread::sleep(std::time::Duration::from_millis(50));
            log.lock().unwrap().push(i);
            running.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ()>(i * 10)
        });
        let order = log.into_inner().unwrap();
        assert_eq!(order.len(), 4);
        let pos = |x| order.iter().position(|&y| y == x).unwrap();
        assert!(pos(2) > pos(0) && pos(2) > pos(1) && pos(3) > pos(2), "{order:?}");
        assert_eq!(max.load(Ordering::SeqCst), 2, "independent jobs ran at once");
        assert_eq!(out.done.iter().map(|(_, t)| *t).sum::<usize>(), 60);
    }

    #[test]
    fn a_failure_stops_dependents_and_new_jobs() {
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let out = run(&deps, 1, |i| if i == 0 { Err("boom") } else { Ok(i) });
        assert_eq!(out.failed.len(), 1);
        assert_eq!(out.failed[0], (0, "boom"));
        assert!(out.done.is_empty(), "nothing after the failure started with jobs=1");
    }
}
