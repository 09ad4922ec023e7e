//! `NO_PROXY` as curl, requests and Go read it, for a proxy taken from the environment.
//!
//! ureq matches `NO_PROXY` more strictly than the tools that set it up: entries are not
//! trimmed (`localhost, 127.0.0.1` never matches `127.0.0.1`), a name matches that host only
//! (`example.com` does not cover `api.example.com`), and there are no address ranges
//! (`10.0.0.0/8`, as Kubernetes and cloud images set it) and no unbracketed IPv6 addresses
//! (`::1`). A request to such a host went to the proxy, which refused it or could not reach an
//! internal name. The session reads `NO_PROXY` again, as those tools do, and sends the hosts
//! it names direct, as well as those ureq's own matching exempts.
//!
//! The choice was between this and rebuilding the environment's proxy with ureq's
//! `Proxy::builder(..).no_proxy(..)` and rewritten entries: that cannot express address
//! ranges, and a proxy so rebuilt is no longer "from the environment", which ureq treats
//! apart in places.

use std::net::IpAddr;

use ureq::http::Uri;

/// The proxy a session takes from the environment in place of ureq's choice, when the program
/// runs as a CGI script (`REQUEST_METHOD` is set) and ureq would take `HTTP_PROXY`; `None`
/// when that rule does not apply.
///
/// "httpoxy": a CGI server puts each request header into the environment as `HTTP_<NAME>`, so
/// a client's `Proxy:` header arrives as `HTTP_PROXY`, and a program that honours it sends its
/// requests, credentials and all, to whoever sent that header. As Go and Python do there (and
/// curl always), `HTTP_PROXY` is then ignored; the lower-case `http_proxy`, which no request
/// can set, still serves (`Some(None)` without it, and on Windows, where it is the same
/// variable: no proxy).
pub(crate) fn cgi_env_proxy() -> Option<Option<ureq::Proxy>> {
    std::env::var_os("REQUEST_METHOD")?;
    let proxy = |name: &str| {
        let value = std::env::var(name).ok()?;
        ureq::Proxy::new(&value).ok()
    };
    // ureq's order (`Proxy::try_from_env`): the first that parses serves. Past `HTTP_PROXY`
    // the rule does not apply.
    let chosen = PROXY_VARIABLES
        .into_iter()
        .take_while(|&name| name != "http_proxy")
        .find(|name| proxy(name).is_some())?;
    if chosen != "HTTP_PROXY" {
        return None;
    }
    // Windows reads variable names in any case: there `http_proxy` is `HTTP_PROXY`.
    if cfg!(windows) {
        return Some(None);
    }
    Some(proxy("http_proxy"))
}

/// The variables ureq takes a proxy from, in its order (`Proxy::try_from_env`).
const PROXY_VARIABLES: [&str; 6] = [
    "ALL_PROXY",
    "all_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// Why the environment's proxy cannot serve as it is written, when a session would go direct
/// or to the wrong host because of it: `None` when it is fine, or when no proxy is set.
///
/// ureq skips a variable it cannot read as a URL (a space in the password, which requests
/// takes as it is) and goes direct when none can be read: the requests would bypass the proxy
/// the environment names, without a word. A `#`, `/` or `?` in the password ends the URL's
/// authority early, so that ureq reads the user name as the proxy's host. Either way the
/// session refuses the requests the proxy would serve, saying what to fix.
pub(crate) fn env_proxy_problem() -> Option<String> {
    let mut unreadable = None;
    // In a CGI script `HTTP_PROXY` is a client's `Proxy:` header ("httpoxy", see
    // `cgi_env_proxy`): it must not decide anything, not even a refusal.
    // (On Windows variable names have no case: `http_proxy` is that variable too.)
    let cgi = std::env::var_os("REQUEST_METHOD").is_some();
    let client_set = |n: &str| n == "HTTP_PROXY" || (cfg!(windows) && n == "http_proxy");
    for name in PROXY_VARIABLES
        .into_iter()
        .filter(|&n| !(cgi && client_set(n)))
    {
        let Some(value) = std::env::var(name).ok().filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        match ureq::Proxy::new(&value) {
            Ok(_) => return misread(name, &value),
            Err(_) => {
                unreadable.get_or_insert((name, value.contains('@')));
            }
        }
    }
    unreadable.map(|(name, credentials)| {
        // Credentials with a character a URL cannot hold as it is, or no proxy URL at all.
        let fix = match credentials {
            true => ESCAPE_CREDENTIALS,
            false => "write it as a proxy URL, as in http://proxy.example:3128",
        };
        format!(
            "{name} is set, but not to a proxy URL that can be read (the requests would go \
             direct): {fix}, or go direct with SessionBuilder::proxy(None)"
        )
    })
}

/// The fix for credentials that a proxy URL cannot hold as they are.
const ESCAPE_CREDENTIALS: &str = "percent-encode its user name and password (a space as %20, \
    `#` as %23, `/` as %2F, `?` as %3F, `@` as %40, `:` in the user name as %3A)";

/// Why the proxy URL `value` of the variable `name` is misread: a `#`, `/` or `?` within its
/// credentials ended the authority early, so that what is read as the host is part of them.
/// Told by an `@` past that end, and either an `@` before it too (credentials that also hold
/// an unescaped `@`: `user:p@ss#x@host`) or a port that is not a number (`user:pa#ss@host`,
/// read as host `user`, port `pa`). Not told apart: a password that starts with digits before
/// the character (`user:12#x@host`), or a user name that holds it with no `:` after; and a
/// proxy URL with credentials and an `@` in its path is taken for a cut one (no proxy needs a
/// path).
fn misread(name: &str, value: &str) -> Option<String> {
    let rest = value.split_once("://").map_or(value, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#'])?;
    let (authority, after) = rest.split_at(end);
    // The port: after the `]` of an IPv6 address, else after the last `:`.
    let port = match authority.rsplit_once(']') {
        Some((_, tail)) => tail.strip_prefix(':'),
        None => authority.rsplit_once(':').map(|(_, port)| port),
    };
    let odd_port = port.is_some_and(|p| !p.is_empty() && !p.bytes().all(|b| b.is_ascii_digit()));
    let cut = after.contains('@') && (authority.contains('@') || odd_port);
    cut.then(|| {
        format!(
            "{name} names a proxy whose user name or password holds a character that ends \
             it early, so that it reads as the host: {ESCAPE_CREDENTIALS}, or go direct \
             with SessionBuilder::proxy(None)"
        )
    })
}

/// The hosts a proxy from the environment does not serve.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NoProxy {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// `*`: every host.
    All,
    /// A name (lower case, without a leading `.` or `*.`): the host itself and its subdomains,
    /// on `port` only if one was given.
    Name(String, Option<u16>),
    /// An address, or a range of them (`10.0.0.0/8`, `fd00::/8`): hosts written as addresses
    /// only, as curl matches them (a name is not resolved to find out).
    Net(IpAddr, u8, Option<u16>),
}

impl NoProxy {
    /// The environment's `no_proxy` (or `NO_PROXY`), as curl looks them up: the lower-case
    /// name first, and an empty value counts as unset (`NO_PROXY=""` does not hide a
    /// `no_proxy` list); `None` when neither is set or the list is empty.
    pub(crate) fn from_env() -> Option<NoProxy> {
        let value = ["no_proxy", "NO_PROXY"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))?;
        NoProxy::parse(&value)
    }

    /// Entries separated by commas or white space; one that is not understood is skipped.
    pub(crate) fn parse(value: &str) -> Option<NoProxy> {
        let entries: Vec<Entry> = value
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter_map(Entry::parse)
            .collect();
        (!entries.is_empty()).then_some(NoProxy { entries })
    }

    /// Whether a request to `uri` goes direct.
    pub(crate) fn matches(&self, uri: &Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addr = bare.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| match entry {
            Entry::All => true,
            // A name is not an address's: `192.168` does not cover `10.0.192.168`.
            Entry::Name(name, want) => {
                addr.is_none()
                    && want.is_none_or(|p| p == port)
                    && host
                        .strip_suffix(name.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
            }
            Entry::Net(net, bits, want) => {
                want.is_none_or(|p| p == port) && addr.is_some_and(|a| in_net(a, *net, *bits))
            }
        })
    }
}

impl Entry {
    fn parse(text: &str) -> Option<Entry> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if text == "*" {
            return Some(Entry::All);
        }
        // An address range, or an address: `10.0.0.0/8`, `::1`, `[::1]`, `[::1]:8080`,
        // `127.0.0.1:8080`.
        if let Some((addr, bits)) = text.split_once('/') {
            let addr: IpAddr = addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()?;
            let bits: u8 = bits.parse().ok()?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            return (bits <= max).then_some(Entry::Net(addr, bits, None));
        }
        if let Ok(addr) = text.parse::<IpAddr>() {
            return Some(Entry::Net(addr, full(addr), None));
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                (host, Some(port.parse::<u16>().ok()?))
            }
            _ => (text, None),
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = bare.parse::<IpAddr>() {
            return Some(Entry::Net(addr, full(addr), port));
        }
        let name = host
            .trim_start_matches("*.")
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        // Other wildcards (`*example.com`, `10.*`) are ureq's to match.
        (!name.is_empty() && !name.contains(['*', '/', '[', ']']))
            .then_some(Entry::Name(name, port))
    }
}

/// The prefix length of a single address.
fn full(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// Whether `addr` is in `net`/`bits` (an IPv4 address in its IPv6-mapped form counts as the
/// IPv4 address).
fn in_net(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    // So is an entry in that form (`::ffff:10.0.0.1`, `::ffff:10.0.0.0/104`): it matches the
    // mapped host as curl matches it, and the IPv4 host too (curl's does not), which it names.
    let (net, bits) = match net {
        IpAddr::V6(v6) if bits >= 96 => v6
            .to_ipv4_mapped()
            .map_or((net, bits), |v4| (IpAddr::V4(v4), bits - 96)),
        _ => (net, bits),
    };
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_that_ends_the_authority_early_is_told_from_an_at_in_the_path() {
        for cut in [
            "socks5://user:pa#ss@127.0.0.1:1080",
            "http://user:pa/ss@proxy:3128",
            "http://user:pa?ss@proxy",
            "http://user:p@ss#x@host:3128",
            "http://us@er:pa/ss@host:3128",
        ] {
            assert!(misread("HTTPS_PROXY", cut).is_some(), "{cut}");
        }
        for fine in [
            "http://proxy:3128/a@b",
            "http://[::1]/a@b",
            "http://[fe80::1]:3128/x?y@z",
            "http://u:p@proxy:3128",
            "http://proxy:3128",
            "proxy:3128",
        ] {
            assert!(misread("HTTPS_PROXY", fine).is_none(), "{fine}");
        }
    }

    fn direct(list: &str, url: &str) -> bool {
        NoProxy::parse(list).is_some_and(|n| n.matches(&url.parse().unwrap()))
    }

    #[test]
    fn entries_are_trimmed_and_split_by_commas_or_spaces() {
        let list = "localhost, 127.0.0.1 ,  internal.example  other";
        for url in [
            "http://localhost:8080/",
            "http://127.0.0.1/",
            "https://internal.example/",
            "http://other/",
        ] {
            assert!(direct(list, url), "{url}");
        }
        assert!(!direct(list, "http://127.0.0.2/"));
        assert!(NoProxy::parse(" , ,").is_none());
    }

    #[test]
    fn a_name_covers_its_subdomains_with_or_without_a_leading_dot() {
        for list in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
        ] {
            for url in [
                "https://example.com/",
                "https://api.example.com/",
                "https://A.B.Example.COM./",
            ] {
                assert!(direct(list, url), "{list} {url}");
            }
            for url in ["https://badexample.com/", "https://example.com.evil/"] {
                assert!(!direct(list, url), "{list} {url}");
            }
        }
    }

    #[test]
    fn address_ranges_and_ipv6_addresses_match_addresses_only() {
        let list = "10.0.0.0/8,fd00::/8,::1,192.168.1.7";
        for url in [
            "http://10.1.2.3/",
            "http://[fd12::1]:8080/",
            "http://[::1]/",
            "http://192.168.1.7/",
            "http://[::ffff:10.0.0.1]/",
        ] {
            assert!(direct(list, url), "{url}");
        }
        for url in [
            "http://11.0.0.1/",
            "http://[fe80::1]/",
            "http://192.168.1.8/",
            "http://ten.internal/",
        ] {
            assert!(!direct(list, url), "{url}");
        }
        assert!(direct("0.0.0.0/0", "http://8.8.8.8/"));
        assert!(NoProxy::parse("10.0.0.0/33").is_none());
        // A name entry (here one that looks like the start of an address) covers no address.
        for url in ["http://10.0.192.168/", "http://192.168.0.1/"] {
            assert!(!direct("192.168,0.192.168", url), "{url}");
        }
    }

    #[test]
    fn an_entry_with_a_port_matches_that_port_only() {
        let list = "localhost:8080,[::1]:9000,127.0.0.1:443";
        assert!(direct(list, "http://localhost:8080/"));
        assert!(!direct(list, "http://localhost:8081/"));
        assert!(!direct(list, "http://localhost/"));
        assert!(direct(list, "http://[::1]:9000/"));
        assert!(!direct(list, "http://[::1]:9001/"));
        assert!(direct(list, "https://127.0.0.1/"));
        assert!(!direct(list, "http://127.0.0.1/"));
        assert!(NoProxy::parse("localhost:http").is_none());
    }

    #[test]
    fn a_star_alone_matches_everything_and_other_wildcards_are_left_to_ureq() {
        assert!(direct("*", "https://anything.example/"));
        assert!(NoProxy::parse("*example.com,10.*").is_none());
    }

    #[test]
    fn an_ipv4_mapped_entry_matches_its_address_in_either_form() {
        let list = NoProxy::parse("::ffff:10.0.0.1,::ffff:192.168.0.0/112").unwrap();
        for url in [
            "http://[::ffff:10.0.0.1]/",
            "http://10.0.0.1/",
            "http://192.168.3.4/",
        ] {
            assert!(list.matches(&url.parse().unwrap()), "{url}");
        }
        assert!(!list.matches(&"http://10.0.0.2/".parse().unwrap()));
        assert!(!list.matches(&"http://192.169.0.1/".parse().unwrap()));
    }
}
