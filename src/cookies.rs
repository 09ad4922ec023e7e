//! The session's cookie jar (RFC 6265).
//!
//! # Why a jar of our own
//!
//! ureq has one behind its `cookies` feature, but it cannot be switched off per agent: once any
//! crate in a build turns the feature on (cargo unifies features), every agent keeps cookies, so
//! whether a session kept cookies would depend on the rest of the build. The feature also adds
//! about sixty crates (`cookie_store`, `url`, and ICU through `idna`). The jar here is a setting
//! of the session, [`SessionBuilder::cookies`](crate::SessionBuilder::cookies), and needs nothing
//! beyond std. (If another crate does turn on ureq's `cookies` feature, ureq's jar works inside
//! the agent as well, and nothing here can switch it off: ureq 3.5 has no setting for it.)
//!
//! # What it follows
//!
//! RFC 6265 §5 as user agents implement it: `Set-Cookie` parsed as §5.2 says (`Expires`,
//! `Max-Age`, `Domain`, `Path`, `Secure`), except that a pair without `=` is a cookie without a
//! name (`Set-Cookie: flag` comes back as `Cookie: flag`), as RFC 6265bis, browsers and requests
//! take it; a `Domain` that the request's host does not domain-match is refused, and one that
//! names a public suffix (`Domain=com`, `Domain=co.uk`: guessed without the public suffix
//! list, see `is_public_suffix`) makes a host-only cookie, where §5.3 refuses it (a guess
//! wrong about a site's domain then still keeps its login); without `Domain` the cookie is
//! host-only; an IP address only ever matches itself. Cookies go only to hosts that
//! domain-match and paths that path-match (§5.1.3, §5.1.4), `Secure` ones only over https, in
//! the §5.4 order (longer paths first). A `Secure` cookie set over plain http is refused, as
//! RFC 6265bis and browsers do (over `http://localhost` too, which browsers and curl take for a
//! secure origin: a local server that sets `Secure` cookies is reached over https here), and
//! so is a cookie from plain http that would replace, delete or shadow a `Secure` one of the
//! same name (RFC 6265bis §5.7, as browsers and curl do).
//! A cookie named `__Secure-...` must be `Secure`, and one named `__Host-...` also host-only
//! and for `Path=/` (RFC 6265bis §4.1.3, letter case ignored, as browsers do); others with
//! these names are refused, so a server can trust that such a cookie came from a secure answer
//! of its own host. `HttpOnly` and `SameSite` speak of scripts and sites, which a client
//! program has not: they are accepted and ignored.
//!
//! Memory is bounded: at most [`MAX_PER_DOMAIN`] cookies per domain and [`MAX_COOKIES`] in all
//! (RFC 6265 §6.1's minimums); past them the cookie least recently used (set, or sent with a
//! request) goes first, as §5.3 says. A cookie's name and value take
//! up to 4096 bytes, and an attribute value longer than 1024 bytes is ignored (RFC 6265bis
//! §5.6), so that no long `Path` makes a cookie larger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ureq::http::{header, HeaderMap, HeaderValue, Uri};

use crate::Error;

/// Cookies kept per domain at most.
pub(crate) const MAX_PER_DOMAIN: usize = 50;
/// Cookies kept in all at most.
pub(crate) const MAX_COOKIES: usize = 3000;
/// The longest cookie (name and value) kept, as RFC 6265 §6.1 asks to support.
const MAX_COOKIE_SIZE: usize = 4096;
/// The longest attribute value (`Path`, `Domain`...) heeded, as RFC 6265bis §5.6 says.
const MAX_ATTRIBUTE_SIZE: usize = 1024;

/// The latest expiry a [`Cookie`] shows, in seconds since the Unix epoch: 9999-12-31 23:59:59
/// UTC (a `Max-Age` of a trillion seconds is "never" all the same).
const LATEST_EXPIRY: u64 = 253_402_300_799;

#[derive(Debug, Clone)]
struct Stored {
    name: String,
    value: String,
    /// Lower case, without a leading dot.
    domain: String,
    host_only: bool,
    path: String,
    secure: bool,
    /// Seconds since the Unix epoch; `None` for a session cookie.
    expires: Option<i64>,
    /// Order of creation, for §5.4's sort.
    created: u64,
    /// When it was last set or sent, on the jar's clock (see [`tick`]): the cookie least
    /// recently used is the first to go past a bound (§5.3).
    accessed: u64,
}

impl Stored {
    /// Whether it has not expired at `now`.
    fn live(&self, now: i64) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// A session's cookies: those its responses set, sent back with its later requests where RFC
/// 6265 sends them (see [`SessionBuilder::cookies`](crate::SessionBuilder::cookies) for the
/// rules). Reached with
/// [`FuturesSession::cookies`](crate::FuturesSession::cookies); a session built with
/// [`cookies(false)`](crate::SessionBuilder::cookies) has none.
///
/// What requests' `session.cookies` does: read a cookie a login set (on a redirect too, which
/// a script never sees), add one of your own, save and restore them, log out.
///
/// A request that sets its own `Cookie` header sends that header and none of the jar's, as
/// requests does; to send a cookie of your own beside the jar's, [`set`](CookieJar::set) it
/// here.
///
/// # Examples
///
/// ```
/// use ureq_futures::FuturesSession;
///
/// let session = FuturesSession::new();
/// let jar = session.cookies().expect("cookies are on by default");
/// // As if https://example.com/ had answered with this `Set-Cookie` header.
/// jar.set("https://example.com/", "theme=dark; Path=/")?;
/// assert_eq!(jar.get("theme").as_deref(), Some("dark"));
///
/// // Save them (serde), and put them back in this or another session's jar.
/// let saved = serde_json::to_string(&jar.cookies())?;
/// jar.clear(); // log out
/// assert!(jar.cookies().is_empty());
/// for cookie in serde_json::from_str::<Vec<ureq_futures::Cookie>>(&saved)? {
///     jar.insert(cookie)?;
/// }
/// assert_eq!(jar.get("theme").as_deref(), Some("dark"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CookieJar {
    cookies: Mutex<Vec<Stored>>,
    /// Whether any cookie is kept: a request to a session without cookies takes no lock.
    any: AtomicBool,
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Cookie values are credentials (session ids): only their number is shown.
        let n = self.cookies.lock().map_or(0, |c| c.len());
        f.debug_struct("CookieJar").field("cookies", &n).finish()
    }
}

/// One cookie of a [`CookieJar`], as [`CookieJar::cookies`] lists them.
///
/// Its `Debug` leaves the value out (cookie values are credentials: session ids); read
/// [`value`](Cookie::value). Serde makes it JSON to save and read back for
/// [`CookieJar::insert`].
// Saved jars are read back with serde: a field added later needs `#[serde(default)]`, or the
// jars saved before it no longer load.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Cookie {
    /// The name; empty for a cookie set without one (`Set-Cookie: flag`, sent back as `flag`).
    pub name: String,
    /// The value, as text (bytes that are not UTF-8 each become U+FFFD).
    pub value: String,
    /// The host (`host_only`) or the domain whose hosts it goes to, lower case, without a
    /// leading dot.
    pub domain: String,
    /// Whether it goes to its `domain`'s host alone (set without `Domain`), not to the hosts
    /// under it.
    pub host_only: bool,
    /// The path it goes to, and the paths under it.
    pub path: String,
    /// Whether it goes over https only.
    pub secure: bool,
    /// When it expires; `None` for a cookie that lasts as long as the session.
    pub expires: Option<SystemTime>,
}

impl std::fmt::Debug for Cookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cookie")
            .field("name", &self.name)
            .field("value", &format_args!("<{} bytes>", self.value.len()))
            .field("domain", &self.domain)
            .field("host_only", &self.host_only)
            .field("path", &self.path)
            .field("secure", &self.secure)
            .field("expires", &self.expires)
            .finish()
    }
}

impl Cookie {
    /// The cookie of a stored one.
    fn of(stored: &Stored) -> Cookie {
        let expires = stored.expires.map(|t| match u64::try_from(t) {
            // At most the end of the year 9999, which every system's `SystemTime` holds
            // (Windows' counts 100 ns ticks from 1601 in an i64: up to about the year 30828).
            Ok(secs) => UNIX_EPOCH + std::time::Duration::from_secs(secs.min(LATEST_EXPIRY)),
            Err(_) => UNIX_EPOCH,
        });
        Cookie {
            name: from_latin1(&stored.name),
            value: from_latin1(&stored.value),
            domain: stored.domain.clone(),
            host_only: stored.host_only,
            path: stored.path.clone(),
            secure: stored.secure,
            expires,
        }
    }
}

/// The jar's text of bytes: each byte the char of its value (see `CookieJar::store_from`).
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The bytes of the jar's text (see [`latin1`]): every char of it is one byte's, below U+0100.
fn bytes_of(text: &str) -> Vec<u8> {
    debug_assert!(text.chars().all(|c| u32::from(c) < 0x100));
    text.chars().map(|c| u32::from(c) as u8).collect()
}

/// The text of the jar's text (see [`latin1`]): its bytes read as UTF-8.
fn from_latin1(text: &str) -> String {
    String::from_utf8(bytes_of(text))
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Adds to the `Cookie` header in `headers` (the jar's, if any) the pairs of `own` (a request's
/// own `Cookie` headers) whose names it does not have: after a redirect within the origin, the
/// jar's cookies come first and win, and the request's others stay. Bytes, not text: a cookie
/// value may hold bytes beyond ASCII.
pub(crate) fn merge_own(headers: &mut HeaderMap, own: &[HeaderValue]) {
    fn pairs(value: &[u8]) -> impl Iterator<Item = &[u8]> {
        value
            .split(|&b| b == b';')
            .map(<[u8]>::trim_ascii)
            .filter(|p| !p.is_empty())
    }
    fn name(pair: &[u8]) -> &[u8] {
        pair.split(|&b| b == b'=')
            .next()
            .unwrap_or(pair)
            .trim_ascii()
    }
    let jar = headers
        .get(header::COOKIE)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    let known: Vec<&[u8]> = pairs(&jar).map(name).collect();
    let mut merged = jar.clone();
    for pair in own.iter().flat_map(|value| pairs(value.as_bytes())) {
        if !known.contains(&name(pair)) {
            if !merged.is_empty() {
                merged.extend_from_slice(b"; ");
            }
            merged.extend_from_slice(pair);
        }
    }
    if let Ok(value) = HeaderValue::from_bytes(&merged) {
        if !merged.is_empty() {
            headers.insert(header::COOKIE, value);
        }
    }
}

impl CookieJar {
    /// An empty jar.
    pub(crate) fn new() -> CookieJar {
        CookieJar {
            cookies: Mutex::new(Vec::new()),
            any: AtomicBool::new(false),
        }
    }

    /// The cookies, locked.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Stored>> {
        self.cookies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cookies kept now, oldest first (expired ones are gone).
    ///
    /// # Examples
    ///
    /// ```
    /// let session = ureq_futures::FuturesSession::new();
    /// let jar = session.cookies().unwrap();
    /// jar.set("https://shop.example/cart/view", "cart=42; Domain=shop.example; Secure")?;
    /// let [cookie] = &jar.cookies()[..] else { panic!() };
    /// assert_eq!((&*cookie.name, &*cookie.value, &*cookie.path), ("cart", "42", "/cart"));
    /// assert!(cookie.secure && !cookie.host_only && cookie.expires.is_none());
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn cookies(&self) -> Vec<Cookie> {
        let now = now();
        let cookies = self.lock();
        let mut kept: Vec<&Stored> = cookies.iter().filter(|c| c.live(now)).collect();
        kept.sort_by_key(|c| c.created);
        kept.into_iter().map(Cookie::of).collect()
    }

    /// The value of the cookie named `name`, for whatever host and path. Of several (other
    /// domains or paths), the one a request would send first: the longest path, then the
    /// oldest.
    ///
    /// # Examples
    ///
    /// ```
    /// let session = ureq_futures::FuturesSession::new();
    /// let jar = session.cookies().unwrap();
    /// jar.set("http://127.0.0.1/login", "sid=abc")?;
    /// assert_eq!(jar.get("sid").as_deref(), Some("abc"));
    /// assert_eq!(jar.get("missing"), None);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn get(&self, name: &str) -> Option<String> {
        let now = now();
        let name = latin1(name.as_bytes());
        let cookies = self.lock();
        cookies
            .iter()
            .filter(|c| c.name == name && c.live(now))
            .min_by(|a, b| sent_first(a, b))
            .map(|c| from_latin1(&c.value))
    }

    /// Keeps a cookie as if the response from `url` had set it with the header
    /// `Set-Cookie: set_cookie`, under the same rules (the `Domain` must be `url`'s host or
    /// a domain it is under, a `Secure` cookie needs an `https://` URL...). A cookie with an
    /// expiry in the past (`Max-Age=0`) removes the one it names.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] when `url` is not an `http` or `https` URL with a host, when
    /// `set_cookie` starts with the header's name (`Set-Cookie: a=1`: give `a=1`), or when the
    /// rules refuse the cookie (saying which rule).
    ///
    /// # Examples
    ///
    /// ```
    /// let session = ureq_futures::FuturesSession::new();
    /// let jar = session.cookies().unwrap();
    /// jar.set("https://api.example.com/", "token=t1; Domain=example.com; Max-Age=3600")?;
    /// let err = jar.set("https://api.example.com/", "x=1; Domain=other.com").unwrap_err();
    /// assert!(err.to_string().contains("`Domain`"), "{err}");
    /// jar.set("https://api.example.com/", "token=; Domain=example.com; Max-Age=0")?;
    /// assert_eq!(jar.get("token"), None);
    /// assert!(jar.set("https://api.example.com/", "Set-Cookie: a=1").is_err());
    /// assert_eq!(jar.get("a"), None);
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn set(&self, url: &str, set_cookie: &str) -> Result<(), Error> {
        let uri: Uri = url
            .parse()
            .ok()
            .filter(|u: &Uri| {
                matches!(u.scheme_str(), Some("http" | "https"))
                    && u.host().is_some_and(|h| !h.is_empty())
            })
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "the cookie's URL {} is not an http or https URL with a host name (write \
                     one such as https://example.com/)",
                    crate::redact_url(url)
                ))
            })?;
        // The whole header line given for its value: the cookie would be named `Set-Cookie: x`.
        let header = set_cookie.trim_start().get(..11);
        if header.is_some_and(|h| h.eq_ignore_ascii_case("set-cookie:")) {
            return Err(Error::InvalidRequest(format!(
                "the cookie for {} starts with the header's name \"Set-Cookie:\": give the \
                 header's value alone (name=value; attributes)",
                crate::redact_url(url)
            )));
        }
        let mut cookies = self.lock();
        let stored = store(&mut cookies, &uri, &latin1(set_cookie.as_bytes()), now());
        self.any.store(!cookies.is_empty(), Ordering::Release);
        stored.map_err(|why| {
            // A pair without `=` is a cookie without a name: its text is its value, never shown.
            let pair = set_cookie.split(';').next().unwrap_or("");
            let cookie = match pair.split_once('=') {
                Some((name, _)) => format!("the cookie {:?}", name.trim()),
                None => "a cookie without a name".to_string(),
            };
            Error::InvalidRequest(format!(
                "{cookie} for {} was refused: {why}",
                crate::redact_url(url)
            ))
        })
    }

    /// Puts `cookie` in the jar as it is, in place of the one of its name, domain, host-only
    /// flag and path: a cookie from [`cookies`](CookieJar::cookies) of this session or
    /// another, or one read back from where a script saved it. One that has expired removes
    /// that one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for a cookie that no request could carry: neither name nor
    /// value, more than 4096 bytes, a control character or `;` in them, an `=` in the name,
    /// or no domain.
    ///
    /// # Examples
    ///
    /// ```
    /// use ureq_futures::FuturesSession;
    ///
    /// let (old, new) = (FuturesSession::new(), FuturesSession::new());
    /// old.cookies().unwrap().set("https://example.com/", "sid=abc")?;
    /// for cookie in old.cookies().unwrap().cookies() {
    ///     new.cookies().unwrap().insert(cookie)?;
    /// }
    /// assert_eq!(new.cookies().unwrap().get("sid").as_deref(), Some("abc"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn insert(&self, cookie: Cookie) -> Result<(), Error> {
        let refused = |why: &str| {
            Error::InvalidRequest(format!("the cookie {:?} was refused: {why}", cookie.name))
        };
        // Spaces and tabs at an end are what `Set-Cookie` parsing trims (not `str::trim`'s
        // Unicode spaces: a value of the jar's may end in U+00A0).
        let carried = |text: &str| {
            HeaderValue::from_bytes(text.as_bytes()).is_ok()
                && !text.contains(';')
                && text.trim_matches(WSP) == text
        };
        if cookie.name.is_empty() && cookie.value.is_empty() {
            return Err(refused("it has neither name nor value"));
        }
        if cookie.name.len() + cookie.value.len() > MAX_COOKIE_SIZE {
            return Err(refused("its name and value are longer than 4096 bytes"));
        }
        if !carried(&cookie.name) || !carried(&cookie.value) || cookie.name.contains('=') {
            return Err(refused(
                "its name or value holds what a `Cookie` header cannot carry (a control \
                 character, `;`, spaces at an end, or `=` in the name)",
            ));
        }
        let domain = jar_domain(cookie.domain.trim_start_matches('.'));
        if domain.is_empty() {
            return Err(refused("it has no domain"));
        }
        let path = Some(cookie.path)
            .filter(|p| p.starts_with('/'))
            .unwrap_or_else(|| "/".into());
        let expires = cookie.expires.map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(_) => i64::MIN,
        });
        let stored = Stored {
            name: latin1(cookie.name.as_bytes()),
            value: latin1(cookie.value.as_bytes()),
            domain,
            host_only: cookie.host_only,
            path,
            secure: cookie.secure,
            expires,
            created: 0,
            accessed: 0,
        };
        let mut cookies = self.lock();
        put(&mut cookies, stored, now());
        self.any.store(!cookies.is_empty(), Ordering::Release);
        Ok(())
    }

    /// Keeps the cookies for which `keep` returns `true`, and removes the others.
    ///
    /// # Examples
    ///
    /// ```
    /// let session = ureq_futures::FuturesSession::new();
    /// let jar = session.cookies().unwrap();
    /// jar.set("https://a.example/", "sid=1")?;
    /// jar.set("https://b.example/", "sid=2")?;
    /// jar.retain(|cookie| cookie.domain != "a.example"); // log out of a.example only
    /// assert_eq!(jar.get("sid").as_deref(), Some("2"));
    /// # Ok::<(), ureq_futures::Error>(())
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&Cookie) -> bool) {
        // `keep` runs without the lock, so that it may use the jar; it is shown what
        // `cookies()` lists, and a cookie set anew meanwhile (another creation) stays.
        let key = |c: &Stored| (c.created, c.name.clone(), c.domain.clone(), c.path.clone());
        let listed: Vec<_> = {
            let (now, cookies) = (now(), self.lock());
            let live = cookies.iter().filter(|c| c.live(now));
            live.map(|c| (key(c), Cookie::of(c))).collect()
        };
        let gone: Vec<_> = listed
            .into_iter()
            .filter(|(_, c)| !keep(c))
            .map(|(k, _)| k)
            .collect();
        let mut cookies = self.lock();
        cookies.retain(|c| !gone.contains(&key(c)));
        self.any.store(!cookies.is_empty(), Ordering::Release);
    }

    /// Removes every cookie: a logout of every site.
    pub fn clear(&self) {
        let mut cookies = self.lock();
        cookies.clear();
        self.any.store(false, Ordering::Release);
    }

    /// Adds the `Cookie` header for `uri` to `headers`, unless the request sets its own.
    pub(crate) fn add_to(&self, uri: &Uri, headers: &mut HeaderMap) {
        // An empty jar (most sessions' on most requests) first: no look-up in the headers.
        if !self.any.load(Ordering::Acquire) || headers.contains_key(header::COOKIE) {
            return;
        }
        if let Some(value) = self.header_bytes(uri) {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.insert(header::COOKIE, value);
            }
        }
    }

    /// The value of the `Cookie` header the jar sends to `uri`, as the bytes the servers sent
    /// (see `store_from`: every char of the jar's text is one byte's, below U+0100).
    pub(crate) fn header_bytes(&self, uri: &Uri) -> Option<Vec<u8>> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        self.header_for(uri, now()).map(|value| bytes_of(&value))
    }

    /// Keeps the cookies that the response from `uri` sets.
    pub(crate) fn store_from(&self, uri: &Uri, headers: &HeaderMap) {
        let mut set = headers.get_all(header::SET_COOKIE).iter().peekable();
        if set.peek().is_none() {
            return;
        }
        let now = now();
        let mut cookies = self.lock();
        for value in set {
            // Cookies are octets (RFC 6265, section 5.2): each byte is kept as the char of its
            // value (Latin-1), so that a value that is not UTF-8 is kept too, and goes back
            // byte for byte (`add_to`). Only ASCII has a meaning to the jar.
            // Refused cookies are dropped without a word, as every user agent does.
            let _ = store(&mut cookies, uri, &latin1(value.as_bytes()), now);
        }
        self.any.store(!cookies.is_empty(), Ordering::Release);
    }

    /// The `Cookie` header value for `uri` at time `now`, if any cookie goes there.
    fn header_for(&self, uri: &Uri, now: i64) -> Option<String> {
        let host = jar_host(uri)?;
        let host = host.as_str();
        let path = if uri.path().is_empty() {
            "/"
        } else {
            uri.path()
        };
        let secure = uri.scheme_str() == Some("https");
        let mut cookies = self.lock();
        cookies.retain(|c| c.live(now));
        let accessed = tick(&cookies);
        let goes = |c: &Stored| {
            let host_ok = if c.host_only {
                host == c.domain
            } else {
                domain_match(host, &c.domain)
            };
            host_ok && path_match(path, &c.path) && (secure || !c.secure)
        };
        // §5.4 step 3: the cookies sent are accessed now.
        for c in cookies.iter_mut().filter(|c| goes(c)) {
            c.accessed = accessed;
        }
        let mut sending: Vec<&Stored> = cookies.iter().filter(|c| goes(c)).collect();
        if sending.is_empty() {
            return None;
        }
        sending.sort_by(|a, b| sent_first(a, b));
        let mut out = String::new();
        for c in sending {
            if !out.is_empty() {
                out.push_str("; ");
            }
            if !c.name.is_empty() {
                out.push_str(&c.name);
                out.push('=');
            }
            out.push_str(&c.value);
        }
        Some(out)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.cookies.lock().unwrap().len()
    }
}

/// §5.3: stores one `Set-Cookie` value received from `uri`; the reason it is refused, if it
/// is.
fn store(
    cookies: &mut Vec<Stored>,
    uri: &Uri,
    set_cookie: &str,
    now: i64,
) -> Result<(), &'static str> {
    let host = jar_host(uri).ok_or("the URL has no host")?;
    let parsed = parse(set_cookie, now).ok_or(
        "it has neither name nor value, is longer than 4096 bytes, or holds bytes a header \
         cannot carry",
    )?;
    // RFC 6265bis §5.7: a `__Secure-` cookie must be `Secure`; a `__Host-` one `Secure`,
    // host-only (no `Domain`) and for the path `/` (said with `Path=/`). Servers rely on the
    // names to know that no other host or plain-http answer set them.
    // A cookie without a name goes back as its value alone, so one whose value starts like
    // a prefixed name (`=__Host-id=x`, `__Secure-x`) would pass for one: §5.7 refuses it.
    let shown = if parsed.name.is_empty() {
        &parsed.value
    } else {
        &parsed.name
    };
    let prefixed = |prefix: &str| {
        shown
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    if parsed.name.is_empty() && (prefixed("__Secure-") || prefixed("__Host-")) {
        return Err("a cookie without a name may not start with `__Secure-` or `__Host-`");
    }
    if prefixed("__Secure-") && !parsed.secure {
        return Err("a `__Secure-` cookie must be `Secure`");
    }
    if prefixed("__Host-")
        && !(parsed.secure && parsed.domain.is_none() && parsed.path.as_deref() == Some("/"))
    {
        return Err("a `__Host-` cookie must be `Secure`, without `Domain`, with `Path=/`");
    }
    let (domain, host_only) = match parsed.domain {
        Some(domain) if domain_match(&host, &domain) => {
            // §5.3 step 5: a public suffix is no cookie's domain; a cookie that names one is
            // its host's alone (the suffix is guessed, see `is_public_suffix`: a site taken
            // for one still gets its cookie back).
            let host_only = domain_is_ip(&host) || is_public_suffix(&domain);
            (if host_only { host } else { domain }, host_only)
        }
        Some(_) => return Err("its `Domain` is not the host or a domain the host is under"),
        None => (host, true),
    };
    let secure_origin = uri.scheme_str() == Some("https");
    if parsed.secure && !secure_origin {
        return Err("a `Secure` cookie is set only over https");
    }
    let path = parsed
        .path
        .unwrap_or_else(|| default_path(uri.path()).to_string());
    // RFC 6265bis §5.7 ("Leave Secure Cookies Alone"): over plain http, a cookie may not
    // replace, delete or shadow a `Secure` one of the same name.
    if !secure_origin
        && cookies.iter().any(|c| {
            c.secure
                && c.live(now)
                && c.name == parsed.name
                && (domain_match(&c.domain, &domain) || domain_match(&domain, &c.domain))
                && path_match(&path, &c.path)
        })
    {
        return Err("over plain http it would replace or shadow a `Secure` cookie of its name");
    }
    let cookie = Stored {
        name: parsed.name,
        value: parsed.value,
        domain,
        host_only,
        path,
        secure: parsed.secure,
        expires: parsed.expires,
        created: 0,
        accessed: 0,
    };
    put(cookies, cookie, now);
    Ok(())
}

/// §5.3 step 11: puts `cookie` in place of the one of its name, domain, host-only flag and path
/// (a host-only cookie and a `Domain` one of the host are two cookies, each deleted on its
/// own), which keeps its creation time; one whose expiry has passed only deletes that one.
/// Its `created` and `accessed` are set here.
fn put(cookies: &mut Vec<Stored>, mut cookie: Stored, now: i64) {
    let now_tick = tick(cookies);
    let same = |c: &Stored| {
        (&c.name, &c.domain, c.host_only, &c.path)
            == (&cookie.name, &cookie.domain, cookie.host_only, &cookie.path)
    };
    cookie.created = match cookies.iter().position(same) {
        Some(i) => cookies.remove(i).created,
        None => now_tick,
    };
    if !cookie.live(now) {
        return;
    }
    cookie.accessed = now_tick;
    cookies.push(cookie);
    evict(cookies, now);
}

/// §5.4's order of the cookies a request sends: longer paths first, then the older.
fn sent_first(a: &Stored, b: &Stored) -> std::cmp::Ordering {
    b.path
        .len()
        .cmp(&a.path.len())
        .then(a.created.cmp(&b.created))
}

/// The jar's clock: later than every creation and access so far. A cookie is accessed when it
/// is created, so the latest access is the latest event.
fn tick(cookies: &[Stored]) -> u64 {
    cookies.iter().map(|c| c.accessed + 1).max().unwrap_or(0)
}

/// Drops expired cookies, then, past the per-domain and total bounds, the least recently used
/// (set or sent), as RFC 6265 §5.3 says.
fn evict(cookies: &mut Vec<Stored>, now: i64) {
    cookies.retain(|c| c.live(now));
    let newest_domain = cookies.last().map(|c| c.domain.clone());
    if let Some(domain) = newest_domain {
        let count = cookies.iter().filter(|c| c.domain == domain).count();
        if count > MAX_PER_DOMAIN {
            if let Some(oldest) = cookies
                .iter()
                .enumerate()
                .filter(|(_, c)| c.domain == domain)
                .min_by_key(|(_, c)| (c.accessed, c.created))
                .map(|(i, _)| i)
            {
                cookies.remove(oldest);
            }
        }
    }
    while cookies.len() > MAX_COOKIES {
        if let Some(oldest) =
            (0..cookies.len()).min_by_key(|&i| (cookies[i].accessed, cookies[i].created))
        {
            cookies.remove(oldest);
        }
    }
}

struct Parsed {
    name: String,
    value: String,
    domain: Option<String>,
    path: Option<String>,
    secure: bool,
    expires: Option<i64>,
}

/// The whitespace §5.2 trims (WSP: space and tab). Not `str::trim`'s: the jar's text holds
/// one char per byte (see `CookieJar::store_from`), and U+0085 or U+00A0 are the last bytes of
/// UTF-8 characters (`à` is C3 A0), not whitespace.
const WSP: [char; 2] = [' ', '\t'];

/// The length in bytes, as the server sent them, of the jar's text `s` (one char per byte).
fn octets(s: &str) -> usize {
    s.chars().count()
}

/// §5.2 (with RFC 6265bis's nameless cookies): parses a `Set-Cookie` value; `None` when it is
/// to be ignored.
fn parse(set_cookie: &str, now: i64) -> Option<Parsed> {
    let mut parts = set_cookie.split(';');
    let pair = parts.next()?;
    // RFC 6265bis §5.6 (as browsers and requests do; RFC 6265 ignored these): a pair without
    // `=` is a value without a name (`Set-Cookie: flag` sends `Cookie: flag`).
    let (name, value) = pair.split_once('=').unwrap_or(("", pair));
    let (name, value) = (name.trim_matches(WSP), value.trim_matches(WSP));
    if (name.is_empty() && value.is_empty()) || octets(name) + octets(value) > MAX_COOKIE_SIZE {
        return None;
    }
    // A value a header cannot carry back would fail the request that sends it. The bytes are
    // checked, as they go out: `from_str` refuses every byte beyond ASCII since http 1.6.
    let sendable = |text: &str| HeaderValue::from_bytes(&bytes_of(text)).is_ok();
    if !sendable(name) || !sendable(value) {
        return None;
    }
    let mut parsed = Parsed {
        name: name.to_string(),
        value: value.to_string(),
        domain: None,
        path: None,
        secure: false,
        expires: None,
    };
    let mut max_age: Option<i64> = None;
    let mut expires: Option<i64> = None;
    for attribute in parts {
        let (key, val) = match attribute.split_once('=') {
            Some((k, v)) => (k.trim_matches(WSP), v.trim_matches(WSP)),
            None => (attribute.trim_matches(WSP), ""),
        };
        // RFC 6265bis §5.6: a longer value is ignored, so a cookie's path (and the rest) stays
        // within the bounds of the jar's memory.
        if octets(val) > MAX_ATTRIBUTE_SIZE {
            continue;
        }
        if key.eq_ignore_ascii_case("expires") {
            if let Some(t) = parse_date(val) {
                expires = Some(t);
            }
        } else if key.eq_ignore_ascii_case("max-age") {
            let digits = val.strip_prefix('-').unwrap_or(val);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                let secs = val.parse::<i64>().unwrap_or(if val.starts_with('-') {
                    i64::MIN
                } else {
                    i64::MAX
                });
                max_age = Some(if secs <= 0 {
                    i64::MIN
                } else {
                    now.saturating_add(secs)
                });
            }
        } else if key.eq_ignore_ascii_case("domain") {
            let domain = val.strip_prefix('.').unwrap_or(val);
            if !domain.is_empty() {
                parsed.domain = Some(jar_domain(domain));
            }
        } else if key.eq_ignore_ascii_case("path") {
            parsed.path = val.starts_with('/').then(|| val.to_string());
        } else if key.eq_ignore_ascii_case("secure") {
            parsed.secure = true;
        }
    }
    // Max-Age wins over Expires (§5.3 step 3).
    parsed.expires = max_age.or(expires);
    Some(parsed)
}

/// The host of `uri` as the jar compares it (see [`jar_domain`]).
fn jar_host(uri: &Uri) -> Option<String> {
    uri.host().map(jar_domain)
}

/// A host or a domain as the jar keeps and compares it: in lower case, and an IPv6 address
/// without brackets and in its one canonical form (`[0:0::1]`, `0:0::1` and `::1` are one
/// host), whether it comes from a URL, a `Domain` attribute or [`CookieJar::insert`].
fn jar_domain(name: &str) -> String {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    // A name with a colon can only be an IPv6 address: no parse for the others.
    if bare.contains(':') {
        if let Ok(address) = bare.parse::<std::net::Ipv6Addr>() {
            return address.to_string();
        }
    }
    bare.to_ascii_lowercase()
}

fn domain_is_ip(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

/// §5.1.3: `host` is `domain`, or a name that ends with `.domain` (never an IP address).
fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && !domain_is_ip(host))
}

/// §5.1.4: the directory of the request path.
fn default_path(path: &str) -> &str {
    if !path.starts_with('/') {
        return "/";
    }
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// §5.1.4: the cookie's path is the request's, or a prefix of it that ends at a `/`.
fn path_match(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

/// §5.1.1: the lenient cookie date, as seconds since the Unix epoch.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let is_delimiter = |c: char| {
        c == '\t'
            || (' '..='/').contains(&c)
            || (';'..='@').contains(&c)
            || ('['..='`').contains(&c)
            || ('{'..='~').contains(&c)
    };
    let (mut time, mut day, mut month, mut year) = (None, None, None, None);
    for token in text.split(is_delimiter).filter(|t| !t.is_empty()) {
        if time.is_none() {
            if let Some(t) = parse_time(token) {
                time = Some(t);
                continue;
            }
        }
        if day.is_none() {
            if let Some(d) = leading_digits(token, 1, 2) {
                day = Some(d);
                continue;
            }
        }
        if month.is_none() && token.len() >= 3 {
            const MONTHS: [&str; 12] = [
                "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
            ];
            let prefix = token.get(..3).map(str::to_ascii_lowercase);
            if let Some(m) = MONTHS.iter().position(|m| prefix.as_deref() == Some(m)) {
                month = Some(m as i64 + 1);
                continue;
            }
        }
        if year.is_none() {
            if let Some(y) = leading_digits(token, 2, 4) {
                year = Some(y);
                continue;
            }
        }
    }
    let (h, mi, s) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if (0..=69).contains(&year) {
        year += 2000;
    }
    // "If no such date exists, abort these steps and fail" (§5.1.1): 30 February too.
    if !(1..=days_in_month(year, month)).contains(&day)
        || year < 1601
        || h > 23
        || mi > 59
        || s > 59
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s)
}

/// `hh:mm:ss` with one or two digits each, anything after the seconds' digits ignored (RFC
/// 6265's `hms-time ( non-digit *OCTET )`).
fn parse_time(token: &str) -> Option<(i64, i64, i64)> {
    let mut fields = token.splitn(3, ':');
    let mut whole = || {
        let field = fields.next()?;
        leading_digits(field, 1, 2).filter(|_| field.bytes().all(|b| b.is_ascii_digit()))
    };
    let (h, m) = (whole()?, whole()?);
    let s = leading_digits(fields.next()?, 1, 2)?;
    Some((h, m, s))
}

/// The days of `month` (1 to 12) in the proleptic Gregorian `year`.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The value of `token`'s leading digits when there are `min..=max` of them and (for a time
/// field) nothing but non-digits after.
fn leading_digits(token: &str, min: usize, max: usize) -> Option<i64> {
    let n = token.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max || token.as_bytes().get(n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    token[..n].parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whether a cookie's `Domain` is taken for a public suffix, which no cookie's domain may be
/// (RFC 6265 §5.3 step 5: one set for `co.uk` would reach every site under it). Without the
/// public suffix list, a guess, Python's with its `strict_domain` (which requests leaves off): a
/// name without an inner dot (`com`, `com.`: a trailing dot is the same name), or a country's
/// second level (`co.uk`, `com.au`, `info.pl`: a two-letter top level under one of the usual
/// second-level names). It takes some registered sites for suffixes (`jobs.ch`, `info.tv`), so
/// a cookie whose `Domain` is taken for one is kept for its host alone rather than refused:
/// such a site still gets its cookie back on the host that set it, and a real suffix's hosts
/// never get each other's.
fn is_public_suffix(domain: &str) -> bool {
    let name = domain.trim_end_matches('.');
    match name.split_once('.') {
        None => true,
        Some((second, top)) => {
            top.len() == 2
                && !top.contains('.')
                && [
                    "co", "ac", "com", "edu", "org", "net", "gov", "mil", "int", "aero", "biz",
                    "cat", "coop", "info", "jobs", "mobi", "museum", "name", "pro", "travel", "eu",
                ]
                .contains(&second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn a_requests_own_cookies_join_the_jars_after_a_redirect_bytes_and_all() {
        let mut headers = HeaderMap::new();
        // A jar value beyond ASCII (UTF-8 bytes) stays as it is.
        let jar = HeaderValue::from_bytes("sid=Jos\u{e9}; hop=h1".as_bytes()).unwrap();
        headers.insert(header::COOKIE, jar);
        let own = [
            HeaderValue::from_static("csrf=t; hop=old"),
            HeaderValue::from_static("flag; ; theme=dark"),
        ];
        merge_own(&mut headers, &own);
        let merged = headers.get(header::COOKIE).unwrap().as_bytes();
        assert_eq!(
            merged,
            "sid=Jos\u{e9}; hop=h1; csrf=t; flag; theme=dark".as_bytes()
        );
        // Without a jar header, the request's own go as they were.
        let mut headers = HeaderMap::new();
        merge_own(&mut headers, &own[..1]);
        assert_eq!(headers.get(header::COOKIE).unwrap(), "csrf=t; hop=old");
    }

    fn set(jar: &CookieJar, url: &str, values: &[&str]) {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(
                header::SET_COOKIE,
                HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        jar.store_from(&uri(url), &headers);
    }

    fn sent(jar: &CookieJar, url: &str) -> Option<String> {
        jar.header_for(&uri(url), now())
    }

    /// What `add_to` puts in a request's `Cookie` header for `url`, as bytes.
    fn sent_bytes(jar: &CookieJar, url: &str) -> Vec<u8> {
        let mut headers = HeaderMap::new();
        jar.add_to(&uri(url), &mut headers);
        headers
            .get(header::COOKIE)
            .map_or(Vec::new(), |v| v.as_bytes().to_vec())
    }

    /// Values are bytes: UTF-8 ending in what would be Unicode whitespace as Latin-1 (`à` is
    /// C3 A0), Latin-1 itself, and 3,000 bytes of CJK (4 KiB is counted in bytes) all go back
    /// as they came.
    #[test]
    fn values_beyond_ascii_go_back_byte_for_byte() {
        let jar = CookieJar::new();
        let cjk = "\u{4e2d}".repeat(1000);
        set(
            &jar,
            "http://h/",
            &["lang=voil\u{e0}", "city=\u{c5}", &format!("big={cjk}")],
        );
        let mut headers = HeaderMap::new();
        headers.append(
            header::SET_COOKIE,
            HeaderValue::from_bytes(b"latin=caf\xe9").unwrap(),
        );
        jar.store_from(&uri("http://h/"), &headers);
        let expected = format!("lang=voil\u{e0}; city=\u{c5}; big={cjk}; latin=caf");
        let mut expected = expected.into_bytes();
        expected.push(0xe9);
        assert_eq!(sent_bytes(&jar, "http://h/"), expected);
    }

    #[test]
    fn cookies_go_only_where_domain_and_path_match() {
        let jar = CookieJar::new();
        set(
            &jar,
            "http://api.example.com/v1/login",
            &["sid=1", "all=2; Path=/", "docs=3; Path=/docs"],
        );
        set(
            &jar,
            "http://example.com/",
            &["wide=4; Domain=.example.com"],
        );
        set(&jar, "http://127.0.0.1:8080/", &["ip=5"]);
        let cases = [
            (
                "http://api.example.com/v1/chat",
                Some("sid=1; all=2; wide=4"),
            ),
            ("http://api.example.com/v1", Some("sid=1; all=2; wide=4")),
            ("http://api.example.com/v10", Some("all=2; wide=4")),
            (
                "http://api.example.com/docs/a",
                Some("docs=3; all=2; wide=4"),
            ),
            ("http://api.example.com/", Some("all=2; wide=4")),
            ("http://example.com/v1/x", Some("wide=4")),
            ("http://other.api.example.com/", Some("wide=4")),
            ("http://notexample.com/", None),
            ("http://127.0.0.1:9999/", Some("ip=5")),
            ("http://localhost:8080/", None),
        ];
        for (url, expected) in cases {
            assert_eq!(sent(&jar, url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn an_ipv6_host_is_one_host_however_it_is_written() {
        let jar = CookieJar::new();
        set(&jar, "http://[0:0::1]:8080/", &["a=1"]);
        // A `Domain` as the URL spells the address, or in another spelling of it.
        set(
            &jar,
            "http://[FE80::0001]/",
            &["b=2; Domain=fe80::0001", "c=3; Domain=FE80::1"],
        );
        // One put in the jar with the address in a long form (from a jar saved elsewhere).
        jar.insert(Cookie {
            name: "d".into(),
            value: "4".into(),
            domain: "0:0:0:0:0:0:0:3".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            expires: None,
        })
        .unwrap();
        let cases = [
            ("http://[::1]:8080/", Some("a=1")),
            ("http://[0000:0:0:0:0:0:0:1]/", Some("a=1")),
            ("http://[fe80::1]/", Some("b=2; c=3")),
            ("http://[::3]/", Some("d=4")),
            ("http://[::2]/", None),
            ("http://127.0.0.1/", None),
        ];
        for (url, expected) in cases {
            assert_eq!(sent(&jar, url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn a_cookie_without_a_name_is_sent_as_its_value() {
        // RFC 6265bis, browsers and requests: `Set-Cookie: flag` comes back as `Cookie: flag`.
        let jar = CookieJar::new();
        set(
            &jar,
            "http://h/",
            &["flag; Path=/", "a=1", "", "=", " ; Path=/"],
        );
        assert_eq!(jar.len(), 2);
        assert_eq!(sent(&jar, "http://h/x").as_deref(), Some("flag; a=1"));
        // A later nameless cookie replaces it, as one of the same name would.
        set(&jar, "http://h/", &["=other"]);
        assert_eq!(sent(&jar, "http://h/x").as_deref(), Some("other; a=1"));
        // One that would pass for a prefixed cookie is refused (RFC 6265bis §5.7), over https
        // and in any letter case.
        let jar = CookieJar::new();
        set(
            &jar,
            "http://h/",
            &["=__Host-id=evil; Path=/", "__Secure-x"],
        );
        set(
            &jar,
            "https://h/",
            &["=__HOST-id=evil; Secure; Path=/", "__secure-y; Secure"],
        );
        assert_eq!(jar.len(), 0);
    }

    #[test]
    fn foreign_domains_are_refused_and_public_suffixes_kept_for_their_host_alone() {
        let jar = CookieJar::new();
        set(
            &jar,
            "http://a.example.com/",
            &[
                "x=1; Domain=other.com",
                "y=1; Domain=com",
                "z=1; Domain=b.a.example.com",
            ],
        );
        set(&jar, "http://127.0.0.1/", &["w=1; Domain=0.0.1"]);
        set(&jar, "http://localhost/", &["ok=1; Domain=localhost"]);
        // Public suffixes, as guessed: a trailing dot is the same name, and a country's second
        // level under `co`, `com`... is one. Their cookies stay with the host that set them.
        set(&jar, "http://evil.com./", &["t=1; Domain=com."]);
        set(
            &jar,
            "http://evil.co.uk/",
            &["c=1; Domain=co.uk", "a=1; Domain=.com.au"],
        );
        assert_eq!(jar.len(), 4, "x, z, w and a are refused");
        assert_eq!(sent(&jar, "http://a.example.com/").as_deref(), Some("y=1"));
        assert_eq!(sent(&jar, "http://b.example.com/"), None);
        assert_eq!(sent(&jar, "http://localhost/").as_deref(), Some("ok=1"));
        assert_eq!(sent(&jar, "http://sub.localhost/"), None);
        assert_eq!(sent(&jar, "http://evil.co.uk/").as_deref(), Some("c=1"));
        assert_eq!(sent(&jar, "http://bank.co.uk/"), None);
        // A site's own name under such a suffix is not one.
        set(
            &jar,
            "http://www.evil.co.uk/",
            &["site=1; Domain=evil.co.uk"],
        );
        assert_eq!(
            sent(&jar, "http://shop.evil.co.uk/").as_deref(),
            Some("site=1")
        );
        assert!(is_public_suffix("uk") && !is_public_suffix("example.com"));
        assert!(!is_public_suffix("evil.co.uk") && !is_public_suffix("co.ukx"));
        // A registered site the guess takes for a suffix keeps its cookie on the host that set
        // it; a real suffix's other hosts never get it.
        assert!(is_public_suffix("jobs.ch") && is_public_suffix("info.pl"));
        set(&jar, "http://www.jobs.ch/", &["sid=1; Domain=jobs.ch"]);
        assert_eq!(sent(&jar, "http://www.jobs.ch/").as_deref(), Some("sid=1"));
        set(&jar, "http://evil.info.pl/", &["toss=1; Domain=info.pl"]);
        assert_eq!(sent(&jar, "http://bank.info.pl/"), None);
    }

    #[test]
    fn every_cookie_the_jar_lists_goes_back_in_with_insert() {
        let jar = CookieJar::new();
        // Ends in U+00A0, which `str::trim` would take for a space (the parser trims only
        // spaces and tabs).
        jar.set("https://example.com/", "name=Jos\u{e9}\u{a0}")
            .unwrap();
        jar.set("https://example.com/a", "flag; Max-Age=3600")
            .unwrap();
        let listed = jar.cookies();
        jar.clear();
        for cookie in listed.clone() {
            jar.insert(cookie).unwrap();
        }
        assert_eq!(jar.cookies(), listed);
        assert_eq!(jar.get("name").as_deref(), Some("Jos\u{e9}\u{a0}"));
    }

    #[test]
    fn retain_is_shown_what_cookies_lists() {
        let jar = CookieJar::new();
        jar.set("https://example.com/", "live=1").unwrap();
        // Stored as it is, expired, as a jar holds a cookie until it is next looked at.
        jar.lock().push(Stored {
            name: "old".into(),
            value: "1".into(),
            domain: "example.com".into(),
            host_only: true,
            path: "/".into(),
            secure: false,
            expires: Some(1),
            created: 9,
            accessed: 9,
        });
        let mut shown = Vec::new();
        jar.retain(|c| {
            shown.push(c.name.clone());
            true
        });
        assert_eq!(shown, ["live"]);
    }

    #[test]
    fn secure_expiry_and_replacement() {
        let jar = CookieJar::new();
        set(
            &jar,
            "https://h/",
            &[
                "s=1; Secure",
                "gone=1; Max-Age=0",
                "old=1; Expires=Thu, 01 Jan 1970 00:00:01 GMT",
            ],
        );
        set(&jar, "http://h/", &["plain=1; Secure"]);
        assert_eq!(sent(&jar, "https://h/").as_deref(), Some("s=1"));
        assert_eq!(sent(&jar, "http://h/"), None);
        set(&jar, "https://h/", &["s=2; Secure"]);
        assert_eq!(sent(&jar, "https://h/").as_deref(), Some("s=2"));
        set(&jar, "https://h/", &["s=; Secure; Max-Age=-1"]);
        assert_eq!(sent(&jar, "https://h/"), None);
        set(
            &jar,
            "http://h/",
            &["later=1; Expires=Wed, 09 Jun 2121 10:18:14 GMT"],
        );
        assert_eq!(sent(&jar, "http://h/").as_deref(), Some("later=1"));
    }

    #[test]
    fn an_expired_secure_cookie_leaves_its_name_to_plain_http() {
        let jar = CookieJar::new();
        set(&jar, "https://h/", &["sid=old; Secure; Path=/; Max-Age=1"]);
        let later = now() + 5;
        let stored = store(&mut jar.lock(), &uri("http://h/"), "sid=new; Path=/", later);
        assert_eq!(stored, Ok(()));
        assert_eq!(
            jar.header_for(&uri("http://h/"), later).as_deref(),
            Some("sid=new")
        );
    }

    #[test]
    fn plain_http_cannot_replace_delete_or_shadow_a_secure_cookie() {
        let jar = CookieJar::new();
        set(
            &jar,
            "https://h.example/",
            &["sid=good; Secure; Path=/", "login=1; Secure; Path=/login"],
        );
        set(&jar, "http://h.example/", &["sid=evil; Path=/"]);
        set(&jar, "http://h.example/app/x", &["sid=shadow; Path=/app"]);
        set(&jar, "http://a.h.example/", &["sid=wide; Domain=h.example"]);
        set(&jar, "http://h.example/", &["sid=; Max-Age=0"]);
        assert_eq!(
            sent(&jar, "https://h.example/app/x").as_deref(),
            Some("sid=good")
        );
        // Another name, or a path the Secure cookie's does not cover, may be set over http; a
        // Secure cookie may be replaced over https.
        set(
            &jar,
            "http://h.example/",
            &["theme=dark", "login=2; Path=/loginhelper"],
        );
        set(&jar, "https://h.example/", &["sid=next; Secure"]);
        assert_eq!(
            sent(&jar, "https://h.example/loginhelper").as_deref(),
            Some("login=2; sid=next; theme=dark")
        );
        assert_eq!(
            sent(&jar, "http://h.example/").as_deref(),
            Some("theme=dark")
        );
    }

    #[test]
    fn secure_and_host_prefixes_hold_their_promises() {
        let jar = CookieJar::new();
        set(
            &jar,
            "https://a.example/app/x",
            &[
                "__Secure-ok=1; Secure",
                "__Secure-plain=1",
                "__secure-lower=1",
                "__Host-ok=1; Secure; Path=/",
                "__Host-nopath=1; Secure",
                "__Host-deep=1; Secure; Path=/app",
                "__Host-domain=1; Secure; Path=/; Domain=a.example",
                "__Host-insecure=1; Path=/",
                "__HOST-upper=1; Path=/",
            ],
        );
        set(
            &jar,
            "https://b.a.example/",
            &["__Host-wide=1; Secure; Path=/; Domain=a.example"],
        );
        assert_eq!(
            sent(&jar, "https://a.example/app/x").as_deref(),
            Some("__Secure-ok=1; __Host-ok=1")
        );
    }

    #[test]
    fn a_host_only_cookie_and_a_domain_cookie_of_one_name_are_two_cookies() {
        // RFC 6265 §5.3 step 11: a cookie replaces one of the same name, domain, host-only
        // flag and path.
        let jar = CookieJar::new();
        set(&jar, "http://example.com/", &["sid=host"]);
        set(
            &jar,
            "http://example.com/",
            &["sid=wide; Domain=example.com"],
        );
        assert_eq!(
            sent(&jar, "http://example.com/").as_deref(),
            Some("sid=host; sid=wide")
        );
        assert_eq!(
            sent(&jar, "http://api.example.com/").as_deref(),
            Some("sid=wide")
        );
        // Deleting the domain cookie leaves the host-only one, and the other way round.
        set(
            &jar,
            "http://example.com/",
            &["sid=; Domain=example.com; Max-Age=0"],
        );
        assert_eq!(
            sent(&jar, "http://example.com/").as_deref(),
            Some("sid=host")
        );
        assert_eq!(sent(&jar, "http://api.example.com/"), None);
        set(
            &jar,
            "http://example.com/",
            &["sid=wide; Domain=example.com"],
        );
        set(&jar, "http://example.com/", &["sid=; Max-Age=0"]);
        assert_eq!(
            sent(&jar, "http://example.com/").as_deref(),
            Some("sid=wide")
        );
    }

    #[test]
    fn debug_shows_how_many_cookies_not_their_values() {
        let jar = CookieJar::new();
        set(&jar, "http://h/", &["sid=secret-session"]);
        let text = format!("{jar:?}");
        assert_eq!(text, "CookieJar { cookies: 1 }");
    }

    #[test]
    fn an_explicit_cookie_header_wins() {
        let jar = CookieJar::new();
        set(&jar, "http://h/", &["a=1"]);
        let mut headers = HeaderMap::new();
        jar.add_to(&uri("http://h/x"), &mut headers);
        assert_eq!(headers["cookie"], "a=1");
        let mut own = HeaderMap::new();
        own.insert(header::COOKIE, HeaderValue::from_static("mine=2"));
        jar.add_to(&uri("http://h/x"), &mut own);
        assert_eq!(own["cookie"], "mine=2");
    }

    #[test]
    fn bad_set_cookie_values_are_ignored_and_memory_is_bounded() {
        let jar = CookieJar::new();
        set(&jar, "http://h/", &["", "=", "  ; Path=/", " = ; Path=/"]);
        assert_eq!(jar.len(), 0);
        let many: Vec<String> = (0..MAX_PER_DOMAIN + 10)
            .map(|i| format!("c{i}=v"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        set(&jar, "http://h/", &many);
        assert_eq!(jar.len(), MAX_PER_DOMAIN);
        let header = sent(&jar, "http://h/").unwrap();
        assert!(!header.contains("c0=") && header.contains(&format!("c{}=", MAX_PER_DOMAIN + 9)));
        // An attribute value past 1024 bytes is ignored: the path is the default one, and a
        // cookie holds no more than its name, value and a short path.
        let jar = CookieJar::new();
        let long = format!("long=1; Path=/{}", "p".repeat(MAX_ATTRIBUTE_SIZE));
        let edge = format!("edge=1; Path=/{}", "e".repeat(MAX_ATTRIBUTE_SIZE - 1));
        set(&jar, "http://h/a/b", &[&long, &edge]);
        assert_eq!(sent(&jar, "http://h/a/").as_deref(), Some("long=1"));
        let edge_path = format!("http://h/{}", "e".repeat(MAX_ATTRIBUTE_SIZE - 1));
        assert_eq!(sent(&jar, &edge_path).as_deref(), Some("edge=1"));
    }

    #[test]
    fn dates_parse_as_rfc_6265_section_5_1_1_says() {
        for (text, expected) in [
            ("Thu, 01 Jan 1970 00:00:01 GMT", Some(1)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)),
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)),
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),
            ("Wed, 29 Feb 2024 00:00:00 GMT", Some(1_709_164_800)),
            ("06 Nov 1994", None),
            ("Sun, 32 Nov 1994 08:49:37 GMT", None),
            ("garbage", None),
        ] {
            assert_eq!(parse_date(text), expected, "{text}");
        }
    }

    #[test]
    fn default_paths_and_path_matching() {
        assert_eq!(default_path(""), "/");
        assert_eq!(default_path("/"), "/");
        assert_eq!(default_path("/a"), "/");
        assert_eq!(default_path("/a/b"), "/a");
        assert_eq!(default_path("/a/b/"), "/a/b");
        assert!(path_match("/a/b", "/a"));
        assert!(path_match("/a/b", "/a/"));
        assert!(!path_match("/ab", "/a"));
        assert!(path_match("/a", "/a"));
        assert!(!path_match("/", "/a"));
    }

    #[test]
    fn a_date_that_does_not_exist_is_no_date() {
        // RFC 6265 §5.1.1: "If no such date exists, abort these steps and fail".
        assert_eq!(parse_date("Tue, 30 Feb 2027 00:00:00 GMT"), None);
        assert_eq!(parse_date("Thu, 31 Apr 2027 00:00:00 GMT"), None);
        assert_eq!(parse_date("Sat, 29 Feb 2025 00:00:00 GMT"), None);
        assert!(parse_date("Tue, 29 Feb 2028 00:00:00 GMT").is_some());
        assert!(parse_date("Fri, 31 Dec 2027 23:59:59 GMT").is_some());
        // A time field is digits: `12a:30:00` is no time (after the seconds anything goes).
        assert_eq!(parse_date("Tue, 02 Mar 2027 12a:30:00 GMT"), None);
        assert_eq!(parse_date("Tue, 02 Mar 2027 12:3a:00 GMT"), None);
        assert!(parse_date("Tue, 02 Mar 2027 12:30:00x GMT").is_some());
    }

    #[test]
    fn a_huge_max_age_is_listed_without_overflow() {
        // `SystemTime` is narrower on some systems (Windows: 100 ns ticks from 1601 in an
        // i64); the expiry shown is capped where every system holds it.
        let jar = CookieJar::new();
        set(
            &jar,
            "https://h.example/",
            &["sid=1; Max-Age=1000000000000"],
        );
        let cookies = jar.cookies();
        assert_eq!(cookies.len(), 1);
        let latest = UNIX_EPOCH + std::time::Duration::from_secs(LATEST_EXPIRY);
        assert_eq!(cookies[0].expires, Some(latest));
    }
}
