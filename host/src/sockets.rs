//! The host socket layer: TCP sockets on our stack for code outside it (the `--connect` client
//! now; wasi:sockets for guests and the user-mode gateway build on it), as futures.
//!
//! A [`Sockets`] handle (cheap to clone, `Send`) sends requests to the task that owns the stack
//! and wakes it; the [`SocketHub`] in the [`crate::node::Node`] runs them at the node's next
//! turn, every request of a turn going to the TCP component before one flush. A request that
//! would block is parked on its socket and tried again only when the component reports that
//! socket's readiness changed (the component re-arms the event on every would-block, so none is
//! missed): no busy polling, and a future resolves at the end of the turn that made it possible.
//!
//! Bytes cross once each way: `write_all` hands its buffer over and the hub copies it into the
//! component; `read` returns the buffer the component's answer was lifted into.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddrV4;
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::bindings::tcp::exports::netstack::stack::types::ErrorCode;
use crate::stack::{Stack, TcpReadiness};

/// The most one read asks the component for.
const READ_MAX: u32 = 256 * 1024;

/// What a request asks.
#[derive(Debug)]
enum Op {
    Listen {
        port: u16,
        backlog: u32,
    },
    Connect {
        remote: SocketAddrV4,
    },
    /// A connect waiting for its handshake.
    Connecting {
        socket: u32,
    },
    Accept {
        listener: u32,
    },
    Read {
        socket: u32,
        max: u32,
    },
    /// `sent` of `data` are in the send buffer already.
    Write {
        socket: u32,
        data: Vec<u8>,
        sent: usize,
    },
    Shutdown {
        socket: u32,
    },
    Close {
        socket: u32,
    },
}

#[derive(Debug)]
enum Done {
    Socket(u32),
    Accepted(u32, SocketAddrV4),
    Data(Vec<u8>),
    Nothing,
}

type Reply = oneshot::Sender<io::Result<Done>>;

#[derive(Debug)]
struct Request {
    op: Op,
    /// None for fire-and-forget (a close from `Drop`).
    reply: Option<Reply>,
}

/// Hands requests to the stack's task. Cloning shares the stack.
#[derive(Debug, Clone)]
pub struct Sockets {
    requests: mpsc::UnboundedSender<Request>,
    wake: Arc<Notify>,
}

/// The stack's side: the requests waiting for a turn, and those parked on a socket.
#[derive(Debug)]
pub struct SocketHub {
    requests: mpsc::UnboundedReceiver<Request>,
    wake: Arc<Notify>,
    parked: HashMap<u32, Vec<Request>>,
}

/// A new socket layer: the handle for its users, the hub for the node, and what the node's
/// task waits on for new requests.
pub fn socket_layer() -> (Sockets, SocketHub) {
    let (tx, rx) = mpsc::unbounded_channel();
    let wake = Arc::new(Notify::new());
    (
        Sockets {
            requests: tx,
            wake: wake.clone(),
        },
        SocketHub {
            requests: rx,
            wake,
            parked: HashMap::new(),
        },
    )
}

fn stack_gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stack has stopped")
}

impl Sockets {
    async fn call(&self, op: Op) -> io::Result<Done> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request {
                op,
                reply: Some(tx),
            })
            .map_err(|_| stack_gone())?;
        self.wake.notify_one();
        rx.await.map_err(|_| stack_gone())?
    }

    fn cast(&self, op: Op) {
        if self.requests.send(Request { op, reply: None }).is_ok() {
            self.wake.notify_one();
        }
    }

    /// Listens on `port` of every address, with an accept queue of `backlog`.
    pub async fn listen(&self, port: u16, backlog: u32) -> io::Result<TcpListener> {
        match self.call(Op::Listen { port, backlog }).await? {
            Done::Socket(socket) => Ok(TcpListener {
                socket: Handle::new(self.clone(), socket),
                port,
            }),
            other => unreachable!("listen answered {other:?}"),
        }
    }

    /// Connects to `remote` from our address; resolves once established, or with the reason it
    /// was not (refused, timed out).
    pub async fn connect(&self, remote: SocketAddrV4) -> io::Result<TcpStream> {
        match self.call(Op::Connect { remote }).await? {
            Done::Socket(socket) => Ok(TcpStream {
                socket: Arc::new(Handle::new(self.clone(), socket)),
                peer: remote,
            }),
            other => unreachable!("connect answered {other:?}"),
        }
    }
}

/// A socket handle, closed when the last user drops it.
#[derive(Debug)]
struct Handle {
    sockets: Sockets,
    id: u32,
}

impl Handle {
    fn new(sockets: Sockets, id: u32) -> Handle {
        Handle { sockets, id }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.sockets.cast(Op::Close { socket: self.id });
    }
}

/// A listening socket.
#[derive(Debug)]
pub struct TcpListener {
    socket: Handle,
    port: u16,
}

impl TcpListener {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next connection, waiting for one if none is queued.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        let s = &self.socket.sockets;
        match s
            .call(Op::Accept {
                listener: self.socket.id,
            })
            .await?
        {
            Done::Accepted(id, peer) => Ok((
                TcpStream {
                    socket: Arc::new(Handle::new(s.clone(), id)),
                    peer,
                },
                peer,
            )),
            other => unreachable!("accept answered {other:?}"),
        }
    }
}

/// A connection. Clones share it (one may read while another writes); the last one closes it.
#[derive(Debug, Clone)]
pub struct TcpStream {
    socket: Arc<Handle>,
    peer: SocketAddrV4,
}

impl TcpStream {
    /// The remote endpoint.
    pub fn peer(&self) -> SocketAddrV4 {
        self.peer
    }

    /// The next bytes received, waiting for some; empty at the end of the stream.
    pub async fn read(&self) -> io::Result<Vec<u8>> {
        let op = Op::Read {
            socket: self.socket.id,
            max: READ_MAX,
        };
        match self.socket.sockets.call(op).await? {
            Done::Data(d) => Ok(d),
            other => unreachable!("read answered {other:?}"),
        }
    }

    /// Queues all of `data`, waiting for send-buffer space as needed. Resolves once the last
    /// byte is in the send buffer (not when it is acknowledged).
    pub async fn write_all(&self, data: Vec<u8>) -> io::Result<()> {
        let op = Op::Write {
            socket: self.socket.id,
            data,
            sent: 0,
        };
        self.socket.sockets.call(op).await.map(drop)
    }

    /// Half-closes: a FIN follows the queued data.
    pub async fn shutdown(&self) -> io::Result<()> {
        let op = Op::Shutdown {
            socket: self.socket.id,
        };
        self.socket.sockets.call(op).await.map(drop)
    }
}

/// WIT's error codes as `std::io` kinds.
fn io_error(e: ErrorCode) -> io::Error {
    use io::ErrorKind as K;
    let kind = match e {
        ErrorCode::InvalidArgument => K::InvalidInput,
        ErrorCode::NotSupported => K::Unsupported,
        ErrorCode::InvalidState => K::NotConnected,
        ErrorCode::OutOfMemory => K::OutOfMemory,
        ErrorCode::WouldBlock => K::WouldBlock,
        ErrorCode::AddressInUse => K::AddrInUse,
        ErrorCode::AddressNotBindable => K::AddrNotAvailable,
        ErrorCode::RemoteUnreachable => K::HostUnreachable,
        ErrorCode::ConnectionRefused => K::ConnectionRefused,
        ErrorCode::ConnectionReset => K::ConnectionReset,
        ErrorCode::ConnectionAborted => K::ConnectionAborted,
        ErrorCode::Timeout => K::TimedOut,
        ErrorCode::UnsupportedStateVersion | ErrorCode::InvalidStateData => K::InvalidData,
    };
    io::Error::new(kind, format!("{e:?}"))
}

/// What trying a request came to.
enum Attempt {
    Finished(io::Result<Done>),
    /// Would block: park it on this socket, with its progress.
    Park(u32, Op),
}

impl SocketHub {
    /// Notified whenever a request is queued: the node's task waits on it.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Requests parked on a socket, waiting for its readiness.
    pub fn parked(&self) -> usize {
        self.parked.values().map(Vec::len).sum()
    }

    /// One turn: retries the requests parked on the sockets in `events`, then runs the new
    /// ones. Returns whether it made any socket operation (the caller then flushes TCP).
    pub fn turn(
        &mut self,
        stack: &mut Stack,
        now: u64,
        events: &[(u32, TcpReadiness)],
    ) -> Result<bool> {
        let mut todo: Vec<(Request, TcpReadiness)> = Vec::new();
        for &(socket, readiness) in events {
            if let Some(waiting) = self.parked.remove(&socket) {
                todo.extend(waiting.into_iter().map(|r| (r, readiness)));
            }
        }
        while let Ok(r) = self.requests.try_recv() {
            todo.push((r, TcpReadiness::empty()));
        }
        let acted = !todo.is_empty();
        for (Request { op, reply }, readiness) in todo {
            if let Op::Close { socket } = op {
                // Whatever waited on it was given up by its (dropped) asker.
                self.parked.remove(&socket);
            }
            match attempt(stack, now, op, readiness)? {
                Attempt::Finished(result) => {
                    let Some(reply) = reply else { continue };
                    // The asker went (a dropped future): a socket made for it is closed.
                    if let Err(Ok(Done::Socket(s) | Done::Accepted(s, _))) = reply.send(result) {
                        let _ = stack.tcp_close(now, s)?;
                    }
                }
                Attempt::Park(socket, op) => {
                    self.parked
                        .entry(socket)
                        .or_default()
                        .push(Request { op, reply });
                }
            }
        }
        Ok(acted)
    }
}

/// Tries one request on the stack; `readiness` is the event that woke a parked one.
fn attempt(stack: &mut Stack, now: u64, op: Op, readiness: TcpReadiness) -> Result<Attempt> {
    let finished = |r: Result<Done, ErrorCode>| Attempt::Finished(r.map_err(io_error));
    Ok(match op {
        Op::Listen { port, backlog } => {
            finished(stack.tcp_listen(port, backlog)?.map(Done::Socket))
        }
        // Parked at once: the handshake's outcome comes as the socket's next events.
        Op::Connect { remote } => match stack.tcp_connect(now, (*remote.ip(), remote.port()))? {
            Ok(socket) => Attempt::Park(socket, Op::Connecting { socket }),
            Err(e) => finished(Err(e)),
        },
        Op::Connecting { socket } => {
            if readiness.contains(TcpReadiness::CONNECTED) {
                finished(Ok(Done::Socket(socket)))
            } else if readiness.contains(TcpReadiness::CLOSED) {
                // Refused or timed out: the read says which; the socket goes.
                let why = stack.tcp_recv(now, socket, 0)?.err();
                let _ = stack.tcp_close(now, socket)?;
                finished(Err(why.unwrap_or(ErrorCode::ConnectionAborted)))
            } else {
                Attempt::Park(socket, Op::Connecting { socket })
            }
        }
        Op::Accept { listener } => match stack.tcp_accept(listener)? {
            Err(ErrorCode::WouldBlock) => Attempt::Park(listener, Op::Accept { listener }),
            r => finished(r.map(|(s, (a, p))| Done::Accepted(s, SocketAddrV4::new(a, p)))),
        },
        Op::Read { socket, max } => match stack.tcp_recv(now, socket, max)? {
            Err(ErrorCode::WouldBlock) => Attempt::Park(socket, Op::Read { socket, max }),
            r => finished(r.map(Done::Data)),
        },
        Op::Write {
            socket,
            data,
            mut sent,
        } => loop {
            if sent == data.len() {
                break finished(Ok(Done::Nothing));
            }
            match stack.tcp_send(now, socket, &data[sent..])? {
                Ok(n) => sent += n as usize,
                Err(ErrorCode::WouldBlock) => {
                    break Attempt::Park(socket, Op::Write { socket, data, sent });
                }
                Err(e) => break finished(Err(e)),
            }
        },
        Op::Shutdown { socket } => {
            finished(stack.tcp_shutdown(now, socket)?.map(|()| Done::Nothing))
        }
        Op::Close { socket } => finished(stack.tcp_close(now, socket)?.map(|()| Done::Nothing)),
    })
}
