use super::patterns::strip_lookaround;
use super::*;

// Sample files in the IAB format, written for these tests (the real
// list is licensed and never shipped).
const EXCLUDE: &str = "\
# pattern|active|exceptions|redundant|impact|start|inactive date
bot|1|cubot,robot framework tester|0|2|0|
crawler|1||0|1|0|
Java/|1||1|2|1|
pageonly|1||0|0|0|
retiredagent|0||0|2|0|01/01/2020
spider|1|SpiderMonkeyBrowser|0|2|0|
";
const INCLUDE: &str = "\
# pattern|active|start
Mozilla/|1|1
Opera/|1|1
oldbrowser|0|0
";

fn lists() -> BotLists {
    BotLists {
        patterns: PatternList::default(),
        heuristics: PatternList::default(),
        scanners: PatternList::default(),
        devices: PatternList::default(),
        iab_exclude: Some(IabExclude::parse(EXCLUDE).unwrap()),
        iab_include: Some(IabInclude::parse(INCLUDE).unwrap()),
        quick: None,
    }
}

#[test]
fn a_match_names_its_list_and_line() {
    // Tiers keep the file's line numbers.
    let text = "# head\nGooglebot\n# tier: non_browser\n^\\w+/1\\.0$\n# tier: known_bot\ncurl/\n";
    let (known, heuristic) = tiers(text);
    let l = BotLists {
        patterns: PatternList::compile([
            ("builtin bot list", known.as_str()),
            ("/etc/mine.txt", "zzz-tool\n(?<!x)zzbot\n"),
        ])
        .unwrap(),
        heuristics: PatternList::compile([("builtin bot list", heuristic.as_str())]).unwrap(),
        scanners: PatternList::compile([("builtin link scanners", BUILTIN_SCANNERS)]).unwrap(),
        ..BotLists::default()
    };
    let rule = |ua: &str| l.classify_with_rule(ua);
    let known = |source, line| Rule::Pattern {
        list: PatternTier::Known,
        source,
        line,
    };
    assert_eq!(rule("curl/8.5"), Some((Reason::KnownBot, known(0, 6))));
    assert_eq!(rule("Googlebot/2.1"), Some((Reason::KnownBot, known(0, 2))));
    assert_eq!(
        rule("my zzbot"),
        Some((Reason::KnownBot, known(1, 2))),
        "a look-around pattern"
    );
    assert_eq!(l.patterns.source_name(1), "mine.txt");
    assert_eq!(l.patterns.source_name(0), "open-bots");
    assert_eq!(
        rule("tool/1.0"),
        Some((
            Reason::NonBrowser,
            Rule::Pattern {
                list: PatternTier::Heuristic,
                source: 0,
                line: 4
            }
        ))
    );
    let Some((
        Reason::LinkScanner,
        Rule::Pattern {
            list: PatternTier::Scanner,
            line,
            ..
        },
    )) = rule("Barracuda Sentinel (EE)")
    else {
        panic!("{:?}", rule("Barracuda Sentinel (EE)"));
    };
    assert_eq!(
        BUILTIN_SCANNERS.lines().nth(line as usize - 1),
        Some("Barracuda Sentinel")
    );
    assert_eq!(rule(""), Some((Reason::NonBrowser, Rule::EmptyUserAgent)));
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    assert_eq!(rule(chrome), None);
    // The verdict is the one classify gives.
    for ua in [
        "curl/8.5",
        "tool/1.0",
        "Barracuda Sentinel (EE)",
        "",
        chrome,
    ] {
        assert_eq!(rule(ua).map(|(r, _)| r), l.classify(ua), "{ua}");
    }
}

#[test]
fn a_user_agent_must_pass_the_include_list_and_miss_the_exclude_list() {
    let l = lists();
    let chrome = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131 Safari/537.36";
    assert_eq!(l.classify(chrome), None);
    assert_eq!(
        l.classify("Opera/9.80 (X11; Linux x86_64) Presto/2.12"),
        None
    );
    // Fails the include list: not a browser.
    assert_eq!(l.classify("curl/8.5.0"), Some(Reason::NonBrowser));
    assert_eq!(l.classify(""), Some(Reason::NonBrowser));
    assert_eq!(l.classify("  "), Some(Reason::NonBrowser));
    // Include start-of-string: "Mozilla/" not at the start does not count.
    assert_eq!(l.classify("xx Mozilla/5.0"), Some(Reason::NonBrowser));
    // Passes include, matches exclude (case-insensitive): known bot.
    assert_eq!(
        l.classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        Some(Reason::KnownBot)
    );
    assert_eq!(l.classify("Mozilla/5.0 CRAWLER"), Some(Reason::KnownBot));
    // Both: known_bot wins (docs/contract.md §5 order).
    assert_eq!(l.classify("SomeBot/1.0"), Some(Reason::KnownBot));
}

#[test]
fn exceptions_spare_a_match() {
    let l = lists();
    // "bot" matches inside "Cubot" (a phone maker), but "cubot" is its exception.
    assert_eq!(
        l.classify("Mozilla/5.0 (Linux; Android 9; CUBOT X19) Mobile"),
        None
    );
    assert_eq!(l.classify("Mozilla/5.0 SpiderMonkeyBrowser/1"), None);
    // An exception of one pattern does not spare another pattern's match.
    assert_eq!(
        l.classify("Mozilla/5.0 (CUBOT) crawler"),
        Some(Reason::KnownBot)
    );
}

#[test]
fn start_of_string_patterns_match_only_at_the_start() {
    let l = BotLists {
        iab_include: None,
        ..lists()
    };
    assert_eq!(l.classify("Java/1.8.0_151"), Some(Reason::KnownBot));
    assert_eq!(l.classify("Mozilla/5.0 (X11) MyApp Java/17"), None);
}

#[test]
fn inactive_and_page_only_patterns_are_skipped() {
    let l = BotLists {
        iab_include: None,
        ..lists()
    };
    assert_eq!(l.iab_exclude.as_ref().unwrap().len(), 4);
    assert_eq!(l.classify("Mozilla/5.0 retiredagent"), None);
    assert_eq!(l.classify("Mozilla/5.0 pageonly"), None);
    assert_eq!(l.iab_include.as_ref().map(|i| i.len()), None);
    assert_eq!(IabInclude::parse(INCLUDE).unwrap().len(), 2);
}

#[test]
fn look_around_patterns_keep_their_meaning() {
    assert_eq!(strip_lookaround("(?<!lib)http"), "http");
    assert_eq!(strip_lookaround("java(?!;)"), "java");
    assert_eq!(strip_lookaround("a(?!(?:x|y))b\\(c[(?]"), "ab\\(c[(?]");
    let p = PatternList::compile([(
        "t",
        "(?<!lib)http\njava(?!;)\n(?<! cu)bots?(?:\\b|_)\n ylead",
    )])
    .unwrap();
    assert_eq!(p.len(), 4);
    assert!(p.is_match("Apache-HttpClient/4.5"));
    assert!(!p.is_match("MyApp libhttp/1.0"));
    assert!(p.is_match("Java/17"));
    assert!(!p.is_match("Mozilla/5.0 (java; x)"));
    assert!(p.is_match("SomeBot/1"));
    assert!(!p.is_match("Mozilla/5.0 (Linux; Android 9; CUBOT X19)"));
    // A leading space is part of the pattern.
    assert!(p.is_match("a ylead"));
    assert!(!p.is_match("ylead"));
}

#[test]
fn bad_lines_are_named() {
    let e = IabExclude::parse("bot|2||0|2|0|").unwrap_err();
    assert!(
        matches!(&e, BotListError::Flag { line: 1, name: "active", value } if value == "2"),
        "{e}"
    );
    let e = IabExclude::parse("# c\nbot|1||0|7|0|").unwrap_err();
    assert!(matches!(e, BotListError::Impact { line: 2, .. }), "{e}");
    assert!(e.to_string().starts_with("line 2: impact"), "{e}");
    let e = IabInclude::parse("|1|1").unwrap_err();
    assert!(matches!(e, BotListError::EmptyPattern { line: 1 }), "{e}");
    let e = PatternList::compile([("extra.txt", "ok\n(unclosed\n")]).unwrap_err();
    assert!(
        matches!(&e, BotListError::Pattern { list, line: 2, .. } if list == "extra.txt"),
        "{e}"
    );
    assert!(e.to_string().contains("extra.txt line 2"), "{e}");
}

#[test]
fn without_lists_only_an_empty_agent_is_flagged() {
    let l = BotLists::default();
    assert_eq!(l.classify(""), Some(Reason::NonBrowser));
    assert_eq!(l.classify("curl/8"), None);
}

#[test]
fn the_builtin_list_has_two_tiers_and_heuristics_only_flag() {
    let (known, heuristic) = tiers(BUILTIN_PATTERNS);
    let l = BotLists {
        patterns: PatternList::compile([("known", known.as_str()), ("named", BUILTIN_NAMED)])
            .unwrap(),
        heuristics: PatternList::compile([("heuristics", heuristic.as_str())]).unwrap(),
        ..BotLists::default()
    };
    assert!(l.patterns.len() > 100 && l.heuristics.len() > 50);
    // Long-tail real devices and apps the generic patterns fit: flagged.
    for person in [
        "2.1.0 (Linux; U; Android 7.0; ONEPLUS A3000 Build/NRD90M)",
        "Mozilla/5.0 (Linux; Android 11; B BOT 50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.91 Mobile Safari/537.36",
        "DuckDuckGo/5 CFNetwork/1335.0.3 Darwin/21.6.0",
        "NetSurf/3.10 (Linux)",
    ] {
        assert_ne!(l.classify(person), Some(Reason::KnownBot), "{person}");
    }
    assert_eq!(
        l.classify("2.1.0 (Linux; U; Android 7.0; ONEPLUS A3000 Build/NRD90M)"),
        Some(Reason::NonBrowser)
    );
    // Named crawlers and tools still block.
    for bot in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "python-requests/2.31.0",
    ] {
        assert_eq!(l.classify(bot), Some(Reason::KnownBot), "{bot}");
    }
    // A file without tier comments is all confident.
    assert_eq!(tiers("a\nb\n"), ("a\nb\n".to_string(), "\n\n".to_string()));
}

#[test]
fn the_quick_pass_never_changes_a_verdict() {
    let (known, heuristic) = tiers(BUILTIN_PATTERNS);
    let slow = BotLists {
        patterns: PatternList::compile([("known", known.as_str()), ("named", BUILTIN_NAMED)])
            .unwrap(),
        heuristics: PatternList::compile([("heuristics", heuristic.as_str())]).unwrap(),
        scanners: PatternList::compile([("builtin link scanners", BUILTIN_SCANNERS)]).unwrap(),
        devices: PatternList::compile([("devices", BUILTIN_DEVICES)]).unwrap(),
        ..BotLists::default()
    };
    let quick = slow.clone().with_quick_pass();
    assert!(quick.quick.is_some());
    for ua in [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Linux; Android 11; B BOT 50) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.91 Mobile Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X) Word/14.64.0",
        "2.1.0 (Linux; U; Android 7.0; ONEPLUS A3000 Build/NRD90M)",
        // Look-around patterns (isbot's `google`), matched and not.
        "Mozilla/5.0 (Linux; GoogleTV 3.2; NSZ-GS7/GX70) AppleWebKit/534.24 (KHTML, like Gecko) Chrome/11.0.696.77 Safari/534.24",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36 GoogleApp/15.0",
        "curl/8.5.0",
        "",
        "   ",
    ] {
        assert_eq!(quick.classify_with_rule(ua), slow.classify_with_rule(ua), "{ua}");
        assert_eq!(quick.classify(ua), slow.classify(ua), "{ua}");
    }
}

#[test]
fn a_device_marker_quiets_the_heuristics_only() {
    let (known, heuristic) = tiers(BUILTIN_PATTERNS);
    let mut l = BotLists {
        patterns: PatternList::compile([("known", known.as_str()), ("named", BUILTIN_NAMED)])
            .unwrap(),
        heuristics: PatternList::compile([("heuristics", heuristic.as_str())]).unwrap(),
        ..BotLists::default()
    };
    let bada = "Mozilla/5.0 (SAMSUNG; SAMSUNG-GT-S8600/1.0; U; Bada/2.0; en-us) AppleWebKit/534.20 (KHTML, like Gecko) Dolfin/3.0 Mobile WVGA SMM-MMS/1.2.0 OPN-B";
    let ie = "Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1; Trident/4.0; chromeframe/32.0.1700.107; .NET CLR 2.0.50727)";
    let googlebot_phone = "Nokia6820/2.0 (4.83) Profile/MIDP-1.0 Configuration/CLDC-1.0 (compatible; Googlebot-Mobile/2.1; +http://www.google.com/bot.html)";
    // Without the markers the heuristics flag the phone and the old IE.
    assert_eq!(l.classify(bada), Some(Reason::NonBrowser));
    assert_eq!(l.classify(ie), Some(Reason::NonBrowser));
    l.devices = PatternList::compile([("devices", BUILTIN_DEVICES)]).unwrap();
    assert_eq!(l.classify(bada), None);
    assert_eq!(l.classify_with_rule(ie), None);
    // A confident pattern still wins over a device's marks.
    assert_eq!(l.classify(googlebot_phone), Some(Reason::KnownBot));
    assert_eq!(
        l.classify("ZmEu"),
        Some(Reason::NonBrowser),
        "no marker, still flagged"
    );
}

#[test]
fn builtin_list_compiles_and_catches_common_crawlers() {
    let p = PatternList::compile([("builtin", BUILTIN_PATTERNS)]).unwrap();
    assert!(p.len() > 100, "{} patterns", p.len());
    for bot in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "curl/8.5.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
    ] {
        assert!(p.is_match(bot), "missed {bot}");
    }
    for browser in [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    ] {
        assert!(!p.is_match(browser), "flagged {browser}");
    }
}
