//! `netstack run --connect ADDR:PORT`: netcat on our stack. Standard input goes to the
//! connection (a FIN at its end), what the peer sends goes to standard output, and the run
//! ends once both directions are done. It is a client of the host socket layer like any other.

use std::net::SocketAddrV4;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::sockets::Sockets;

/// Bytes read from standard input at a time (one write request each).
const CHUNK: usize = 256 * 1024;

/// What went each way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transferred {
    /// Bytes sent (standard input).
    pub sent: u64,
    /// Bytes received (standard output).
    pub received: u64,
}

/// Connects to `remote` and copies both ways until both are done.
pub async fn netcat(sockets: Sockets, remote: SocketAddrV4) -> Result<Transferred> {
    let stream = sockets
        .connect(remote)
        .await
        .with_context(|| format!("connect to {remote}"))?;
    tracing::info!(%remote, "connected");
    let upload = async {
        let mut stdin = tokio::io::stdin();
        let mut sent = 0u64;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = stdin.read(&mut buf).await.context("read standard input")?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            stream.write_all(buf).await.context("send")?;
            sent += n as u64;
        }
        stream
            .shutdown()
            .await
            .context("shut down the sending side")?;
        anyhow::Ok(sent)
    };
    let download = async {
        let mut stdout = tokio::io::stdout();
        let mut received = 0u64;
        loop {
            let data = stream.read().await.context("receive")?;
            if data.is_empty() {
                break;
            }
            received += data.len() as u64;
            stdout
                .write_all(&data)
                .await
                .context("write standard output")?;
        }
        stdout.flush().await?;
        anyhow::Ok(received)
    };
    let (sent, received) = tokio::try_join!(upload, download)?;
    tracing::info!(sent, received, "done");
    Ok(Transferred { sent, received })
}
