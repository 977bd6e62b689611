//! An in-memory learning switch with N ports: it learns source addresses, forwards known
//! unicast to its port, and floods broadcast, multicast and unknown unicast to every other port.
//! Each port's queue is bounded; past it the switch drops at the tail, as a real one does.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

use netstack_wire::{Batch, EthernetAddress};

use super::Wire;

/// How many bytes a port may hold before the switch tail-drops.
const PORT_QUEUE_BYTES: usize = 8 << 20;

netstack_wire::counters! {
    /// What the switch did.
    pub struct SwitchCounters {
        /// Frames that came in on some port.
        frames_in => "frames-in",
        /// Frames forwarded to one known port.
        forwarded => "forwarded",
        /// Frames flooded to every other port.
        flooded => "flooded",
        /// Frames dropped: shorter than an Ethernet header.
        dropped_runt => "dropped-runt",
        /// Copies dropped because the output port's queue was full.
        dropped_queue_full => "dropped-queue-full",
    }
}

#[derive(Debug, Default)]
struct Inner {
    queues: Vec<Batch>,
    fdb: HashMap<EthernetAddress, usize>,
    counters: SwitchCounters,
}

impl Inner {
    fn enqueue(&mut self, port: usize, frame: &[u8]) {
        let q = &mut self.queues[port];
        if q.byte_len() + frame.len() > PORT_QUEUE_BYTES {
            self.counters.dropped_queue_full += 1;
        } else {
            q.push(frame);
        }
    }
}

/// The port every frame of `frames` (sent from port `from`) is forwarded to, if it is one
/// known port whose queue is empty and can take them all; the sources are learnt on the way.
fn sole_destination(inner: &mut Inner, from: usize, frames: &Batch) -> Option<usize> {
    let mut to = None;
    // A batch is mostly one flow's frames: the same addresses need no second look-up.
    let mut last: Option<&[u8]> = None;
    for frame in frames {
        if frame.len() < 14 {
            return None;
        }
        if last == Some(&frame[..12]) {
            continue;
        }
        last = Some(&frame[..12]);
        let dst = EthernetAddress::from_bytes(&frame[0..6]);
        let src = EthernetAddress::from_bytes(&frame[6..12]);
        if src.is_unicast() {
            inner.fdb.insert(src, from);
        }
        let port = inner.fdb.get(&dst).copied().filter(|_| dst.is_unicast())?;
        if port == from || to.is_some_and(|t| t != port) {
            return None;
        }
        to = Some(port);
    }
    let port = to?;
    let q = &inner.queues[port];
    (q.is_empty() && frames.byte_len() <= PORT_QUEUE_BYTES).then_some(port)
}

/// The switch; ports are added with [`Switch::add_port`].
#[derive(Debug, Clone, Default)]
pub struct Switch {
    inner: Arc<Mutex<Inner>>,
}

impl Switch {
    /// A switch with no ports.
    pub fn new() -> Switch {
        Switch::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new port.
    pub fn add_port(&self) -> SwitchPort {
        let mut inner = self.lock();
        inner.queues.push(Batch::new());
        SwitchPort {
            id: inner.queues.len() - 1,
            switch: self.clone(),
        }
    }

    /// What the switch did.
    pub fn counters(&self) -> SwitchCounters {
        self.lock().counters.clone()
    }

    /// The port a MAC address was learnt on.
    pub fn port_of(&self, mac: EthernetAddress) -> Option<usize> {
        self.lock().fdb.get(&mac).copied()
    }
}

/// One port of a [`Switch`].
#[derive(Debug)]
pub struct SwitchPort {
    id: usize,
    switch: Switch,
}

impl SwitchPort {
    /// The port's number.
    pub fn id(&self) -> usize {
        self.id
    }
}

impl Wire for SwitchPort {
    fn send(&mut self, _now: u64, frames: &Batch) {
        let mut inner = self.switch.lock();
        for frame in frames {
            inner.counters.frames_in += 1;
            if frame.len() < 14 {
                inner.counters.dropped_runt += 1;
                continue;
            }
            let dst = EthernetAddress::from_bytes(&frame[0..6]);
            let src = EthernetAddress::from_bytes(&frame[6..12]);
            if src.is_unicast() {
                inner.fdb.insert(src, self.id);
            }
            match inner.fdb.get(&dst).copied() {
                Some(port) if dst.is_unicast() => {
                    if port != self.id {
                        inner.counters.forwarded += 1;
                        inner.enqueue(port, frame);
                    }
                }
                _ => {
                    inner.counters.flooded += 1;
                    for port in (0..inner.queues.len()).filter(|&p| p != self.id) {
                        inner.enqueue(port, frame);
                    }
                }
            }
        }
    }

    fn send_taking(&mut self, now: u64, frames: &mut Batch) {
        let mut inner = self.switch.lock();
        // The usual case: every frame goes to one known port whose queue is empty, and the
        // batch moves there whole; the queue's empty batch (and its allocation) comes back.
        if let Some(port) = sole_destination(&mut inner, self.id, frames) {
            let n = frames.len() as u64;
            inner.counters.frames_in += n;
            inner.counters.forwarded += n;
            std::mem::swap(&mut inner.queues[port], frames);
            frames.clear();
            return;
        }
        drop(inner);
        self.send(now, frames);
        frames.clear();
    }

    fn recv(&mut self, _now: u64, out: &mut Batch) {
        let mut inner = self.switch.lock();
        let q = &mut inner.queues[self.id];
        if out.is_empty() {
            // The usual case: the queue's frames change hands without a copy.
            std::mem::swap(out, q);
        } else {
            out.append(q);
        }
        q.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        [&dst[..], &src[..], &[0x88, 0xb5], &[0u8; 46][..]].concat()
    }

    fn recv(p: &mut SwitchPort) -> usize {
        let mut b = Batch::new();
        p.recv(0, &mut b);
        b.len()
    }

    #[test]
    fn learns_and_floods() {
        let sw = Switch::new();
        let (mut a, mut b, mut c) = (sw.add_port(), sw.add_port(), sw.add_port());
        let (ma, mb) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
        let mut batch = Batch::new();
        batch.push(&frame(mb, ma)); // b unknown yet: flooded
        a.send(0, &batch);
        assert_eq!((recv(&mut a), recv(&mut b), recv(&mut c)), (0, 1, 1));
        let mut reply = Batch::new();
        reply.push(&frame(ma, mb)); // a was learnt: forwarded only to a
        b.send(0, &reply);
        assert_eq!((recv(&mut a), recv(&mut b), recv(&mut c)), (1, 0, 0));
        assert_eq!(sw.port_of(EthernetAddress(mb)), Some(1));
        let mut bcast = Batch::new();
        bcast.push(&frame([0xff; 6], ma));
        a.send(0, &bcast);
        assert_eq!((recv(&mut a), recv(&mut b), recv(&mut c)), (0, 1, 1));
        let c = sw.counters();
        assert_eq!((c.frames_in, c.forwarded, c.flooded), (3, 1, 2));
    }

    #[test]
    fn a_batch_for_one_port_moves_whole_and_anything_else_is_copied() {
        let sw = Switch::new();
        let (mut a, mut b, mut c) = (sw.add_port(), sw.add_port(), sw.add_port());
        let (ma, mb) = ([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb]);
        let mut hello = Batch::new();
        hello.push(&frame(ma, mb));
        b.send(0, &hello); // b learnt (a is flooded to)
        recv(&mut a);
        recv(&mut c);
        // Every frame to b, whose queue is empty: the batch moves, the sender's is emptied.
        let mut batch = Batch::new();
        batch.push(&frame(mb, ma));
        batch.push(&frame(mb, ma));
        let bytes = batch.byte_len();
        a.send_taking(0, &mut batch);
        assert!(batch.is_empty());
        let mut got = Batch::new();
        b.recv(0, &mut got);
        assert_eq!((got.len(), got.byte_len()), (2, bytes));
        assert_eq!(recv(&mut c), 0);
        // One frame for b and one flooded: copied frame by frame, as `send` would.
        batch.push(&frame(mb, ma));
        batch.push(&frame([0xff; 6], ma));
        a.send_taking(0, &mut batch);
        assert!(batch.is_empty());
        assert_eq!((recv(&mut a), recv(&mut b), recv(&mut c)), (0, 2, 1));
        let c = sw.counters();
        assert_eq!((c.frames_in, c.forwarded, c.flooded), (5, 3, 2));
    }
}
