use super::*;

#[test]
fn a_syntax_error_never_quotes_the_lines_around_it() {
    // A typo next to a secret, as in a key rotation: the message names
    // the line, never the text around it (it reaches the reload log).
    let text = "signing:\n  keys:\n    - {id: k1, secret: \"s3cr3t-0123456789abcdefghijklmn\"}\n  sign_with: [unclosed\nsink:\n  password: \"pa55word-xyz\"\n";
    let e = Config::parse(text).unwrap_err().to_string();
    assert!(!e.contains("s3cr3t") && !e.contains("pa55word"), "{e}");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn unknown_keys_are_errors() {
    let err = Config::parse("listen: ['127.0.0.1:1']\nlisten_typo: 3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen_typo"), "{err}");
}

#[test]
fn an_empty_file_is_the_default() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.listen, ["127.0.0.1:8080"]);
    assert_eq!(c.click.max_query_bytes, 4096);
    assert!(c.signing.required && c.signing.keys.is_empty());
    // A section given in part keeps the defaults of the rest.
    let c = Config::parse("events:\n  batch_max: 7\n").unwrap();
    assert_eq!(c.events.batch_max, 7);
    assert_eq!(c.events.flush_interval_ms, 100);
}

#[test]
fn problems_read_as_key_and_what_to_fix() {
    let mut p = Problems::default();
    p.push("listen", "give at least one address");
    p.push("", "a file-level problem");
    assert_eq!(
        p.lines(),
        ["listen: give at least one address", "a file-level problem"]
    );
    assert_eq!(p.clone().or(()), Err(p));
    assert_eq!(Problems::default().or(1), Ok(1));
}

#[test]
fn the_shipped_file_shows_every_default_but_the_development_key() {
    let mut shipped = Config::parse(include_str!("../../conf/clickedge.yaml")).unwrap();
    assert!(shipped.uses_dev_key());
    shipped.signing.keys.clear();
    // It spells out the reasons' actions, each its default.
    use crate::ivt::Actions;
    let actions = Actions::from_config(&shipped.ivt.actions);
    assert_eq!(actions, Ok(Actions::default()));
    shipped.ivt.actions.clear();
    assert_eq!(shipped, Config::default());
}

/// The backticked spans of a Markdown table cell: `a`, `b` gives a, b.
fn spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The cells of a Markdown table row (`\|` is a pipe inside a cell).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                out.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// The keys a key cell names: `a.b`, `a.c` or `a.{b, c}`.
fn keys(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    for span in spans(cell) {
        match span.split_once(".{") {
            Some((prefix, rest)) => {
                for k in rest.trim_end_matches('}').split(',') {
                    out.push(format!("{prefix}.{}", k.trim()));
                }
            }
            None => out.push(span.to_string()),
        }
    }
    out
}

/// Every key of docs/operations.md's configuration reference with the
/// default it states, as YAML text; and the reasons its `ivt.actions` row
/// says block and flag by default.
fn documented_defaults() -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    let doc = include_str!("../../docs/operations.md");
    let start = doc
        .find("## Configuration reference")
        .expect("the reference");
    let len = doc[start + 3..].find("\n## ").expect("a section after it");
    let (mut defaults, mut blocks, mut flags) = (Vec::new(), Vec::new(), Vec::new());
    for row in doc[start..start + 3 + len].lines() {
        if !row.starts_with("| `") {
            continue;
        }
        let c = cells(row);
        let (names, values) = (keys(&c[0]), spans(&c[1]));
        if names == ["ivt.actions.<reason>"] {
            let flag_at = values.iter().position(|v| *v == "flag").unwrap();
            assert_eq!(values[0], "block", "{row}");
            blocks = values[1..flag_at].iter().map(|v| v.to_string()).collect();
            flags = values[flag_at + 1..]
                .iter()
                .map(|v| v.to_string())
                .collect();
            continue;
        }
        // One default for each key, or one for all of them.
        assert!(
            values.len() == names.len() || values.len() == 1,
            "a row whose defaults do not pair with its keys: {row}"
        );
        for (i, name) in names.into_iter().enumerate() {
            let value = values[if values.len() == 1 { 0 } else { i }];
            defaults.push((name, value.to_string()));
        }
    }
    (defaults, blocks, flags)
}

/// The leaves of a default config: each key, dotted, and its value.
fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, v, out);
            }
        }
        v => out.push((prefix.to_string(), v.clone())),
    }
}

#[test]
fn the_operations_guide_states_each_default_as_the_code_has_it() {
    let (documented, blocks, flags) = documented_defaults();
    let mut code = Vec::new();
    leaves(
        "",
        &serde_json::to_value(Config::default()).unwrap(),
        &mut code,
    );
    let mut wrong = Vec::new();
    for (key, text) in &documented {
        let Some((_, value)) = code.iter().find(|(k, _)| k == key) else {
            wrong.push(format!("{key}: documented, but no such key"));
            continue;
        };
        let said: serde_json::Value = serde_saphyr::from_str(text)
            .unwrap_or_else(|e| panic!("{key}: the default `{text}` is not YAML: {e}"));
        if &said != value {
            wrong.push(format!("{key}: documented `{text}`, the code's is {value}"));
        }
    }
    for (key, _) in &code {
        if key != "ivt.actions" && !documented.iter().any(|(k, _)| k == key) {
            wrong.push(format!("{key}: not in the reference"));
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/operations.md:\n{}",
        wrong.join("\n")
    );
    assert!(documented.len() > 90, "{} keys", documented.len());

    // `ivt.actions`: each reason's default comes from its declaration.
    use crate::ivt::Reason;
    let named = |block: bool| -> Vec<String> {
        Reason::ALL
            .iter()
            .filter(|r| r.blocks_by_default() == block)
            .map(|r| r.as_str().to_string())
            .collect()
    };
    assert_eq!(blocks, named(true), "ivt.actions: the reasons that block");
    assert_eq!(flags, named(false), "ivt.actions: the reasons that flag");
}
