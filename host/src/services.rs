//! Built-in services, like inetd's internal ones (RFC 862 echo, RFC 863 discard, RFC 864
//! chargen), for testing and benchmarking the stack without guest apps:
//! `netstack run --serve echo:7 --serve discard:9 --serve chargen:19`.
//!
//! They run on the stack's TCP sockets, driven only by readiness events (no polling): a listener
//! turning acceptable is accepted from, a connection turning readable is read, one turning
//! writable is written to.

use rustc_hash::FxHashMap as HashMap;

use anyhow::{Result, bail};

use crate::stack::{Stack, TcpReadiness};

/// A service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// RFC 862: sends back what it receives.
    Echo,
    /// RFC 863: reads and drops.
    Discard,
    /// RFC 864: sends lines of rotating characters until the client goes.
    Chargen,
}

/// `--serve NAME:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeSpec {
    /// The service.
    pub service: Service,
    /// Its TCP port.
    pub port: u16,
}

impl std::str::FromStr for ServeSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<ServeSpec, String> {
        let (name, port) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not NAME:PORT, like echo:7"))?;
        let service = match name {
            "echo" => Service::Echo,
            "discard" => Service::Discard,
            "chargen" => Service::Chargen,
            _ => {
                return Err(format!(
                    "unknown service `{name}` (known: echo, discard, chargen)"
                ));
            }
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("`{port}` is not a port"))?;
        if port == 0 {
            return Err("port 0 is not a port to serve on".into());
        }
        Ok(ServeSpec { service, port })
    }
}

/// RFC 864's pattern: 95 printable characters, each line 72 of them starting one further on.
fn chargen_line(n: usize) -> [u8; 74] {
    let mut line = [0u8; 74];
    for (i, b) in line[..72].iter_mut().enumerate() {
        *b = b' ' + ((n + i) % 95) as u8;
    }
    line[72] = b'\r';
    line[73] = b'\n';
    line
}

/// Chargen's stream repeats every 95 lines.
const CHARGEN_CYCLE: usize = 95 * 74;

/// Whole cycles a chargen write offers: ~63 KiB, so a write fills the send buffer in a few
/// crossings (the pattern is not generated per write, nor copied before it).
const CHARGEN_WRITE_CYCLES: usize = 9;

/// The next bytes of chargen's stream from `at` (an offset within its cycle): a slice of the
/// pattern, built once.
fn chargen_window(at: usize) -> &'static [u8] {
    static TEXT: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let text = TEXT.get_or_init(|| {
        (0..95 * (CHARGEN_WRITE_CYCLES + 1))
            .flat_map(chargen_line)
            .collect()
    });
    &text[at..at + CHARGEN_WRITE_CYCLES * CHARGEN_CYCLE]
}

#[derive(Debug)]
struct Conn {
    service: Service,
    /// Echo: bytes read and not yet taken by the send buffer.
    pending: Vec<u8>,
    /// The peer finished sending.
    eof: bool,
    /// Chargen: where its stream goes on, within the pattern's cycle.
    chargen_at: usize,
    /// Echo stopped reading at its backlog's bound with bytes left to read (no readable event
    /// comes for them: TCP reports readiness as it changes).
    unread: bool,
}

/// The services of one stack.
#[derive(Debug, Default)]
pub struct Services {
    listeners: HashMap<u32, Service>,
    conns: HashMap<u32, Conn>,
}

/// The most one read takes.
const READ_CHUNK: u32 = 64 * 1024;

/// The most echo reads ahead of what its send buffer takes (it stops reading there).
const ECHO_BACKLOG: usize = READ_CHUNK as usize;

impl Services {
    /// Opens the listeners.
    pub fn start(stack: &mut Stack, specs: &[ServeSpec], now: u64) -> Result<Services> {
        let mut s = Services::default();
        for spec in specs {
            match stack.tcp_listen(spec.port, 128)? {
                Ok(socket) => {
                    s.listeners.insert(socket, spec.service);
                }
                Err(e) => bail!("serve {:?} on port {}: {e:?}", spec.service, spec.port),
            }
        }
        stack.tcp_flush(now)?;
        Ok(s)
    }

    /// Whether there is nothing to serve.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Bytes echo has read and not yet handed to the send buffer, over its connections.
    pub fn echo_backlog(&self) -> usize {
        self.conns.values().map(|c| c.pending.len()).sum()
    }

    /// Handles the stack's TCP readiness events for the services' sockets; the others go to
    /// `others` (the application's). Returns whether any socket operation was made (then the
    /// caller flushes TCP and runs again).
    pub fn on_events(
        &mut self,
        stack: &mut Stack,
        now: u64,
        others: &mut Vec<(u32, TcpReadiness)>,
    ) -> Result<bool> {
        let events = stack.take_tcp_events();
        let mut acted = false;
        for (socket, readiness) in events {
            if let Some(&service) = self.listeners.get(&socket) {
                if readiness.contains(TcpReadiness::ACCEPTABLE) {
                    while let Ok((conn, _)) = stack.tcp_accept(socket)? {
                        self.conns.insert(
                            conn,
                            Conn {
                                service,
                                pending: Vec::new(),
                                eof: false,
                                chargen_at: 0,
                                unread: false,
                            },
                        );
                        acted = true;
                        // A new connection may be writable already (chargen starts at once).
                        self.serve(
                            stack,
                            now,
                            conn,
                            TcpReadiness::WRITABLE | TcpReadiness::READABLE,
                        )?;
                    }
                }
                continue;
            }
            if self.conns.contains_key(&socket) {
                acted = true;
                self.serve(stack, now, socket, readiness)?;
            } else {
                others.push((socket, readiness));
            }
        }
        Ok(acted)
    }

    fn serve(
        &mut self,
        stack: &mut Stack,
        now: u64,
        socket: u32,
        readiness: TcpReadiness,
    ) -> Result<()> {
        let Some(c) = self.conns.get_mut(&socket) else {
            return Ok(());
        };
        let echo = c.service == Service::Echo;
        let mut readable = readiness.contains(TcpReadiness::READABLE) || c.unread;
        // Only when writable (or data just came in to echo back): an event that is not (the
        // one saying the buffer just filled, say) would have the write refused, a crossing for
        // nothing.
        let mut write = readiness.contains(TcpReadiness::WRITABLE);
        loop {
            // Echo reads no more than it can hold: what the send buffer does not take waits,
            // up to `ECHO_BACKLOG`, and the rest in TCP's receive buffer, whose window then
            // closes on the peer (a real echo server blocks in `write` the same way).
            while readable && !c.eof && !(echo && c.pending.len() >= ECHO_BACKLOG) {
                // The bytes are seen where the stack holds them: discard copies nothing, echo
                // copies them once, into what it sends back.
                let pending = &mut c.pending;
                let keep = |piece: &[u8]| {
                    if echo {
                        pending.extend_from_slice(piece);
                    }
                };
                match stack.tcp_recv_in_place(now, socket, READ_CHUNK, keep)? {
                    Ok(0) => c.eof = true,
                    Ok(n) => {
                        write |= echo;
                        // Drained: TCP says when there is more (or the end of the stream),
                        // so no read that finds nothing.
                        readable = n == READ_CHUNK as usize;
                    }
                    Err(_) => readable = false,
                }
            }
            c.unread = readable && !c.eof;
            if !write || !send_pending(stack, now, socket, c)? || !c.unread {
                break;
            }
        }
        if c.eof && (c.pending.is_empty() || !echo) {
            let _ = stack.tcp_shutdown(now, socket)?;
        }
        if readiness.contains(TcpReadiness::CLOSED) {
            let _ = stack.tcp_close(now, socket)?;
            self.conns.remove(&socket);
        }
        Ok(())
    }
}

/// Sends what `c` has for the peer (echo's received bytes; chargen's stream, without end) as
/// far as the send buffer takes it; a writable event brings it back for the rest. Returns
/// whether it took everything (echo's backlog is empty).
fn send_pending(stack: &mut Stack, now: u64, socket: u32, c: &mut Conn) -> Result<bool> {
    loop {
        let chargen = c.service == Service::Chargen && !c.eof;
        let data = if chargen {
            chargen_window(c.chargen_at)
        } else if c.pending.is_empty() {
            return Ok(true);
        } else {
            &c.pending[..]
        };
        let offered = data.len();
        match stack.tcp_send(now, socket, data)? {
            Ok(n) if n > 0 => {
                let n = n as usize;
                if chargen {
                    c.chargen_at = (c.chargen_at + n) % CHARGEN_CYCLE;
                } else {
                    c.pending.drain(..n);
                }
                // A short write filled the send buffer: asking again would only be refused.
                if n < offered {
                    return Ok(false);
                }
            }
            _ => return Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_reject_clearly() {
        assert_eq!(
            "echo:7".parse::<ServeSpec>(),
            Ok(ServeSpec {
                service: Service::Echo,
                port: 7
            })
        );
        assert!(
            "gopher:70"
                .parse::<ServeSpec>()
                .unwrap_err()
                .contains("unknown service")
        );
        assert!("echo".parse::<ServeSpec>().is_err());
        assert!("echo:0".parse::<ServeSpec>().is_err());
    }

    #[test]
    fn chargen_lines_rotate() {
        assert_eq!(&chargen_line(0)[..5], b" !\"#$");
        assert_eq!(&chargen_line(1)[..3], b"!\"#");
        assert_eq!(&chargen_line(0)[72..], b"\r\n");
    }

    /// A client that sends without reading: echo stops reading once its send buffer is full
    /// and a bounded backlog waits (TCP's window then closes on the client, as with a real
    /// echo server that blocks in `write`); once the client reads, every byte comes back.
    #[test]
    fn echo_holds_a_bounded_backlog_for_a_client_that_does_not_read() {
        use nic_ftgmac100::wire::Switch;

        use crate::bench::{CLIENT, SERVER, config};
        use crate::node::Node;

        let sw = Switch::new();
        let echo = [ServeSpec {
            service: Service::Echo,
            port: 7,
        }];
        let mut server =
            Node::new(config(SERVER, 0x0f, 1500, true), sw.add_port(), &echo, 0).unwrap();
        let mut client =
            Node::new(config(CLIENT, 0x02, 1500, true), sw.add_port(), &[], 0).unwrap();
        let mut now = 0;
        let socket = client.stack.tcp_connect(now, (SERVER, 7)).unwrap().unwrap();
        let data: Vec<u8> = (0..8_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let (mut sent, mut got, mut most_backlog) = (0, Vec::new(), 0);
        let turn = |server: &mut Node<_>, client: &mut Node<_>, now: &mut u64| {
            let a = server.step(*now).unwrap();
            let b = client.step(*now).unwrap();
            client.take_app_events();
            *now = a.min(b).clamp(*now + 1_000, *now + 1_000_000);
        };
        // Sending only, as long as the client's send buffer takes anything.
        for _ in 0..20_000 {
            if sent < data.len()
                && let Ok(n) = client.stack.tcp_send(now, socket, &data[sent..]).unwrap()
            {
                sent += n as usize;
            }
            client.stack.tcp_flush(now).unwrap();
            turn(&mut server, &mut client, &mut now);
            most_backlog = most_backlog.max(server.services.echo_backlog());
        }
        assert!(
            sent < data.len(),
            "the client was never held back: {sent} bytes sent, echo's backlog {most_backlog}"
        );
        assert!(
            most_backlog < ECHO_BACKLOG + READ_CHUNK as usize,
            "echo's backlog grew to {most_backlog} bytes"
        );
        // Now reading too: everything comes back, in order.
        for _ in 0..200_000 {
            if got.len() == data.len() {
                break;
            }
            if sent < data.len()
                && let Ok(n) = client.stack.tcp_send(now, socket, &data[sent..]).unwrap()
            {
                sent += n as usize;
            }
            while let Ok(b) = client.stack.tcp_recv(now, socket, 1 << 20).unwrap() {
                if b.is_empty() {
                    break;
                }
                got.extend_from_slice(&b);
            }
            client.stack.tcp_flush(now).unwrap();
            turn(&mut server, &mut client, &mut now);
        }
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the echo differs");
    }

    #[test]
    fn chargen_windows_continue_the_stream_from_any_offset() {
        let stream: Vec<u8> = (0..3 * 95).flat_map(chargen_line).collect();
        for at in [0, 1, 73, 74, CHARGEN_CYCLE - 1] {
            let w = chargen_window(at);
            assert_eq!(w.len(), CHARGEN_WRITE_CYCLES * CHARGEN_CYCLE);
            assert_eq!(&w[..2 * CHARGEN_CYCLE], &stream[at..at + 2 * CHARGEN_CYCLE]);
        }
        // Writes of any size go on where the last stopped, across the cycle's end.
        let mut sent = Vec::new();
        let mut at = 0;
        for n in [5000, 7030, 1, 12345, 63270] {
            sent.extend_from_slice(&chargen_window(at)[..n]);
            at = (at + n) % CHARGEN_CYCLE;
        }
        let lines: Vec<u8> = (0..sent.len().div_ceil(74))
            .flat_map(chargen_line)
            .collect();
        assert_eq!(sent, lines[..sent.len()]);
    }
}
