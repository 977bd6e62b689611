//! `netstack run` on a network: the NIC (driver and device model, as a [`Station`]) cabled to a
//! wire, its NAPI loop feeding the [`Stack`], the stack's frames going back down to the TX ring,
//! and a control socket, all on one tokio task. It wakes on the IRQ line, on the TAP device
//! turning readable, at the earliest deadline of the NIC or any layer, on a `ctl` connection,
//! or on shutdown.

use std::future::Future;
use std::net::SocketAddrV4;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use nic_ftgmac100::wire::{ImpairSpec, Impaired, PcapTap, PcapWriter, Tap, Wire};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

use crate::control;
use crate::netcat::netcat;
use crate::node::Node;
use crate::services::ServeSpec;
use crate::sockets::socket_layer;
use crate::stack::StackConfig;

/// Where the NIC's cable goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    /// A Linux TAP device, opened (or created) by name in the current network namespace.
    Tap(String),
}

impl std::str::FromStr for Net {
    type Err = String;
    fn from_str(s: &str) -> Result<Net, String> {
        match s.split_once(':') {
            Some(("tap", name)) if !name.is_empty() => Ok(Net::Tap(name.to_string())),
            _ => Err(format!("unknown network `{s}` (known: tap:NAME)")),
        }
    }
}

/// Everything `netstack run` was asked for.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The host's addresses and link.
    pub stack: StackConfig,
    /// The network.
    pub net: Net,
    /// Record the NIC's traffic here.
    pub pcap: Option<PathBuf>,
    /// Impair the wire, both ways.
    pub impair: Option<ImpairSpec>,
    /// The control socket.
    pub control: PathBuf,
    /// Built-in services to run.
    pub serve: Vec<ServeSpec>,
    /// Netcat: connect here, copy standard input and output, and stop when done.
    pub connect: Option<SocketAddrV4>,
}

/// How long the stack keeps running after `--connect` is done, so that its last segments
/// (the ACK of the peer's FIN) leave.
const LINGER: Duration = Duration::from_millis(200);

/// Builds the wire: TAP, then impairments, then the capture nearest the NIC (so the pcap shows
/// what the MAC sent and what it received).
fn wire(config: &RunConfig, origin_ns: u64) -> Result<(Box<dyn Wire>, OwnedFd)> {
    let Net::Tap(name) = &config.net;
    let tap = Tap::open(name)
        .with_context(|| format!("open TAP device {name} (needs CAP_NET_ADMIN to create it)"))?;
    let readiness = tap
        .as_fd()
        .try_clone_to_owned()
        .context("duplicate the TAP fd")?;
    let mut wire: Box<dyn Wire> = Box::new(tap);
    if let Some(spec) = config.impair {
        wire = Box::new(Impaired::new(wire, spec));
    }
    if let Some(path) = &config.pcap {
        let file =
            std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        let writer = PcapWriter::new(std::io::BufWriter::new(file))?;
        wire = Box::new(PcapTap::new(wire, writer, origin_ns));
    }
    Ok((wire, readiness))
}

/// Counters named as a component or the NIC lists them, owned for a `ctl stats` group.
fn named<'a>(counters: impl IntoIterator<Item = (&'a str, u64)>) -> Vec<(String, u64)> {
    counters
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect()
}

/// Binds the control socket, replacing a stale one (a file nobody listens on).
fn bind_control(path: &Path) -> Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "{} is in use: another netstack runs (choose another with --control)",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| format!("remove stale {}", path.display()))?;
    }
    UnixListener::bind(path).with_context(|| format!("bind the control socket {}", path.display()))
}

/// Runs until `shutdown` completes.
pub async fn run(config: RunConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let start = Instant::now();
    let now = move || start.elapsed().as_nanos() as u64;
    let origin = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let (wire, readiness) = wire(&config, origin)?;
    let mut node =
        Node::new(config.stack.clone(), wire, &config.serve, now()).context("bring up the host")?;
    // `AsyncFd::new` is deprecated because a `T: AsRawFd` need not own its fd; an `OwnedFd`
    // does, and lives inside the `AsyncFd` as long as the registration, which is the soundness
    // condition of the unsafe `register` that replaces it.
    #[allow(deprecated)]
    let tap_ready = AsyncFd::new(readiness).context("watch the TAP fd")?;
    let irq = node.station.napi().irq().clone();
    let (sockets, hub) = socket_layer();
    let requests = hub.wake();
    node.attach_sockets(hub);
    let listener = bind_control(&config.control)?;
    tracing::info!(control = %config.control.display(), net = ?config.net, "running; Ctrl-C stops");
    // Standard output may carry `--connect`'s data: this goes to standard error.
    eprintln!("control socket: {}", config.control.display());
    let mut client = config
        .connect
        .map(|remote| tokio::spawn(netcat(sockets.clone(), remote)));
    let mut stop_at = None;
    let mut outcome = Ok(());

    tokio::pin!(shutdown);
    loop {
        let deadline = node.step(now())?;
        if stop_at.is_some_and(|t| now() >= t) {
            break;
        }
        let deadline = stop_at.map_or(deadline, |t: u64| deadline.min(t));
        let sleep = Duration::from_nanos(deadline.saturating_sub(now()).min(1_000_000_000));
        tokio::select! {
            _ = irq.wait() => {}
            () = requests.notified() => {}
            done = async { client.as_mut().expect("guarded").await }, if client.is_some() => {
                client = None;
                outcome = match done {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e),
                    Err(e) => Err(e.into()),
                };
                stop_at = Some(now() + LINGER.as_nanos() as u64);
            }
            ready = tap_ready.readable() => {
                let mut guard = ready?;
                guard.clear_ready();
            }
            _ = tokio::time::sleep(sleep) => {}
            conn = listener.accept() => {
                if let Ok((stream, _)) = conn
                    && let Err(e) = serve_control(stream, &mut node, now()).await
                {
                    tracing::warn!("control connection: {e:#}");
                }
            }
            () = &mut shutdown => break,
        }
    }
    if let Some(path) = &config.pcap {
        tracing::info!(pcap = %path.display(), "capture written");
    }
    let _ = std::fs::remove_file(&config.control);
    drop(node);
    outcome
}

/// Answers one `ctl` request.
async fn serve_control<W: Wire>(
    stream: tokio::net::UnixStream,
    node: &mut Node<W>,
    now: u64,
) -> Result<()> {
    let backlog_dropped = node.backlog_dropped();
    let (gso_supers, gso_frames) = node.gso_cut();
    let gro_merged = node.gro_merged();
    let Node { stack, station, .. } = node;
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(2),
        BufReader::new(read).read_line(&mut line),
    )
    .await
    .context("no request within 2 s")??;
    let request = line.trim();
    let answer = match request.split_once(' ').map_or(request, |(verb, _)| verb) {
        "route" => control::format_routes(&stack.routes()?, "eth0"),
        "neigh" => control::format_neighbours(&stack.neighbours()?, "eth0"),
        "ss" => control::format_sockets(&stack.tcp_sockets()?, now),
        "swap" => {
            // `swap` reloads the TCP component the binary was built with; `swap PATH` loads
            // another build. A failure leaves the running one in place and says why.
            let path = request
                .strip_prefix("swap")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .unwrap_or(netstack_artifacts::TCP);
            match stack.swap_tcp(now, path) {
                Ok(report) => control::format_swap(&report),
                Err(e) => format!("swap failed, the running TCP component stays: {e:#}\n"),
            }
        }
        "stats" => {
            let mut groups: Vec<(&str, Vec<(String, u64)>)> = Vec::new();
            groups.push((
                "nic (ftgmac100 driver)",
                named(station.driver().stats().list()),
            ));
            // What only the device knows: frames it lost, or refused under 802.3x pause.
            groups.push((
                "mac (device model)",
                named(station.model().counters().list()),
            ));
            groups.push(("napi", named(station.napi().counters().list())));
            let wire = named(station.cable_mut().wire().counters());
            if !wire.is_empty() {
                groups.push(("wire", wire));
            }
            let r = stack.router_counters().clone();
            groups.push((
                "router",
                vec![
                    ("frames-in".into(), r.frames_in),
                    ("frames-out".into(), r.frames_out),
                    ("tx-backlog-dropped".into(), backlog_dropped),
                    ("gso-super-segments".into(), gso_supers),
                    ("gso-frames".into(), gso_frames),
                    ("gro-merged-frames".into(), gro_merged),
                    ("calls-link".into(), r.calls[0]),
                    ("calls-ipv4".into(), r.calls[1]),
                    ("calls-tcp".into(), r.calls[2]),
                    ("calls-udp".into(), r.calls[3]),
                    ("rx-fast-frames".into(), r.rx_fast_frames),
                    ("rx-slow-frames".into(), r.rx_slow_frames),
                    ("rx-fast-payloads".into(), r.rx_fast_payloads),
                    ("rx-slow-packets".into(), r.rx_slow_packets),
                    ("tx-fast-payloads".into(), r.tx_fast_payloads),
                    ("tx-slow-payloads".into(), r.tx_slow_payloads),
                    ("tx-fast-frames".into(), r.tx_fast_frames),
                    ("tx-slow-packets".into(), r.tx_slow_packets),
                    ("tx-held-bytes".into(), r.tx_held_bytes),
                    ("tx-held-missing".into(), r.tx_held_missing),
                    ("tcp-held-now".into(), stack.tcp_held_bytes() as u64),
                    ("rx-held-bytes".into(), r.rx_held_bytes),
                    ("rx-lent-bytes".into(), r.rx_lent_bytes),
                    ("rx-settled-bytes".into(), r.rx_settled_bytes),
                    ("rx-wanted-segments".into(), r.rx_wanted_segments),
                    ("tcp-writes-refused".into(), r.tcp_writes_refused),
                    ("tcp-reads-refused".into(), r.tcp_reads_refused),
                ],
            ));
            let counters = stack.counters()?;
            for layer in ["link", "ipv4", "tcp", "udp"] {
                groups.push((
                    layer,
                    counters
                        .iter()
                        .filter(|c| c.0 == layer)
                        .map(|c| (c.1.clone(), c.2))
                        .collect(),
                ));
            }
            control::format_counters(groups)
        }
        other => format!(
            "unknown request `{other}` (known: {})\n",
            control::COMMANDS.join(", ")
        ),
    };
    write.write_all(answer.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// `netstack ctl`: sends one request and returns the answer.
pub async fn request(path: &Path, what: &str) -> Result<String> {
    let mut stream = tokio::net::UnixStream::connect(path)
        .await
        .with_context(|| {
            format!(
                "connect to {} (is `netstack run` running? --control chooses the socket)",
                path.display()
            )
        })?;
    stream.write_all(format!("{what}\n").as_bytes()).await?;
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut answer).await?;
    Ok(answer)
}
