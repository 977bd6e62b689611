//! Socket options (`setsockopt`): what each one changes in a connection's [`ConnConfig`], and
//! the bounds it must keep (Linux's, where it has them).

use crate::SocketError;
use crate::conn::ConnConfig;

const S: u64 = 1_000_000_000;

/// Linux's `TCP_KEEPIDLE`/`TCP_KEEPINTVL` range: 1 to 32767 seconds.
const KEEPALIVE_TIME: core::ops::RangeInclusive<u64> = S..=32767 * S;
/// Linux's `TCP_KEEPCNT` range.
const KEEPALIVE_COUNT: core::ops::RangeInclusive<u32> = 1..=127;
/// Buffer sizes: Linux's `SOCK_MIN_RCVBUF` (2 KiB) up to 64 MiB.
const BUFFER: core::ops::RangeInclusive<u64> = 2048..=64 * 1024 * 1024;

/// Congestion control algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CongestionControl {
    /// RFC 5681 + RFC 6582.
    NewReno,
    /// RFC 9438.
    Cubic,
}

/// An option and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOption {
    /// TCP_NODELAY: true turns Nagle's algorithm off.
    NoDelay(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// TCP_KEEPIDLE, in nanoseconds.
    KeepAliveIdle(u64),
    /// TCP_KEEPINTVL, in nanoseconds.
    KeepAliveInterval(u64),
    /// TCP_KEEPCNT.
    KeepAliveCount(u32),
    /// SO_RCVBUF, bytes.
    ReceiveBufferSize(u64),
    /// SO_SNDBUF, bytes.
    SendBufferSize(u64),
    /// IP_TTL.
    HopLimit(u8),
    /// TCP_CONGESTION.
    CongestionControl(CongestionControl),
}

impl SocketOption {
    /// Writes the option into `config`, or says why it cannot be.
    pub fn apply(self, config: &mut ConnConfig) -> Result<(), SocketError> {
        let check = |ok: bool| ok.then_some(()).ok_or(SocketError::InvalidArgument);
        match self {
            SocketOption::NoDelay(on) => config.nagle = !on,
            SocketOption::KeepAlive(on) => config.keepalive = on,
            SocketOption::KeepAliveIdle(ns) => {
                check(KEEPALIVE_TIME.contains(&ns))?;
                config.keepalive_idle_ns = ns;
            }
            SocketOption::KeepAliveInterval(ns) => {
                check(KEEPALIVE_TIME.contains(&ns))?;
                config.keepalive_interval_ns = ns;
            }
            SocketOption::KeepAliveCount(n) => {
                check(KEEPALIVE_COUNT.contains(&n))?;
                config.keepalive_count = n;
            }
            SocketOption::ReceiveBufferSize(n) => {
                check(BUFFER.contains(&n))?;
                // Set by the application: auto-tuning is off (Linux's SOCK_RCVBUF_LOCK).
                config.recv_buffer = n as usize;
                config.recv_buffer_max = n as usize;
            }
            SocketOption::SendBufferSize(n) => {
                check(BUFFER.contains(&n))?;
                config.send_buffer = n as usize;
            }
            SocketOption::HopLimit(ttl) => {
                check(ttl > 0)?;
                config.ttl = ttl;
            }
            SocketOption::CongestionControl(cc) => config.cubic = cc == CongestionControl::Cubic,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_land_in_the_config_within_bounds() {
        let mut c = ConnConfig::default();
        SocketOption::NoDelay(true).apply(&mut c).unwrap();
        SocketOption::KeepAlive(true).apply(&mut c).unwrap();
        SocketOption::KeepAliveIdle(10 * S).apply(&mut c).unwrap();
        SocketOption::KeepAliveCount(3).apply(&mut c).unwrap();
        SocketOption::HopLimit(7).apply(&mut c).unwrap();
        assert!(!c.nagle && c.keepalive);
        assert_eq!(
            (c.keepalive_idle_ns, c.keepalive_count, c.ttl),
            (10 * S, 3, 7)
        );
        for bad in [
            SocketOption::KeepAliveIdle(S / 2),
            SocketOption::KeepAliveInterval(40_000 * S),
            SocketOption::KeepAliveCount(0),
            SocketOption::ReceiveBufferSize(100),
            SocketOption::SendBufferSize(1 << 40),
            SocketOption::HopLimit(0),
        ] {
            assert_eq!(
                bad.apply(&mut c),
                Err(SocketError::InvalidArgument),
                "{bad:?}"
            );
        }
        SocketOption::CongestionControl(CongestionControl::Cubic)
            .apply(&mut c)
            .unwrap();
        assert!(c.cubic);
    }
}
