//! Multi-process runs through the `eddy` binary: `eddy cluster` starting
//! and supervising local processes, and `eddy run --processes N` checking
//! its flags, failing when its peers never come, and failing clearly when
//! one dies. Linux only: the tests find processes and threads in /proc.
#![cfg(target_os = "linux")]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Longest a test waits for a process that should end by itself.
const PATIENCE: Duration = Duration::from_secs(60);

fn eddy() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eddy"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path
}

/// A job counting events per key over 10-second tumbling windows.
fn windowed_job(dir: &Path, input: &str) -> PathBuf {
    write(
        dir,
        "q.asaql",
        "SELECT key, COUNT(*) AS n INTO out FROM input TIMESTAMP BY ts \
         GROUP BY key, TumblingWindow(second, 10)",
    );
    write(
        dir,
        "job.toml",
        &format!(
            "query = \"q.asaql\"\n\n[[inputs]]\nalias = \"input\"\n{input}\n\n\
             [[outputs]]\nalias = \"out\"\npath = \"out.jsonl\"\n"
        ),
    )
}

/// A job over standard input, which runs until standard input closes.
fn live_job(dir: &Path) -> PathBuf {
    windowed_job(dir, "path = \"-\"\nformat = \"json\"")
}

/// Ports nothing listens on (bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("address").port())
        .collect()
}

fn hosts_file(dir: &Path, ports: &[u16]) -> PathBuf {
    let text: String = ports.iter().map(|p| format!("127.0.0.1:{p}\n")).collect();
    write(dir, "hosts.txt", &text)
}

/// Waits for `child` to end by itself, killing it (and failing) after `PATIENCE`.
fn finish(mut child: Child) -> (i32, String, String) {
    let started = Instant::now();
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if started.elapsed() > PATIENCE => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "still running after {PATIENCE:?}; stderr:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("output");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn spawn(command: &mut Command) -> Child {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eddy starts")
}

/// Whether timely has connected process `pid` to its peers: its worker threads run.
fn connected(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().any(|task| {
        std::fs::read_to_string(task.path().join("comm"))
            .is_ok_and(|name| name.starts_with("timely:work-"))
    })
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The children of `parent`, by the `--process` index on their command line.
fn cluster_children(parent: u32) -> Vec<(usize, u32)> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if let Some(at) = args.iter().position(|a| a == "--process") {
            if let Some(index) = args.get(at + 1).and_then(|i| i.parse().ok()) {
                children.push((index, pid));
            }
        }
    }
    children.sort_unstable();
    children
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    // SAFETY: kill has no memory-safety preconditions.
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal})");
}

fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/status")) {
        Err(_) => true,
        Ok(status) => status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z')),
    }
}

/// Two processes of two workers write exactly what one process writes:
/// the generated stream is split across all four workers, and only global
/// worker 0 writes the output.
#[test]
fn a_cluster_of_two_processes_runs_a_windowed_aggregate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = windowed_job(
        dir.path(),
        "kind = \"generate\"\nevents = 20000\nkeys = 10\nrate = 1000",
    );
    let child = spawn(
        eddy()
            .args(["cluster", "--processes", "2", "--workers", "2", "--job"])
            .arg(&job),
    );
    let (code, _stdout, stderr) = finish(child);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    assert!(
        stderr.starts_with("cluster: 2 processes on 127.0.0.1:"),
        "{stderr}"
    );
    for process in ["[p0] ", "[p1] "] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&format!("{process}dead-lettered: 0"))),
            "no summary from {process}in:\n{stderr}"
        );
    }
    assert!(
        stderr.ends_with("cluster: all 2 processes finished\n"),
        "{stderr}"
    );
    let clustered = std::fs::read_to_string(dir.path().join("out.jsonl")).expect("output");
    let single = eddy()
        .args(["run", "--quiet", "-w", "1", "--job"])
        .arg(&job)
        .output()
        .expect("eddy runs");
    assert!(single.status.success());
    let alone = std::fs::read_to_string(dir.path().join("out.jsonl")).expect("output");
    assert!(alone.lines().count() >= 20, "{alone}");
    assert_eq!(clustered, alone, "2 x 2 workers and 1 x 1 differ");
}

#[test]
fn results_on_standard_output_pass_through_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(
        dir.path(),
        "q.asaql",
        "SELECT key, COUNT(*) AS n INTO out FROM input TIMESTAMP BY ts \
         GROUP BY key, TumblingWindow(second, 10)",
    );
    let job = write(
        dir.path(),
        "job.toml",
        "query = \"q.asaql\"\n\n[[inputs]]\nalias = \"input\"\nkind = \"generate\"\n\
         events = 2000\nkeys = 3\nrate = 100\n\n[[outputs]]\nalias = \"out\"\npath = \"-\"\n",
    );
    let child = spawn(
        eddy()
            .args(["cluster", "--processes", "2", "--job"])
            .arg(&job),
    );
    let (code, stdout, stderr) = finish(child);
    assert_eq!(code, 0, "stderr:\n{stderr}");
    // Timely's connection messages go to standard error; standard output is
    // only rows (whose contents a 2-process run does not settle yet).
    assert!(stdout.lines().count() > 0, "no rows on standard output");
    for line in stdout.lines() {
        assert!(
            line.starts_with('{'),
            "not a row on standard output: {line:?}"
        );
    }
}

#[test]
fn an_unreachable_peer_fails_after_the_connect_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = live_job(dir.path());
    let ports = free_ports(2);
    let hosts = hosts_file(dir.path(), &ports);
    let started = Instant::now();
    let child = spawn(
        eddy()
            .args(["run", "--job"])
            .arg(&job)
            .args(["--processes", "2", "--process", "1", "--hosts"])
            .arg(&hosts)
            .args(["--connect-timeout-secs", "2", "--quiet"]),
    );
    let (code, _stdout, stderr) = finish(child);
    assert_eq!(code, 2, "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: process 1 could not connect to its peers at 127.0.0.1:{} (process 0) within 2 s",
            ports[0]
        )),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn cluster_flags_are_checked() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = live_job(dir.path());
    let hosts = hosts_file(dir.path(), &[2101, 2102]);
    let bad_hosts = write(
        dir.path(),
        "bad.txt",
        "# cluster\n127.0.0.1:2101\n\nlocalhost\n",
    );
    let run = |extra: &[&str]| {
        let out = eddy()
            .args(["run", "--job"])
            .arg(&job)
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("eddy runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let hosts = hosts.to_str().expect("utf-8");
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--processes", "2", "--process", "2", "--hosts", hosts],
            "error: --process 2 is out of range: with --processes 2 it must be 0 to 1".into(),
        ),
        (
            vec!["--processes", "3", "--process", "0", "--hosts", hosts],
            format!("error: {hosts} lists 2 hosts, but --processes is 3"),
        ),
        (
            vec!["--processes", "2", "--process", "0"],
            "error: --processes 2 needs --hosts FILE".into(),
        ),
        (
            vec!["--processes", "2", "--hosts", hosts],
            "error: --processes 2 needs --process I".into(),
        ),
        (
            vec!["--process", "0"],
            "error: --process and --hosts need --processes N".into(),
        ),
        (
            vec![
                "--processes",
                "2",
                "--process",
                "0",
                "--hosts",
                bad_hosts.to_str().expect("utf-8"),
            ],
            format!(
                "error: {}:4: \"localhost\" is not host:port: no port",
                bad_hosts.display()
            ),
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = run(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(&expected), "{args:?}:\n{stderr}");
    }
}

#[test]
fn a_dead_peer_stops_the_other_process_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = live_job(dir.path());
    let hosts = hosts_file(dir.path(), &free_ports(2));
    let start = |process: &str| {
        spawn(
            eddy()
                .args(["run", "--job"])
                .arg(&job)
                .args(["--processes", "2", "--process", process, "--hosts"])
                .arg(&hosts)
                .args(["--quiet", "-w", "2"]),
        )
    };
    let mut p0 = start("0");
    let mut p1 = start("1");
    let mut stdin = p0.stdin.take().expect("stdin");
    stdin
        .write_all(b"{\"key\": 1, \"ts\": \"2024-01-01T00:00:01Z\"}\n")
        .expect("write an event");
    let (id0, id1) = (p0.id(), p1.id());
    wait_until("both processes connect", || {
        connected(id0) && connected(id1)
    });
    p1.kill().expect("kill process 1");
    let _ = p1.wait();
    let (code, _stdout, stderr) = finish(p0);
    drop(stdin);
    assert_eq!(code, 2, "stderr:\n{stderr}");
    assert!(
        stderr.contains("error: process 0 lost its connection to a peer"),
        "{stderr}"
    );
}

#[test]
fn the_cluster_stops_the_others_when_one_process_is_killed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cluster, stdin, children) = live_cluster(dir.path());
    let (p0, p1) = (children[0], children[1]);
    wait_until("both processes connect", || connected(p0) && connected(p1));
    // Process 0, frozen, cannot notice its peer's death by itself: only
    // `eddy cluster` can stop it.
    signal(p0, libc::SIGSTOP);
    signal(p1, libc::SIGKILL);
    let (code, _stdout, stderr) = finish(cluster);
    drop(stdin);
    assert_eq!(code, 2, "stderr:\n{stderr}");
    assert!(
        stderr.ends_with(
            "error: process 1 exited with signal 9 (SIGKILL); stopped the other 1 process\n"
        ),
        "{stderr}"
    );
    assert!(gone(p0), "process 0 still runs");
}

#[test]
fn the_cluster_reports_the_process_that_fails() {
    let dir = tempfile::tempdir().expect("temp dir");
    let job = live_job(dir.path());
    let mut cluster = spawn(
        eddy()
            .args([
                "cluster",
                "--processes",
                "2",
                "--quiet",
                "--on-error",
                "stop",
                "--job",
            ])
            .arg(&job),
    );
    // Standard input goes to process 0, so it is the one that stops on the bad event.
    let mut stdin = cluster.stdin.take().expect("stdin");
    stdin
        .write_all(b"{\"key\": 1, \"ts\": \"2024-01-01T00:00:01Z\"}\n{\"key\": \n")
        .expect("write events");
    drop(stdin);
    let (code, _stdout, stderr) = finish(cluster);
    assert_eq!(code, 2, "stderr:\n{stderr}");
    assert!(
        stderr.contains("[p0] error: stopped on a bad event"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\nerror: process 0 exited with exit code 2; "),
        "{stderr}"
    );
}

#[test]
fn an_invalid_job_fails_before_any_process_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    write(dir.path(), "q.asaql", "SELECT key INTO out FROM nowhere");
    let job = write(
        dir.path(),
        "job.toml",
        "query = \"q.asaql\"\n\n[[inputs]]\nalias = \"input\"\npath = \"-\"\n\n\
         [[outputs]]\nalias = \"out\"\npath = \"out.jsonl\"\n",
    );
    let out = eddy()
        .args(["cluster", "--processes", "2", "--job"])
        .arg(&job)
        .stdin(Stdio::null())
        .output()
        .expect("eddy runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error"), "{stderr}");
    assert!(!stderr.contains("[p0]"), "{stderr}");
}

/// Starts `eddy cluster` over a live job and waits until its two processes
/// run; their ids in process order.
fn live_cluster(dir: &Path) -> (Child, std::process::ChildStdin, Vec<u32>) {
    let job = live_job(dir);
    let mut cluster = spawn(
        eddy()
            .args(["cluster", "--processes", "2", "--job"])
            .arg(&job),
    );
    let stdin = cluster.stdin.take().expect("stdin");
    let parent = cluster.id();
    let mut children = Vec::new();
    wait_until("both processes start", || {
        children = cluster_children(parent);
        children.len() == 2
    });
    (
        cluster,
        stdin,
        children.into_iter().map(|(_, pid)| pid).collect(),
    )
}

#[test]
fn sigterm_stops_the_cluster_and_its_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cluster, stdin, children) = live_cluster(dir.path());
    signal(cluster.id(), libc::SIGTERM);
    let (code, _stdout, stderr) = finish(cluster);
    drop(stdin);
    assert_eq!(code, 128 + libc::SIGTERM, "stderr:\n{stderr}");
    assert!(
        stderr.ends_with("error: stopped by SIGTERM; stopped the 2 processes\n"),
        "{stderr}"
    );
    for pid in children {
        assert!(gone(pid), "process {pid} still runs");
    }
}

#[test]
fn the_processes_die_with_a_killed_cluster() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut cluster, stdin, children) = live_cluster(dir.path());
    // SIGKILL leaves eddy cluster no chance to clean up: the kernel kills
    // its processes (PR_SET_PDEATHSIG).
    cluster.kill().expect("kill eddy cluster");
    let _ = cluster.wait();
    drop(stdin);
    for pid in children {
        wait_until("the processes die with eddy cluster", || gone(pid));
    }
}
