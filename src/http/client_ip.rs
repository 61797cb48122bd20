//! Who the client is: the socket peer, or what a trusted proxy says.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client's IP address: the socket peer, or the right-most address of
/// `X-Forwarded-For` that is not a trusted proxy, when the peer is one.
///
/// `forwarded_for` is every `X-Forwarded-For` line in order: a proxy may
/// append its own line rather than extend the client's, so the lines are
/// one list and the walk starts from the last. An IPv4 address seen
/// through a dual-stack socket (`::ffff:a.b.c.d`) is compared as IPv4.
pub fn client_ip<'a>(
    trusted_proxies: &[IpNet],
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
) -> IpAddr {
    let trusted = |ip: &IpAddr| trusted_proxies.iter().any(|n| n.contains(ip));
    let peer = peer.to_canonical();
    if !trusted(&peer) {
        return peer;
    }
    let lines: Vec<&str> = forwarded_for.into_iter().collect();
    let mut client = peer;
    for hop in lines.iter().rev().flat_map(|line| line.rsplit(',')) {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip.to_canonical();
                if !trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ip_trusts_only_configured_proxies() {
        let mut trusted: Vec<IpNet> = Vec::new();
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let xff = Some("203.0.113.9, 10.0.0.4");
        assert_eq!(client_ip(&trusted, peer, xff), peer);
        trusted = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_ip(&trusted, peer, xff),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&trusted, peer, Some("garbage")), peer);
    }

    #[test]
    fn client_ip_reads_every_forwarded_for_line() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        // the client forged the first line; the proxy appended its own
        let lines = ["1.2.3.4", "203.0.113.9"];
        assert_eq!(
            client_ip(&trusted, peer, lines),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let lines = ["1.2.3.4", "203.0.113.9, 10.0.0.4"];
        assert_eq!(
            client_ip(&trusted, peer, lines),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // the walk crosses lines while the hops are trusted proxies
        let lines = ["198.51.100.7", "10.0.0.4"];
        assert_eq!(
            client_ip(&trusted, peer, lines),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        // an unreadable line stops the walk, like any unparsable hop
        assert_eq!(client_ip(&trusted, peer, ["198.51.100.7", ""]), peer);
    }

    #[test]
    fn client_ip_compares_ipv4_mapped_addresses_as_ipv4() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // an IPv4 proxy seen by a dual-stack listener
        let peer: IpAddr = "::ffff:10.0.0.5".parse().unwrap();
        assert_eq!(
            client_ip(&trusted, peer, Some("203.0.113.9, ::ffff:10.0.0.4")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // a mapped client address comes back as IPv4
        assert_eq!(
            client_ip(&trusted, peer, Some("::ffff:203.0.113.9")),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let direct: IpAddr = "::ffff:198.51.100.1".parse().unwrap();
        assert_eq!(
            client_ip(&trusted, direct, None),
            "198.51.100.1".parse::<IpAddr>().unwrap()
        );
    }
}
