//! A whole simulated NIC: SDRAM, the device model, the driver in its NAPI loop, and the model's
//! port cabled to a wire. One [`Station::step`] is one turn of both sides: the hardware moves
//! frames on and off its wire, the NAPI loop services the interrupt and hands received frames
//! on. The host's stack router, the benchmarks and the tests all build on it.

use std::sync::Arc;

use netstack_wire::{Batch, EthernetAddress};

use crate::dma::{SDRAM_BASE, SimDma};
use crate::driver::{DriverConfig, DriverError, Ftgmac100, RxBatch, RxSink, TxOffload};
use crate::model::{Ftgmac100Model, LinkPartner, ModelConfig};
use crate::napi::{IrqLine, NapiLoop};
use crate::wire::{Cable, Wire};

/// The simulated device as the driver sees it.
pub type SimModel = Ftgmac100Model<Arc<SimDma>>;
/// The driver over the simulated device.
pub type SimDriver = Ftgmac100<Arc<SimModel>, Arc<SimDma>>;

/// How a station is built.
#[derive(Debug, Clone)]
pub struct StationConfig {
    /// The MAC address the firmware leaves in MADR/LADR.
    pub mac: EthernetAddress,
    /// The MTU (above 1500: jumbo frames).
    pub mtu: u32,
    /// RX and TX ring sizes.
    pub ring_size: u32,
    /// The far end of the cable.
    pub partner: LinkPartner,
}

impl Default for StationConfig {
    fn default() -> Self {
        StationConfig {
            mac: EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            mtu: 1500,
            ring_size: 128,
            partner: LinkPartner::default(),
        }
    }
}

/// One simulated NIC on a wire.
#[derive(Debug)]
pub struct Station<W: Wire> {
    memory: Arc<SimDma>,
    model: Arc<SimModel>,
    napi: NapiLoop<Arc<SimModel>, Arc<SimDma>>,
    cable: Cable<Arc<SimDma>, W>,
}

/// SDRAM given to each station: enough for 1024-entry rings with jumbo bounce buffers.
const SDRAM_BYTES: u32 = 8 << 20;

impl<W: Wire> Station<W> {
    /// Builds the NIC, probes and opens the driver at `now`, and negotiates the link.
    pub fn new(config: &StationConfig, wire: W, now: u64) -> Result<Self, DriverError> {
        let dma = Arc::new(SimDma::new(SDRAM_BASE, SDRAM_BYTES));
        let irq = IrqLine::new();
        let line = irq.clone();
        let model = Arc::new(Ftgmac100Model::new(
            dma.clone(),
            ModelConfig {
                mac: config.mac,
                partner: config.partner,
                ..ModelConfig::default()
            },
            Box::new(move |level| line.set_level(level)),
        ));
        let driver_config = DriverConfig {
            rx_ring_size: config.ring_size,
            tx_ring_size: config.ring_size,
            mtu: config.mtu,
            ..DriverConfig::new(SDRAM_BASE, SDRAM_BYTES)
        };
        let mut driver = Ftgmac100::probe(model.clone(), dma.clone(), driver_config)?;
        driver.open(now)?;
        let mut napi = NapiLoop::new(driver, irq);
        // The first pass polls the PHY: the link comes up and the MAC is set to its speed.
        napi.run_once(now, &mut |_| {})?;
        Ok(Station {
            memory: dma,
            cable: Cable::new(model.clone(), wire),
            model,
            napi,
        })
    }

    /// The device model (to inject faults, unplug the cable, read its counters).
    pub fn model(&self) -> &Arc<SimModel> {
        &self.model
    }

    /// The simulated memory the driver and the device share (to see what is mapped).
    pub fn memory(&self) -> &Arc<SimDma> {
        &self.memory
    }

    /// The NAPI loop and its driver.
    pub fn napi(&self) -> &NapiLoop<Arc<SimModel>, Arc<SimDma>> {
        &self.napi
    }

    /// The NAPI loop, mutable.
    pub fn napi_mut(&mut self) -> &mut NapiLoop<Arc<SimModel>, Arc<SimDma>> {
        &mut self.napi
    }

    /// The driver.
    pub fn driver(&self) -> &SimDriver {
        self.napi.driver()
    }

    /// The cable and its wire.
    pub fn cable_mut(&mut self) -> &mut Cable<Arc<SimDma>, W> {
        &mut self.cable
    }

    /// Queues frames for transmission; returns how many were taken (see [`NapiLoop::transmit`]).
    pub fn transmit(&mut self, now: u64, frames: &Batch) -> Result<usize, DriverError> {
        self.napi.transmit(now, frames, TxOffload::default())
    }

    /// Gives the driver `frames` to send, held (mapped) until sent; an emptied batch comes
    /// back from [`Self::take_sent_batch`] (see [`NapiLoop::transmit_owned`]).
    pub fn transmit_owned(&mut self, now: u64, frames: Batch) -> Result<(), DriverError> {
        self.napi.transmit_owned(now, frames, TxOffload::default())
    }

    /// An emptied batch whose frames were sent, to fill again.
    pub fn take_sent_batch(&mut self) -> Option<Batch> {
        self.napi.driver_mut().take_sent_batch()
    }

    /// One turn: the wire side (frames off and onto the wire, auto-poll), then the NAPI loop
    /// (received frames to `deliver`), then the wire side again for what the loop's reclaim
    /// made room for. Returns the earliest time anything wants another turn.
    pub fn step(
        &mut self,
        now: u64,
        deliver: &mut impl FnMut(&mut RxBatch),
    ) -> Result<u64, DriverError> {
        let wire = self.cable.pump(now);
        let timers = self.napi.run_once(now, deliver)?;
        Ok(self.after_napi(now, wire, timers))
    }

    /// [`step`](Self::step) with the received frames offered to `sink` as the driver takes
    /// them off the ring ([`NapiLoop::run_once_into`]).
    pub fn step_into<S: RxSink>(
        &mut self,
        now: u64,
        sink: &mut S,
        deliver: &mut impl FnMut(&mut S),
    ) -> Result<u64, DriverError> {
        let wire = self.cable.pump(now);
        let timers = self.napi.run_once_into(now, sink, deliver)?;
        Ok(self.after_napi(now, wire, timers))
    }

    /// The wire side again, for what the NAPI pass's reclaim made room for; the earliest
    /// time anything wants another turn.
    fn after_napi(&mut self, now: u64, wire: Option<u64>, timers: u64) -> u64 {
        let wire_again = self.cable.pump(now);
        [wire, wire_again, Some(timers)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(timers)
    }
}
