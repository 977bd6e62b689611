//! A device model plugged into a wire: the hardware side of the link. It moves what the MAC sent
//! onto the wire, what the wire delivered into the MAC, and runs the MAC's RX auto-poll timer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use netstack_wire::Batch;

use super::Wire;
use crate::access::Dma;
use crate::model::Ftgmac100Model;

/// A model and the wire its port is cabled to.
#[derive(Debug)]
pub struct Cable<D: Dma, W: Wire> {
    model: Arc<Ftgmac100Model<D>>,
    wire: W,
    outbound: Batch,
    /// Frames from the wire, of which the MAC has taken the first `taken`: the rest flow
    /// control refused (the partner keeps them while paused), offered again before anything
    /// new is received.
    inbound: Batch,
    taken: usize,
    next_auto_poll: Option<u64>,
    line_rate: Option<Arc<AtomicU64>>,
}

impl<D: Dma, W: Wire> Cable<D, W> {
    /// Plugs `model` into `wire`.
    pub fn new(model: Arc<Ftgmac100Model<D>>, wire: W) -> Self {
        Cable {
            model,
            wire,
            outbound: Batch::new(),
            inbound: Batch::new(),
            taken: 0,
            next_auto_poll: None,
            line_rate: None,
        }
    }

    /// Line-rate mode: keeps `rate_bps` (the one a [`super::Paced`] wire reads) at the speed the
    /// MAC runs at (MACCR's speed bits, set from the PHY's negotiation).
    pub fn track_line_rate(&mut self, rate_bps: Arc<AtomicU64>) {
        self.line_rate = Some(rate_bps);
    }

    /// The wire.
    pub fn wire(&self) -> &W {
        &self.wire
    }

    /// The wire, mutable.
    pub fn wire_mut(&mut self) -> &mut W {
        &mut self.wire
    }

    /// Moves frames both ways and runs auto-poll if due. Returns when to pump again at the
    /// latest (a held frame or auto-poll), if anything is pending.
    pub fn pump(&mut self, now: u64) -> Option<u64> {
        if let Some(rate) = &self.line_rate {
            rate.store(self.model.mac_speed().bits_per_second(), Ordering::Relaxed);
        }
        self.outbound.clear();
        self.model.take_transmitted(&mut self.outbound);
        if !self.outbound.is_empty() {
            self.wire.send_taking(now, &mut self.outbound);
        }
        // While the MAC pauses the partner, the wire keeps what else comes (a switch port's
        // queue, bounded: it tail-drops past it, as a paused switch does).
        if self.taken == self.inbound.len() {
            self.inbound.clear();
            self.taken = 0;
            self.wire.recv(now, &mut self.inbound);
        }
        if self.taken < self.inbound.len() {
            self.taken += self.model.receive(self.inbound.iter().skip(self.taken));
        }
        if self.model.rx_waiting() {
            match self.next_auto_poll {
                Some(t) if now >= t => {
                    self.model.poll();
                    self.next_auto_poll = Some(now + Ftgmac100Model::<D>::AUTO_POLL_INTERVAL_NS);
                }
                Some(_) => {}
                None => {
                    self.next_auto_poll = Some(now + Ftgmac100Model::<D>::AUTO_POLL_INTERVAL_NS)
                }
            }
        } else {
            self.next_auto_poll = None;
        }
        let held = self.wire.next_event();
        match (held, self.next_auto_poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
