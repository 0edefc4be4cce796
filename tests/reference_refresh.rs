//! Reference data that changes while a job runs: the job reads a live
//! stream (standard input), the reference file is rewritten, and the events
//! after the change join the new rows, with no restart; rows already written
//! keep the old values.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn event(id: u32, seconds: u32) -> String {
    format!(
        "{{\"seq\": {id}, \"device\": 1, \"ts\": \"2024-01-01T00:{:02}:{:02}Z\"}}\n",
        seconds / 60,
        seconds % 60
    )
}

fn rows(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn a_changed_reference_file_is_used_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let devices = dir.path().join("devices.jsonl");
    std::fs::write(&devices, "{\"device\": 1, \"site\": \"old\"}\n").expect("reference");
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT e.seq, d.site INTO Out FROM Events e TIMESTAMP BY ts JOIN Devices d ON e.device = d.device",
    )
    .expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        "query = \"q.asaql\"\n\
         [[inputs]]\nalias = \"Events\"\npath = \"-\"\n\
         [[inputs]]\nalias = \"Devices\"\npath = \"devices.jsonl\"\ntype = \"reference\"\nrefresh_ms = 50\n\
         [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n",
    )
    .expect("job");
    let out = dir.path().join("out.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "-w", "2", "--job"])
        .arg(dir.path().join("job.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eddy starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut seq = 0;
    let send = |stdin: &mut std::process::ChildStdin, seq: &mut u32| {
        *seq += 1;
        stdin
            .write_all(event(*seq, *seq).as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
    };
    // Events until one has been joined and written (the next event's time
    // moves the watermark past it).
    for _ in 0..200 {
        send(&mut stdin, &mut seq);
        if !rows(&out).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rows(&out)[0]["site"], "old");

    // Rewrite the table (a new modification time), then keep sending events
    // until one joins the new row.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&devices, "{\"device\": 1, \"site\": \"new\"}\n").expect("rewrite");
    for _ in 0..500 {
        send(&mut stdin, &mut seq);
        if rows(&out).iter().any(|r| r["site"] == "new") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..3 {
        send(&mut stdin, &mut seq);
    }
    drop(stdin);
    let status = child.wait_with_output().expect("eddy ends");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    let all = rows(&out);
    assert_eq!(all.len() as u32, seq, "every event joined exactly once");
    let first_new = all
        .iter()
        .position(|r| r["site"] == "new")
        .expect("events after the change use the new reference row");
    assert!(first_new > 0);
    assert!(all[..first_new].iter().all(|r| r["site"] == "old"));
    assert!(
        all[first_new..].iter().all(|r| r["site"] == "new"),
        "{all:?}"
    );
    let seqs: Vec<u64> = all
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "written in event-time order"
    );
}

mod common;

/// `{date}/{time}` paths: the newest file at or before now is the table, a
/// new one is picked up while the job runs, and a future-dated one is not used.
#[test]
fn a_new_dated_reference_file_replaces_the_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let put = |date_hour: &str, site: &str| {
        let folder = dir.path().join("refs").join(date_hour);
        std::fs::create_dir_all(&folder).expect("mkdir");
        std::fs::write(
            folder.join("devices.jsonl"),
            format!("{{\"device\": 1, \"site\": \"{site}\"}}\n"),
        )
        .expect("reference");
    };
    put("2024/01/01/00", "first");
    put("2999/01/01/00", "future");
    std::fs::write(
        dir.path().join("q.asaql"),
        "SELECT e.seq, d.site INTO Out FROM Events e TIMESTAMP BY ts JOIN Devices d ON e.device = d.device",
    )
    .expect("query");
    std::fs::write(
        dir.path().join("job.toml"),
        "query = \"q.asaql\"\n\
         [[inputs]]\nalias = \"Events\"\npath = \"-\"\n\
         [[inputs]]\nalias = \"Devices\"\npath = \"refs/{date}/{time}/devices.jsonl\"\ntype = \"reference\"\nrefresh_ms = 50\n\
         [[outputs]]\nalias = \"Out\"\npath = \"out.jsonl\"\n",
    )
    .expect("job");
    let out = dir.path().join("out.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["run", "--quiet", "--job"])
        .arg(dir.path().join("job.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("eddy starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut seq = 0;
    let send = |stdin: &mut std::process::ChildStdin, seq: &mut u32| {
        *seq += 1;
        stdin
            .write_all(event(*seq, *seq).as_bytes())
            .expect("write");
        stdin.flush().expect("flush");
    };
    for _ in 0..200 {
        send(&mut stdin, &mut seq);
        if !rows(&out).is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rows(&out)[0]["site"], "first");

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let stamp = common::chrono_like(now); // YYYY-MM-DDTHH:MM:SSZ
    put(
        &format!(
            "{}/{}/{}/{}",
            &stamp[0..4],
            &stamp[5..7],
            &stamp[8..10],
            &stamp[11..13]
        ),
        "second",
    );
    for _ in 0..500 {
        send(&mut stdin, &mut seq);
        if rows(&out).iter().any(|r| r["site"] == "second") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    send(&mut stdin, &mut seq);
    drop(stdin);
    let status = child.wait_with_output().expect("eddy ends");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let all = rows(&out);
    assert!(
        all.iter().any(|r| r["site"] == "second"),
        "the new file is used: {all:?}"
    );
    assert!(
        all.iter().all(|r| r["site"] != "future"),
        "a future-dated file is not used"
    );
}
