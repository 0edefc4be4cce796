//! One measured child process of `eddy bench`: its wall time and its peak
//! resident memory as the kernel saw it.
//!
//! Eddy's own runs print their peak (VmHWM) on standard error, but the
//! peers (Python interpreters, a JVM) print nothing of the kind, so the
//! child is reaped with `wait4`, whose `ru_maxrss` is the largest resident
//! set of the child and of every descendant it waited for (the kernel
//! reports `RUSAGE_BOTH` for a reaped child). That is the largest single
//! process of the run, not the sum of them. Standard output and error go
//! to files (`<stem>.out`, `<stem>.err`), so a chatty child never blocks
//! on a full pipe; standard output is read back, standard error is quoted
//! when the child fails.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one finished child did.
pub(super) struct ChildRun {
    /// From spawn to exit.
    pub elapsed: Duration,
    /// `ru_maxrss` of the reaped child, in MiB (`None` if the kernel gave 0).
    pub peak_mib: Option<f64>,
    /// Its standard output.
    pub stdout: String,
}

/// Runs `command` to its end with standard output and error captured in
/// `log_stem.out` / `log_stem.err`; an error when it cannot start, is
/// killed, or exits non-zero (with the end of its standard error).
pub(super) fn run_measured(
    command: &mut Command,
    label: &str,
    log_stem: &Path,
) -> Result<ChildRun, String> {
    let out_path = log_stem.with_extension("out");
    let err_path = log_stem.with_extension("err");
    let create = |path: &Path| {
        std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    command
        .stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?);
    let started = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {label}: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| format!("{label}: {e}"))?;
    let (status, usage) = wait4(pid).map_err(|e| format!("{label} did not finish: {e}"))?;
    let elapsed = started.elapsed();
    // The child is reaped: `child` must not be waited for again, only dropped.
    drop(child);
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let stdout = read(&out_path);
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let how = if libc::WIFEXITED(status) {
            format!("exit status {}", libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("wait status {status}")
        };
        let stderr = read(&err_path);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{label} failed ({how}); its standard error ({}) ends:\n{}",
            err_path.display(),
            tail.join("\n")
        ));
    }
    // ru_maxrss is in KiB on Linux.
    let peak_kib = usage.ru_maxrss as f64;
    Ok(ChildRun {
        elapsed,
        peak_mib: (peak_kib > 0.0).then_some(peak_kib / 1024.0),
        stdout,
    })
}

/// Waits for `pid` (retrying on EINTR): its wait status and resource usage.
fn wait4(pid: libc::pid_t) -> std::io::Result<(libc::c_int, libc::rusage)> {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; wait4 fills it for our own child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are to live locals of the right types.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_is_timed_and_its_peak_memory_and_output_are_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A shell that touches about 64 MiB must have a peak above that.
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "head -c 67108864 /dev/zero | tail -c 67108864 >/dev/null; echo done; echo note >&2",
        ]);
        let run = run_measured(&mut command, "sh", &dir.path().join("sh")).expect("runs");
        assert_eq!(run.stdout.trim(), "done");
        let note = std::fs::read_to_string(dir.path().join("sh.err")).expect("stderr file");
        assert_eq!(note.trim(), "note");
        let peak = run.peak_mib.expect("a peak");
        assert!(peak > 60.0, "peak {peak} MiB");

        let mut failing = Command::new("sh");
        failing.args(["-c", "echo broken >&2; exit 3"]);
        let error = run_measured(&mut failing, "failing", &dir.path().join("failing"))
            .err()
            .expect("a failure");
        assert!(error.contains("exit status 3"), "{error}");
        assert!(error.contains("broken"), "{error}");
    }
}
