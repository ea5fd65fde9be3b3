//! Running jobs in dependency order, independent ones in parallel.

use std::collections::BTreeSet;
use std::sync::mpsc;

/// What [`run`] did: the jobs that succeeded (in the order they finished)
/// and the ones that failed. Jobs never started (because a job failed
/// first, or a dependency failed) are in neither; `stranded` lists the
/// ready jobs left when every group of slots was gone.
pub struct Outcome<T, E> {
    pub done: Vec<(usize, T)>,
    pub failed: Vec<(usize, E)>,
    pub stranded: Vec<usize>,
}

/// How a job ended on a group of slots.
pub enum Attempt<T, E> {
    Done(T),
    Failed(E),
    /// The group is gone (a remote builder died): it gets no more jobs, and
    /// this one is run again on another group.
    Retry,
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
    run_groups(
        deps,
        &[jobs.max(1)],
        &[0],
        |_| false,
        |_, i| match work(i) {
            Ok(t) => Attempt::Done(t),
            Err(e) => Attempt::Failed(e),
        },
    )
}

/// [`run`] over several groups of slots: group `g` runs at most
/// `capacity[g]` jobs at once (group 0 is this machine, the others remote
/// builders). A ready job goes to the group with the most free slots (a
/// remote one among equals: the builders are there to take work off this
/// machine), or to group 0 when `prefer_first(job)` and it has a free slot.
/// When no group has a free slot, a group may still take up to `spare[g]`
/// more (a remote builder queues it behind its running builds, so that it
/// never idles while this machine stores an output). A group that answers
/// [`Attempt::Retry`] is closed and the job made ready again.
pub fn run_groups<T, E, F, P>(
    deps: &[Vec<usize>],
    capacity: &[usize],
    spare: &[usize],
    prefer_first: P,
    work: F,
) -> Outcome<T, E>
where
    T: Send,
    E: Send,
    F: Fn(usize, usize) -> Attempt<T, E> + Sync,
    P: Fn(usize) -> bool,
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
        stranded: Vec::new(),
    };
    let mut capacity = capacity.to_vec();
    let mut busy = vec![0usize; capacity.len()];
    let mut panic = None;
    let (tx, rx) = mpsc::channel();
    let work = &work;
    std::thread::scope(|s| {
        let mut running = 0usize;
        loop {
            while out.failed.is_empty() && panic.is_none() {
                let Some(&i) = ready.first() else { break };
                let free = |g: usize| capacity[g].saturating_sub(busy[g]);
                let group = if prefer_first(i) && free(0) > 0 {
                    Some(0)
                } else {
                    (0..capacity.len())
                        .filter(|&g| free(g) > 0)
                        .max_by_key(|&g| (free(g), g != 0, std::cmp::Reverse(g)))
                        .or_else(|| (0..capacity.len()).find(|&g| capacity[g] > 0 && busy[g] < capacity[g] + spare[g]))
                };
                let Some(g) = group else { break };
                ready.remove(&i);
                busy[g] += 1;
                running += 1;
                let tx = tx.clone();
                s.spawn(move || {
                    // A panicking job must still report, or we would wait forever.
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(g, i)));
                    let _ = tx.send((g, i, r));
                });
            }
            if running == 0 {
                break;
            }
            let (g, i, r) = rx.recv().expect("the sender is held by this loop");
            running -= 1;
            busy[g] -= 1;
            match r {
                Ok(Attempt::Done(t)) => {
                    out.done.push((i, t));
                    for &j in &dependents[i] {
                        waiting[j] -= 1;
                        if waiting[j] == 0 {
                            ready.insert(j);
                        }
                    }
                }
                Ok(Attempt::Failed(e)) => out.failed.push((i, e)),
                Ok(Attempt::Retry) => {
                    capacity[g] = 0;
                    ready.insert(i);
                }
                Err(p) => panic = Some(p),
            }
        }
    });
    if let Some(p) = panic {
        std::panic::resume_unwind(p);
    }
    if out.failed.is_empty() {
        out.stranded = ready.into_iter().collect();
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

    #[test]
    fn a_lost_group_gets_no_more_jobs_and_its_job_runs_elsewhere() {
        // Four independent jobs; group 1 (one slot) fails its first job.
        let deps = vec![vec![], vec![], vec![], vec![]];
        let ran = Mutex::new(Vec::new());
        let out = run_groups(
            &deps,
            &[1, 1],
            &[0, 0],
            |_| false,
            |g, i| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                ran.lock().unwrap().push((g, i));
                if g == 1 {
                    Attempt::Retry
                } else {
                    Attempt::<_, ()>::Done(i)
                }
            },
        );
        let ran = ran.into_inner().unwrap();
        assert_eq!(ran.iter().filter(|(g, _)| *g == 1).count(), 1, "{ran:?}");
        let mut done: Vec<usize> = out.done.iter().map(|(i, _)| *i).collect();
        done.sort();
        assert_eq!(done, vec![0, 1, 2, 3]);
        assert!(out.failed.is_empty() && out.stranded.is_empty());
    }

    #[test]
    fn jobs_left_when_every_group_is_gone_are_stranded() {
        // No local slot (group 0 has capacity 0), one remote that dies.
        let deps = vec![vec![], vec![0]];
        let out = run_groups(&deps, &[0, 2], &[0, 1], |_| false, |_, _| Attempt::<(), ()>::Retry);
        assert!(out.done.is_empty());
        assert_eq!(out.stranded, vec![0]);
    }

    #[test]
    fn ready_jobs_go_to_the_group_with_most_free_slots_and_builtins_stay_home() {
        let deps = vec![vec![]; 3];
        let groups = Mutex::new(vec![None; 3]);
        run_groups(
            &deps,
            &[1, 2],
            &[0, 0],
            |i| i == 2,
            |g, i| {
                std::thread::sleep(std::time::Duration::from_millis(30));
                groups.lock().unwrap()[i] = Some(g);
                Attempt::<(), ()>::Done(())
            },
        );
        let groups = groups.into_inner().unwrap();
        // Job 0: group 1 has 2 free slots; job 1: 1 free each, the remote
        // group wins; job 2 prefers local, which is free.
        assert_eq!(groups, vec![Some(1), Some(1), Some(0)]);
    }

    #[test]
    fn spare_slots_are_used_only_when_no_group_has_a_free_one() {
        // Three independent jobs, local 1 slot, remote 1 slot + 1 spare.
        let deps = vec![vec![]; 3];
        let running = Mutex::new(vec![0usize; 2]);
        let max = Mutex::new(vec![0usize; 2]);
        let out = run_groups(
            &deps,
            &[1, 1],
            &[0, 1],
            |_| false,
            |g, _| {
                {
                    let mut r = running.lock().unwrap();
                    r[g] += 1;
                    let mut m = max.lock().unwrap();
                    m[g] = m[g].max(r[g]);
                }
                std::thread::sleep(std::time::Duration::from_millis(40));
                running.lock().unwrap()[g] -= 1;
                Attempt::<(), ()>::Done(())
            },
        );
        assert_eq!(out.done.len(), 3);
        // The remote took its slot and its spare, this machine one.
        assert_eq!(*max.lock().unwrap(), vec![1, 2]);
    }
}
