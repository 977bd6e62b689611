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

#[derive(Debug)]
struct Conn {
    service: Service,
    /// Echo: bytes read and not yet taken by the send buffer.
    pending: Vec<u8>,
    /// The peer finished sending.
    eof: bool,
    /// Chargen: the next line number.
    line: usize,
}

/// The services of one stack.
#[derive(Debug, Default)]
pub struct Services {
    listeners: HashMap<u32, Service>,
    conns: HashMap<u32, Conn>,
}

/// The most one read takes.
const READ_CHUNK: u32 = 64 * 1024;

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
                                line: 0,
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
        let mut read_any = false;
        if readiness.contains(TcpReadiness::READABLE) && !c.eof {
            // The bytes are seen where the stack holds them: discard copies nothing, echo
            // copies them once, into what it sends back.
            let (echo, pending) = (c.service == Service::Echo, &mut c.pending);
            loop {
                let keep = |piece: &[u8]| {
                    if echo {
                        pending.extend_from_slice(piece);
                    }
                };
                match stack.tcp_recv_in_place(now, socket, READ_CHUNK, keep)? {
                    Ok(0) => {
                        c.eof = true;
                        break;
                    }
                    Ok(n) => {
                        read_any = true;
                        // Drained: TCP says when there is more (or the end of the stream),
                        // so no read that finds nothing.
                        if n < READ_CHUNK as usize {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
        // Only when writable (or data just came in to echo back): an event that is not (the
        // one saying the buffer just filled, say) would have the write refused, a crossing for
        // nothing.
        if readiness.contains(TcpReadiness::WRITABLE) || read_any {
            send_pending(stack, now, socket, c)?;
        }
        if c.eof && (c.pending.is_empty() || c.service != Service::Echo) {
            let _ = stack.tcp_shutdown(now, socket)?;
        }
        if readiness.contains(TcpReadiness::CLOSED) {
            let _ = stack.tcp_close(now, socket)?;
            self.conns.remove(&socket);
        }
        Ok(())
    }
}

/// Sends what `c` has queued (echo's received bytes, chargen's lines, refilled whenever they
/// run dry) as far as the send buffer takes it; a writable event brings it back for the rest.
fn send_pending(stack: &mut Stack, now: u64, socket: u32, c: &mut Conn) -> Result<()> {
    loop {
        if c.pending.is_empty() {
            if c.service != Service::Chargen || c.eof {
                return Ok(());
            }
            for _ in 0..64 {
                c.pending.extend_from_slice(&chargen_line(c.line));
                c.line += 1;
            }
        }
        match stack.tcp_send(now, socket, &c.pending)? {
            Ok(n) if n > 0 => {
                let short = (n as usize) < c.pending.len();
                c.pending.drain(..n as usize);
                // A short write filled the send buffer: asking again would only be refused.
                if short {
                    return Ok(());
                }
            }
            _ => return Ok(()),
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
}
