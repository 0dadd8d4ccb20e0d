//! Remote bytes into the embedded TURN relay: the STUN decoder, then
//! client messages over UDP and TCP, datagrams from peers and time passing,
//! as the input's chunks say. Whatever arrives, the relay must neither
//! panic nor ask for more than its limits allow.
#![no_main]

use chordphone_relay::stun::Message;
use chordphone_relay::{Client, Config, Output, Relay, Transport};
use core::net::SocketAddr;
use core::time::Duration;
use libfuzzer_sys::fuzz_target;

const T0: Duration = Duration::from_secs(1_800_000_000);

fn client(transport: Transport, port: u16) -> Client {
    Client {
        transport,
        addr: SocketAddr::from(([192, 0, 2, 1], port)),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode(data);
    let mut relay = Relay::new(
        Config {
            secret: b"fuzz".to_vec(),
            ..Config::default()
        },
        [7; 32],
    );
    let mut now = T0;
    let mut next_port = 50_000u16;
    let mut rest = data;
    while let [kind, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        rest = after;
        match kind % 4 {
            0 => relay.handle_client(client(Transport::Udp, 4000), chunk, now),
            1 => relay.handle_client(client(Transport::Tcp, 4001), chunk, now),
            2 => relay.handle_peer(
                SocketAddr::from(([127, 0, 0, 1], 50_000)),
                SocketAddr::from(([198, 51, 100, 7], 6000)),
                chunk,
                now,
            ),
            _ => {
                now += Duration::from_secs(u64::from(*len));
                relay.handle_timeout(now);
            }
        }
        let mut opened = 0;
        while let Some(out) = relay.poll_output() {
            if let Output::OpenRelay { client, .. } = out {
                opened += 1;
                assert!(opened <= 64, "the relay asked for sockets without bound");
                let addr = SocketAddr::from(([127, 0, 0, 1], next_port));
                next_port = next_port.wrapping_add(1).max(50_000);
                relay.relay_opened(client, Ok(addr), now);
            }
        }
    }
});
