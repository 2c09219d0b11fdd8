//! Device class of a click (SPEC §5): desktop, mobile, tablet, tv, bot, other.
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

fn any(ua: &str, tokens: &[&str]) -> bool {
    tokens.iter().any(|t| ua.contains(t))
}

/// `ch_mobile` is the `Sec-CH-UA-Mobile` header when present (`?1` or `?0`).
pub fn classify(ua: &str, ch_mobile: Option<&[u8]>) -> Device {
    if ua.is_empty() {
        return Device::Other;
    }
    if any(ua, TV) {
        return Device::Tv;
    }
    if any(ua, TABLET) || (ua.contains("Android") && !ua.contains("Mobi")) {
        return Device::Tablet;
    }
    if ch_mobile == Some(b"?1") || any(ua, MOBILE) {
        return Device::Mobile;
    }
    if any(ua, DESKTOP) {
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
