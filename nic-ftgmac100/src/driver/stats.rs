//! The driver's counters, named as `ip -s link` and `ethtool -S` show them (Linux keeps the
//! same set in `netdev->stats`, §6.6), plus the events an operator of this driver looks for.

netstack_wire::counters! {
    /// Interface statistics.
    pub struct DriverStats {
        /// Frames handed up.
        rx_packets => "rx_packets",
        /// Bytes handed up.
        rx_bytes => "rx_bytes",
        /// Frames dropped by the driver (re-armed without handing up).
        rx_dropped => "rx_dropped",
        /// Frames with RX_ERR.
        rx_errors => "rx_errors",
        /// Frames with CRC_ERR.
        rx_crc_errors => "rx_crc_errors",
        /// Frames with FTL, RUNT or ODD_NB.
        rx_length_errors => "rx_length_errors",
        /// NO_RXBUF interrupts: the ring was full.
        rx_over_errors => "rx_over_errors",
        /// RPKT_LOST interrupts: the RX FIFO overflowed.
        rx_fifo_errors => "rx_fifo_errors",
        /// Multicast frames received.
        multicast => "multicast",
        /// Frames transmitted (reclaimed).
        tx_packets => "tx_packets",
        /// Bytes transmitted (reclaimed).
        tx_bytes => "tx_bytes",
        /// Frames dropped before reaching the ring (too long, too many segments, not running).
        tx_dropped => "tx_dropped",
        /// Frames the held queue refused (full: the ring stayed full too long).
        tx_backlog_dropped => "tx_backlog_dropped",
        /// Frames the device read where the stack built them (mapped, not copied).
        tx_mapped => "tx_mapped",
        /// XPKT_LOST interrupts.
        tx_fifo_errors => "tx_fifo_errors",
        /// Interrupts taken.
        interrupts => "interrupts",
        /// NAPI polls run.
        napi_polls => "napi_polls",
        /// Times the TX queue was stopped for lack of descriptors.
        tx_queue_stops => "tx_queue_stops",
        /// Times it was woken again.
        tx_queue_wakes => "tx_queue_wakes",
        /// TX watchdog expiries.
        tx_timeouts => "tx_timeout",
        /// AHB bus errors.
        ahb_errors => "ahb_errors",
        /// Full resets (reset task runs).
        resets => "resets",
        /// Link state changes seen by the PHY poll.
        link_changes => "link_changes",
    }
}
