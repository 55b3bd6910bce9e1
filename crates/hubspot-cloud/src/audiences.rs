//! Membership files (`hubspot-cloud audiences load FILE`), as Adobe's activation sends them:
//! CSV with a header row, or NDJSON, each row a contact (`email`, or the `[audiences] identity`
//! column), an `audience` and a `status` (`realized`/`exited` or `true`/`false`). Each row
//! becomes the Segment message Engage would have sent for it (a track `Audience Entered` or
//! `Audience Exited`), so a file travels the same queue, mapping and delivery as live traffic.

use serde_json::{Map, Value, json};

use crate::mapping::{ENTERED, EXITED};

/// A row that could not be read: its line number (1-based, the header is line 1 of a CSV) and
/// why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// Line number in the file.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

/// Reads a membership file; `identity` is the column naming the contact (`email`, or the
/// configured unique property). Good rows become Segment messages with their line numbers (in
/// file order); bad ones are reported by line and the rest still load.
pub fn parse(text: &str, identity: &str) -> (Vec<(usize, Value)>, Vec<BadLine>) {
    let ndjson = text.trim_start().starts_with('{');
    let rows: Vec<Row> = if ndjson {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| {
                let row = match serde_json::from_str::<Value>(l) {
                    Ok(Value::Object(m)) => Ok(m),
                    Ok(_) => Err("not a JSON object".to_owned()),
                    Err(e) => Err(format!("invalid JSON: {e}")),
                };
                (n + 1, row)
            })
            .collect()
    } else {
        csv_rows(text)
    };
    let mut messages = Vec::with_capacity(rows.len());
    let mut bad = Vec::new();
    for (line, row) in rows {
        match row.and_then(|r| message(&r, identity)) {
            Ok(m) => messages.push((line, m)),
            Err(reason) => bad.push(BadLine { line, reason }),
        }
    }
    (messages, bad)
}

/// A row of the file: its line number and its fields, or why it cannot be read.
type Row = (usize, Result<Map<String, Value>, String>);

fn csv_rows(text: &str) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_lowercase).collect(),
        Err(e) => return vec![(1, Err(format!("unreadable header: {e}")))],
    };
    reader
        .records()
        .map(|record| match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                let row = if r.len() != headers.len() {
                    Err(format!(
                        "{} fields where the header has {}",
                        r.len(),
                        headers.len()
                    ))
                } else {
                    Ok(headers
                        .iter()
                        .zip(r.iter())
                        .map(|(h, v)| (h.clone(), Value::from(v)))
                        .collect())
                };
                (line, row)
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                (line, Err(format!("unreadable CSV: {e}")))
            }
        })
        .collect()
}

fn message(row: &Map<String, Value>, identity: &str) -> Result<Value, String> {
    let text = |key: &str| -> Option<String> {
        match row.get(key)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
        .filter(|s| !s.is_empty())
    };
    let id = text(identity).ok_or_else(|| format!("no {identity}"))?;
    let audience = text("audience").ok_or("no audience")?;
    let status = text("status").ok_or("no status")?;
    let event = match status.to_ascii_lowercase().as_str() {
        "realized" | "true" => ENTERED,
        "exited" | "false" => EXITED,
        _ => {
            return Err(format!(
                "status '{status}' is not realized, exited, true or false"
            ));
        }
    };
    Ok(json!({
        "type": "track",
        "event": event,
        "userId": id,
        "properties": { "audience_key": audience },
        "context": { "traits": { identity: id } },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_ndjson_rows_become_engage_tracks_and_bad_lines_are_reported() {
        let csv = "email,audience,status\na@x.io,vip,realized\nb@x.io,vip,maybe\n,vip,true\nc@x.io,churn,exited,extra\nd@x.io,churn,false\n";
        let (messages, bad) = parse(csv, "email");
        let events: Vec<(&str, &str)> = messages
            .iter()
            .map(|(_, m)| {
                (
                    m["event"].as_str().unwrap(),
                    m["context"]["traits"]["email"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            events,
            vec![(ENTERED, "a@x.io"), (EXITED, "d@x.io")],
            "{messages:?}"
        );
        let lines: Vec<usize> = bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, vec![3, 4, 5], "{bad:?}");
        assert!(bad[0].reason.contains("maybe"), "{bad:?}");

        let ndjson = "{\"user_id\":\"u1\",\"audience\":\"vip\",\"status\":true}\n\nnot json\n{\"user_id\":\"u2\",\"audience\":\"vip\",\"status\":\"exited\"}\n";
        let (messages, bad) = parse(ndjson, "user_id");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].1["properties"]["audience_key"], "vip");
        assert_eq!(messages[1].0, 4);
        assert_eq!(messages[1].1["event"], EXITED);
        assert_eq!(messages[1].1["context"]["traits"]["user_id"], "u2");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 3);
    }
}
