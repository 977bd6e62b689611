//! The PHY behind the MAC's MDIO bus: an RTL8211E-like gigabit PHY (`shared/spec/ftgmac100.md`
//! §5.6), with a link partner whose abilities a test chooses so that auto-negotiation resolves to
//! 10, 100 or 1000 Mb/s. Unlike QEMU's model it reports 1000BASE-T ability (ESTATUS, STAT1000), so
//! a driver negotiates 1000/full against a gigabit partner.
//!
//! Like QEMU's, it answers on every PHY address and completes accesses at once.

/// IEEE 802.3 clause 22 register numbers and bits used here.
pub mod mii {
    /// Basic mode control.
    pub const BMCR: u8 = 0;
    /// Basic mode status.
    pub const BMSR: u8 = 1;
    /// PHY identifier 1.
    pub const PHYID1: u8 = 2;
    /// PHY identifier 2.
    pub const PHYID2: u8 = 3;
    /// Auto-negotiation advertisement.
    pub const ANAR: u8 = 4;
    /// Link partner ability.
    pub const ANLPAR: u8 = 5;
    /// Auto-negotiation expansion.
    pub const ANER: u8 = 6;
    /// 1000BASE-T control (what we advertise).
    pub const CTRL1000: u8 = 9;
    /// 1000BASE-T status (what the partner advertised).
    pub const STAT1000: u8 = 10;
    /// Extended status.
    pub const ESTATUS: u8 = 15;
    /// Interrupt enable (vendor).
    pub const INER: u8 = 18;
    /// Interrupt status (vendor), clear on read.
    pub const INSR: u8 = 19;

    /// BMCR: reset (self-clearing).
    pub const BMCR_RESET: u16 = 1 << 15;
    /// BMCR: auto-negotiation enable.
    pub const BMCR_ANENABLE: u16 = 1 << 12;
    /// BMCR: restart auto-negotiation.
    pub const BMCR_ANRESTART: u16 = 1 << 9;
    /// BMSR: link is up.
    pub const BMSR_LSTATUS: u16 = 1 << 2;
    /// BMSR: auto-negotiation complete.
    pub const BMSR_ANEGCOMPLETE: u16 = 1 << 5;
    /// ANAR/ANLPAR: 10BASE-T half duplex.
    pub const ADVERTISE_10HALF: u16 = 1 << 5;
    /// ANAR/ANLPAR: 10BASE-T full duplex.
    pub const ADVERTISE_10FULL: u16 = 1 << 6;
    /// ANAR/ANLPAR: 100BASE-TX half duplex.
    pub const ADVERTISE_100HALF: u16 = 1 << 7;
    /// ANAR/ANLPAR: 100BASE-TX full duplex.
    pub const ADVERTISE_100FULL: u16 = 1 << 8;
    /// ANAR/ANLPAR: symmetric pause.
    pub const ADVERTISE_PAUSE: u16 = 1 << 10;
    /// ANAR/ANLPAR: asymmetric pause.
    pub const ADVERTISE_PAUSE_ASYM: u16 = 1 << 11;
    /// CTRL1000: advertise 1000BASE-T half duplex.
    pub const ADVERTISE_1000HALF: u16 = 1 << 8;
    /// CTRL1000: advertise 1000BASE-T full duplex.
    pub const ADVERTISE_1000FULL: u16 = 1 << 9;
    /// STAT1000: the partner can do 1000BASE-T half duplex.
    pub const LPA_1000HALF: u16 = 1 << 10;
    /// STAT1000: the partner can do 1000BASE-T full duplex.
    pub const LPA_1000FULL: u16 = 1 << 11;
    /// INSR: link went down.
    pub const INSR_LINK_DOWN: u16 = 1 << 8;
    /// INSR: link came up.
    pub const INSR_LINK_UP: u16 = 1 << 11;
}

use mii::*;

/// A link speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Speed {
    /// 10 Mb/s.
    Mbps10,
    /// 100 Mb/s.
    Mbps100,
    /// 1000 Mb/s.
    Mbps1000,
}

impl Speed {
    /// Bits per second.
    pub const fn bits_per_second(self) -> u64 {
        match self {
            Speed::Mbps10 => 10_000_000,
            Speed::Mbps100 => 100_000_000,
            Speed::Mbps1000 => 1_000_000_000,
        }
    }
}

/// What the far end of the cable can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkPartner {
    /// Its fastest speed (it also does the slower ones).
    pub max_speed: Speed,
    /// Full duplex at every speed it does.
    pub full_duplex: bool,
    /// Symmetric pause.
    pub pause: bool,
}

impl Default for LinkPartner {
    /// A gigabit switch port: 1000/full with pause.
    fn default() -> Self {
        LinkPartner {
            max_speed: Speed::Mbps1000,
            full_duplex: true,
            pause: true,
        }
    }
}

/// The PHY's registers and its cable.
#[derive(Debug, Clone)]
pub struct Phy {
    bmcr: u16,
    anar: u16,
    ctrl1000: u16,
    iner: u16,
    insr: u16,
    link_up: bool,
    partner: LinkPartner,
}

const BMCR_RESET_VALUE: u16 = 0x1140;
const BMSR_BASE: u16 = 0x796d;
const ANAR_RESET_VALUE: u16 = 0x0de1;
const CTRL1000_RESET_VALUE: u16 = 0x0300;
/// Realtek's OUI-based identifier, as QEMU's RTL8211E answers.
const PHYID: (u16, u16) = (0x001c, 0xc915);

impl Phy {
    /// A PHY after reset, with its cable plugged into `partner`.
    pub fn new(partner: LinkPartner) -> Phy {
        Phy {
            bmcr: BMCR_RESET_VALUE,
            anar: ANAR_RESET_VALUE,
            ctrl1000: CTRL1000_RESET_VALUE,
            iner: 0,
            insr: 0,
            link_up: true,
            partner,
        }
    }

    /// Resets the registers (BMCR.RESET or the MAC's reset); the cable stays as it is.
    pub fn reset(&mut self) {
        *self = Phy {
            link_up: self.link_up,
            partner: self.partner,
            ..Phy::new(self.partner)
        };
    }

    /// Whether the cable has link.
    pub fn link_up(&self) -> bool {
        self.link_up
    }

    /// Plugs or unplugs the cable; latches the event in INSR.
    pub fn set_link(&mut self, up: bool) {
        if up != self.link_up {
            self.link_up = up;
            self.insr |= if up { INSR_LINK_UP } else { INSR_LINK_DOWN };
        }
    }

    /// Changes what the far end can do (renegotiates at once).
    pub fn set_partner(&mut self, partner: LinkPartner) {
        self.partner = partner;
    }

    /// Whether the link partner honours pause frames (it advertised symmetric pause).
    pub fn partner_pauses(&self) -> bool {
        self.partner.pause
    }

    fn partner_anlpar(&self) -> u16 {
        let p = &self.partner;
        let mut v = 0x4000 | 0x0001 | ADVERTISE_10HALF; // ACK, CSMA selector, 10 half
        if p.full_duplex {
            v |= ADVERTISE_10FULL;
        }
        if p.max_speed >= Speed::Mbps100 {
            v |= ADVERTISE_100HALF;
            if p.full_duplex {
                v |= ADVERTISE_100FULL;
            }
        }
        if p.pause {
            v |= ADVERTISE_PAUSE;
        }
        v
    }

    fn partner_stat1000(&self) -> u16 {
        match (self.partner.max_speed, self.partner.full_duplex) {
            (Speed::Mbps1000, true) => LPA_1000FULL | LPA_1000HALF,
            (Speed::Mbps1000, false) => LPA_1000HALF,
            _ => 0,
        }
    }

    /// An MDIO read.
    pub fn read(&mut self, reg: u8) -> u16 {
        let negotiated = self.link_up && self.bmcr & BMCR_ANENABLE != 0;
        match reg {
            BMCR => self.bmcr,
            BMSR if self.link_up => BMSR_BASE,
            BMSR => BMSR_BASE & !(BMSR_LSTATUS | BMSR_ANEGCOMPLETE),
            PHYID1 => PHYID.0,
            PHYID2 => PHYID.1,
            ANAR => self.anar,
            ANLPAR if negotiated => self.partner_anlpar(),
            ANER => 0x0001,
            CTRL1000 => self.ctrl1000,
            STAT1000 if negotiated => self.partner_stat1000(),
            // 1000BASE-T full and half duplex capable.
            ESTATUS => 0x3000,
            INER => self.iner,
            INSR => std::mem::take(&mut self.insr),
            _ => 0,
        }
    }

    /// An MDIO write.
    pub fn write(&mut self, reg: u8, value: u16) {
        match reg {
            BMCR if value & BMCR_RESET != 0 => self.reset(),
            // Restart-negotiation and the reserved low bits do not stick (as in QEMU's model).
            BMCR => self.bmcr = value & 0x7980,
            ANAR => self.anar = (value & 0x2d7f) | 0x0080,
            CTRL1000 => self.ctrl1000 = value & 0x1f00,
            INER => self.iner = value & 0xff,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_partner_and_link() {
        let mut phy = Phy::new(LinkPartner::default());
        assert_eq!((phy.read(PHYID1), phy.read(PHYID2)), PHYID);
        assert_eq!(phy.read(BMCR), 0x1140);
        assert_ne!(phy.read(BMSR) & BMSR_LSTATUS, 0);
        assert_eq!(phy.read(STAT1000) & LPA_1000FULL, LPA_1000FULL);
        phy.set_partner(LinkPartner {
            max_speed: Speed::Mbps100,
            full_duplex: true,
            pause: false,
        });
        assert_eq!(phy.read(STAT1000), 0);
        assert_eq!(
            phy.read(ANLPAR) & (ADVERTISE_100FULL | ADVERTISE_PAUSE),
            ADVERTISE_100FULL
        );

        phy.set_link(false);
        assert_eq!(phy.read(BMSR) & (BMSR_LSTATUS | BMSR_ANEGCOMPLETE), 0);
        assert_eq!(phy.read(ANLPAR), 0);
        assert_eq!(phy.read(INSR), INSR_LINK_DOWN);
        assert_eq!(phy.read(INSR), 0, "clear on read");
        phy.set_link(true);
        assert_eq!(phy.read(INSR), INSR_LINK_UP);
    }

    #[test]
    fn bmcr_reset_restores_defaults() {
        let mut phy = Phy::new(LinkPartner::default());
        phy.write(ANAR, 0x0061);
        phy.write(CTRL1000, 0);
        phy.write(BMCR, BMCR_RESET);
        assert_eq!(
            (phy.read(ANAR), phy.read(CTRL1000), phy.read(BMCR)),
            (0x0de1, 0x0300, 0x1140)
        );
    }
}
