//! Server-side request forgery guard for webhook targets: a URL must be
//! `http` or `https`, at most 2048 characters, without user or password,
//! and every address its host resolves to must be a public one. Refused:
//! loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), shared
//! (100.64/10), link-local (169.254/16, fe80::/10), unspecified, multicast,
//! broadcast, reserved, documentation and benchmarking ranges, and IPv6
//! forms that embed such an IPv4 address (mapped, compatible, NAT64).
//! `CAMET_WEBHOOKS_ALLOW_PRIVATE=true` lifts the address rule (tests, or
//! receivers inside the operator's own network).
//!
//! DNS rebinding: the URL is checked at creation and before each delivery,
//! and the HTTP client resolves names through [`GuardedResolver`], which
//! drops refused addresses, so the connection only ever goes to an address
//! that passed the check at that moment.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// How long one name lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Why `ip` may not be a webhook target, or `None` for a public address.
pub fn refused_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified (0.0.0.0/8)",
        (127, _, _) => "loopback",
        (10, _, _) => "private (10.0.0.0/8)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (100, 64..=127, _) => "shared address space (100.64.0.0/10)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast",
        _ if ip.is_broadcast() => "broadcast",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // IPv4-mapped (::ffff:a.b.c.d) and the deprecated IPv4-compatible form.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0; 6] {
        return refused_v4(embedded_v4(&segments));
    }
    // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return refused_v4(embedded_v4(&segments));
    }
    Some(match segments[0] {
        s if s & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        s if s & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        s if s & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        s if s & 0xff00 == 0xff00 => "multicast",
        0x2001 if segments[1] == 0x0db8 => "documentation (2001:db8::/32)",
        0x0100 if segments[1..4] == [0, 0, 0] => "discard-only (100::/64)",
        _ => return None,
    })
}

fn embedded_v4(segments: &[u16; 8]) -> Ipv4Addr {
    let [hi, lo] = [segments[6], segments[7]];
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

/// Checks the form of a webhook URL (not its addresses): http or https, a
/// host, no user or password, at most [`MAX_URL_LEN`] characters.
pub fn parse_url(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_URL_LEN {
        return Err(format!("must be at most {MAX_URL_LEN} characters"));
    }
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".to_owned());
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    Ok(url)
}

/// The outcome of checking a URL's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every address is allowed (at least one).
    Allowed(Vec<SocketAddr>),
    /// The host does not resolve (now).
    Unresolved(String),
}

/// Resolves `url`'s host and checks every address: `Err` names the first
/// refused one. With `allow_private`, no address is refused.
pub async fn check_target(url: &Url, allow_private: bool) -> Result<Target, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(Host::Domain(name)) => match lookup(name, port).await {
            Ok(found) if !found.is_empty() => found,
            Ok(_) => return Ok(Target::Unresolved(format!("{name} has no address"))),
            Err(error) => return Ok(Target::Unresolved(error)),
        },
        None => return Err("the URL names no host".to_owned()),
    };
    if !allow_private {
        for address in &addresses {
            if let Some(reason) = refused_reason(address.ip()) {
                return Err(format!(
                    "the target address {} is {reason}; such targets are refused \
                     (CAMET_WEBHOOKS_ALLOW_PRIVATE)",
                    address.ip()
                ));
            }
        }
    }
    Ok(Target::Allowed(addresses))
}

async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port))).await {
        Ok(Ok(found)) => Ok(found.collect()),
        Ok(Err(error)) => Err(format!("{name} does not resolve: {error}")),
        Err(_) => Err(format!("{name} did not resolve within {} s", LOOKUP_TIMEOUT.as_secs())),
    }
}

/// The HTTP client's resolver: the system's, with refused addresses dropped
/// (unless private targets are allowed). A name left with no address fails
/// the connection.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// `CAMET_WEBHOOKS_ALLOW_PRIVATE`.
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // The connector sets the URL's port on each address.
            let found = lookup(name.as_str(), 0).await?;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allow_private || refused_reason(a.ip()).is_none())
                .collect();
            if kept.is_empty() {
                return Err(format!("{} resolves only to refused addresses", name.as_str()).into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(text: &str) -> bool {
        refused_reason(text.parse().expect("an address")).is_some()
    }

    #[test]
    fn internal_and_special_addresses_are_refused() {
        for address in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.10",
            "198.51.100.7",
            "203.0.113.99",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(refused(address), "{address} must be refused");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(address), "{address} is public");
        }
    }

    #[test]
    fn url_form_is_checked() {
        assert!(parse_url("https://hooks.example.com/camet?x=1").is_ok());
        assert!(parse_url("http://203.0.113.5:8080/").is_ok());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "not a url",
            "https://",
            "javascript:alert(1)",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(parse_url(&long).is_err());
    }

    #[tokio::test]
    async fn literal_and_local_targets_are_refused_unless_allowed() {
        for raw in [
            "http://127.0.0.1:9/",
            "http://[::1]/",
            "http://169.254.169.254/latest",
            "http://localhost:8080/",
        ] {
            let url = parse_url(raw).expect("form");
            let refused = check_target(&url, false).await;
            assert!(refused.is_err(), "{raw}: {refused:?}");
            let allowed = check_target(&url, true).await;
            assert!(matches!(allowed, Ok(Target::Allowed(_))), "{raw}: {allowed:?}");
        }
    }

    proptest! {
        #[test]
        fn a_mapped_address_is_judged_as_its_ipv4_address(octets in any::<[u8; 4]>()) {
            let v4 = Ipv4Addr::from(octets);
            prop_assert_eq!(
                refused_reason(IpAddr::V6(v4.to_ipv6_mapped())).is_some(),
                refused_reason(IpAddr::V4(v4)).is_some()
            );
        }

        #[test]
        fn every_private_ten_slash_eight_address_is_refused(rest in any::<[u8; 3]>()) {
            prop_assert!(refused_reason(IpAddr::V4(Ipv4Addr::new(10, rest[0], rest[1], rest[2]))).is_some());
        }
    }
}
