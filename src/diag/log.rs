//! Where reports go: a `tracing` dispatcher of our own (so we neither need
//! nor disturb a global subscriber) whose layer writes human text or JSON
//! lines to stderr or to `HPY_DEBUG_LOG`.  A log file that fails (full disk,
//! closed descriptor) falls back to stderr instead of taking the program down.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Sink {
    format: Format,
    file: Option<File>,
    path: Option<String>,
}

static SINK: Mutex<Option<Sink>> = Mutex::new(None);
static DISPATCH: OnceLock<Dispatch> = OnceLock::new();

fn sink_from_env() -> Sink {
    let format = match std::env::var("HPY_DEBUG_LOG_FORMAT").as_deref() {
        Ok("json") | Ok("JSON") | Ok("jsonl") => Format::Json,
        _ => Format::Text,
    };
    let path = std::env::var("HPY_DEBUG_LOG")
        .ok()
        .filter(|p| !p.is_empty() && p != "-" && p != "stderr")
        .map(|p| expand_path(&p, std::process::id()));
    let file = path.as_ref().and_then(|p| match OpenOptions::new().create(true).append(true).open(p) {
        Ok(f) => Some(f),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "hpydbg: cannot open HPY_DEBUG_LOG={:?} ({}), reporting to stderr", p, e);
            None
        }
    });
    Sink { format, file, path }
}

fn with_sink<R>(f: impl FnOnce(&mut Sink) -> R) -> R {
    let mut g = crate::base::sync::lock(&SINK);
    let sink = g.get_or_insert_with(sink_from_env);
    f(sink)
}

/// The placeholders of a log path: `%p` is the process id, `%%` a `%`.
/// (`_report.expand_log_path` in the Python package does the same.)
pub fn expand_path(path: &str, pid: u32) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => out.push_str(&pid.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Change the destination (`None`: stderr) and format.
pub fn configure(path: Option<&str>, format: Option<Format>) -> std::io::Result<()> {
    let path = path.map(|p| expand_path(p, std::process::id()));
    let file = match path.as_deref() {
        Some(p) => Some(OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    };
    with_sink(|s| {
        s.file = file;
        s.path = path;
        if let Some(f) = format {
            s.format = f;
        }
    });
    Ok(())
}

/// The layer: writes the pre-rendered `text` or `json` field of our events.
struct ReportLayer;

#[derive(Default)]
struct Fields {
    text: Option<String>,
    json: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "text" => self.text = Some(value.to_string()),
            "json" => self.json = Some(value.to_string()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{:?}", value));
    }
}

impl<S: Subscriber> Layer<S> for ReportLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        write(f.text, f.json);
    }
}

/// Write one report to the sink, without `tracing`: for the end of the
/// process (after the interpreter finalized, when thread-locals may be gone).
pub fn emit_direct(text: &str, json: &str) {
    write(Some(text.to_string()), Some(json.to_string()));
}

fn write(text: Option<String>, json: Option<String>) {
    {
        with_sink(|s| {
            let line = match s.format {
                Format::Json => json.map(|j| j + "\n"),
                Format::Text => text,
            };
            let Some(line) = line else { return };
            let ok = match s.file.as_mut() {
                Some(file) => file.write_all(line.as_bytes()).and_then(|_| file.flush()).is_ok(),
                None => false,
            };
            if !ok {
                if s.file.is_some() {
                    // The log file failed: say so once and use stderr.
                    s.file = None;
                    let _ = writeln!(std::io::stderr(), "hpydbg: cannot write to {:?}, reporting to stderr", s.path);
                }
                let _ = std::io::stderr().write_all(line.as_bytes());
                let _ = std::io::stderr().flush();
            }
        });
    }
}

/// Emit one report, already rendered both ways.
pub fn emit(class: &str, text: &str, json: &str) {
    let d = DISPATCH.get_or_init(|| Dispatch::new(tracing_subscriber::registry().with(ReportLayer)));
    tracing::dispatcher::with_default(d, || {
        tracing::error!(target: "hpydbg", class = class, text = text, json = json);
    });
}

/// Minimal JSON string escaping.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::{expand_path, json_str};

    #[test]
    fn pid_placeholder() {
        assert_eq!(expand_path("log-%p.jsonl", 42), "log-42.jsonl");
        assert_eq!(expand_path("a%%p-%q-%", 7), "a%p-%q-%");
    }

    #[test]
    fn escapes() {
        assert_eq!(json_str("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
