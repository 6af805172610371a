// The global allocator and how the process uses the OS's pages: shared by
// the `strata` binary (`mod allocator`) and the benches
// (`benches/support/allocator.rs` includes this file), so a bench measures
// what the binary runs. No inner doc comment: `include!` takes items only.

/// mimalloc, chosen by measurement (issue 5; `Cargo.toml` has the figures).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process, unless
/// `MIMALLOC_ALLOW_THP` says otherwise: call first thing in `main`.
///
/// mimalloc asks for huge pages on its arenas (`madvise(MADV_HUGEPAGE)`),
/// so every first touch of a fresh 2 MiB region makes the kernel zero all
/// 2 MiB, and the job's large short-lived vectors touch fresh regions all
/// the time. Measured (issue 22, `cargo bench --bench recompute`, 200k
/// users, 2 cores, idle machine): the one-thread read took 5.30 s with
/// huge pages and 1.76 s without, the whole recompute 20.7 s and 17.0 s,
/// and system time fell from 11.0 s to 1.5 s; 37% of all samples were
/// `clear_page_erms` under `do_huge_pmd_anonymous_page`. The kernel checks
/// the flag at each page fault, so regions mapped before `main` are
/// covered too. The flag is the one `MIMALLOC_ALLOW_THP=0` sets, and it is
/// inherited by child processes (the CLI starts none that care).
pub fn tune_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and
        // touches no memory of ours; a failure (an old kernel) leaves the
        // default, which is only slower.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}
