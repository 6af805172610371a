//! How many threads the job scores on, and the one way it spreads per-user
//! work over them: contiguous runs of users in id order, results put back
//! in that order, so the output never depends on the thread count.

/// Threads the job fits and applies with: `STRATA_SCORE_THREADS` if set to
/// a positive number, else every core.
pub fn score_threads() -> usize {
    std::env::var("STRATA_SCORE_THREADS")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|threads| *threads > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Fewer items than this per thread and the work stays on the caller's
/// thread (starting a thread costs tens of microseconds).
const MIN_ITEMS_PER_THREAD: usize = 256;

/// `items.into_iter().map(work).collect()` on up to `threads` threads,
/// each mapping one contiguous run of the items with its own `state` (made
/// by `init`); the results are in the items' order, the states in the runs'
/// order. Only for work whose result depends on its item alone: a state
/// may count (integers add up the same in any grouping) but never sum
/// floats across items.
pub(crate) fn map_in_order<T, U, S, I, F>(
    items: Vec<T>,
    threads: usize,
    init: I,
    work: F,
) -> (Vec<U>, Vec<S>)
where
    T: Send,
    U: Send,
    S: Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, T) -> U + Sync,
{
    let threads = threads.clamp(1, (items.len() / MIN_ITEMS_PER_THREAD).max(1));
    let map_run = |run: Vec<T>| {
        let mut state = init();
        let out: Vec<U> = run.into_iter().map(|item| work(&mut state, item)).collect();
        (out, state)
    };
    if threads == 1 {
        let (out, state) = map_run(items);
        return (out, vec![state]);
    }
    let length = items.len().div_ceil(threads);
    let mut runs: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > length {
        let tail = rest.split_off(length);
        runs.push(rest);
        rest = tail;
    }
    runs.push(rest);
    let map_run = &map_run;
    let parts: Vec<(Vec<U>, S)> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || map_run(run)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a scoring thread panicked"))
            .collect()
    });
    let mut out = Vec::with_capacity(parts.iter().map(|(part, _)| part.len()).sum());
    let mut states = Vec::with_capacity(parts.len());
    for (part, state) in parts {
        out.extend(part);
        states.push(state);
    }
    (out, states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_thread_count_keeps_the_order_and_counts() {
        let items = || (0..10_007u64).collect::<Vec<_>>();
        let map = |threads: usize| {
            let (out, states) = map_in_order(
                items(),
                threads,
                || 0u64,
                |odd, item| {
                    *odd += item % 2;
                    item * 3 + 1
                },
            );
            (out, states.len(), states.into_iter().sum::<u64>())
        };
        let (one, runs, odd) = map(1);
        assert_eq!((runs, odd), (1, 5_003));
        assert_eq!(
            one,
            items().iter().map(|item| item * 3 + 1).collect::<Vec<_>>()
        );
        for threads in [2, 3, 8, 64] {
            let (out, runs, counted) = map(threads);
            assert_eq!((out == one, counted), (true, odd), "{threads} threads");
            assert_eq!(runs, threads.min(10_007 / MIN_ITEMS_PER_THREAD));
        }
        let (empty, states) = map_in_order(Vec::<u64>::new(), 4, || (), |(), item| item);
        assert!(empty.is_empty() && states.len() == 1);
    }
}
