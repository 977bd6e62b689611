//! A pcap writer (the nanosecond-resolution format, magic 0xa1b23c4d, which tshark and Wireshark
//! read) and a tap that records everything a wire carries, both ways.

use std::io::{self, Write};

use netstack_wire::Batch;

use super::Wire;

/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;
/// Frames are recorded whole.
const SNAPLEN: u32 = 65535;

/// Writes frames to a pcap stream.
#[derive(Debug)]
pub struct PcapWriter<O: Write> {
    out: O,
    frames: u64,
}

impl<O: Write> PcapWriter<O> {
    /// Writes the file header.
    pub fn new(mut out: O) -> io::Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes()); // nanosecond timestamps
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, frames: 0 })
    }

    /// Records one frame seen at `time_ns` (nanoseconds since the Unix epoch, or any origin).
    pub fn write(&mut self, time_ns: u64, frame: &[u8]) -> io::Result<()> {
        let caplen = frame.len().min(SNAPLEN as usize);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&((time_ns / 1_000_000_000) as u32).to_le_bytes());
        h[4..8].copy_from_slice(&((time_ns % 1_000_000_000) as u32).to_le_bytes());
        h[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&frame[..caplen])?;
        self.frames += 1;
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Flushes the stream.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// A wire whose traffic, both ways, is also written to a pcap. Time stamps are the wire's `now`
/// plus an origin (the Unix time at which `now` was 0), so captures line up with the wall clock.
#[derive(Debug)]
pub struct PcapTap<W: Wire, O: Write + Send> {
    inner: W,
    writer: PcapWriter<O>,
    origin_ns: u64,
    /// The first write error, if any: a capture that fails stops recording, the link goes on.
    error: Option<io::Error>,
}

impl<W: Wire, O: Write + Send> PcapTap<W, O> {
    /// Taps `inner` into `writer`.
    pub fn new(inner: W, writer: PcapWriter<O>, origin_ns: u64) -> Self {
        PcapTap {
            inner,
            writer,
            origin_ns,
            error: None,
        }
    }

    /// The writer (to flush it, or count its frames).
    pub fn writer_mut(&mut self) -> &mut PcapWriter<O> {
        &mut self.writer
    }

    /// The write error that stopped the capture, if one did.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    fn record<'a>(&mut self, now: u64, frames: impl IntoIterator<Item = &'a [u8]>) {
        if self.error.is_some() {
            return;
        }
        for frame in frames {
            if let Err(e) = self.writer.write(self.origin_ns + now, frame) {
                self.error = Some(e);
                return;
            }
        }
    }
}

impl<W: Wire, O: Write + Send> Wire for PcapTap<W, O> {
    fn send(&mut self, now: u64, frames: &Batch) {
        self.record(now, frames);
        self.inner.send(now, frames);
    }

    fn send_taking(&mut self, now: u64, frames: &mut Batch) {
        self.record(now, &*frames);
        self.inner.send_taking(now, frames);
    }

    fn recv(&mut self, now: u64, out: &mut Batch) {
        let before = out.len();
        self.inner.recv(now, out);
        self.record(now, out.iter().skip(before));
    }

    fn next_event(&self) -> Option<u64> {
        self.inner.next_event()
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.inner.counters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_records_are_nanosecond_pcap() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write(1_700_000_000_123_456_789, &[1, 2, 3]).unwrap();
        let b = w.out;
        assert_eq!(b[..4], [0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), 1);
        assert_eq!(
            u32::from_le_bytes(b[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(
            u32::from_le_bytes(b[28..32].try_into().unwrap()),
            123_456_789
        );
        assert_eq!(b[40..], [1, 2, 3]);
    }
}
