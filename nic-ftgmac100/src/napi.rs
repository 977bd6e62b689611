//! The NAPI loop, as the host runs it: the IRQ line raises a flag and wakes the loop; the loop
//! runs the interrupt handler (which masks), polls with the budget until the driver goes back to
//! interrupts (the frames of up to [`POLLS_PER_BATCH`] polls handed on as one batch), and runs
//! the driver's timers.
//!
//! [`NapiLoop::run_once`] is the whole loop body, sans-IO: time comes in as `now` and the next
//! deadline comes back, so tests drive it on a virtual clock. [`IrqLine`] is the only shared
//! piece: the device's callback raises it from any thread, and an async runner awaits it
//! ([`IrqLine::wait`]) on tokio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use netstack_wire::Batch;
use tokio::sync::Notify;

use crate::access::{Dma, Mmio};
use crate::driver::{DriverError, Ftgmac100, NAPI_BUDGET, RxBatch, RxSink, TxOffload};

/// The interrupt line between the device and the loop. It is level-triggered, as the MAC's is:
/// while the line stays high the loop keeps taking the interrupt, so a cause that latches while
/// the handler runs (and so makes no new rising edge) is not lost.
#[derive(Debug, Default)]
pub struct IrqLine {
    pending: AtomicBool,
    level: AtomicBool,
    notify: Notify,
}

impl IrqLine {
    /// A line with nothing pending.
    pub fn new() -> Arc<IrqLine> {
        Arc::new(IrqLine::default())
    }

    /// The device's callback, at every change of the line: a rising edge marks the interrupt
    /// pending and wakes the loop.
    pub fn set_level(&self, level: bool) {
        self.level.store(level, Ordering::Release);
        if level {
            self.pending.store(true, Ordering::Release);
            self.notify.notify_one();
        }
    }

    /// Whether the line is high now.
    pub fn is_high(&self) -> bool {
        self.level.load(Ordering::Acquire)
    }

    /// Takes the interrupt: true if an edge came since the last take or the line is still high.
    pub fn take(&self) -> bool {
        self.pending.swap(false, Ordering::AcqRel) | self.is_high()
    }

    /// Waits for an interrupt. One asserted before the call is not lost: the line's level is
    /// checked first, and `Notify` keeps one permit for a waiter that is not there yet.
    pub async fn wait(&self) {
        if self.pending.load(Ordering::Acquire) || self.is_high() {
            return;
        }
        self.notify.notified().await;
    }
}

netstack_wire::counters! {
    /// What the loop did.
    pub struct NapiCounters {
        /// Interrupts taken.
        interrupts => "napi-interrupts",
        /// NAPI polls run.
        polls => "napi-polls",
        /// Batches handed on.
        batches => "napi-batches",
        /// Frames handed on.
        frames => "napi-frames",
        /// Polls that used the whole budget (the loop polled again at once).
        budget_exhausted => "napi-budget-exhausted",
    }
}

/// The most NAPI polls whose frames go up as one batch: Linux's `netdev_budget` (300 frames
/// per softirq) in whole polls of [`NAPI_BUDGET`].
pub const POLLS_PER_BATCH: usize = 4;

/// The NAPI loop around one driver.
#[derive(Debug)]
pub struct NapiLoop<M: Mmio, D: Dma> {
    driver: Ftgmac100<M, D>,
    irq: Arc<IrqLine>,
    budget: usize,
    rx: RxBatch,
    next_timer: u64,
    counters: NapiCounters,
}

impl<M: Mmio, D: Dma + Clone> NapiLoop<M, D> {
    /// A loop around an opened driver whose device raises `irq`.
    pub fn new(driver: Ftgmac100<M, D>, irq: Arc<IrqLine>) -> Self {
        NapiLoop {
            driver,
            irq,
            budget: NAPI_BUDGET,
            rx: RxBatch::default(),
            next_timer: 0,
            counters: NapiCounters::default(),
        }
    }

    /// The driver.
    pub fn driver(&self) -> &Ftgmac100<M, D> {
        &self.driver
    }

    /// The driver, to configure it.
    pub fn driver_mut(&mut self) -> &mut Ftgmac100<M, D> {
        &mut self.driver
    }

    /// The IRQ line.
    pub fn irq(&self) -> &Arc<IrqLine> {
        &self.irq
    }

    /// What the loop did.
    pub fn counters(&self) -> &NapiCounters {
        &self.counters
    }

    /// One pass: the interrupt if one is pending, NAPI polls until the driver unmasks (the
    /// frames of up to [`POLLS_PER_BATCH`] polls go to `deliver` as one batch, which it may
    /// take rather than copy), then
    /// the timers due at `now`. Returns when the timers want the next pass, whatever the IRQ
    /// does.
    pub fn run_once(
        &mut self,
        now: u64,
        deliver: &mut impl FnMut(&mut RxBatch),
    ) -> Result<u64, DriverError> {
        let mut rx = std::mem::take(&mut self.rx);
        rx.clear();
        let next = self.run_once_into(now, &mut rx, &mut |rx: &mut RxBatch| {
            deliver(rx);
            rx.clear();
        });
        self.rx = rx;
        next
    }

    /// [`run_once`](Self::run_once) with the frames offered to `sink` as the driver takes
    /// them off the ring (a GRO engine, say), and `deliver` called with it once the polls
    /// are done, or after every [`POLLS_PER_BATCH`] of them, if they received any; `deliver`
    /// empties it.
    pub fn run_once_into<S: RxSink>(
        &mut self,
        now: u64,
        sink: &mut S,
        deliver: &mut impl FnMut(&mut S),
    ) -> Result<u64, DriverError> {
        if self.irq.take() && self.driver.interrupt() {
            self.counters.interrupts += 1;
        }
        // The sink holds the frames of several polls and goes up once: Linux's GRO keeps its
        // packets across polls that used their whole budget and flushes them when the poll
        // completes (`napi_complete_done`), and one batch up is one crossing of each layer
        // instead of one per poll. At most POLLS_PER_BATCH polls' worth, as `netdev_budget`
        // bounds one softirq.
        let mut before = self.driver.stats().rx_packets;
        let mut polls = 0;
        loop {
            let scheduled = self.driver.napi_scheduled();
            if scheduled {
                let work = self.driver.napi_poll(self.budget, sink)?;
                self.counters.polls += 1;
                if work == self.budget {
                    self.counters.budget_exhausted += 1;
                }
                polls += 1;
            }
            let received = self.driver.stats().rx_packets - before;
            if received > 0 && (!scheduled || polls >= POLLS_PER_BATCH) {
                self.counters.batches += 1;
                self.counters.frames += received;
                deliver(sink);
                before += received;
                polls = 0;
            }
            if !scheduled {
                break;
            }
        }
        if now >= self.next_timer || self.driver.reset_pending() {
            self.next_timer = self.driver.timer(now)?;
        }
        Ok(self.next_timer)
    }

    /// Queues frames for transmission, in order, until the TX queue stops. Returns how many were
    /// taken; the caller keeps the rest and offers them again after a later pass reclaims room.
    /// Frames the driver drops (too long) count as taken: they are gone, and counted there.
    pub fn transmit(
        &mut self,
        now: u64,
        frames: &Batch,
        offload: TxOffload,
    ) -> Result<usize, DriverError> {
        self.driver.xmit_batch(now, frames, offload)
    }

    /// Gives the driver `frames` to send; it holds them until sent (see
    /// [`Ftgmac100::xmit_owned`]).
    pub fn transmit_owned(
        &mut self,
        now: u64,
        frames: Batch,
        offload: TxOffload,
    ) -> Result<(), DriverError> {
        self.driver.xmit_owned(now, frames, offload)
    }
}
