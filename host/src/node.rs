//! One host on a wire, sans-IO: the simulated NIC ([`Station`]), the [`Stack`] above it and the
//! built-in [`Services`]; the stack's frames go to the driver, which holds what the TX ring
//! cannot take yet ([`Station::transmit_owned`]). [`Node::step`] is one
//! turn of everything until it is quiet; the caller decides when the next turn is (the tokio
//! router at wake-ups, a simulation on a virtual clock).

use anyhow::Result;
use netstack_wire::Batch;
use nic_ftgmac100::station::{Station, StationConfig};
use nic_ftgmac100::wire::Wire;

use crate::offload::{Gro, gso_cut};
use crate::services::{ServeSpec, Services};
use crate::sockets::SocketHub;
use crate::stack::{Stack, StackConfig, TcpReadiness};

/// A host: NIC, stack and services.
#[derive(Debug)]
pub struct Node<W: Wire> {
    /// The protocol layers.
    pub stack: Stack,
    /// The NIC.
    pub station: Station<W>,
    /// The built-in services.
    pub services: Services,
    /// TCP readiness events of sockets the services do not own (for the socket layer, when
    /// one is attached, or for [`Self::take_app_events`]).
    app_events: Vec<(u32, TcpReadiness)>,
    /// The host socket layer's requests, when futures drive the application's sockets.
    sockets: Option<SocketHub>,
    /// GSO and GRO ([`crate::offload`]), unless the configuration turned them off.
    offload: bool,
    gro: Gro,
    /// GSO super-segments cut, and the frames they made.
    gso_supers: u64,
    gso_frames: u64,
}

impl<W: Wire> Node<W> {
    /// Loads the stack, brings up the NIC on `wire`, starts the services.
    pub fn new(config: StackConfig, wire: W, serve: &[ServeSpec], now: u64) -> Result<Node<W>> {
        let mut stack = Stack::new(config.clone(), now)?;
        let station_config = StationConfig {
            mac: config.mac,
            mtu: config.mtu,
            // `ethtool -G rx 512 tx 512` (Linux's default is 128, its most 1024): a turn's
            // burst of a bulk transfer fits the receiver's ring, so the NAPI passes and the
            // layers' crossings are fewer (`bench tcp`: -6% instructions, x1.08 time, median
            // of 16 paired rounds against 256; 1024 adds nothing more).
            ring_size: 512,
            ..StationConfig::default()
        };
        let station = Station::new(&station_config, wire, now)?;
        let services = Services::start(&mut stack, serve, now)?;
        Ok(Node {
            stack,
            station,
            services,
            app_events: Vec::new(),
            sockets: None,
            offload: config.offload,
            gro: Gro::new(),
            gso_supers: 0,
            gso_frames: 0,
        })
    }

    /// Received frames that GRO merged into others.
    pub fn gro_merged(&self) -> u64 {
        self.gro.merged()
    }

    /// GSO: super-segments the stack sent, and the frames they were cut into.
    pub fn gso_cut(&self) -> (u64, u64) {
        let r = self.stack.router_counters();
        (
            self.gso_supers + r.gso_supers,
            self.gso_frames + r.gso_frames,
        )
    }

    /// Hands the application's sockets to the host socket layer: its requests run, and its
    /// parked ones are woken, at every turn.
    pub fn attach_sockets(&mut self, hub: SocketHub) {
        self.sockets = Some(hub);
    }

    /// TCP readiness events of the application's sockets (not the services') since the last call.
    pub fn take_app_events(&mut self) -> Vec<(u32, TcpReadiness)> {
        std::mem::take(&mut self.app_events)
    }

    /// Frames dropped because the TX ring stayed full (the driver's held queue was full).
    pub fn backlog_dropped(&self) -> u64 {
        self.station.driver().stats().tx_backlog_dropped
    }

    /// Runs everything due at `now` until quiet: the NIC's frames up through the stack, the
    /// layers' timers, the services, and what the stack sends down to the TX ring. Returns when
    /// the NIC or a layer next wants a turn (the IRQ may ask sooner).
    pub fn step(&mut self, now: u64) -> Result<u64> {
        let mut deadline = u64::MAX;
        for _ in 0..64 {
            let stack = &mut self.stack;
            let mut failure = None;
            // The frames go up; their buffer comes back, emptied, for the next ones.
            let mut up = |frames: Batch, sizes| {
                let (bytes, lengths) = frames.into_parts();
                if let Err(e) = stack.receive_frames(now, bytes, lengths, sizes) {
                    failure = Some(e);
                }
                stack.take_rx_spare()
            };
            let nic_next = if self.offload {
                // GRO takes each frame as the driver takes it off the ring: a frame that
                // continues a flow has only its payload copied out, after the one before.
                self.station.step_into(now, &mut self.gro, &mut |gro| {
                    let (frames, sizes) = gro.finish();
                    gro.recycle(up(frames, sizes));
                })?
            } else {
                // Taken, not copied.
                self.station.step(now, &mut |rx| {
                    let spare = up(std::mem::take(&mut rx.frames), Vec::new());
                    rx.frames.reuse(spare);
                })?
            };
            if let Some(e) = failure {
                tracing::error!("stack: {e:#}");
            }
            if self.stack.next_deadline().is_some_and(|d| d <= now) {
                self.stack.poll(now)?;
            }
            // Services and the socket layer act on what the layers reported; their operations
            // go out in one flush.
            for _ in 0..16 {
                let mut acted =
                    self.services
                        .on_events(&mut self.stack, now, &mut self.app_events)?;
                if let Some(hub) = &mut self.sockets {
                    let events = std::mem::take(&mut self.app_events);
                    acted |= hub.turn(&mut self.stack, now, &events)?;
                }
                if !acted {
                    break;
                }
                self.stack.tcp_flush(now)?;
            }
            // The stack's batch goes to the driver as it is: mapped, the MAC reads each frame
            // where the stack built it; the driver holds what the ring cannot take yet, and
            // gives a batch back, emptied, once sent.
            let (wire, sizes) = self.stack.take_wire();
            let fresh = cut(wire, &sizes, &mut self.gso_supers, &mut self.gso_frames);
            let moved = !fresh.is_empty();
            if moved {
                self.station.transmit_owned(now, fresh)?;
            } else {
                self.stack.recycle_wire(fresh);
            }
            if let Some(spare) = self.station.take_sent_batch() {
                self.stack.recycle_wire(spare);
            }
            deadline = nic_next.min(self.stack.next_deadline().unwrap_or(u64::MAX));
            if !moved && !self.station.napi().irq().is_high() {
                break;
            }
        }
        Ok(deadline)
    }
}

/// The stack's frames with every GSO super-segment cut into the frames it stands for;
/// `supers` and `made` count them.
fn cut(frames: Batch, sizes: &[u16], supers: &mut u64, made: &mut u64) -> Batch {
    if sizes.iter().all(|&s| s == 0) {
        return frames;
    }
    let mut out = Batch::new();
    for (frame, &size) in frames.iter().zip(sizes) {
        let before = out.len();
        gso_cut(frame, size, &mut out);
        if size != 0 {
            *supers += 1;
            *made += (out.len() - before) as u64;
        }
    }
    out
}
