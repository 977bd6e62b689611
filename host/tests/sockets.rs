//! The host socket layer between two whole hosts in this process (NIC models, drivers and
//! components on the in-memory switch): futures listen, accept, connect, write, read and shut
//! down; a refused connect and a dropped listener say so with `std::io` errors.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use netstack::node::Node;
use netstack::sockets::{Sockets, socket_layer};
use netstack::stack::StackConfig;
use netstack_wire::{EthernetAddress, Ipv4Cidr};
use nic_ftgmac100::wire::{Switch, SwitchPort};

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);

fn host(sw: &Switch, ip: Ipv4Addr, mac: u8) -> (Node<SwitchPort>, Sockets) {
    let config = StackConfig {
        address: Ipv4Cidr::new(ip, 24).unwrap(),
        gateway: None,
        mac: EthernetAddress([0x02, 0, 0, 0, 0, mac]),
        mtu: 1500,
        offload: true,
    };
    let mut node = Node::new(config, sw.add_port(), &[], 0).unwrap();
    let (sockets, hub) = socket_layer();
    node.attach_sockets(hub);
    (node, sockets)
}

#[test]
fn futures_listen_accept_connect_and_echo_between_two_hosts() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sw = Switch::new();
    let (mut a, on_a) = host(&sw, A, 1);
    let (mut b, on_b) = host(&sw, B, 2);
    let start = Instant::now();
    // The two hosts take turns on real time, letting the application tasks run in between.
    let drive = async move {
        loop {
            let now = start.elapsed().as_nanos() as u64;
            a.step(now).unwrap();
            b.step(now).unwrap();
            tokio::task::yield_now().await;
        }
    };
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i * 13 + i / 509) as u8)
        .collect();
    let expected = data.clone();
    let app = async move {
        let listener = on_b.listen(7000, 16).await.unwrap();
        assert_eq!(
            on_b.listen(7000, 16).await.unwrap_err().kind(),
            ErrorKind::AddrInUse
        );
        // An echo server: two connections at once, each echoed until its client shuts down.
        let server = async {
            let mut tasks = Vec::new();
            for _ in 0..2 {
                let (conn, peer) = listener.accept().await.unwrap();
                assert_eq!(*peer.ip(), A);
                tasks.push(tokio::task::spawn_local(async move {
                    loop {
                        let d = conn.read().await.unwrap();
                        if d.is_empty() {
                            break;
                        }
                        conn.write_all(d).await.unwrap();
                    }
                    conn.shutdown().await.unwrap();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        };
        let client = |data: Vec<u8>| {
            let on_a = on_a.clone();
            async move {
                let conn = on_a.connect(SocketAddrV4::new(B, 7000)).await.unwrap();
                let reader = conn.clone();
                let read_all = async move {
                    let mut got = Vec::new();
                    loop {
                        let d = reader.read().await.unwrap();
                        if d.is_empty() {
                            return got;
                        }
                        got.extend_from_slice(&d);
                    }
                };
                let write_all = async {
                    conn.write_all(data).await.unwrap();
                    conn.shutdown().await.unwrap();
                };
                let ((), got) = tokio::join!(write_all, read_all);
                got
            }
        };
        let (got1, got2, ()) =
            tokio::join!(client(data.clone()), client(data[..1000].to_vec()), server);
        assert!(got1 == expected, "the echo differs");
        assert_eq!(got2, expected[..1000]);

        // Nobody listens on 7001: refused. A listener dropped: refused too.
        let refused = on_a.connect(SocketAddrV4::new(B, 7001)).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        drop(listener);
        // The close is a message to B's stack, taken in order with B's other requests: once a
        // later request is answered, the listener is gone (a SYN that came first would have been
        // accepted, then reset with the listener).
        drop(on_b.listen(7002, 1).await.unwrap());
        let refused = on_a.connect(SocketAddrV4::new(B, 7000)).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        tokio::select! {
            () = drive => unreachable!("the hosts run forever"),
            () = app => {}
        }
    });
}
