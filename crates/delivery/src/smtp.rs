//! SMTP to a relay on a trusted network, without TLS or AUTH: the bulk
//! path (Postfix, an ESP's local relay, a test sink).
//!
//! lettre's released client (0.11.23) leaves Nagle's algorithm on and
//! writes the end-of-data dot apart from the body, so every message waits
//! for the server's delayed ACK (~40 ms on Linux; ~25 messages/s per
//! connection; upstream pull request lettre#1159). It also sends a NOOP
//! before each reuse of a pooled connection and one command per round
//! trip. This client sets TCP_NODELAY, sends MAIL, RCPT and DATA in one
//! write when the server offers PIPELINING (RFC 2920), and the dot-stuffed
//! body with its terminator in another: two round trips a message. TLS and
//! AUTH stay with lettre ([`crate::transport::SmtpTransport`] picks).
//!
//! Invariants:
//! - A message is retried here only when nothing of it can have reached
//!   the server: a pooled connection found closed before its envelope was
//!   answered. Everything after that is reported, classified, to the caller.
//! - A connection goes back to the pool only in a known state: after a
//!   completed transaction, or after a failed one that RSET cleared.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::DeliveryError;
use crate::mime::OutgoingMessage;

/// Longest reply line we read (RFC 5321 §4.5.3.1.5 says 512).
const MAX_LINE: usize = 2048;
/// Most lines in one (multiline) reply.
const MAX_LINES: usize = 200;

/// Pooled plain-text SMTP connections to one server.
pub(crate) struct Pipelined {
    host: String,
    port: u16,
    hello: String,
    timeout: Duration,
    pool_size: usize,
    idle: Mutex<Vec<Connection>>,
}

/// A server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub text: String,
}

impl Reply {
    fn ok(&self) -> bool {
        (200..300).contains(&self.code)
    }

    fn error(&self) -> DeliveryError {
        DeliveryError::from_reply(self.code, self.text.clone())
    }
}

/// What the server offered in its EHLO reply.
#[derive(Debug, Clone, Copy, Default)]
struct Capabilities {
    pipelining: bool,
    eight_bit_mime: bool,
    smtputf8: bool,
}

struct Connection {
    reader: BufReader<TcpStream>,
    caps: Capabilities,
    /// Reused across messages: commands, then the body.
    out: Vec<u8>,
    line: Vec<u8>,
}

/// How a transaction failed: `stale` when the connection turned out to be
/// closed before the server answered anything about this message.
struct Failure {
    error: DeliveryError,
    stale: bool,
    reusable: bool,
}

fn io_error(e: std::io::Error, what: &str) -> DeliveryError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            DeliveryError::Timeout(format!("{what}: no answer in time"))
        }
        _ => DeliveryError::Connection(format!("{what}: {e}")),
    }
}

impl Connection {
    fn open(host: &str, port: u16, hello: &str, timeout: Duration) -> Result<Connection, DeliveryError> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| DeliveryError::Connection(format!("resolving {host}:{port}: {e}")))?;
        let mut last = DeliveryError::Connection(format!("{host}:{port} resolved to no address"));
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    let setup = |s: &TcpStream| {
                        s.set_nodelay(true)?;
                        s.set_read_timeout(Some(timeout))?;
                        s.set_write_timeout(Some(timeout))
                    };
                    setup(&stream).map_err(|e| io_error(e, "configuring the socket"))?;
                    let mut conn = Connection {
                        reader: BufReader::with_capacity(8192, stream),
                        caps: Capabilities::default(),
                        out: Vec::with_capacity(64 * 1024),
                        line: Vec::with_capacity(256),
                    };
                    conn.greet(hello)?;
                    return Ok(conn);
                }
                Err(e) => last = io_error(e, &format!("connecting to {addr}")),
            }
        }
        Err(last)
    }

    fn greet(&mut self, hello: &str) -> Result<(), DeliveryError> {
        let greeting = self.read_reply()?;
        if greeting.code != 220 {
            return Err(greeting.error());
        }
        self.send_line(&format!("EHLO {hello}"))?;
        let ehlo = self.read_reply()?;
        if ehlo.ok() {
            for line in ehlo.text.lines().skip(1) {
                let keyword = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                match keyword.as_str() {
                    "PIPELINING" => self.caps.pipelining = true,
                    "8BITMIME" => self.caps.eight_bit_mime = true,
                    "SMTPUTF8" => self.caps.smtputf8 = true,
                    _ => {}
                }
            }
            return Ok(());
        }
        // An old server: plain HELO, no extensions.
        self.send_line(&format!("HELO {hello}"))?;
        let helo = self.read_reply()?;
        if helo.ok() { Ok(()) } else { Err(helo.error()) }
    }

    fn send_line(&mut self, line: &str) -> Result<(), DeliveryError> {
        self.out.clear();
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.flush_out()
    }

    fn flush_out(&mut self) -> Result<(), DeliveryError> {
        self.reader.get_mut().write_all(&self.out).map_err(|e| io_error(e, "writing to the server"))
    }

    /// Reads one reply, joining a multiline reply's texts with newlines.
    fn read_reply(&mut self) -> Result<Reply, DeliveryError> {
        let mut text = String::new();
        for n in 0..MAX_LINES {
            self.line.clear();
            let read = std::io::Read::take(&mut self.reader, MAX_LINE as u64)
                .read_until(b'\n', &mut self.line)
                .map_err(|e| io_error(e, "reading the reply"))?;
            if read == 0 {
                return Err(DeliveryError::Connection("the server closed the connection".into()));
            }
            if !self.line.ends_with(b"\n") {
                return Err(DeliveryError::Connection("the server sent a reply line that is too long".into()));
            }
            let line = String::from_utf8_lossy(&self.line);
            let line = line.trim_end_matches(['\r', '\n']);
            let bytes = line.as_bytes();
            let code = (bytes.len() >= 3 && bytes[..3].iter().all(u8::is_ascii_digit))
                .then(|| line[..3].parse::<u16>().ok())
                .flatten()
                .filter(|c| (200..600).contains(c))
                .ok_or_else(|| DeliveryError::Connection(format!("the server sent a malformed reply {line:?}")))?;
            if n > 0 {
                text.push('\n');
            }
            text.push_str(line.get(4..).unwrap_or(""));
            match bytes.get(3) {
                Some(b'-') => continue,
                None | Some(b' ') => return Ok(Reply { code, text }),
                Some(_) => {
                    return Err(DeliveryError::Connection(format!("the server sent a malformed reply {line:?}")));
                }
            }
        }
        Err(DeliveryError::Connection("the server sent a reply of too many lines".into()))
    }

    /// One message: envelope (pipelined when offered), then the data.
    fn transaction(&mut self, message: &OutgoingMessage) -> Result<Reply, Failure> {
        let fatal = |error: DeliveryError, stale: bool| Failure { error, stale, reusable: false };
        let mut params = String::new();
        let non_ascii_address = !message.envelope_from.is_ascii() || message.recipients.iter().any(|r| !r.is_ascii());
        if non_ascii_address {
            if !self.caps.smtputf8 {
                let e = DeliveryError::Message("a non-ASCII address, and the server lacks SMTPUTF8".into());
                return Err(Failure { error: e, stale: false, reusable: true });
            }
            params.push_str(" SMTPUTF8");
        }
        if !message.data.is_ascii() {
            if !self.caps.eight_bit_mime {
                let e = DeliveryError::Message("a non-ASCII body, and the server lacks 8BITMIME".into());
                return Err(Failure { error: e, stale: false, reusable: true });
            }
            params.push_str(" BODY=8BITMIME");
        }
        let mut commands = vec![format!("MAIL FROM:<{}>{params}", message.envelope_from)];
        commands.extend(message.recipients.iter().map(|r| format!("RCPT TO:<{r}>")));
        commands.push("DATA".into());

        let mut replies = Vec::with_capacity(commands.len());
        if self.caps.pipelining {
            self.out.clear();
            for c in &commands {
                self.out.extend_from_slice(c.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            self.flush_out().map_err(|e| fatal(e, true))?;
            for i in 0..commands.len() {
                // A closed connection before the first answer: nothing reached the server.
                replies.push(self.read_reply().map_err(|e| fatal(e, i == 0))?);
            }
        } else {
            for (i, c) in commands.iter().enumerate() {
                self.send_line(c).map_err(|e| fatal(e, i == 0))?;
                let reply = self.read_reply().map_err(|e| fatal(e, i == 0))?;
                let stop = if i + 1 == commands.len() { reply.code != 354 } else { !reply.ok() };
                replies.push(reply);
                if stop {
                    break;
                }
            }
        }
        // The first refusal is the answer; a 421 means the server is closing.
        let last = replies.len() - 1;
        let refused =
            replies.iter().enumerate().find(|(i, r)| if *i == commands.len() - 1 { r.code != 354 } else { !r.ok() });
        if let Some((_, reply)) = refused {
            let error = reply.error();
            let closing = replies.iter().any(|r| r.code == 421);
            if replies[last].code == 354 || closing {
                // DATA was accepted after a refused recipient, or the server is
                // leaving: abandon the connection rather than send an empty message.
                // A 421 to MAIL itself (an idle connection timed out) means nothing
                // of this message was taken: stale, so a reused one is retried.
                return Err(fatal(error, replies[0].code == 421));
            }
            let reusable = self.reset().is_ok();
            return Err(Failure { error, stale: false, reusable });
        }

        self.out.clear();
        dot_stuff(&message.data, &mut self.out);
        self.out.extend_from_slice(b".\r\n");
        self.flush_out().map_err(|e| fatal(e, false))?;
        let reply = self.read_reply().map_err(|e| fatal(e, false))?;
        if reply.ok() {
            Ok(reply)
        } else {
            let reusable = reply.code != 421;
            Err(Failure { error: reply.error(), stale: false, reusable })
        }
    }

    fn reset(&mut self) -> Result<(), DeliveryError> {
        self.send_line("RSET")?;
        let r = self.read_reply()?;
        if r.ok() { Ok(()) } else { Err(r.error()) }
    }

    fn quit(mut self) {
        let _ = self.reader.get_ref().set_read_timeout(Some(Duration::from_millis(200)));
        if self.send_line("QUIT").is_ok() {
            let _ = self.read_reply();
        }
        let _ = self.reader.get_ref().shutdown(Shutdown::Both);
    }
}

/// Appends `data` with every line that starts with `.` given another
/// (RFC 5321 §4.5.2) and a final CRLF if it has none.
pub(crate) fn dot_stuff(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len() + 64);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !data.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
}

impl Pipelined {
    pub(crate) fn new(host: &str, port: u16, hello: &str, timeout: Duration, pool_size: usize) -> Pipelined {
        Pipelined {
            host: host.to_string(),
            port,
            hello: hello.to_string(),
            timeout,
            pool_size: pool_size.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `message`, reusing an idle connection when there is one.
    pub(crate) fn send(&self, message: &OutgoingMessage) -> Result<Reply, DeliveryError> {
        let pooled = self.idle.lock().pop();
        let (mut conn, reused) = match pooled {
            Some(c) => (c, true),
            None => (Connection::open(&self.host, self.port, &self.hello, self.timeout)?, false),
        };
        let mut result = conn.transaction(message);
        if let Err(Failure { stale: true, .. }) = &result
            && reused
        {
            // The server closed the idle connection; nothing of this message
            // reached it. Once more on a new connection (the old one closed first).
            drop(conn);
            conn = Connection::open(&self.host, self.port, &self.hello, self.timeout)?;
            result = conn.transaction(message);
        }
        match result {
            Ok(reply) => {
                self.put_back(conn);
                Ok(reply)
            }
            Err(f) => {
                if f.reusable {
                    self.put_back(conn);
                }
                Err(f.error)
            }
        }
    }

    fn put_back(&self, conn: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.pool_size {
            idle.push(conn);
        } else {
            drop(idle);
            conn.quit();
        }
    }

    /// Says QUIT on every idle connection.
    pub(crate) fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.idle.lock());
        for c in idle {
            c.quit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_lines() {
        let mut out = Vec::new();
        dot_stuff(b".a\r\nb.\r\n..c\r\n.", &mut out);
        assert_eq!(out, b"..a\r\nb.\r\n...c\r\n..\r\n");
        out.clear();
        dot_stuff(b"x\r\n", &mut out);
        assert_eq!(out, b"x\r\n");
    }

    fn message(to: &str, data: &str) -> OutgoingMessage {
        OutgoingMessage {
            message_id: "<m@x>".into(),
            envelope_from: "bounce@shop.example".into(),
            recipients: vec![to.into()],
            data: data.as_bytes().to_vec(),
        }
    }

    /// A scripted server: answers each command by `answer`, records what it got.
    fn server(
        pipelining: bool,
        answer: impl Fn(&str) -> Option<&'static str> + Send + 'static,
    ) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let mut log = Vec::new();
            w.write_all(b"220 test ESMTP\r\n").unwrap();
            let mut line = String::new();
            let mut in_data = false;
            let mut body = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap() == 0 {
                    return log;
                }
                if in_data {
                    if line == ".\r\n" {
                        in_data = false;
                        log.push(format!("BODY {body}"));
                        body.clear();
                        w.write_all(b"250 2.0.0 queued\r\n").unwrap();
                    } else {
                        body.push_str(&line);
                    }
                    continue;
                }
                let cmd = line.trim_end().to_string();
                // Pipelined commands arrive before any reply: record how many were waiting.
                log.push(format!("{cmd} (buffered {})", r.buffer().len()));
                let reply = if cmd.starts_with("EHLO") {
                    if pipelining { "250-test\r\n250-PIPELINING\r\n250 8BITMIME" } else { "250-test\r\n250 8BITMIME" }
                } else if let Some(a) = answer(&cmd) {
                    a
                } else if cmd == "DATA" {
                    in_data = true;
                    "354 go ahead"
                } else if cmd == "QUIT" {
                    w.write_all(b"221 bye\r\n").unwrap();
                    return log;
                } else {
                    "250 ok"
                };
                w.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
            }
        });
        (port, handle)
    }

    #[test]
    fn pipelines_the_envelope_and_stuffs_dots() {
        let (port, server) = server(true, |_| None);
        let client = Pipelined::new("127.0.0.1", port, "tidings.test", Duration::from_secs(5), 1);
        let reply = client.send(&message("a@x.example", "Subject: hi\r\n\r\n.hidden\r\n")).unwrap();
        assert_eq!(reply.code, 250);
        client.send(&message("b@x.example", "Subject: again\r\n\r\nok\r\n")).unwrap();
        client.shutdown();
        let log = server.join().unwrap();
        // MAIL arrived with RCPT and DATA behind it, in one write; no NOOP between messages.
        assert!(log[1].starts_with("MAIL FROM:<bounce@shop.example> (buffered 29)"), "{log:?}");
        assert_eq!(log[4], "BODY Subject: hi\r\n\r\n..hidden\r\n");
        assert!(log[5].starts_with("MAIL FROM"), "{log:?}");
        assert!(!log.iter().any(|l| l.starts_with("NOOP")));
    }

    #[test]
    fn a_refused_recipient_is_classified_and_the_connection_reset() {
        let (port, server) = server(true, |c| c.contains("gone@").then_some("550 5.1.1 no such user"));
        let client = Pipelined::new("127.0.0.1", port, "tidings.test", Duration::from_secs(5), 1);
        let e = client.send(&message("gone@x.example", "x\r\n")).unwrap_err();
        assert!(e.is_bounce(), "{e}");
        client.shutdown();
        let log = server.join().unwrap();
        // The server (this one does not check) said 354 to DATA: we must not send a body.
        assert!(!log.iter().any(|l| l.starts_with("BODY")), "{log:?}");
    }

    #[test]
    fn without_pipelining_it_stops_at_the_first_refusal_and_resets() {
        let (port, server) = server(false, |c| c.contains("later@").then_some("451 4.3.0 try later"));
        let client = Pipelined::new("127.0.0.1", port, "tidings.test", Duration::from_secs(5), 1);
        let e = client.send(&message("later@x.example", "x\r\n")).unwrap_err();
        assert!(e.is_transient(), "{e}");
        client.send(&message("ok@x.example", "fine\r\n")).unwrap();
        client.shutdown();
        let log = server.join().unwrap();
        let commands: Vec<&str> = log.iter().map(|l| l.split(" (").next().unwrap()).collect();
        assert_eq!(
            commands,
            [
                "EHLO tidings.test",
                "MAIL FROM:<bounce@shop.example>",
                "RCPT TO:<later@x.example>",
                "RSET",
                "MAIL FROM:<bounce@shop.example>",
                "RCPT TO:<ok@x.example>",
                "DATA",
                "BODY fine\r\n",
                "QUIT"
            ]
        );
    }

    #[test]
    fn a_pooled_connection_the_server_timed_out_is_replaced_without_an_error() {
        // The first connection answers one message, then says 421 to the next MAIL
        // (as Postfix does after its idle timeout); the second takes the message.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut bodies = 0;
            for (n, stream) in listener.incoming().take(2).enumerate() {
                let stream = stream.unwrap();
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                w.write_all(b"220 hi\r\n").unwrap();
                let (mut line, mut in_data, mut mails) = (String::new(), false, 0);
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap() == 0 {
                        break;
                    }
                    let reply = if in_data {
                        if line != ".\r\n" {
                            continue;
                        }
                        in_data = false;
                        bodies += 1;
                        "250 queued"
                    } else if line.starts_with("EHLO") {
                        "250-x\r\n250 PIPELINING"
                    } else if line.starts_with("MAIL") {
                        mails += 1;
                        if n == 0 && mails == 2 { "421 4.4.2 timeout exceeded" } else { "250 ok" }
                    } else if line.starts_with("DATA") {
                        in_data = true;
                        "354 go"
                    } else if line.starts_with("QUIT") {
                        w.write_all(b"221 bye\r\n").unwrap();
                        break;
                    } else {
                        "250 ok"
                    };
                    w.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
                }
            }
            bodies
        });
        let client = Pipelined::new("127.0.0.1", port, "t", Duration::from_secs(5), 1);
        client.send(&message("a@x.example", "one\r\n")).unwrap();
        client.send(&message("b@x.example", "two\r\n")).unwrap();
        client.shutdown();
        assert_eq!(t.join().unwrap(), 2);
    }

    #[test]
    fn malformed_replies_are_connection_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"hello there\r\n").unwrap();
        });
        let client = Pipelined::new("127.0.0.1", port, "t", Duration::from_secs(5), 1);
        let e = client.send(&message("a@x.example", "x\r\n")).unwrap_err();
        assert!(matches!(e, DeliveryError::Connection(_)), "{e}");
        t.join().unwrap();
    }
}
