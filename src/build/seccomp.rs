//! The seccomp filters of build sandboxes, as Nix's sandbox has: a build
//! cannot trace or read other processes' memory (`ptrace`,
//! `process_vm_*`), touch the kernel keyring (`keyctl`, `add_key`,
//! `request_key`), load BPF or kernel modules, mount, swap, reboot, or make
//! namespaces of its own (nested user namespaces are the classic way out
//! of a sandbox's restrictions). Those calls fail with `EPERM`, which
//! programs treat as "not allowed here". `clone3` fails with `ENOSYS`, so
//! the C library falls back to `clone`, whose flags the filter can see.
//!
//! bwrap installs them (`--add-seccomp-fd`) just before it runs the build
//! script, after it has set up the sandbox itself.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// The system calls a build may not make at all.
const DENIED: &[i64] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_unshare,
    libc::SYS_setns,
];

/// `clone` flags that make a namespace: `clone` with any of them is denied.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The filters, as the raw `struct sock_filter` arrays bwrap reads.
pub fn programs() -> Vec<Vec<u8>> {
    let arch = TargetArch::x86_64;
    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = DENIED.iter().map(|&n| (n, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .expect("a valid condition")])
            .expect("a rule with a condition")
        })
        .collect();
    denied.insert(libc::SYS_clone, clone_rules);
    let eperm = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .expect("a valid filter");
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .expect("a valid filter");
    [eperm, clone3]
        .into_iter()
        .map(|f| {
            let prog: BpfProgram = f.try_into().expect("the filter compiles");
            prog.iter()
                .flat_map(|ins| {
                    let mut b = Vec::with_capacity(8);
                    b.extend_from_slice(&ins.code.to_ne_bytes());
                    b.push(ins.jt);
                    b.push(ins.jf);
                    b.extend_from_slice(&ins.k.to_ne_bytes());
                    b
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_filters_compile_to_whole_instructions() {
        let p = super::programs();
        assert_eq!(p.len(), 2);
        for prog in p {
            assert!(!prog.is_empty() && prog.len() % 8 == 0, "{}", prog.len());
        }
    }
}
