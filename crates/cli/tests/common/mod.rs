//! What the `tidings` binary's test binaries (`cli` and `services`) share:
//! the binary, its test keys, and `tidings serve` on a free port.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tidings");
pub const WRITE_KEY: &str = "test-write-key";
pub const ADMIN_KEY: &str = "test-admin-key";

/// A child process killed when dropped, so that a failing test leaves no server behind.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free local port.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `tidings serve` on `dir` with the test keys, once `/healthz` answers.
pub fn serve(dir: &Path, addr: SocketAddr) -> Child {
    serve_with(dir, addr, &[])
}

/// `tidings serve` with extra environment variables.
pub fn serve_with(dir: &Path, addr: SocketAddr, env: &[(&str, &str)]) -> Child {
    let mut child = Command::new(BIN)
        .args(["serve", "--data", dir.to_str().unwrap(), "--listen", &addr.to_string()])
        .envs(env.iter().copied())
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tidings serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = tidings_testkit::http::Client::new(addr);
    loop {
        if c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tidings serve exited with {status}");
        }
        assert!(Instant::now() < deadline, "tidings serve did not answer /healthz within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
