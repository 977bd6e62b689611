//! The MDIO bus (old interface, §2.3), the PHY at probe and open, and link polling with
//! `adjust_link` (§6.6): phylib's PHY_POLL state machine reduced to what this MAC needs.

use crate::access::{Dma, Mmio};
use crate::model::Speed;
use crate::model::phy::mii;
use crate::regs::{REVR_NEW_MDIO_INTERFACE, Reg, phycr};

use super::{DriverError, Ftgmac100, LinkState};

impl<M: Mmio, D: Dma> Ftgmac100<M, D> {
    /// Clears REVR[31] to select the old MDIO interface (Linux does on the AST2400/2500) and
    /// binds the first PHY that answers, as `phy_find_first` does.
    pub(super) fn setup_mdio(&mut self) -> Result<(), DriverError> {
        let revr = self.mmio.read32(Reg::REVR);
        self.mmio
            .write32(Reg::REVR, revr & !REVR_NEW_MDIO_INTERFACE);
        for addr in 0..32 {
            self.phy_addr = addr;
            let id1 = self.mdio_read(mii::PHYID1)?;
            let id2 = self.mdio_read(mii::PHYID2)?;
            let id = u32::from(id1) << 16 | u32::from(id2);
            if id != 0 && id != 0xffff_ffff {
                return Ok(());
            }
        }
        Err(DriverError::NoPhy)
    }

    fn mdio_wait(&self, bit: u32) -> Result<(), DriverError> {
        for _ in 0..10 {
            if self.mmio.read32(Reg::PHYCR) & bit == 0 {
                return Ok(());
            }
            self.mmio.delay_us(100);
        }
        Err(DriverError::MdioTimeout)
    }

    fn phycr(&self, reg: u8, op: u32) -> u32 {
        let keep = self.mmio.read32(Reg::PHYCR) & phycr::MDC_CYCTHR_MASK;
        keep | u32::from(self.phy_addr) << phycr::PHYAD_SHIFT
            | u32::from(reg) << phycr::REGAD_SHIFT
            | op
    }

    /// Reads a PHY register.
    pub fn mdio_read(&mut self, reg: u8) -> Result<u16, DriverError> {
        let cmd = self.phycr(reg, phycr::MIIRD);
        self.mmio.write32(Reg::PHYCR, cmd);
        self.mdio_wait(phycr::MIIRD)?;
        Ok((self.mmio.read32(Reg::PHYDATA) >> 16) as u16)
    }

    /// Writes a PHY register.
    pub fn mdio_write(&mut self, reg: u8, value: u16) -> Result<(), DriverError> {
        self.mmio.write32(Reg::PHYDATA, u32::from(value));
        let cmd = self.phycr(reg, phycr::MIIWR);
        self.mmio.write32(Reg::PHYCR, cmd);
        self.mdio_wait(phycr::MIIWR)
    }

    /// `phy_start`: advertise everything we do (10/100/1000, pause) and restart negotiation.
    pub(super) fn phy_start(&mut self) -> Result<(), DriverError> {
        let anar = self.mdio_read(mii::ANAR)?;
        let abilities = mii::ADVERTISE_10HALF
            | mii::ADVERTISE_10FULL
            | mii::ADVERTISE_100HALF
            | mii::ADVERTISE_100FULL
            | if self.pause_wanted {
                mii::ADVERTISE_PAUSE
            } else {
                0
            };
        self.mdio_write(mii::ANAR, anar & !0x0de0 | abilities)?;
        let ctrl1000 = self.mdio_read(mii::CTRL1000)?;
        self.mdio_write(
            mii::CTRL1000,
            ctrl1000 | mii::ADVERTISE_1000FULL | mii::ADVERTISE_1000HALF,
        )?;
        self.mdio_write(mii::BMCR, mii::BMCR_ANENABLE | mii::BMCR_ANRESTART)
    }

    /// Reads the link from the PHY and resolves what auto-negotiation agreed (IEEE 802.3 annex
    /// 28B priority: 1000 full, 1000 half, 100 full, 100 half, 10 full, 10 half).
    fn read_link(&mut self) -> Result<LinkState, DriverError> {
        let bmsr = self.mdio_read(mii::BMSR)?;
        if bmsr & mii::BMSR_LSTATUS == 0 {
            return Ok(LinkState::DOWN);
        }
        let ctrl1000 = self.mdio_read(mii::CTRL1000)?;
        let stat1000 = self.mdio_read(mii::STAT1000)?;
        let anar = self.mdio_read(mii::ANAR)?;
        let anlpar = self.mdio_read(mii::ANLPAR)?;
        let common = anar & anlpar;
        let (speed, full_duplex) =
            if ctrl1000 & mii::ADVERTISE_1000FULL != 0 && stat1000 & mii::LPA_1000FULL != 0 {
                (Speed::Mbps1000, true)
            } else if ctrl1000 & mii::ADVERTISE_1000HALF != 0 && stat1000 & mii::LPA_1000HALF != 0 {
                (Speed::Mbps1000, false)
            } else if common & mii::ADVERTISE_100FULL != 0 {
                (Speed::Mbps100, true)
            } else if common & mii::ADVERTISE_100HALF != 0 {
                (Speed::Mbps100, false)
            } else if common & mii::ADVERTISE_10FULL != 0 {
                (Speed::Mbps10, true)
            } else {
                (Speed::Mbps10, false)
            };
        // Symmetric pause when both sides offer it (802.3 table 28B-3), full duplex only.
        let pause = full_duplex && common & mii::ADVERTISE_PAUSE != 0;
        Ok(LinkState {
            speed: Some(speed),
            full_duplex,
            pause,
        })
    }

    /// One PHY poll: a changed link goes through `adjust_link`.
    pub(super) fn phy_poll(&mut self) -> Result<(), DriverError> {
        let new = self.read_link()?;
        self.adjust_link(new);
        Ok(())
    }

    /// `adjust_link` (§6.6): on a change, record it; with link, mask interrupts and reset so the
    /// MAC is reprogrammed with the new speed, duplex and pause. Without link the hardware is left
    /// alone.
    fn adjust_link(&mut self, new: LinkState) {
        if new == self.link {
            return;
        }
        self.stats.link_changes += 1;
        self.link = new;
        if new.speed.is_none() {
            return;
        }
        self.mmio.write32(Reg::IER, 0);
        self.reset_pending = true;
    }
}
