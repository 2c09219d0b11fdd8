//! Device class of a click (docs/contract.md §5): desktop, mobile, tablet, tv, bot, other.
//!
//! A token-based reading of the User-Agent and the `Sec-CH-UA-Mobile`
//! client hint: the platform tokens browsers put in their user agents are
//! stable and few. Checked in the order tv, tablet, laptop, Android,
//! mobile, desktop, because TV and tablet user agents also carry mobile or
//! desktop tokens (see [`from_tokens`]). A click already classed a known
//! bot is `bot` whatever its user agent says. What it gets wrong, and why a
//! parser was not used: docs/accuracy.md#device-classes.

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

// Each list was chosen on the odd lines of Matomo Device Detector's labelled
// fixtures and is measured on the even lines (docs/accuracy.md#device-classes).
// Matching is case-sensitive: "TV" in a model name is a television far more
// often than not, "tv" inside a word is not.
const TV: &[&str] = &[
    "TV", // SmartTV, HbbTV, Android TV, GoogleTV, NETTV, BRAVIA-TV, model names
    "Tv", // SmartTvA, Opera Tv
    "Box",
    "BOX", // set-top boxes: MiBOX, TIMVISIONBOX, CANAL PLUS BOX
    "STB",
    "Stick",
    "Chromecast",
    "CrKey",
    "Roku",
    "BRAVIA",
    "Web0S",
    "NetCast",
    "VIDAA",
    "Vestel",
    "TiVo",
    "Viera",
    "CE-HTML",
    "BrightSign",
    "Formuler",
    "(Linux armv7l)", // TV browsers; a Raspberry Pi's desktop says "X11; Linux armv7l"
    "Tizen 2",
    "Tizen 3",
    "Tizen 4",
    "Tizen 5",
    "Tizen 6",
    "Tizen 7",
    "Tizen 8",
    "Amazon;AFT",
    "AFT", // Amazon Fire TV models: AFTS, AFTMM, AFTKA...
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
    "KAIOS",
    "KaiOS",
];
const DESKTOP: &[&str] = &[
    "Windows", // after the mobile and tablet tokens: Windows Phone is mobile
    "Win32",
    "Win64",
    "WOW64",
    "win10",
    "win7",
    "Macintosh",
    "Mac OS", // after iPhone and iPad, which say "like Mac OS X"
    "macOS",
    "MacBook",
    "Macmini",
    "iMac",
    "(x86_64)", // macOS apps' CFNetwork user agents
    "X11",
    "CrOS",
    "Linux x86_64",
    "Linux i686",
    "Ubuntu",
    "Fedora",
    "SUSE",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "SunOS",
    "AmigaOS",
    "Haiku",
];
/// Laptops running Android apps say "Android" without "Mobile".
const LAPTOP: &[&str] = &["Chromebook"];

/// Bits of what a user agent contains, from one pass of one automaton
/// over it (the token lists above, plus "Android"), and its first bytes.
const IS_TV: u16 = 1;
const IS_TABLET: u16 = 2;
const IS_MOBILE: u16 = 4;
const IS_DESKTOP: u16 = 8;
const HAS_ANDROID: u16 = 16;
const HAS_MOBI: u16 = 32;
const IS_LAPTOP: u16 = 64;
/// Starts like a browser's user agent (`Mozilla/`, `Opera/`), not an app's.
const BROWSER_SHAPED: u16 = 128;
/// Bit of [`tokens`] for an empty user agent.
const EMPTY: u16 = 256;

struct Tokens {
    automaton: aho_corasick::AhoCorasick,
    /// The bits of each pattern, by pattern id.
    bits: Vec<u16>,
}

static TOKENS: std::sync::LazyLock<Option<Tokens>> = std::sync::LazyLock::new(|| {
    let mut patterns = Vec::new();
    let mut bits = Vec::new();
    for (list, bit) in [
        (TV, IS_TV),
        (TABLET, IS_TABLET),
        (MOBILE, IS_MOBILE),
        (DESKTOP, IS_DESKTOP),
        (LAPTOP, IS_LAPTOP),
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
fn seen(ua: &str) -> u16 {
    let Some(t) = TOKENS.as_ref() else {
        return 0;
    };
    // Overlapping: "Android TV" must count as both "TV" and "Android".
    t.automaton
        .find_overlapping_iter(ua)
        .fold(0, |acc, m| acc | t.bits[m.pattern().as_usize()])
}

/// `ch_mobile` is the `Sec-CH-UA-Mobile` header when present (`?1` or `?0`).
pub fn classify(ua: &str, ch_mobile: Option<&[u8]>) -> Device {
    from_tokens(tokens(ua), ch_mobile)
}

/// What of the user agent decides its class: the token lists it has a
/// token of, its shape, and whether it is empty. The part worth caching.
pub(crate) fn tokens(ua: &str) -> u16 {
    if ua.is_empty() {
        return EMPTY;
    }
    let shape = if ua.starts_with("Mozilla/") || ua.starts_with("Opera/") {
        BROWSER_SHAPED
    } else {
        0
    };
    seen(ua) | shape
}

/// The class from [`tokens`] and the `Sec-CH-UA-Mobile` header.
pub(crate) fn from_tokens(has: u16, ch_mobile: Option<&[u8]>) -> Device {
    if has & EMPTY != 0 {
        return Device::Other;
    }
    if has & IS_TV != 0 {
        return Device::Tv;
    }
    if has & IS_TABLET != 0 {
        return Device::Tablet;
    }
    if has & IS_LAPTOP != 0 {
        return Device::Desktop;
    }
    if has & HAS_ANDROID != 0 && has & HAS_MOBI == 0 {
        // Android browsers say "Mobile" on phones and not on tablets. Apps'
        // own user agents (Dalvik, okhttp, download managers) never say
        // it; most Android devices are phones.
        return if has & BROWSER_SHAPED != 0 {
            Device::Tablet
        } else {
            Device::Mobile
        };
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
    fn common_user_agents_get_their_device_class() {
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
            // Apps' own user agents: an Android phone never says "Mobile" there.
            ("Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)", Device::Mobile),
            ("Dalvik/2.1.0 (Linux; U; Android 11; MiBOX4 Build/RTT0.211222.001)", Device::Tv),
            ("Dalvik/2.1.0 (Linux; U; Android 7.1.1; HP Chromebook 11 G5 Build/R79-12607.81.0)", Device::Desktop),
            ("Mail/1816 CFNetwork/673.0.3 Darwin/13.0.0 (x86_64) (Macmini5%2C1)", Device::Desktop),
            ("Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977", Device::Mobile),
            ("Mozilla/5.0 (Linux; Android 9; SHIELD Android TV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", Device::Tv),
            ("curl/8.5.0", Device::Other),
            ("", Device::Other),
        ];
        for (ua, want) in cases {
            assert_eq!(classify(ua, None), want, "{ua}");
        }
    }

    #[test]
    fn a_client_hint_saying_mobile_makes_a_reduced_agent_mobile() {
        let ua = "Mozilla/5.0 (Linux; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
        assert_eq!(classify(ua, Some(b"?1")), Device::Mobile);
        let reduced = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36";
        assert_eq!(classify(reduced, Some(b"?1")), Device::Mobile);
        assert_eq!(classify(reduced, Some(b"?0")), Device::Desktop);
    }
}
