//! Which IP addresses a relay or a dialling server must not reach on a
//! stranger's behalf: an open relay or dialler is a way into the network
//! it runs in (loopback services, private ranges, cloud metadata).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The class of an address, for policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// This host (127.0.0.0/8, ::1).
    Loopback,
    /// Not routed on the Internet: RFC 1918, carrier-grade NAT, link-local,
    /// unique local, unspecified, multicast, broadcast, "this network".
    Private,
    /// Anything else.
    Public,
}

/// The scope of `ip`; IPv4-mapped IPv6 addresses count as their IPv4 form.
pub fn scope(ip: IpAddr) -> Scope {
    match canonical(ip) {
        IpAddr::V4(v4) => scope_v4(v4),
        IpAddr::V6(v6) => scope_v6(v6),
    }
}

/// `ip`, with an IPv4-mapped IPv6 address turned into IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn scope_v4(ip: Ipv4Addr) -> Scope {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Scope::Loopback
    } else if ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT.
        || (a == 100 && (b & 0xC0) == 64)
        // 240.0.0.0/4, reserved.
        || a >= 240
    {
        Scope::Private
    } else {
        Scope::Public
    }
}

fn scope_v6(ip: Ipv6Addr) -> Scope {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Scope::Loopback
    } else if ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local.
        || (first & 0xFE00) == 0xFC00
        || (first & 0xFFC0) == 0xFE80
    {
        Scope::Private
    } else {
        Scope::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let s = |t: &str| scope(t.parse().unwrap());
        assert_eq!(s("127.0.0.1"), Scope::Loopback);
        assert_eq!(s("::1"), Scope::Loopback);
        assert_eq!(s("::ffff:127.0.0.1"), Scope::Loopback);
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "fd00::2",
            "fe80::1",
            "::",
            "::ffff:10.0.0.1",
        ] {
            assert_eq!(s(private), Scope::Private, "{private}");
        }
        for public in ["192.0.2.2", "8.8.8.8", "100.128.0.1", "2001:db8::1"] {
            assert_eq!(s(public), Scope::Public, "{public}");
        }
    }
}
