//! Device class of a click (docs/contract.md §5): desktop, mobile, tablet, tv, bot, other.
//!
//! A first, token-based reading of the User-Agent and the
//! `Sec-CH-UA-Mobile` client hint: the platform tokens browsers put in
//! their user agents are stable and few. Checked in the order tv, tablet,
//! mobile, desktop, because TV and tablet user agents also carry mobile or
//! desktop tokens. A click already classed a known bot is `bot` whatever
//! its user agent says.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Desktop,
    Mobile,
    Tablet,
    Tv,
    Bot,
    Other,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
            Device::Tv => "tv",
            Device::Bot => "bot",
            Device::Other => "other",
        }
    }
}

const TV: &[&str] = &[
    "SmartTV",
    "SMART-TV",
    "HBBTV",
    "DTV",
    "TV Safari",
    "Android TV",
    "AndroidTV",
    "Amazon;AFT",
    "Opera TV",
    "TiVo",
    "VIDAA",
    "Vestel",
    "Smart-TV",
    "GoogleTV",
    "AppleTV",
    "HbbTV",
    "CrKey",
    "Roku",
    "BRAVIA",
    "Web0S",
    "WebOS TV",
    "NetCast",
    "Tizen 2",
    "Tizen 3",
    "Tizen 4",
    "Tizen 5",
    "Tizen 6",
    "Tizen 7",
    "Tizen 8",
    "AFTS",
    "AFTM",
    "AFTT",
    "AFTB",
    "AFTKA",
    "PlayStation",
    "Xbox",
    "Nintendo",
];
const TABLET: &[&str] = &[
    "iPad", "Tablet", "Kindle", "Silk/", "PlayBook", "SM-T", "Nexus 7", "Nexus 9",
];
const MOBILE: &[&str] = &[
    "Mobi",
    "iPhone",
    "iPod",
    "Windows Phone",
    "BlackBerry",
    "BB10",
    "Opera Mini",
    "IEMobile",
];
const DESKTOP: &[&str] = &["Windows NT", "Macintosh", "X11", "CrOS", "Linux x86_64"];

/// Bits of what a user agent contains, from one pass of one automaton
/// over it (the token lists above, plus "Android").
const IS_TV: u8 = 1;
const IS_TABLET: u8 = 2;
const IS_MOBILE: u8 = 4;
const IS_DESKTOP: u8 = 8;
const HAS_ANDROID: u8 = 16;
const HAS_MOBI: u8 = 32;

struct Tokens {
    automaton: aho_corasick::AhoCorasick,
    /// The bits of each pattern, by pattern id.
    bits: Vec<u8>,
}

static TOKENS: std::sync::LazyLock<Option<Tokens>> = std::sync::LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut bits = Vec::new();
    for (list, bit) in [
        (TV, IS_TV),
        (TABLET, IS_TABLET),
        (MOBILE, IS_MOBILE),
        (DESKTOP, IS_DESKTOP),
        (&["Android"][..], HAS_ANDROID),
    ] {
        for t in list {
            patterns.push(*t);
            bits.push(if *t == "Mobi" { bit | HAS_MOBI } else { bit });
        }
    }
    let automaton = aho_corasick::AhoCorasick::new(&patterns).ok()?;
    Some(Tokens { automaton, bits })
});

/// Which of the token lists `ua` has a token of.
fn seen(ua: &str) -> u8 {
    let Some(t) = TOKENS.as_ref() else {
        return 0;
    };
    // Overlapping: "Android TV" must count as both "Android TV" and "Android".
    t.automaton
        .find_overlapping_iter(ua)
        .fold(0, |acc, m| acc | t.bits[m.pattern().as_usize()])
}

/// `ch_mobile` is the `Sec-CH-UA-Mobile` header when present (`?1` or `?0`).
pub fn classify(ua: &str, ch_mobile: Option<&[u8]>) -> Device {
    from_tokens(tokens(ua), ch_mobile)
}

/// What of the user agent decides its class: the token lists it has a
/// token of, and whether it is empty (bit 7). The part worth caching.
pub fn tokens(ua: &str) -> u8 {
    if ua.is_empty() {
        return EMPTY;
    }
    seen(ua)
}

/// Bit of [`tokens`] for an empty user agent.
const EMPTY: u8 = 0x80;

/// The class from [`tokens`] and the `Sec-CH-UA-Mobile` header.
pub fn from_tokens(has: u8, ch_mobile: Option<&[u8]>) -> Device {
    if has & EMPTY != 0 {
        return Device::Other;
    }
    if has & IS_TV != 0 {
        return Device::Tv;
    }
    if has & IS_TABLET != 0 || (has & HAS_ANDROID != 0 && has & HAS_MOBI == 0) {
        return Device::Tablet;
    }
    if ch_mobile == Some(b"?1") || has & IS_MOBILE != 0 {
        return Device::Mobile;
    }
    if has & IS_DESKTOP != 0 {
        return Device::Desktop;
    }
    Device::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_user_agents() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Device::Desktop),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15", Device::Desktop),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", Device::Desktop),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", Device::Mobile),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", Device::Mobile),
            ("Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", Device::Tablet),
            ("Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Device::Tablet),
            ("Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36", Device::Tv),
            ("Roku/DVP-9.10 (519.10E04111A)", Device::Tv),
            ("curl/8.5.0", Device::Other),
            ("", Device::Other),
        ];
        for (ua, want) in cases {
            assert_eq!(classify(ua, None), want, "{ua}");
        }
    }

    #[test]
    fn client_hint_says_mobile() {
        let ua = "Mozilla/5.0 (Linux; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(classify(ua, Some(b"?1")), Device::Mobile);
        let reduced = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36";
        assert_eq!(classify(reduced, Some(b"?1")), Device::Mobile);
        assert_eq!(classify(reduced, Some(b"?0")), Device::Desktop);
    }
}
