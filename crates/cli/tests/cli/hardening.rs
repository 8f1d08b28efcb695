//! `tidings` as an attacker or a careless operator would meet it (issue 16):
//! a file-descriptor limit and a pile of idle sockets, secrets on disk,
//! weak configured keys, templates made to overflow a parser.

use crate::{ADMIN_KEY, BIN, Stopped, WRITE_KEY, free_addr, tidings};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tidings_testkit::http::Client;

/// Under a 1,024 file limit, 1,100 idle connections do not keep `/healthz`
/// from answering: the server caps what it accepts below its limit and
/// closes the longest-idle connection to make room.
#[test]
fn idle_connections_beyond_the_file_limit_leave_health_checks_answered() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        panic!("prlimit (util-linux) is needed to run the server under a file limit");
    }
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let child = Command::new("prlimit")
        .args(["--nofile=1024:1024", "--", BIN, "serve", "--data", dir.path().to_str().unwrap()])
        .args(["--listen", &addr.to_string()])
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Stopped(child);
    let mut c = Client::new(addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let idle: Vec<TcpStream> = (0..1_100).filter_map(|_| TcpStream::connect(addr).ok()).collect();
    assert!(idle.len() >= 1_000, "the test could open only {} connections", idle.len());
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        let t = Instant::now();
        let r = Client::new(addr).get("/healthz", None);
        assert!(r.is_ok_and(|r| r.status == 200), "/healthz stopped answering");
        assert!(t.elapsed() < Duration::from_secs(1), "/healthz took {:?}", t.elapsed());
    }
    drop(idle);
}

#[cfg(unix)]
#[test]
fn secrets_and_personal_data_are_private_on_disk() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    let addr = free_addr();
    let _server = Stopped(crate::serve(&data, addr));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data folder");
    assert_eq!(mode(&data.join("tracking.key")), 0o600, "the link-signing secret");
    assert_eq!(mode(&data.join("tidings.db")), 0o600, "everyone's data");
}

#[test]
fn weak_configured_keys_stop_the_start_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--data", dir.path().to_str().unwrap(), "--listen", &free_addr().to_string()])
        .env("TIDINGS_WORKSPACE__WRITE_KEY", "short-key-1")
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("write key is too weak"), "{err}");
    assert!(err.contains("at least 12 characters"), "{err}");
}

/// A template nested 10,000 deep once overflowed the stack and aborted
/// `render` and `serve`; it is refused with its place.
#[test]
fn a_template_nested_too_deep_is_refused_not_crashed_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shop");
    assert!(tidings(&["init", data.to_str().unwrap()]).status.success());
    let deep = format!(
        "---\nsubject: s\n---\n<p>{}x{}</p>\n",
        "{% if profile.a %}".repeat(10_000),
        "{% endif %}".repeat(10_000)
    );
    std::fs::write(data.join("templates/deep.html"), deep).unwrap();
    let out = tidings(&["render", "deep", "--data", data.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a clean exit, not an abort: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deep.html:4") && err.contains("nest too deep"), "{err}");
    let out = Command::new(BIN)
        .args(["serve", "--data", data.to_str().unwrap(), "--listen", &free_addr().to_string()])
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nest too deep"));
}
