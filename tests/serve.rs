//! `streamsim serve`, end to end: the binary serves a scenario's cluster on real ports, prints the
//! bootstrap line, accepts real TCP connections on every broker port, ends with the scenario (or
//! on Ctrl-C) and writes a valid history whose times are Unix-epoch nanoseconds.
//!
//! Until the Kafka front end (branch `wire`) is merged, no broker listens on its Kafka port inside
//! the simulation: a bridged connection is accepted and then closed. After the merge, add here:
//! an ApiVersions request over the bridge, answered (and Metadata advertising 127.0.0.1:PORT+i-1).

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn streamsim() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_streamsim"));
    command.env_remove("RUST_LOG");
    command
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A base port with `count` free ports from it (checked by binding them; tests of this file
/// each take their own range, and other processes rarely take ports in the middle).
fn free_ports(count: u16, salt: u16) -> u16 {
    let start = (std::process::id() as u16 % 2_000)
        .wrapping_mul(10)
        .wrapping_add(salt.wrapping_mul(1_000));
    for attempt in 0..500u16 {
        let base = start.wrapping_add(attempt * 7) % 40_000 + 20_000;
        let bound: Result<Vec<TcpListener>, _> = (0..count)
            .map(|i| TcpListener::bind(("127.0.0.1", base + i)))
            .collect();
        if bound.is_ok() {
            return base;
        }
    }
    panic!("no {count} free ports in a row");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("streamsim-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A running `streamsim serve` and its stdout lines.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        let mut child = streamsim()
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start streamsim serve");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Served { child, lines }
    }

    /// Waits for the bootstrap line (it must be the first line on stdout).
    fn bootstrap(&mut self) -> String {
        match self.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = self.child.kill();
                let mut stderr = String::new();
                let _ = self
                    .child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr);
                panic!("no bootstrap line within 60 s; stderr: {stderr}");
            }
        }
    }

    /// Waits for the end (at most `limit`); the exit status, the rest of stdout, and stderr.
    fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("streamsim serve did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            stdout.push_str(&line);
            stdout.push('\n');
        }
        let mut stderr = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr);
        (status, stdout, stderr)
    }
}

/// The history file holds exactly the events serve's last lines count (`history: FILE (N events;
/// ...)`): what was appended during the run and what the end added, each once.
fn assert_every_event_written_once(stdout: &str, path: &PathBuf) {
    let count: usize = stdout
        .split_once(" events; time in ns")
        .and_then(|(before, _)| before.rsplit_once('(').map(|(_, count)| count))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("serve names the events it wrote: {stdout}"));
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.lines().count(), count, "{}", path.display());
}

/// `streamsim check FILE` exits 0; the history's times lie between `from` and `to` (Unix ns)
/// and never decrease. Returns the processes that appear in it.
fn check_history(path: &PathBuf, from: u64, to: u64) -> Vec<String> {
    let checked = streamsim().arg("check").arg(path).output().unwrap();
    assert_eq!(checked.status.code(), Some(0), "{checked:?}");
    let text = std::fs::read_to_string(path).unwrap();
    let mut last = 0;
    let mut processes = Vec::new();
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let time = event["time"].as_u64().expect("time is an integer");
        assert!(
            (from..=to).contains(&time),
            "time {time} is not Unix-epoch ns within the run ({from}..={to}): {line}"
        );
        assert!(time >= last, "time went backwards: {line}");
        last = time;
        let process = event["process"].as_str().unwrap().to_string();
        if !processes.contains(&process) {
            processes.push(process);
        }
    }
    assert!(!text.is_empty(), "an empty history");
    processes
}

#[test]
fn serve_smoke_accepts_connections_on_every_broker_port_and_writes_a_history() {
    let port = free_ports(3, 0);
    let history = scratch("smoke.jsonl");
    let listen = format!("127.0.0.1:{port}");
    let from = unix_ns();
    let mut served = Served::start(&[
        "--scenario",
        "smoke",
        "--listen",
        &listen,
        "--history",
        history.to_str().unwrap(),
        "--hold-ms",
        "500",
    ]);
    assert_eq!(served.bootstrap(), format!("bootstrap: {listen}"));
    for broker in 0..3 {
        let stream = TcpStream::connect(("127.0.0.1", port + broker));
        assert!(
            stream.is_ok(),
            "broker port {} refused: {stream:?}",
            port + broker
        );
    }
    let (status, stdout, stderr) = served.wait(Duration::from_secs(180));
    let to = unix_ns();
    assert_eq!(status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("the scenario ended"), "{stdout}");
    assert!(stdout.contains("3 connections accepted"), "{stdout}");
    let processes = check_history(&history, from, to);
    assert_every_event_written_once(&stdout, &history);
    for process in ["cluster", "nemesis", "producer-0", "consumer-0"] {
        assert!(
            processes.iter().any(|p| p == process),
            "{process} missing from {processes:?}"
        );
    }
}

/// Starts `streamsim serve` with `args`, waits for the bootstrap line, lets it run `for_`, then
/// sends SIGINT (Ctrl-C); it must end within 10 s with exit 0. Returns its stdout.
fn interrupt_after(args: &[&str], port: u16, for_: Duration) -> String {
    signal_after(args, port, for_, libc::SIGINT)
}

/// Serves `args`, sends `signal` after `for_`, and checks the run stopped cleanly.
fn signal_after(args: &[&str], port: u16, for_: Duration, signal: libc::c_int) -> String {
    let listen = format!("127.0.0.1:{port}");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--listen", &listen]);
    let mut served = Served::start(&all);
    assert_eq!(served.bootstrap(), format!("bootstrap: {listen}"));
    std::thread::sleep(for_);
    // SAFETY: a plain kill(2) of our own child.
    unsafe {
        libc::kill(served.child.id() as libc::pid_t, signal);
    }
    let (status, stdout, stderr) = served.wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("interrupted before the scenario's end"),
        "{stdout}"
    );
    assert!(stderr.contains("interrupted"), "{stderr}");
    stdout
}

/// Serves smoke, stops it with `signal` after 3 s, and checks the history it wrote. Each test
/// passes its own `salt` for `free_ports` (tests run at once).
fn ends_early_and_writes_the_history(signal: libc::c_int, file: &str, salt: u16) {
    let history = scratch(file);
    let from = unix_ns();
    let stdout = signal_after(
        &[
            "--scenario",
            "smoke",
            "--history",
            history.to_str().unwrap(),
        ],
        free_ports(3, salt),
        Duration::from_secs(3),
        signal,
    );
    let processes = check_history(&history, from, unix_ns());
    assert_every_event_written_once(&stdout, &history);
    assert!(processes.iter().any(|p| p == "producer-0"), "{processes:?}");
}

#[test]
fn ctrl_c_ends_the_run_early_and_still_writes_the_history() {
    ends_early_and_writes_the_history(libc::SIGINT, "interrupted.jsonl", 1);
}

/// A process manager stops serve with SIGTERM (`docker stop`, systemd): it ends the run as
/// Ctrl-C does, and the history is written.
#[test]
fn sigterm_ends_the_run_early_and_still_writes_the_history() {
    ends_early_and_writes_the_history(libc::SIGTERM, "terminated.jsonl", 60);
}

/// A serve killed outright (SIGKILL: no handler runs) leaves the history it had recorded up to
/// its last flush: the file grows as the run goes.
#[test]
fn a_killed_serve_leaves_the_history_it_had_recorded() {
    let history = scratch("killed.jsonl");
    let listen = format!("127.0.0.1:{}", free_ports(3, 61));
    let from = unix_ns();
    let mut served = Served::start(&[
        "--scenario",
        "smoke",
        "--history",
        history.to_str().unwrap(),
        "--listen",
        &listen,
    ]);
    assert_eq!(served.bootstrap(), format!("bootstrap: {listen}"));
    std::thread::sleep(Duration::from_secs(3));
    served.child.kill().unwrap();
    let _ = served.child.wait();
    let to = unix_ns();
    let text = std::fs::read_to_string(&history).unwrap();
    // Whole lines only: the kill may have cut the last write.
    let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    let mut processes = Vec::new();
    for line in complete.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let time = event["time"].as_u64().expect("time is an integer");
        assert!((from..=to).contains(&time), "{line}");
        let process = event["process"].as_str().unwrap().to_string();
        if !processes.contains(&process) {
            processes.push(process);
        }
    }
    assert!(
        processes.iter().any(|p| p == "producer-0") && processes.iter().any(|p| p == "cluster"),
        "{processes:?}"
    );
}

#[test]
fn without_clients_the_history_has_the_cluster_and_its_faults_only() {
    // offset-commit crashes its consumers from its first seconds: without them, those faults
    // are left out of the history too.
    let history = scratch("no-clients.jsonl");
    let from = unix_ns();
    interrupt_after(
        &[
            "--scenario",
            "offset-commit",
            "--no-clients",
            "--history",
            history.to_str().unwrap(),
        ],
        free_ports(3, 3),
        Duration::from_secs(4),
    );
    let to = unix_ns();
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text.contains(r#""f":"leader""#), "{text}");
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let process = event["process"].as_str().unwrap();
        assert!(process == "cluster" || process == "nemesis", "{line}");
        let target = event["target"].as_str().unwrap_or("");
        assert!(
            !target.starts_with("consumer-") && !target.starts_with("producer-"),
            "a fault of an absent client: {line}"
        );
        let time = event["time"].as_u64().unwrap();
        assert!((from..=to).contains(&time), "{line}");
    }
    // Nothing for `check` to check alone: such a history is merged with the external
    // clients' (docs/serve.md).
    let checked = streamsim().arg("check").arg(&history).output().unwrap();
    assert_eq!(checked.status.code(), Some(2), "{checked:?}");
}

fn serve_output(args: &[&str]) -> Output {
    streamsim().arg("serve").args(args).output().unwrap()
}

#[test]
fn a_busy_port_is_a_clear_error() {
    // Someone else listens on broker 2's port. The ports `free_ports` found free may be taken
    // before we bind one (other tests' connections use ephemeral ports): look again then.
    let (port, _busy) = (0..50)
        .find_map(|attempt| {
            let port = free_ports(3, 2 + attempt);
            TcpListener::bind(("127.0.0.1", port + 1))
                .ok()
                .map(|busy| (port, busy))
        })
        .expect("three free ports, the middle one bound here");
    let output = serve_output(&[
        "--scenario",
        "smoke",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{}", port + 1)),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "no bootstrap line: {output:?}");
}

#[test]
fn bad_input_is_exit_2_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--scenario", "no-such", "--listen", "127.0.0.1:29092"],
            "unknown scenario 'no-such'",
        ),
        (
            &["--scenario", "smoke", "--listen", "127.0.0.1:0"],
            "give a port",
        ),
        (
            &["--scenario", "smoke", "--listen", "0.0.0.0:29092"],
            "give the address clients connect to",
        ),
        (
            &["--scenario", "smoke", "--listen", "127.0.0.1:65534"],
            "beyond 65535",
        ),
        (
            &["--scenario", "smoke", "--listen", "localhost"],
            "--listen",
        ),
        (&["--scenario", "smoke"], "--listen"),
        (
            &[
                "--scenario",
                "smoke",
                "--listen",
                "127.0.0.1:29092",
                "--bug",
                "no-such-bug",
            ],
            "no-such-bug",
        ),
        (
            &[
                "--scenario",
                "smoke",
                "--listen",
                "127.0.0.1:29092",
                "--hold-ms",
                "soon",
            ],
            "--hold-ms",
        ),
    ];
    for (args, message) in cases {
        let output = serve_output(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
