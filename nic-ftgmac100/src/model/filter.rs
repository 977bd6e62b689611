//! The receive address filter (`shared/spec/ftgmac100.md` §5.4 step 2) and its multicast hash.

use netstack_wire::EthernetAddress;

use crate::regs::maccr;

/// The CRC-32 of IEEE 802.3 over `data`, bit-reflected, starting from all ones and not inverted
/// at the end (Linux's `ether_crc_le`).
pub fn ether_crc_le(data: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// The bit of the 64-bit MAHT table that a multicast address selects: `~(crc >> 2) & 0x3f`.
pub fn multicast_hash_index(addr: EthernetAddress) -> u32 {
    !(ether_crc_le(&addr.0) >> 2) & 0x3f
}

/// Whether the filter accepts a frame to `dst`.
pub(super) fn accepts(
    maccr: u32,
    mac: EthernetAddress,
    maht: [u32; 2],
    dst: EthernetAddress,
) -> bool {
    if maccr & maccr::RX_ALL != 0 {
        return true;
    }
    if dst.is_broadcast() {
        return maccr & maccr::RX_BROADPKT != 0;
    }
    if dst.is_multicast() {
        if maccr & maccr::RX_MULTIPKT != 0 {
            return true;
        }
        if maccr & maccr::HT_MULTI_EN != 0 {
            let idx = multicast_hash_index(dst);
            return maht[(idx / 32) as usize] & (1 << (idx % 32)) != 0;
        }
        return false;
    }
    dst == mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_ieee_check_value() {
        // CRC-32/ISO-HDLC of "123456789" is 0xcbf43926 after the final inversion.
        assert_eq!(!ether_crc_le(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn filter_follows_maccr() {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let group = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
        let idx = multicast_hash_index(group);
        let mut maht = [0u32; 2];
        let base = maccr::RX_BROADPKT;
        assert!(accepts(base, mac, maht, mac));
        assert!(!accepts(
            base,
            mac,
            maht,
            EthernetAddress([2, 0, 0, 0, 0, 2])
        ));
        assert!(accepts(base, mac, maht, EthernetAddress::BROADCAST));
        assert!(!accepts(0, mac, maht, EthernetAddress::BROADCAST));
        assert!(!accepts(base | maccr::HT_MULTI_EN, mac, maht, group));
        maht[(idx / 32) as usize] |= 1 << (idx % 32);
        assert!(accepts(base | maccr::HT_MULTI_EN, mac, maht, group));
        assert!(
            !accepts(base, mac, maht, group),
            "hash ignored without HT_MULTI_EN"
        );
        assert!(accepts(base | maccr::RX_MULTIPKT, mac, [0; 2], group));
        assert!(accepts(
            maccr::RX_ALL,
            mac,
            [0; 2],
            EthernetAddress([2, 9, 9, 9, 9, 9])
        ));
    }
}
