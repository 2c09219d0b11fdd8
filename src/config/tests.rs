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
