//! The ring picture: an SVG drawn from a [`View`].
//!
//! Every node sits on a circle at the angle of its id (0 at the top,
//! clockwise), so the picture shows where this tab lives on the ring and
//! which parts of it it knows. Roles are told apart by shape and colour
//! together (the legend in the page names them), links by line style: solid
//! for WebRTC, dashed for WebSocket. Only ids and numbers go into the
//! markup; names and keys are set as text by the page, never as markup.

use crate::view::{LinkKind, View};
use chordphone_overlay::NodeId;
use chordphone_overlay::VecMap;
use core::fmt::Write;

const SIZE: f64 = 400.0;
const CENTER: f64 = SIZE / 2.0;
const RADIUS: f64 = 150.0;

/// A node's roles in this node's view.
#[derive(Clone, Copy, Debug, Default)]
struct Roles {
    me: bool,
    predecessor: bool,
    successor: bool,
    finger: bool,
    link: Option<LinkKind>,
    owner: bool,
}

/// Sine and cosine: the browser's own on wasm32, which keeps a software
/// implementation out of the bundle.
#[cfg(target_arch = "wasm32")]
fn sin_cos(a: f64) -> (f64, f64) {
    (js_sys::Math::sin(a), js_sys::Math::cos(a))
}

#[cfg(not(target_arch = "wasm32"))]
fn sin_cos(a: f64) -> (f64, f64) {
    a.sin_cos()
}

/// Where an id sits on the circle.
fn point(id: &NodeId) -> (f64, f64) {
    // The top 32 bits place a node to well under a pixel.
    let turn = f64::from(u32::try_from(id.top_u64() >> 32).unwrap_or(0)) / 4_294_967_296.0;
    let (sin, cos) = sin_cos(turn * core::f64::consts::TAU);
    (CENTER + RADIUS * sin, CENTER - RADIUS * cos)
}

/// A coordinate with one decimal, written with integer formatting only
/// (float formatting would add kilobytes to the bundle). Coordinates here
/// are never negative.
struct P(f64);

impl core::fmt::Display for P {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Float to integer casts saturate; the picture stays in 0..=440.
        let tenths = (self.0.max(0.0) * 10.0 + 0.5) as u64;
        write!(f, "{}.{}", tenths / 10, tenths % 10)
    }
}

fn short(id: &NodeId) -> String {
    id.to_hex()[..8].to_owned()
}

/// The SVG markup of the ring (the inner part of the `<svg>` element).
pub fn ring_svg(view: &View) -> String {
    let mut roles: VecMap<NodeId, Roles> = VecMap::new();
    roles.get_or_insert_with(view.id, Roles::default).me = true;
    if let Some(p) = view.predecessor {
        roles.get_or_insert_with(p, Roles::default).predecessor = true;
    }
    for s in &view.successors {
        roles.get_or_insert_with(*s, Roles::default).successor = true;
    }
    for f in &view.fingers {
        roles.get_or_insert_with(*f, Roles::default).finger = true;
    }
    for (peer, kind) in &view.peers {
        roles.get_or_insert_with(*peer, Roles::default).link = Some(*kind);
    }
    if let Some(r) = &view.route {
        roles.get_or_insert_with(r.owner, Roles::default).owner = true;
    }

    let mut svg = String::with_capacity(4096);
    let _ = write!(
        svg,
        r#"<circle class="ring" cx="{c}" cy="{c}" r="{r}"/><text class="zero" x="{c}" y="{y}">0</text>"#,
        c = P(CENTER),
        r = P(RADIUS),
        y = P(CENTER - RADIUS - 10.0)
    );

    // Links first, so that nodes are drawn over them.
    let (mx, my) = point(&view.id);
    let (mx, my) = (P(mx), P(my));
    for (peer, kind) in &view.peers {
        let (x, y) = point(peer);
        let (x, y) = (P(x), P(y));
        let class = match kind {
            LinkKind::WebRtc if view.is_relayed(peer) => "link rtc relayed",
            LinkKind::WebRtc => "link rtc",
            LinkKind::WebSocket => "link ws",
        };
        let _ = write!(
            svg,
            r#"<line class="{class}" x1="{mx}" y1="{my}" x2="{x}" y2="{y}"/>"#
        );
    }

    // The last lookup's route: through the reported path, else straight to
    // the owner.
    if let Some(r) = &view.route {
        let mut pts = format!("{mx},{my}");
        for hop in r.path.iter().chain(core::iter::once(&r.owner)) {
            if *hop == view.id {
                continue;
            }
            let (x, y) = point(hop);
            let _ = write!(pts, " {},{}", P(x), P(y));
        }
        let _ = write!(
            svg,
            r#"<polyline class="route" points="{pts}" marker-end="url(#arrow)"/>"#
        );
    }

    for (id, r) in roles.iter() {
        let relayed = view.is_relayed(id);
        let (xf, yf) = point(id);
        let (x, y) = (P(xf), P(yf));
        let mut label = Vec::new();
        if r.me {
            label.push("this node");
        }
        if r.predecessor {
            label.push("predecessor");
        }
        if r.successor {
            label.push("successor");
        }
        if r.finger {
            label.push("finger");
        }
        match r.link {
            Some(LinkKind::WebRtc) if relayed => label.push("WebRTC link, relayed"),
            Some(LinkKind::WebRtc) => label.push("WebRTC link, direct"),
            Some(LinkKind::WebSocket) => label.push("WebSocket link (server)"),
            None => {}
        }
        if r.owner {
            label.push("lookup owner");
        }
        let title = format!("{} — {}", short(id), label.join(", "));
        let _ = write!(svg, "<g><title>{title}</title>");
        if r.finger {
            let _ = write!(svg, r#"<circle class="finger" cx="{x}" cy="{y}" r="11"/>"#);
        }
        if r.owner {
            let _ = write!(svg, r#"<circle class="owner" cx="{x}" cy="{y}" r="15"/>"#);
        }
        if r.me {
            let _ = write!(svg, r#"<circle class="me" cx="{x}" cy="{y}" r="9"/>"#);
            let _ = write!(
                svg,
                r#"<text class="you" x="{}" y="{}">you</text>"#,
                P(CENTER + (xf - CENTER) * 1.22),
                P(CENTER + (yf - CENTER) * 1.22 + 4.0)
            );
        } else if r.predecessor {
            // A diamond: the predecessor is the one node behind us.
            let _ = write!(
                svg,
                r#"<path class="pred" d="M{x} {}L{} {y}L{x} {}L{} {y}Z"/>"#,
                P(yf - 8.0),
                P(xf + 8.0),
                P(yf + 8.0),
                P(xf - 8.0)
            );
        } else if r.successor {
            let _ = write!(
                svg,
                r#"<rect class="succ" x="{}" y="{}" width="12" height="12"/>"#,
                P(xf - 6.0),
                P(yf - 6.0)
            );
        } else {
            let _ = write!(svg, r#"<circle class="node" cx="{x}" cy="{y}" r="5"/>"#);
        }
        svg.push_str("</g>");
    }
    svg
}

/// A one-sentence description of the picture for screen readers.
pub fn ring_summary(view: &View) -> String {
    format!(
        "Ring view: {} successors, {} fingers, {} WebRTC links, {} WebSocket links{}.",
        view.successors.len(),
        view.fingers.len(),
        view.count(LinkKind::WebRtc),
        view.count(LinkKind::WebSocket),
        if view.predecessor.is_some() {
            ", a predecessor"
        } else {
            ", no predecessor"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::Route;
    use chordphone_overlay::Id;

    #[test]
    fn every_role_is_drawn_and_positions_follow_ids() {
        let me = Id::from_u64_top(0);
        let mut v = View::new(me);
        let (a, b, c) = (
            Id::from_u64_top(1 << 62),
            Id::from_u64_top(1 << 63),
            Id::from_u64_top(3 << 62),
        );
        v.predecessor = Some(c);
        v.successors = vec![a, b];
        v.fingers = vec![a, b];
        v.peers = vec![(a, LinkKind::WebRtc), (b, LinkKind::WebSocket)];
        v.route = Some(Route {
            key: "k".into(),
            owner: b,
            path: vec![a],
            hops: 2,
            ms: 3.0,
        });
        let svg = ring_svg(&v);
        for class in [
            "me", "pred", "succ", "finger", "link rtc", "link ws", "route", "owner",
        ] {
            assert!(svg.contains(&format!("class=\"{class}\"")), "{class}");
        }
        // Id 0 at the top, a quarter turn to the right, half a turn at the bottom.
        let (x, y) = point(&me);
        assert!((x - CENTER).abs() < 0.01 && (y - (CENTER - RADIUS)).abs() < 0.01);
        let (x, _) = point(&a);
        assert!((x - (CENTER + RADIUS)).abs() < 0.01);
        let (_, y) = point(&b);
        assert!((y - (CENTER + RADIUS)).abs() < 0.01);
        assert!(ring_summary(&v).contains("1 WebRTC links"));
    }

    #[test]
    fn coordinates_keep_one_decimal() {
        assert_eq!(P(0.0).to_string(), "0.0");
        assert_eq!(P(12.34).to_string(), "12.3");
        assert_eq!(P(12.36).to_string(), "12.4");
        assert_eq!(P(-3.0).to_string(), "0.0");
    }
}
