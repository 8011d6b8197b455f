//! No server-side request forgery: every URL an admin can set (today the budget-alert
//! webhook) is resolved once at use, each address checked, and the connection pinned to the
//! checked address (so a DNS answer that changes between check and connect cannot swap it).
//! Loopback, private (RFC 1918, unique-local IPv6), link-local, cloud metadata and other
//! non-public addresses are refused unless `edge.outbound_allow` lists them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

/// A network in CIDR notation (`127.0.0.1/32`, `fd00::/8`), matching IPv4-mapped IPv6
/// addresses as the IPv4 address they map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        s.trim().parse().ok().map(Cidr)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&canonical(ip))
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is the IPv4 address it maps: checked as
/// such, or it would slip past every IPv4 rule.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Why an address may not be reached from an admin-set URL, or `None` for a public address.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match canonical(ip) {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    Some(match () {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "metadata",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_private() => "private",
        _ if ip.is_link_local() => "link_local",
        _ if ip.is_unspecified() || a == 0 => "unspecified",
        // Carrier-grade NAT (100.64.0.0/10): not the public internet either.
        _ if a == 100 && (64..128).contains(&b) => "private",
        _ if ip.is_multicast() || ip.is_broadcast() || a >= 240 => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(match () {
        // AWS's IPv6 metadata endpoint (inside the unique-local range, named for the log).
        _ if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) => "metadata",
        _ if ip.is_loopback() => "loopback",
        _ if ip.is_unspecified() => "unspecified",
        _ if first & 0xfe00 == 0xfc00 => "private",
        _ if first & 0xffc0 == 0xfe80 => "link_local",
        _ if ip.is_multicast() => "reserved",
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("the URL has no host")]
    NoHost,
    #[error("the host did not resolve: {0}")]
    Resolve(#[source] std::io::Error),
    #[error("the host resolves to {ip}, a {kind} address not in edge.outbound_allow")]
    Forbidden { ip: IpAddr, kind: &'static str },
    #[error("no HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// The outbound policy: what `edge.outbound_allow` lets through besides public addresses.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    allow: Vec<Cidr>,
}

impl Outbound {
    /// From the config's allow-list (validated at load; an entry that does not parse allows
    /// nothing, so a typo never widens the policy).
    pub fn new(allow: &[String]) -> Outbound {
        Outbound {
            allow: allow.iter().filter_map(|s| Cidr::parse(s)).collect(),
        }
    }

    fn check(&self, ip: IpAddr) -> Result<(), OutboundError> {
        match forbidden(ip) {
            Some(kind) if !self.allow.iter().any(|c| c.contains(ip)) => {
                Err(OutboundError::Forbidden { ip, kind })
            }
            _ => Ok(()),
        }
    }

    /// Resolve `url`'s host once and check every address it resolves to (one bad address
    /// refuses it: a name that also points inside is not trusted for any of them).
    pub async fn pin(&self, url: &reqwest::Url) -> Result<SocketAddr, OutboundError> {
        let host = url.host_str().ok_or(OutboundError::NoHost)?;
        let port = url.port_or_known_default().ok_or(OutboundError::NoHost)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(OutboundError::Resolve)?
                .collect(),
        };
        for a in &addrs {
            self.check(a.ip())?;
        }
        addrs
            .first()
            .copied()
            .ok_or(OutboundError::Resolve(std::io::Error::other(
                "no addresses",
            )))
    }

    /// A client for one delivery to `url`, connecting only to the checked address: DNS pinned,
    /// no redirects (a redirect would be a second, unchecked URL), no proxy from the
    /// environment.
    pub async fn client(
        &self,
        url: &reqwest::Url,
        timeout: Duration,
    ) -> Result<reqwest::Client, OutboundError> {
        let addr = self.pin(url).await?;
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(host) = url.host_str() {
            b = b.resolve(host, addr);
        }
        b.build().map_err(OutboundError::Client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn inside_addresses_are_classified() {
        for (a, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("169.254.1.1", "link_local"),
            ("169.254.169.254", "metadata"),
            ("0.0.0.0", "unspecified"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fe80::1", "link_local"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fd00:ec2::254", "metadata"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "metadata"),
            ("224.0.0.1", "reserved"),
        ] {
            assert_eq!(forbidden(ip(a)), Some(kind), "{a}");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
        ] {
            assert_eq!(forbidden(ip(a)), None, "{a}");
        }
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c = Cidr::parse("127.0.0.1/32").unwrap();
        assert!(c.contains(ip("127.0.0.1")));
        assert!(c.contains(ip("::ffff:127.0.0.1")));
        assert!(!c.contains(ip("127.0.0.2")));
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.255.0.1")) && !c.contains(ip("11.0.0.1")));
        let c = Cidr::parse("fd00::/8").unwrap();
        assert!(c.contains(ip("fd00:ec2::254")) && !c.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("1.2.3.4")));
        for bad in ["127.0.0.1", "127.0.0.1/33", "::1/129", "x/8", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn loopback_is_refused_unless_allow_listed() {
        let url = reqwest::Url::parse("http://127.0.0.1:9/hook").unwrap();
        let err = Outbound::new(&[]).pin(&url).await.unwrap_err();
        assert!(
            matches!(
                err,
                OutboundError::Forbidden {
                    kind: "loopback",
                    ..
                }
            ),
            "{err}"
        );
        let url6 = reqwest::Url::parse("http://[::1]:9/hook").unwrap();
        assert!(Outbound::new(&[]).pin(&url6).await.is_err());
        let meta = reqwest::Url::parse("http://169.254.169.254/latest").unwrap();
        assert!(Outbound::new(&[]).pin(&meta).await.is_err());
        let allowed = Outbound::new(&["127.0.0.1/32".into()]);
        assert_eq!(
            allowed.pin(&url).await.unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        // A name resolving inside is refused like the address itself.
        let named = reqwest::Url::parse("http://localhost:9/hook").unwrap();
        assert!(Outbound::new(&[]).pin(&named).await.is_err());
    }
}
