//! Clusters from the command line: the guards of one process started with
//! `eddy run --processes N`, and `eddy cluster`, which starts N such
//! processes on this machine and supervises them.
//!
//! A cluster process must neither wait for its peers forever nor hang when
//! one dies. [`guard_process`] bounds the wait for the peers (timely
//! itself retries forever) and turns a panic in any thread, such as the
//! "timely communication error" a network thread raises when a peer's
//! connection breaks, into a clear error and exit code 2 at once.
//!
//! `eddy cluster` picks free ports on 127.0.0.1, writes the hosts file in
//! a temporary folder and starts `eddy run --processes N --process i ...`
//! for each i. Standard error of every process is merged line by line
//! into its own, each line prefixed `[p<i>] `; standard output of process
//! 0 (where results written to `-` go) passes through unchanged, that of
//! the others with the prefix. Standard input goes to process 0 only.
//! When a process fails, the others are killed and `eddy cluster` exits 2.
//!
//! Stopping: the processes stay in `eddy cluster`'s process group, so
//! Ctrl-C in a terminal reaches them all; SIGINT, SIGTERM and SIGHUP sent
//! to `eddy cluster` alone are caught and it kills the processes before it
//! exits (128 + the signal's number); and on Linux every process is also
//! killed by the kernel if `eddy cluster` dies without cleaning up
//! (`PR_SET_PDEATHSIG`), so none outlives it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;

use super::{compile, load, JobArgs, OnError};
use crate::cluster::{watch_connect, Membership};

/// How long a cluster process waits for its peers by default, in seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 60;

/// How long `eddy cluster` waits for killed processes to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// Arguments of `eddy cluster`.
#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// Processes to start.
    #[arg(long, value_name = "N")]
    processes: usize,
    /// Worker threads per process (default: the job's).
    #[arg(short = 'w', long)]
    workers: Option<usize>,
    /// The TOML job file every process runs.
    #[arg(long)]
    job: PathBuf,
    /// Dead-letter file for bad events (default: the job's, else standard error).
    #[arg(long)]
    errors: Option<PathBuf>,
    /// What to do with a bad event.
    #[arg(long, value_enum)]
    on_error: Option<OnError>,
    /// Seconds each process waits for its peers to connect before failing (0: no limit).
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_CONNECT_TIMEOUT_SECS)]
    connect_timeout_secs: u64,
    /// Do not print the cluster's own start and end lines.
    #[arg(long)]
    quiet: bool,
}

/// Guards one cluster process for the rest of its life: a panic in any
/// thread prints a clear error and exits with code 2 (a cluster process
/// with a failed thread would otherwise hold its peers up forever), and
/// if timely has not connected to every peer within `connect_timeout`
/// (0: no limit) the process exits with code 2 too.
pub fn guard_process(membership: &Membership, connect_timeout: Duration) {
    let process = membership.process;
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a thread failed".to_string());
        if message.contains("timely communication error") {
            eprintln!(
                "error: process {process} lost its connection to a peer ({message}); \
                 a peer process has stopped or its host is unreachable"
            );
        } else {
            let thread = std::thread::current();
            let at = info
                .location()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            eprintln!(
                "error: process {process}: thread '{}' failed{at}: {message}",
                thread.name().unwrap_or("unnamed")
            );
        }
        std::process::exit(2);
    }));
    if connect_timeout.is_zero() {
        return;
    }
    let peers = membership.peers().join(", ");
    let processes = membership.processes;
    let secs = connect_timeout.as_secs();
    let watching = watch_connect(connect_timeout, move || {
        eprintln!(
            "error: process {process} could not connect to its peers at {peers} within {secs} s \
             (start all {processes} processes with the same hosts file; \
             --connect-timeout-secs sets the wait)"
        );
        std::process::exit(2);
    });
    if !watching {
        eprintln!(
            "warning: connections cannot be watched on this system; \
             process {process} waits for its peers without a time limit"
        );
    }
}

/// `eddy cluster`: runs the job as `--processes` local processes and
/// supervises them.
pub fn cmd_cluster(args: ClusterArgs) -> ExitCode {
    if args.processes == 0 {
        eprintln!("error: --processes must be at least 1");
        return ExitCode::from(1);
    }
    // An invalid job fails here once, with code 1, rather than in every process.
    let job_args = JobArgs {
        job: Some(args.job.clone()),
        query: None,
        inputs: Vec::new(),
        references: Vec::new(),
        outputs: Vec::new(),
        query_file: None,
    };
    let Ok(loaded) = load(&job_args) else {
        return ExitCode::from(1);
    };
    if let Err(code) = compile(&loaded) {
        return code;
    }
    supervise(&args)
}

#[cfg(not(unix))]
fn supervise(_args: &ClusterArgs) -> ExitCode {
    eprintln!(
        "error: eddy cluster runs on Unix systems only; start `eddy run --processes N` by hand"
    );
    ExitCode::from(1)
}

#[cfg(unix)]
fn supervise(args: &ClusterArgs) -> ExitCode {
    let n = args.processes;
    let setup = || -> Result<(PathBuf, TempDir, Vec<String>), String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find the eddy binary: {e}"))?;
        let ports = free_ports(n).map_err(|e| format!("cannot find free ports: {e}"))?;
        let dir = TempDir::new().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
        let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let text = format!(
            "# eddy cluster: one host:port per process\n{}\n",
            hosts.join("\n")
        );
        std::fs::write(dir.hosts(), text)
            .map_err(|e| format!("cannot write {}: {e}", dir.hosts().display()))?;
        Ok((exe, dir, hosts))
    };
    let (exe, dir, hosts) = match setup() {
        Ok(setup) => setup,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    signals::install();
    if !args.quiet {
        eprintln!(
            "cluster: {n} process{} on {}",
            if n == 1 { "" } else { "es" },
            hosts.join(", ")
        );
    }

    let (exits, exited) = mpsc::channel::<(usize, io::Result<ExitStatus>)>();
    let mut group = Group::default();
    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    for index in 0..n {
        let mut command = child_command(&exe, args, &dir.hosts(), index);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                group.kill_running();
                group.wait_all(&exited);
                eprintln!(
                    "error: cannot start process {index} ({}): {e}; stopped the others",
                    exe.display()
                );
                return ExitCode::from(2);
            }
        };
        if let Some(out) = child.stdout.take() {
            let target = if index == 0 {
                Target::Raw
            } else {
                Target::Prefixed
            };
            pumps.push(pump(out, index, target, Sink::Stdout));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(pump(err, index, Target::Prefixed, Sink::Stderr));
        }
        group.pids.push(child.id());
        group.running.push(true);
        let exits = exits.clone();
        let waiter = std::thread::Builder::new()
            .name(format!("eddy:wait-p{index}"))
            .spawn(move || wait_for(child, index, exits));
        if let Err(e) = waiter {
            group.kill_running();
            eprintln!("error: cannot watch process {index}: {e}; stopped the processes");
            return ExitCode::from(2);
        }
    }
    drop(exits);

    let outcome = group.watch(&exited);
    let still_running = group.kill_running();
    group.wait_all(&exited);
    for pump in pumps {
        let _ = pump.join();
    }
    drop(dir);
    match outcome {
        Outcome::Finished => {
            if !args.quiet {
                eprintln!("cluster: all {n} processes finished");
            }
            ExitCode::SUCCESS
        }
        Outcome::Failed(index, status) => {
            let others = n - 1;
            let stopped = if still_running == others && others > 0 {
                format!("stopped the other {others} process{}", plural_es(others))
            } else if still_running > 0 {
                format!(
                    "stopped the {still_running} other process{} still running",
                    plural_es(still_running)
                )
            } else if others > 0 {
                "no other process was still running".to_string()
            } else {
                "it was the only process".to_string()
            };
            eprintln!("error: process {index} exited with {status}; {stopped}");
            ExitCode::from(2)
        }
        Outcome::Interrupted(signal) => {
            eprintln!(
                "error: stopped by {}; stopped the {n} process{}",
                signals::name(signal),
                plural_es(n)
            );
            ExitCode::from(u8::try_from(128 + signal).unwrap_or(2))
        }
    }
}

fn plural_es(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "es"
    }
}

/// The command line of process `index`.
#[cfg(unix)]
fn child_command(exe: &Path, args: &ClusterArgs, hosts: &Path, index: usize) -> Command {
    let mut command = Command::new(exe);
    command
        .arg("run")
        .arg("--job")
        .arg(&args.job)
        .arg("--processes")
        .arg(args.processes.to_string())
        .arg("--process")
        .arg(index.to_string())
        .arg("--hosts")
        .arg(hosts)
        .arg("--connect-timeout-secs")
        .arg(args.connect_timeout_secs.to_string())
        .arg("--quiet");
    if let Some(w) = args.workers {
        command.arg("-w").arg(w.to_string());
    }
    if let Some(errors) = &args.errors {
        command.arg("--errors").arg(errors);
    }
    match args.on_error {
        Some(OnError::Skip) => {
            command.arg("--on-error").arg("skip");
        }
        Some(OnError::Stop) => {
            command.arg("--on-error").arg("stop");
        }
        None => {}
    }
    command
        .stdin(if index == 0 {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec and
        // only makes the async-signal-safe calls prctl and getppid; its
        // error values do not allocate.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before the call above.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    command
}

fn wait_for(mut child: Child, index: usize, exits: mpsc::Sender<(usize, io::Result<ExitStatus>)>) {
    let status = child.wait();
    let _ = exits.send((index, status));
}

/// How the cluster ended.
enum Outcome {
    /// Every process exited 0.
    Finished,
    /// The first process to fail, and how it ended.
    Failed(usize, String),
    /// `eddy cluster` caught this signal.
    Interrupted(i32),
}

/// The started processes; any still running are killed on drop, so an
/// early return never leaves one behind.
#[derive(Default)]
struct Group {
    pids: Vec<u32>,
    running: Vec<bool>,
}

impl Group {
    /// Waits until every process has exited 0, one has failed, or a signal came.
    fn watch(&mut self, exited: &mpsc::Receiver<(usize, io::Result<ExitStatus>)>) -> Outcome {
        loop {
            if let Some(signal) = signals::caught() {
                return Outcome::Interrupted(signal);
            }
            match exited.recv_timeout(Duration::from_millis(50)) {
                Ok((index, status)) => {
                    if let Some(running) = self.running.get_mut(index) {
                        *running = false;
                    }
                    match status {
                        Ok(status) if status.success() => {
                            if !self.running.iter().any(|r| *r) {
                                return Outcome::Finished;
                            }
                        }
                        Ok(status) => {
                            // Ctrl-C reaches the whole process group: a process
                            // killed by it is not the cluster's failure.
                            if status_signal(&status).is_some() {
                                std::thread::sleep(Duration::from_millis(100));
                                if let Some(signal) = signals::caught() {
                                    return Outcome::Interrupted(signal);
                                }
                            }
                            return Outcome::Failed(index, describe(&status));
                        }
                        Err(e) => {
                            return Outcome::Failed(index, format!("an unknown status ({e})"))
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Outcome::Finished,
            }
        }
    }

    /// Kills the processes still running; returns how many.
    fn kill_running(&mut self) -> usize {
        let mut killed = 0;
        for (pid, running) in self.pids.iter().zip(&self.running) {
            if *running {
                signals::kill(*pid);
                killed += 1;
            }
        }
        killed
    }

    /// Waits (a bounded time) for every process still marked running to exit.
    fn wait_all(&mut self, exited: &mpsc::Receiver<(usize, io::Result<ExitStatus>)>) {
        let deadline = Instant::now() + KILL_WAIT;
        while self.running.iter().any(|r| *r) {
            let left = deadline.saturating_duration_since(Instant::now());
            match exited.recv_timeout(left) {
                Ok((index, _)) => {
                    if let Some(running) = self.running.get_mut(index) {
                        *running = false;
                    }
                }
                Err(_) => break,
            }
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill_running();
    }
}

fn describe(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit code {code}");
    }
    match status_signal(status) {
        Some(signal) => format!("signal {signal} ({})", signals::name(signal)),
        None => status.to_string(),
    }
}

#[cfg(unix)]
fn status_signal(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn status_signal(_status: &ExitStatus) -> Option<i32> {
    None
}

/// Where a pumped line goes.
#[derive(Clone, Copy)]
enum Sink {
    Stdout,
    Stderr,
}

/// How a pumped line is written.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// Unchanged (process 0's standard output).
    Raw,
    /// With a `[p<i>] ` prefix.
    Prefixed,
}

/// Copies a process's standard output or error, line by line, into this
/// process's. Timely's connection messages (which it prints on standard
/// output) go to standard error with the prefix, so results on standard
/// output stay clean. Stops reading when the destination is closed, so the
/// process sees a broken pipe too.
fn pump(
    reader: impl Read + Send + 'static,
    index: usize,
    target: Target,
    sink: Sink,
) -> JoinHandle<()> {
    let prefix = format!("[p{index}] ");
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let (sink, target) = match sink {
                Sink::Stdout if is_timely_chatter(&line) => (Sink::Stderr, Target::Prefixed),
                other => (other, target),
            };
            let mut text = Vec::with_capacity(line.len() + prefix.len() + 1);
            if target == Target::Prefixed {
                text.extend_from_slice(prefix.as_bytes());
            }
            text.extend_from_slice(&line);
            if target == Target::Prefixed && !line.ends_with(b"\n") {
                text.push(b'\n');
            }
            let written = match sink {
                Sink::Stdout => {
                    let mut out = io::stdout().lock();
                    out.write_all(&text).and_then(|_| out.flush())
                }
                Sink::Stderr => io::stderr().lock().write_all(&text),
            };
            if written.is_err() {
                return;
            }
        }
    })
}

/// The lines timely prints on standard output while it connects.
fn is_timely_chatter(line: &[u8]) -> bool {
    let contains = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
    line.starts_with(b"awaiting connections (at ")
        || (line.starts_with(b"worker ")
            && (contains(b":\terror connecting to worker ")
                || contains(b":\tconnection to worker ")
                || contains(b":\tconnection from worker ")
                || contains(b":\tinitialization complete")))
}

/// `n` distinct free ports on 127.0.0.1 (bound at once, then released).
fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// A temporary folder for the hosts file, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let base = std::env::temp_dir();
        let mut attempt = 0u32;
        loop {
            let path = base.join(format!(
                "eddy-cluster-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir(path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn hosts(&self) -> PathBuf {
        self.0.join("hosts.txt")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Catching SIGINT, SIGTERM and SIGHUP, and killing processes.
#[cfg(unix)]
mod signals {
    use std::sync::atomic::{AtomicI32, Ordering};

    static CAUGHT: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(signal: libc::c_int) {
        CAUGHT.store(signal, Ordering::SeqCst);
    }

    /// Catches SIGINT, SIGTERM and SIGHUP from now on; see [`caught`].
    pub fn install() {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is
            // async-signal-safe.
            unsafe {
                libc::signal(signal, on_signal as *const () as libc::sighandler_t);
            }
        }
    }

    /// The last signal caught, if any.
    pub fn caught() -> Option<i32> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal),
        }
    }

    /// Sends SIGKILL to a process (one not yet waited for, so its id is still its own).
    pub fn kill(pid: u32) {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }

    /// A signal's name.
    pub fn name(signal: i32) -> String {
        let name = match signal {
            libc::SIGHUP => "SIGHUP",
            libc::SIGINT => "SIGINT",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGABRT => "SIGABRT",
            libc::SIGKILL => "SIGKILL",
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGTERM => "SIGTERM",
            _ => return format!("signal {signal}"),
        };
        name.to_string()
    }
}

#[cfg(not(unix))]
mod signals {
    pub fn caught() -> Option<i32> {
        None
    }
    pub fn kill(_pid: u32) {}
    pub fn name(signal: i32) -> String {
        format!("signal {signal}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timely_connection_messages_are_recognised() {
        assert!(is_timely_chatter(b"awaiting connections (at 0/1)\n"));
        assert!(is_timely_chatter(
            b"worker 1:\terror connecting to worker 0: Connection refused (os error 111); retrying\n"
        ));
        assert!(!is_timely_chatter(b"{\"worker\":1}\n"));
        assert!(!is_timely_chatter(b"worker 1 is fine\n"));
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(4).expect("free ports");
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
    }
}
