//! The outbound network guard (SPEC invariant 9): every address a connector reaches goes through
//! a [`NetPolicy`], which refuses loopback, private, link-local (including cloud metadata),
//! shared (CGNAT), multicast, broadcast, reserved and unspecified addresses — and their IPv6
//! embeddings — unless the operator allow-listed them in `[execution] outbound_allow`.
//!
//! Addresses are checked *after* DNS resolution (the resolver of [`NetPolicy::http_client`]
//! drops refused addresses, so a name pointing at 127.0.0.1 is refused before any packet is
//! sent) and on every redirect hop. reqwest connects to IP-literal hosts without asking the
//! resolver, so callers check the first URL with [`NetPolicy::check_url`]; the redirect policy
//! checks literal hops itself. This module must never open a connection to a refused address,
//! and never goes through an HTTP proxy (a proxy would resolve names itself).

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The end of every refusal message.
const HOW_TO_ALLOW: &str = "allow it in [execution] outbound_allow if intended";

/// Redirect hops a following client takes at most.
pub const MAX_REDIRECTS: usize = 3;

/// An address the policy refuses; the message names it, says why, and how to allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Why a name could not be turned into addresses that may be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    /// Every address is refused by the policy: never going to work.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// DNS failed: may work later.
    #[error("cannot resolve {host}: {message}")]
    Lookup { host: String, message: String },
}

/// One allow-list entry: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not an IP address or CIDR (e.g. 10.0.0.0/8, ::1)");
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(bad());
        }
        Ok(Self { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The IPv4 address an IPv6 address stands for: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) or 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new(
        ip.octets()[12],
        ip.octets()[13],
        ip.octets()[14],
        ip.octets()[15],
    );
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && u128::from(ip) > 1 {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [169, 254, 169, 254] => "link-local (cloud metadata)",
        [0, 0, 0, 0] => "unspecified",
        [0, ..] => "in 0.0.0.0/8 (this network)",
        [127, ..] => "loopback",
        [10, ..] => "private",
        [172, b, ..] if (16..32).contains(&b) => "private",
        [192, 168, ..] => "private",
        [169, 254, ..] => "link-local",
        [100, b, ..] if (64..128).contains(&b) => "shared address space (CGNAT)",
        [255, 255, 255, 255] => "broadcast",
        [a, ..] if (224..240).contains(&a) => "multicast",
        [a, ..] if a >= 240 => "reserved",
        _ => return None,
    })
}

/// Why `ip` may not be reached by default, or `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if let Some(v4) = embedded_v4(v6) {
                classify_v4(v4).map(|_| "an IPv6 form of a refused IPv4 address")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private (unique local)")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if first & 0xffc0 == 0xfec0 {
                Some("site-local")
            } else if first & 0xff00 == 0xff00 {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

/// "10.0.0.1 is private", "::ffff:10.0.0.1 is an IPv6 form of 10.0.0.1, which is private".
fn what(ip: IpAddr, why: &str) -> String {
    let inner = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).and_then(|v4| Some((v4, classify_v4(v4)?))),
        IpAddr::V4(_) => None,
    };
    match inner {
        Some((v4, inner_why)) => format!("{ip} is an IPv6 form of {v4}, which is {inner_why}"),
        None => format!("{ip} is {why}"),
    }
}

/// The allow-list, shared by the policy, its resolver and its redirect policy.
#[derive(Debug, Clone, Default)]
struct Guard {
    allow: Arc<Vec<Cidr>>,
}

impl Guard {
    fn allowed(&self, ip: IpAddr) -> bool {
        let v4 = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow
            .iter()
            .any(|c| c.contains(ip) || v4.is_some_and(|v4| c.contains(v4)))
    }

    /// Why `ip` is refused, or `None` when it may be reached.
    fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        classify(ip).filter(|_| !self.allowed(ip))
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match self.refusal(ip) {
            Some(why) => Err(Refused(format!("{}; {HOW_TO_ALLOW}", what(ip, why)))),
            None => Ok(()),
        }
    }

    fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!(
                "scheme `{}` is not allowed: use http or https",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Refused("the address has no host".into()))?;
        match host.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => self.check_ip(ip),
            Err(_) => Ok(()),
        }
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Blocked> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| Blocked::Lookup {
                host: host.to_string(),
                message: e.to_string(),
            })?;
        let mut kept = Vec::new();
        let mut first_refusal = None;
        for addr in found {
            match self.refusal(addr.ip()) {
                None => kept.push(addr),
                Some(why) => {
                    first_refusal.get_or_insert((addr.ip(), why));
                }
            }
        }
        match (kept.is_empty(), first_refusal) {
            (false, _) => Ok(kept),
            (true, Some((ip, why))) => Err(Refused(format!(
                "{host} resolves only to refused addresses: {}; {HOW_TO_ALLOW}",
                what(ip, why)
            ))
            .into()),
            (true, None) => Err(Blocked::Lookup {
                host: host.to_string(),
                message: "no addresses".into(),
            }),
        }
    }
}

/// reqwest's resolver for guarded clients: resolves with the system resolver, keeps only the
/// addresses the policy allows.
struct GuardedResolver(Guard);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            match guard.resolve(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                // The refusal itself goes in the error chain, where `refusal` finds it.
                Err(Blocked::Refused(r)) => Err(r.into()),
                Err(lookup) => Err(lookup.into()),
            }
        })
    }
}

type ClientKey = (Duration, bool);

/// Which addresses connectors may reach. Cheap to clone; clones share a cache of HTTP clients.
#[derive(Clone, Default)]
pub struct NetPolicy {
    guard: Guard,
    clients: Arc<Mutex<HashMap<ClientKey, reqwest::Client>>>,
}

impl std::fmt::Debug for NetPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allow: Vec<String> = self
            .guard
            .allow
            .iter()
            .map(|c| format!("{}/{}", c.net, c.prefix))
            .collect();
        f.debug_struct("NetPolicy").field("allow", &allow).finish()
    }
}

impl NetPolicy {
    /// Builds the policy from the operator's allow-list of IPs and CIDRs; the error names the
    /// first entry that is neither.
    pub fn new(allow: &[String]) -> Result<Self, String> {
        let cidrs = allow
            .iter()
            .map(|e| Cidr::parse(e.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            guard: Guard {
                allow: Arc::new(cidrs),
            },
            clients: Arc::default(),
        })
    }

    /// `Ok` when `ip` may be reached: a public address, or one the operator allowed.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        self.guard.check_ip(ip)
    }

    /// Checks what can be checked of a URL without I/O: the scheme is http or https, and an
    /// IP-literal host is allowed. Names are checked when the client resolves them.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
        self.guard.check_url(&parsed).map_err(|r| r.0)
    }

    /// Resolves `host` (a name or an IP literal) and keeps the allowed addresses; for
    /// connectors that open their own sockets (postgres).
    pub async fn resolve_checked(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        self.resolve(host, port).await.map_err(|e| e.to_string())
    }

    /// Like [`Self::resolve_checked`], telling a refusal (permanent) from a DNS failure.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Blocked> {
        self.guard.resolve(host, port).await
    }

    /// An HTTP client (rustls, no proxy) whose resolver refuses disallowed addresses and which,
    /// when `follow_redirects`, follows at most [`MAX_REDIRECTS`] hops, each checked. Callers
    /// check the first URL with [`Self::check_url`]: literal IPs bypass the resolver.
    /// Clients are cached per `(timeout, follow_redirects)`.
    pub fn http_client(&self, timeout: Duration, follow_redirects: bool) -> reqwest::Client {
        self.try_http_client(timeout, follow_redirects)
            .expect("the TLS backend of the HTTP client initialises")
    }

    /// [`Self::http_client`], returning the (TLS initialisation) error instead of panicking.
    pub fn try_http_client(
        &self,
        timeout: Duration,
        follow_redirects: bool,
    ) -> Result<reqwest::Client, String> {
        let key = (timeout, follow_redirects);
        if let Some(c) = self.lock_clients().get(&key) {
            return Ok(c.clone());
        }
        let client = self.new_client(timeout, follow_redirects)?;
        self.lock_clients().insert(key, client.clone());
        Ok(client)
    }

    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, reqwest::Client>> {
        self.clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn new_client(&self, timeout: Duration, follow: bool) -> Result<reqwest::Client, String> {
        let redirect = if follow {
            let guard = self.guard.clone();
            reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    let msg = format!("more than {MAX_REDIRECTS} redirects");
                    return attempt.error(msg);
                }
                match guard.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refused) => attempt.error(refused),
                }
            })
        } else {
            reqwest::redirect::Policy::none()
        };
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .dns_resolver(Arc::new(GuardedResolver(self.guard.clone())))
            .redirect(redirect)
            .no_proxy()
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))
    }
}

/// The policy's refusal somewhere in `err`'s chain of causes, if the error is one.
pub fn refusal<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a Refused> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        if let Some(Blocked::Refused(r)) = e.downcast_ref::<Blocked>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}
