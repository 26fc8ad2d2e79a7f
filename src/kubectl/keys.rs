//! `recover --keys FILE`: the primary keys to copy back, read before anything is created. A
//! file is a JSON array of keys in DynamoDB JSON (`[{"id":{"S":"user-7"}}]`), or one key per
//! line (blank lines and `#` comments skipped). Every error names its line.

use std::collections::BTreeMap;

use base64::Engine;

use crate::api::KeyJson;

/// At most this many keys: the API's limit on `spec.copyBack.keys`.
pub const MAX_KEYS: usize = 1000;

/// The keys of `text` (the contents of `--keys FILE`), each once, in the order given.
pub fn parse_keys(text: &str) -> Result<Vec<KeyJson>, String> {
    let trimmed = text.trim_start();
    let entries = if trimmed.starts_with('[') { array_entries(text)? } else { line_entries(text) };
    let mut keys: Vec<KeyJson> = Vec::new();
    let mut first: Option<(usize, Vec<String>)> = None;
    for (line, entry) in entries {
        let value: serde_json::Value = serde_json::from_str(entry).map_err(|e| format!("line {line}: not JSON: {e}"))?;
        let key = key_of(&value).map_err(|e| format!("line {line}: {e}"))?;
        let names: Vec<String> = key.keys().cloned().collect();
        match &first {
            Some((at, known)) if *known != names => {
                return Err(format!("line {line}: the key names {} but line {at}'s names {}", names.join(", "), known.join(", ")));
            }
            Some(_) => {}
            None => first = Some((line, names)),
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err("no keys in it: write a JSON array of keys, [{\"id\":{\"S\":\"user-7\"}}], or one key per line".into());
    }
    if keys.len() > MAX_KEYS {
        return Err(format!("{} keys: at most {MAX_KEYS} can be copied back by key; use --missing-items for more", keys.len()));
    }
    Ok(keys)
}

/// One key per line: the lines that hold something, numbered from 1.
fn line_entries(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(n, l)| (n, l.trim_end_matches(',')))
        .collect()
}

/// The elements of a JSON array, each with the line it starts on.
fn array_entries(text: &str) -> Result<Vec<(usize, &str)>, String> {
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| format!("line {}: not a JSON array of keys: {e}", e.line()))?;
    let Some(open) = text.find('[') else { return Ok(Vec::new()) };
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start: Option<usize> = None;
    let mut entries = Vec::new();
    let line_at = |at: usize| text[..at].matches('\n').count() + 1;
    for (at, c) in text.char_indices().skip_while(|(at, _)| *at <= open) {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' if depth > 0 => depth -= 1,
            ',' | ']' if depth == 0 => {
                if let Some(from) = start.take() {
                    entries.push((line_at(from), text[from..at].trim()));
                }
                continue;
            }
            _ => {}
        }
        if start.is_none() && !c.is_whitespace() {
            start = Some(at);
        }
    }
    Ok(entries)
}

/// A primary key in DynamoDB JSON: one or two attributes, each `{"S"|"N"|"B": "..."}`.
fn key_of(value: &serde_json::Value) -> Result<KeyJson, String> {
    let Some(object) = value.as_object() else {
        return Err(format!("{value} is not a key: write it as {{\"id\":{{\"S\":\"user-7\"}}}}"));
    };
    if object.is_empty() || object.len() > 2 {
        return Err(format!("a key has one attribute (partition key) or two (and sort key), not {}", object.len()));
    }
    let mut key = BTreeMap::new();
    for (name, typed) in object {
        let typed = typed.as_object().filter(|t| t.len() == 1);
        let Some((kind, text)) = typed.and_then(|t| t.iter().next()).and_then(|(k, v)| Some((k.as_str(), v.as_str()?))) else {
            return Err(format!(
                "attribute {name:?}: write its value with its type, as {{\"S\":\"text\"}}, {{\"N\":\"42\"}} or {{\"B\":\"base64\"}}"
            ));
        };
        match kind {
            "S" if !text.is_empty() => {}
            "N" if text.trim().parse::<f64>().is_ok_and(f64::is_finite) => {}
            "B" if base64::engine::general_purpose::STANDARD.decode(text).is_ok_and(|b| !b.is_empty()) => {}
            "S" | "N" | "B" => return Err(format!("attribute {name:?}: {text:?} is not a valid {kind} key value")),
            other => return Err(format!("attribute {name:?}: key attributes are S, N or B, not {other}")),
        }
        key.insert(name.clone(), BTreeMap::from([(kind.to_owned(), text.to_owned())]));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> KeyJson {
        BTreeMap::from([("id".to_owned(), BTreeMap::from([("S".to_owned(), id.to_owned())]))])
    }

    #[test]
    fn a_json_array_or_a_key_per_line() {
        assert_eq!(parse_keys(r#"[{"id":{"S":"user-7"}}, {"id":{"S":"user-9"}}]"#).unwrap(), vec![key("user-7"), key("user-9")]);
        let lines = "# lost at 10:15\n{\"id\":{\"S\":\"user-7\"}}\n\n{\"id\":{\"S\":\"user-9\"}},\n{\"id\":{\"S\":\"user-7\"}}\n";
        assert_eq!(parse_keys(lines).unwrap(), vec![key("user-7"), key("user-9")], "each key once");
        let both = parse_keys(r#"[{"pk":{"S":"a"},"sk":{"N":"1.5"}},{"pk":{"S":"b"},"sk":{"N":"2"}}]"#).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(parse_keys(r#"[{"blob":{"B":"AQID"}}]"#).unwrap().len(), 1);
    }

    #[test]
    fn a_bad_file_names_its_line() {
        let err = parse_keys("{\"id\":{\"S\":\"user-7\"}}\n{\"id\":\"user-8\"}\n").unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("{\"S\":\"text\"}"), "{err}");
        let err = parse_keys("[\n  {\"id\":{\"S\":\"user-7\"}},\n  {\"id\":{\"X\":\"user-8\"}}\n]").unwrap_err();
        assert!(err.starts_with("line 3:") && err.contains("not X"), "{err}");
        let err = parse_keys("[\n  {\"id\":{\"S\":\"user-7\"}},\n  {\"id\":{\"S\":\"user-8\"}\n]").unwrap_err();
        assert!(err.starts_with("line 4:") && err.contains("not a JSON array"), "{err}");
        let err = parse_keys("{\"id\":{\"S\":\"a\"}}\n{\"pk\":{\"S\":\"b\"}}").unwrap_err();
        assert!(err.starts_with("line 2:") && err.contains("line 1"), "{err}");
        assert!(parse_keys("{\"n\":{\"N\":\"twelve\"}}").unwrap_err().contains("not a valid N"));
        assert!(parse_keys("user-7").unwrap_err().starts_with("line 1: not JSON"));
        assert!(parse_keys("  \n# nothing\n").unwrap_err().contains("no keys"));
        assert!(parse_keys("[]").unwrap_err().contains("no keys"));
        let many: Vec<String> = (0..=MAX_KEYS).map(|n| format!("{{\"id\":{{\"N\":\"{n}\"}}}}")).collect();
        assert!(parse_keys(&many.join("\n")).unwrap_err().contains("at most 1000"));
    }
}
