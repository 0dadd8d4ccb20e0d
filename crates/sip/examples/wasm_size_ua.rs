//! Bundle-size probe: the user agent (calls over the overlay: invite,
//! answer, hang up, every input, timer and output), on input the optimiser
//! cannot see. With default features it is the gateway's user agent; with
//! `--no-default-features` the tab's. With `--features digest`, credentials
//! are set so the digest code is linked too. See the crate README.
use std::io::Read;

use chordphone_sip::{Config, Event, Flow, Time, Transport, UserAgent};

fn main() {
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    #[allow(unused_mut)]
    let mut config = Config::new("sip:a@x.invalid", "sip:a@x.invalid", "x.invalid");
    #[cfg(feature = "digest")]
    {
        config.credentials = Some(chordphone_sip::Credentials::new("a", "b"));
    }
    let mut ua: UserAgent<u32> = UserAgent::new(config, input.len() as u64);
    let flow = Flow::new(Transport::Overlay, 1);
    let now = Time(input.len() as u64);
    let _ = ua.invite(
        "sip:b@x.invalid",
        flow.clone(),
        Some(input.clone().into()),
        now,
    );
    ua.handle_input(flow.clone(), &input, now);
    ua.handle_timeout(Time(now.0 * 2));
    let mut n = 0i32;
    while let Some(t) = ua.poll_transmit() {
        n += t.bytes.len() as i32;
    }
    while let Some(e) = ua.poll_event() {
        match e {
            Event::Incoming { call, .. } => {
                let _ = ua.ring(call, None, now);
                let _ = ua.answer(call, input.clone().into(), now);
            }
            Event::Reoffer { call, .. } => {
                let _ = ua.accept_reoffer(call, input.clone().into(), now);
            }
            Event::Answered { call, .. } => {
                let _ = ua.reinvite(call, input.clone().into(), now);
                let _ = ua.hangup(call, now);
            }
            Event::Ended { reason, .. } => n += reason.to_string().len() as i32,
            _ => n += 1,
        }
    }
    let _ = ua.message(
        "sip:b@x.invalid",
        flow.clone(),
        "text/plain",
        input.clone().into(),
        now,
    );
    #[cfg(feature = "options")]
    let _ = ua.options("sip:b@x.invalid", flow, now);
    std::process::exit(n + ua.stats().received as i32);
}
