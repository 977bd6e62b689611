//! Frames in two parts, for scatter-gather transmission: a head the stack built (the headers)
//! and a tail of pieces that lie in buffers shared with their writer (a socket's send stream),
//! which the device reads where they lie. Linux's skb keeps its headers in the linear part and
//! the payload in page fragments the same way, and a NIC with `NETIF_F_SG` gathers them; the
//! FTGMAC100 gathers a frame from a chain of descriptors (FTS..LTS, §5.3).

use crate::access::SharedBytes;

use super::TxOffload;

/// `len` bytes at `offset` of one of [`TxTails::buffers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Which buffer.
    pub buffer: u32,
    /// Where in it.
    pub offset: u32,
    /// How many bytes.
    pub len: u32,
}

/// The tails of a batch's frames: frame `i`'s pieces follow its head, in order.
#[derive(Debug, Clone, Default)]
pub struct TxTails {
    /// The buffers the pieces lie in.
    pub buffers: Vec<SharedBytes>,
    /// Every frame's pieces, frame after frame.
    pub pieces: Vec<Piece>,
    /// Per frame, one past its last piece; frames beyond the list's end have none.
    ends: Vec<u32>,
    /// What the MAC does to a frame with a tail. The host never read the tail, so a TCP
    /// segment's checksum is the device's to compute (TXDES1 TCP_CHKSUM, CHECKSUM_PARTIAL).
    pub offload: TxOffload,
}

impl TxTails {
    /// No tails; frames with one will have the MAC compute what `offload` says.
    pub fn new(offload: TxOffload) -> TxTails {
        TxTails {
            offload,
            ..TxTails::default()
        }
    }

    /// Whether no frame has a tail.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Adds `len` bytes at `offset` of `buffer` to the tail of frame `frame` (the frame being
    /// built: no later frame has pieces yet).
    ///
    /// # Panics
    /// If an earlier frame is given than one that has pieces already.
    pub fn add(&mut self, frame: usize, buffer: &SharedBytes, offset: usize, len: usize) {
        assert!(
            frame + 1 >= self.ends.len(),
            "pieces for frame {frame} after frame {}",
            self.ends.len() - 1
        );
        if len == 0 {
            return;
        }
        let same = self
            .buffers
            .last()
            .is_some_and(|b| std::sync::Arc::ptr_eq(b, buffer));
        if !same {
            self.buffers.push(buffer.clone());
        }
        self.pieces.push(Piece {
            buffer: (self.buffers.len() - 1) as u32,
            offset: offset as u32,
            len: len as u32,
        });
        // Frames between the last with pieces and this one have none.
        let before = self.ends.last().copied().unwrap_or(0);
        self.ends.resize(frame, before);
        self.ends.push(self.pieces.len() as u32);
    }

    /// Frame `frame`'s pieces.
    pub fn of(&self, frame: usize) -> &[Piece] {
        let end_of =
            |i: usize| (self.ends.get(i).or(self.ends.last()).copied()).unwrap_or(0) as usize;
        let start = if frame == 0 { 0 } else { end_of(frame - 1) };
        &self.pieces[start..end_of(frame)]
    }

    /// The bytes of frame `frame`'s tail.
    pub fn len_of(&self, frame: usize) -> usize {
        self.of(frame).iter().map(|p| p.len as usize).sum()
    }

    /// The bytes `piece` names.
    pub fn bytes(&self, piece: &Piece) -> &[u8] {
        let (at, len) = (piece.offset as usize, piece.len as usize);
        &self.buffers[piece.buffer as usize][at..at + len]
    }

    /// Keeps the tails of the first `frames` frames only.
    pub fn truncate(&mut self, frames: usize) {
        if frames < self.ends.len() {
            self.ends.truncate(frames);
            let kept = self.ends.last().copied().unwrap_or(0) as usize;
            self.pieces.truncate(kept);
            let buffers = self.pieces.last().map_or(0, |p| p.buffer as usize + 1);
            self.buffers.truncate(buffers);
        }
    }

    /// Empties it, keeping its allocations.
    pub fn clear(&mut self) {
        self.buffers.clear();
        self.pieces.clear();
        self.ends.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn frames_without_pieces_between_and_after_have_empty_tails() {
        let a = Arc::new(vec![1u8; 100]);
        let b = Arc::new(vec![2u8; 100]);
        let mut t = TxTails::default();
        t.add(1, &a, 0, 10);
        t.add(1, &a, 10, 5);
        t.add(3, &a, 20, 4);
        t.add(3, &b, 0, 6);
        t.add(3, &b, 0, 0);
        assert_eq!(t.buffers.len(), 2, "one entry per run of the same buffer");
        assert!(t.of(0).is_empty() && t.of(2).is_empty() && t.of(4).is_empty());
        assert_eq!((t.len_of(1), t.len_of(3)), (15, 10));
        assert_eq!(t.bytes(&t.of(3)[1]), &[2u8; 6][..]);
        t.truncate(2);
        assert_eq!((t.len_of(1), t.len_of(3), t.buffers.len()), (15, 0, 1));
        t.clear();
        assert!(t.is_empty() && t.of(1).is_empty());
    }

    #[test]
    #[should_panic(expected = "pieces for frame 0 after frame 2")]
    fn pieces_go_to_the_frame_being_built() {
        let a = Arc::new(vec![0u8; 8]);
        let mut t = TxTails::default();
        t.add(2, &a, 0, 1);
        t.add(0, &a, 0, 1);
    }
}
