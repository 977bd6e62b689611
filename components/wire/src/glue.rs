//! Conversions between this crate's types and the WIT types that each component's wit-bindgen
//! generates. Every component generates its own copy of `netstack:stack/types`, so the conversions
//! cannot be plain functions here: this macro writes them into the glue module that invokes it.

/// Writes `batch_to`, `batch_from`, `info_to`, `info_from`, `transport_to`, `transport_from` and
/// `counters_to` into the invoking module, which must have `netstack:stack/types` in scope as `t`.
/// `batch_from`/`transport_from` return `None` when lengths and metadata do not add up.
#[macro_export]
macro_rules! wit_conversions {
    () => {
        #[allow(dead_code)]
        fn batch_to(b: $crate::Batch) -> t::Batch {
            let (bytes, lengths) = b.into_parts();
            t::Batch { bytes, lengths }
        }

        #[allow(dead_code)]
        fn batch_from(b: t::Batch) -> Option<$crate::Batch> {
            $crate::Batch::from_parts(b.bytes, b.lengths).ok()
        }

        #[allow(dead_code)]
        fn info_to(i: &$crate::DatagramInfo) -> t::DatagramInfo {
            t::DatagramInfo {
                protocol: i.protocol.into(),
                source: $crate::tuple::ipv4_to(i.src_addr),
                destination: $crate::tuple::ipv4_to(i.dst_addr),
                ttl: i.ttl,
                tos: i.tos,
                dont_fragment: i.dont_frag,
                segment_size: i.segment_size,
            }
        }

        #[allow(dead_code)]
        fn info_from(i: &t::DatagramInfo) -> $crate::DatagramInfo {
            $crate::DatagramInfo {
                protocol: i.protocol.into(),
                src_addr: $crate::tuple::ipv4_from(i.source),
                dst_addr: $crate::tuple::ipv4_from(i.destination),
                ttl: i.ttl,
                tos: i.tos,
                dont_frag: i.dont_fragment,
                segment_size: i.segment_size,
            }
        }

        #[allow(dead_code)]
        fn transport_to(b: $crate::TransportBatch) -> t::TransportBatch {
            t::TransportBatch {
                info: b.info.iter().map(info_to).collect(),
                payloads: batch_to(b.payloads),
            }
        }

        #[allow(dead_code)]
        fn transport_from(b: t::TransportBatch) -> Option<$crate::TransportBatch> {
            if b.info.len() != b.payloads.lengths.len() {
                return None;
            }
            Some($crate::TransportBatch {
                info: b.info.iter().map(info_from).collect(),
                payloads: batch_from(b.payloads)?,
            })
        }

        #[allow(dead_code)]
        fn counters_to(list: impl IntoIterator<Item = (&'static str, u64)>) -> Vec<t::Counter> {
            list.into_iter()
                .map(|(name, value)| t::Counter {
                    name: name.into(),
                    value,
                })
                .collect()
        }
    };
}
