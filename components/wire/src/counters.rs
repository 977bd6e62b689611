//! Named event counters, as an operator reads them (`ip -s link`, `/proc/net/snmp`, `ethtool -S`).

/// Defines a counters struct with one `u64` field per counter and a `list()` of
/// `(kebab-case name, value)` pairs in declaration order.
///
/// ```
/// netstack_wire::counters! {
///     /// Receive-side counters.
///     pub struct RxCounters {
///         /// Frames seen.
///         rx_frames => "rx-frames",
///     }
/// }
/// let mut c = RxCounters::default();
/// c.rx_frames += 1;
/// assert_eq!(c.list(), [("rx-frames", 1)]);
/// assert!(c.set("rx-frames", 7) && c.rx_frames == 7);
/// assert!(!c.set("tx-frames", 1));
/// ```
#[macro_export]
macro_rules! counters {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$fmeta:meta])* $field:ident => $label:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        $vis struct $name {
            $($(#[$fmeta])* pub $field: u64,)*
        }

        impl $name {
            /// Every counter with its name, in declaration order.
            pub fn list(&self) -> [(&'static str, u64); [$($label),*].len()] {
                [$(($label, self.$field)),*]
            }

            /// Sets the counter named `label`; false if there is none (a state exported by
            /// a build that counted something this one does not).
            pub fn set(&mut self, label: &str, value: u64) -> bool {
                match label {
                    $($label => self.$field = value,)*
                    _ => return false,
                }
                true
            }
        }
    };
}
