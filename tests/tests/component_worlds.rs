//! Every built component is a real component whose exports are exactly its WIT world's, with
//! the same functions, and whose imports are only WASI's (what Rust's std on wasm32-wasip2 links),
//! never a source of randomness.

use std::collections::BTreeSet;
use std::path::Path;

use netstack::bindings;
use netstack::components::{engine, linker, load, store};
use wasmtime::component::types::ComponentItem;
use wit_parser::{Resolve, WorldItem};

/// The component-model binary preamble: `\0asm`, version 0x0d, layer 1 (a core module has layer 0).
const COMPONENT_PREAMBLE: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn wit() -> (Resolve, wit_parser::PackageId) {
    let mut resolve = Resolve::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let (pkg, _) = resolve.push_dir(&dir).expect("the WIT package parses");
    (resolve, pkg)
}

/// The world's exports as instance names (`netstack:stack/link@0.1.0`) with their function names.
fn world_exports(
    resolve: &Resolve,
    pkg: wit_parser::PackageId,
    world: &str,
) -> Vec<(String, BTreeSet<String>)> {
    let world = resolve
        .select_world(&[pkg], Some(world))
        .expect("the world exists");
    resolve.worlds[world]
        .exports
        .iter()
        .map(|(key, item)| {
            let WorldItem::Interface { id, .. } = item else {
                panic!("{world:?} exports a non-interface")
            };
            let functions = resolve.interfaces[*id].functions.keys().cloned().collect();
            (resolve.name_world_key(key), functions)
        })
        .collect()
}

#[test]
fn every_component_matches_its_world() {
    let (resolve, pkg) = wit();
    let engine = engine().unwrap();
    assert_eq!(netstack_artifacts::COMPONENTS.len(), 4);
    for artifact in netstack_artifacts::COMPONENTS {
        let bytes = std::fs::read(artifact.path).unwrap();
        assert_eq!(
            bytes[..8],
            COMPONENT_PREAMBLE,
            "{} is not a component",
            artifact.name
        );
        let loaded = load(&engine, artifact.path).unwrap();
        let ty = loaded.component.component_type();

        let expected = world_exports(&resolve, pkg, artifact.world);
        let exports: Vec<(String, ComponentItem)> = ty
            .exports(&engine)
            .map(|(n, e)| (n.to_string(), e.ty))
            .collect();
        let names: BTreeSet<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
        let expected_names: BTreeSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names, expected_names,
            "{}: exports differ from world {}",
            artifact.name, artifact.world
        );

        for (name, functions) in &expected {
            let (_, item) = exports.iter().find(|(n, _)| n == name).unwrap();
            let ComponentItem::ComponentInstance(instance) = item else {
                panic!("{name} is not an instance")
            };
            let exported: BTreeSet<String> = instance
                .exports(&engine)
                .filter(|(_, e)| matches!(e.ty, ComponentItem::ComponentFunc(_)))
                .map(|(n, _)| n.to_string())
                .collect();
            assert_eq!(
                &exported, functions,
                "{}: functions of {name} differ from the WIT",
                artifact.name
            );
        }

        let imports: Vec<&str> = ty.imports(&engine).map(|(n, _)| n).collect();
        eprintln!("{}: imports {imports:?}", artifact.name);
        for import in imports {
            assert!(
                import.starts_with("wasi:"),
                "{} imports {import}: components import nothing but WASI (DESIGN.md §3.2)",
                artifact.name
            );
            // Sans-IO: seeds and secrets come in with the configuration; a layer that imports
            // a source of randomness draws numbers of its own (std's `HashMap::new` does).
            assert!(
                !import.starts_with("wasi:random/"),
                "{} imports {import}: a layer draws no randomness of its own",
                artifact.name
            );
        }
    }
}

/// Typed instantiation through the host's bindgen! checks every export's signature against the
/// WIT; a call proves the instance runs.
#[test]
fn every_component_instantiates_through_its_bindings() {
    let engine = engine().unwrap();
    let linker = linker(&engine).unwrap();

    let c = load(&engine, netstack_artifacts::ETHERNET_ARP)
        .unwrap()
        .component;
    let mut s = store(&engine);
    let link =
        bindings::ethernet_arp::EthernetArpComponent::instantiate(&mut s, &c, &linker).unwrap();
    let names: Vec<String> = link
        .netstack_stack_link()
        .call_counters(&mut s)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(
        names.contains(&"drop-unconfigured".to_string()),
        "{names:?}"
    );

    let c = load(&engine, netstack_artifacts::IPV4).unwrap().component;
    let mut s = store(&engine);
    let ip = bindings::ipv4::Ipv4Component::instantiate(&mut s, &c, &linker).unwrap();
    assert!(
        ip.netstack_stack_ipv4()
            .call_routes(&mut s)
            .unwrap()
            .is_empty()
    );

    let c = load(&engine, netstack_artifacts::TCP).unwrap().component;
    let mut s = store(&engine);
    let tcp = bindings::tcp::TcpComponent::instantiate(&mut s, &c, &linker).unwrap();
    assert_eq!(
        tcp.netstack_stack_state()
            .call_state_version(&mut s)
            .unwrap(),
        netstack_tcp::STATE_VERSION
    );

    let c = load(&engine, netstack_artifacts::UDP).unwrap().component;
    let mut s = store(&engine);
    let udp = bindings::udp::UdpComponent::instantiate(&mut s, &c, &linker).unwrap();
    assert!(
        udp.netstack_stack_udp()
            .call_poll(&mut s, 0)
            .unwrap()
            .to_ipv4
            .info
            .is_empty()
    );
}
