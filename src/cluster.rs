//! Running one job as several cooperating processes: a timely cluster.
//!
//! Every process of a cluster runs the same job with the same number of
//! worker threads, and knows the addresses of all the processes from a
//! hosts file (one `host:port` a line, in process order). Process `i`
//! listens on line `i`; timely connects every pair of processes before the
//! dataflow starts, and from then on the workers of all processes form one
//! computation.
//!
//! The processes connect with [`connect_peers`] and hand the sockets to
//! timely: timely's own connection code polls for its peers once a second,
//! which adds up to a second to every start. The wait has no bound of its
//! own, and timely panics in a communication thread when a peer's
//! connection breaks. [`watch_connect`] puts a bound on the wait;
//! the command line turns a communication panic into a clear error (see
//! `src/cli/cluster.rs`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where this process stands in a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// How many processes the cluster has.
    pub processes: usize,
    /// This process's index, from 0 to `processes - 1`.
    pub process: usize,
    /// `host:port` of every process, in process order.
    pub hosts: Vec<String>,
}

/// Why cluster settings are wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The hosts file could not be read.
    #[error("cannot read hosts file {}: {source}", path.display())]
    Read {
        /// The hosts file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A line of the hosts file is not a `host:port` address.
    #[error("{}:{line}: {message}", path.display())]
    BadLine {
        /// The hosts file.
        path: PathBuf,
        /// The line number, from 1.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// The hosts file does not list one address per process.
    #[error(
        "{} lists {found} host{}, but --processes is {expected}: give one host:port line per process",
        path.display(),
        if *found == 1 { "" } else { "s" }
    )]
    Count {
        /// The hosts file.
        path: PathBuf,
        /// Addresses found.
        found: usize,
        /// The number of processes.
        expected: usize,
    },
    /// `--processes 0`.
    #[error("--processes must be at least 1")]
    NoProcesses,
    /// `--process` is not below `--processes`.
    #[error("--process {process} is out of range: with --processes {processes} it must be 0 to {}", processes - 1)]
    ProcessOutOfRange {
        /// The given index.
        process: usize,
        /// The number of processes.
        processes: usize,
    },
    /// A cluster without `--hosts`.
    #[error("--processes {0} needs --hosts FILE, a file of one host:port line per process")]
    MissingHosts(usize),
    /// A cluster without `--process`.
    #[error("--processes {processes} needs --process I, this process's index (0 to {})", processes - 1)]
    MissingProcess {
        /// The number of processes.
        processes: usize,
    },
    /// `--process` or `--hosts` without `--processes`.
    #[error("--process and --hosts need --processes N")]
    MissingProcesses,
}

impl Membership {
    /// Checks the `--processes`, `--process` and `--hosts` flags of one
    /// process. `None` means a single process: no flags, or `--processes 1`
    /// (whose `--process` must then be 0 and whose hosts file, if given,
    /// must list one address).
    pub fn from_flags(
        processes: Option<usize>,
        process: Option<usize>,
        hosts: Option<&Path>,
    ) -> Result<Option<Membership>, ClusterError> {
        let Some(processes) = processes else {
            if process.is_some() || hosts.is_some() {
                return Err(ClusterError::MissingProcesses);
            }
            return Ok(None);
        };
        if processes == 0 {
            return Err(ClusterError::NoProcesses);
        }
        if let Some(process) = process {
            if process >= processes {
                return Err(ClusterError::ProcessOutOfRange { process, processes });
            }
        }
        let hosts = match hosts {
            Some(path) => {
                let hosts = read_hosts(path)?;
                if hosts.len() != processes {
                    return Err(ClusterError::Count {
                        path: path.to_path_buf(),
                        found: hosts.len(),
                        expected: processes,
                    });
                }
                Some(hosts)
            }
            None => None,
        };
        if processes == 1 {
            return Ok(None);
        }
        let hosts = hosts.ok_or(ClusterError::MissingHosts(processes))?;
        let process = process.ok_or(ClusterError::MissingProcess { processes })?;
        Ok(Some(Membership {
            processes,
            process,
            hosts,
        }))
    }

    /// The addresses of the other processes, as `host:port (process i)`.
    pub fn peers(&self) -> Vec<String> {
        self.hosts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.process)
            .map(|(i, host)| format!("{host} (process {i})"))
            .collect()
    }
}

/// Reads a hosts file: one `host:port` a line, in process order. Blank
/// lines and `#` comments are skipped.
pub fn read_hosts(path: &Path) -> Result<Vec<String>, ClusterError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClusterError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_hosts(&text, path)
}

/// Parses the text of a hosts file; `path` names it in errors.
pub fn parse_hosts(text: &str, path: &Path) -> Result<Vec<String>, ClusterError> {
    let mut hosts = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| ClusterError::BadLine {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        check_address(line).map_err(|why| bad(format!("\"{line}\" is not host:port: {why}")))?;
        if let Some(process) = seen.get(line) {
            return Err(bad(format!(
                "\"{line}\" is already the address of process {process}; each process needs its own port"
            )));
        }
        seen.insert(line.to_string(), hosts.len());
        hosts.push(line.to_string());
    }
    Ok(hosts)
}

/// Why `address` is not `host:port`, if it is not.
fn check_address(address: &str) -> Result<(), &'static str> {
    if address.chars().any(char::is_whitespace) {
        return Err("it contains spaces");
    }
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err("no port (expected host:port, e.g. 127.0.0.1:2101)");
    };
    if host.is_empty() {
        return Err("no host before the port");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("an IPv6 host needs brackets, e.g. [::1]:2101");
    }
    match port.parse::<u16>() {
        Ok(0) => Err("port 0 is not a fixed port"),
        Ok(_) => Ok(()),
        Err(_) => Err("the port is not a number from 1 to 65535"),
    }
}

/// How often a process looks again for a peer that is not there yet.
const CONNECT_POLL: Duration = Duration::from_millis(10);

/// Connects this process to every other process of the cluster: it listens
/// on its own address, connects to every process before it (sending its
/// index), and accepts every process after it (reading theirs). Every
/// process binds before it connects, so the processes can start in any
/// order. The result has one socket per process, `None` for this one, as
/// timely's `initialize_networking_from_sockets` takes them. Waits for its
/// peers without a bound ([`watch_connect`] bounds it).
pub fn connect_peers(m: &Membership) -> io::Result<Vec<Option<std::net::TcpStream>>> {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    let own = m.hosts.get(m.process).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("process {} has no address in the hosts list", m.process),
        )
    })?;
    let listener = TcpListener::bind(own)?;
    listener.set_nonblocking(true)?;
    let mut sockets: Vec<Option<TcpStream>> = (0..m.processes).map(|_| None).collect();
    for (index, address) in m.hosts.iter().enumerate().take(m.process) {
        let mut stream = loop {
            match TcpStream::connect(address) {
                Ok(stream) => break stream,
                Err(_) => std::thread::sleep(CONNECT_POLL),
            }
        };
        stream.set_nodelay(true)?;
        stream.write_all(&(m.process as u64).to_be_bytes())?;
        sockets[index] = Some(stream);
    }
    let mut missing = m.processes.saturating_sub(m.process + 1);
    while missing > 0 {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false)?;
                stream.set_nodelay(true)?;
                let mut index = [0u8; 8];
                stream.read_exact(&mut index)?;
                let index = u64::from_be_bytes(index) as usize;
                match sockets.get_mut(index) {
                    Some(slot @ None) if index > m.process => {
                        *slot = Some(stream);
                        missing -= 1;
                    }
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "process {}: a peer introduced itself as process {index}, \
                                 which is not one that connects here",
                                m.process
                            ),
                        ))
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(CONNECT_POLL),
            Err(e) => return Err(e),
        }
    }
    Ok(sockets)
}

/// Timely's allocators for `workers` threads in a process of cluster `m`,
/// over the sockets of [`connect_peers`], and the guard that keeps the
/// communication threads running.
pub fn cluster_allocators(
    workers: usize,
    m: &Membership,
    sockets: Vec<Option<std::net::TcpStream>>,
) -> io::Result<(
    Vec<timely::communication::AllocatorBuilder>,
    Box<dyn std::any::Any + Send>,
)> {
    use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
    use timely::communication::allocator::ProcessBuilder;
    let hooks = timely::communication::Hooks::default();
    let process =
        ProcessBuilder::new_typed_vector(workers, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) =
        initialize_networking_from_sockets(process, sockets, m.process, workers, hooks)?;
    Ok((
        builders
            .into_iter()
            .map(timely::communication::AllocatorBuilder::Tcp)
            .collect(),
        Box::new(guard),
    ))
}

/// Whether timely has connected this process to its peers: its network
/// and worker threads (`timely:recv-*`, `timely:work-*`) only start once
/// every connection is made. `None` where the threads cannot be listed
/// (only Linux's `/proc/self/task` is read).
pub fn timely_connected() -> Option<bool> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    for task in tasks.flatten() {
        if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
            if name.starts_with("timely:recv-") || name.starts_with("timely:work-") {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// Calls `on_timeout` from a background thread if timely has not
/// connected this process to its peers within `timeout` (see
/// [`timely_connected`]); the thread ends as soon as the connections are
/// made. Returns false, and watches nothing, where connections cannot be
/// observed.
pub fn watch_connect(timeout: Duration, on_timeout: impl FnOnce() + Send + 'static) -> bool {
    if timely_connected().is_none() {
        return false;
    }
    let started = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("eddy:connect-watch".to_string())
        .spawn(move || loop {
            if timely_connected() != Some(false) {
                return;
            }
            if started.elapsed() >= timeout {
                on_timeout();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    spawned.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<String>, ClusterError> {
        parse_hosts(text, Path::new("hosts.txt"))
    }

    #[test]
    fn hosts_skip_blank_lines_and_comments() {
        let hosts = parse("# the cluster\n\n127.0.0.1:2101\n  host-b:2102  # second\n[::1]:2103\n")
            .expect("valid hosts");
        assert_eq!(hosts, vec!["127.0.0.1:2101", "host-b:2102", "[::1]:2103"]);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let cases = [
            ("a:1\nlocalhost\n", 2, "no port"),
            ("a:1\n\n:2101\n", 3, "no host"),
            ("a:x\n", 1, "not a number"),
            ("a:70000\n", 1, "not a number"),
            ("a:0\n", 1, "port 0"),
            ("a b:1\n", 1, "spaces"),
            ("::1:2101\n", 1, "brackets"),
            ("a:1\nb:2\na:1\n", 3, "already the address of process 0"),
        ];
        for (text, line, message) in cases {
            match parse(text) {
                Err(e @ ClusterError::BadLine { line: l, .. }) => {
                    assert_eq!(l, line, "{text:?}: {e}");
                    let shown = e.to_string();
                    assert!(shown.starts_with(&format!("hosts.txt:{line}: ")), "{shown}");
                    assert!(shown.contains(message), "{text:?}: {shown}");
                }
                other => panic!("{text:?}: expected a bad line, got {other:?}"),
            }
        }
    }

    #[test]
    fn flags_are_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hosts.txt");
        std::fs::write(&path, "127.0.0.1:2101\n127.0.0.1:2102\n").expect("write hosts");
        let m = Membership::from_flags(Some(2), Some(1), Some(&path))
            .expect("valid flags")
            .expect("a cluster");
        assert_eq!(m.process, 1);
        assert_eq!(m.peers(), vec!["127.0.0.1:2101 (process 0)"]);

        assert!(matches!(Membership::from_flags(None, None, None), Ok(None)));
        assert!(matches!(
            Membership::from_flags(Some(1), Some(0), None),
            Ok(None)
        ));
        let error = |r: Result<Option<Membership>, ClusterError>| match r {
            Err(e) => e.to_string(),
            Ok(m) => panic!("expected an error, got {m:?}"),
        };
        assert_eq!(
            error(Membership::from_flags(Some(2), Some(2), Some(&path))),
            "--process 2 is out of range: with --processes 2 it must be 0 to 1"
        );
        assert!(error(Membership::from_flags(Some(3), Some(0), Some(&path)))
            .ends_with("lists 2 hosts, but --processes is 3: give one host:port line per process"));
        assert!(error(Membership::from_flags(Some(2), Some(0), None)).contains("needs --hosts"));
        assert!(
            error(Membership::from_flags(Some(2), None, Some(&path))).contains("needs --process I")
        );
        assert!(error(Membership::from_flags(None, Some(0), None)).contains("need --processes"));
        assert!(error(Membership::from_flags(Some(0), None, None)).contains("at least 1"));
        assert!(error(Membership::from_flags(
            Some(2),
            Some(0),
            Some(&dir.path().join("missing.txt"))
        ))
        .starts_with("cannot read hosts file"));
    }

    #[test]
    fn processes_started_in_any_order_connect_every_pair() {
        use std::io::{Read, Write};
        // Free ports: bound by the system, then released for the test.
        let hosts: Vec<String> = (0..3)
            .map(|_| {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
                probe.local_addr().expect("address").to_string()
            })
            .collect();
        // The last process starts first: the others connect to it or wait.
        let handles: Vec<_> = (0..3)
            .rev()
            .map(|process| {
                let m = Membership {
                    processes: 3,
                    process,
                    hosts: hosts.clone(),
                };
                std::thread::spawn(move || {
                    let mut sockets = connect_peers(&m).expect("connects");
                    assert!(sockets[process].is_none());
                    // Each process greets every other one with its index.
                    for socket in sockets.iter_mut().flatten() {
                        socket.write_all(&[process as u8]).expect("writes");
                    }
                    let mut heard = Vec::new();
                    for (peer, socket) in sockets.iter_mut().enumerate() {
                        if let Some(socket) = socket {
                            let mut byte = [0u8];
                            socket.read_exact(&mut byte).expect("reads");
                            heard.push((peer, byte[0] as usize));
                        }
                    }
                    (process, heard)
                })
            })
            .collect();
        for handle in handles {
            let (process, heard) = handle.join().expect("no panic");
            let others: Vec<(usize, usize)> =
                (0..3).filter(|p| *p != process).map(|p| (p, p)).collect();
            assert_eq!(heard, others, "process {process}");
        }
    }
}
